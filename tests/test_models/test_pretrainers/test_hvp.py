# Copyright (c) hvpt_mm authors. All rights reserved.
import copy
import glob
import math
import os.path as osp
import uuid

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub

from mmpretrain.registry import MODELS
from _helpers.batches import make_batch, set_max_iters
from _helpers.tiny import REPO, TINY_ARCH, TINY_SIZE, tiny_model_cfg

LOSS_KEYS = ('loss_mim', 'loss_con', 'loss_mlc')
SIGNALS = ('mim', 'con', 'mlc')


@pytest.fixture(autouse=True)
def _fresh_message_hub():
    """A message hub of its own: no runner's ``iter`` left by other tests."""
    MessageHub.get_instance(f'test_hvp-{uuid.uuid4().hex}')


def hvp_cfg(**weights) -> dict:
    """The tiny model with the MIM head of configs/_base_/models."""
    cfg = tiny_model_cfg(**weights)
    cfg['head']['type'] = 'HVPTSimMIMHead'
    return cfg


def build(cfg=None, **weights):
    set_max_iters(100)
    model = MODELS.build(cfg or hvp_cfg(**weights))
    model.init_weights()
    model.train()
    return model


def _norms(out):
    return {k: v for k, v in out.items() if k.startswith('grad_norm')}


def _count_calls(module):
    calls = []
    module.register_forward_hook(lambda *a: calls.append(1))
    return calls


def test_loss_keys_and_finite():
    model = build()
    views, samples = make_batch()
    out = model(views, samples, mode='loss')
    for k in LOSS_KEYS:
        assert k in out and torch.isfinite(out[k]) and out[k].ndim == 0, k
    # Diagnostics keep the word "loss" out of their names, so mmengine
    # does not add them to the total.
    for k in ('con_acc', 'mlc_map', 'mlc_labelled'):
        assert k in out and 'loss' not in k and torch.isfinite(out[k])
    parsed, log_vars = model.parse_losses(out)
    assert torch.allclose(parsed, sum(out[k] for k in LOSS_KEYS))


@pytest.mark.parametrize('key', LOSS_KEYS)
def test_each_signal_reaches_backbone(key):
    model = build()
    views, samples = make_batch()
    out = model(views, samples, mode='loss')
    params = [p for n, p in model.backbone.named_parameters()
              if n.startswith('stages.0') and p.requires_grad]
    grads = torch.autograd.grad(out[key], params, allow_unused=True)
    total = sum(g.abs().sum() for g in grads if g is not None)
    assert total > 0, f'{key} sends no gradient into the backbone'


def test_momentum_encoder_no_grad_and_ema():
    model = build()
    ema = model.momentum_encoder
    assert all(not p.requires_grad for p in ema.parameters())
    views, samples = make_batch()
    model(views, samples, mode='loss')  # first update copies the weights
    for (n, p), q in zip(model.backbone.named_parameters(),
                         ema.module.backbone.parameters()):
        assert torch.equal(p, q), n
    # Move the online weights, then check one EMA step.
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(0.1)
    before = {n: p.clone() for n, p in ema.module.named_parameters()}
    online = dict(model.backbone.named_parameters())
    out = model(views, samples, mode='loss')
    sum(out[k] for k in LOSS_KEYS).backward()
    # CosineEMA at its second update (steps=1 of max_iters=100).
    m = ema.momentum * (math.cos(math.pi * 1 / 100) + 1) / 2
    for n, p in ema.module.named_parameters():
        assert p.grad is None, n
        if n.startswith('backbone.'):
            src = online[n[len('backbone.'):]].detach()
            expected = before[n] * (1 - m) + src * m
            assert torch.allclose(p, expected, atol=1e-6), n
            if not torch.equal(src, before[n]):
                assert not torch.equal(p, before[n]), n


@pytest.mark.parametrize('weights,online,momentum', [
    (dict(), 1, 1),
    (dict(con=0.), 1, 0),
    (dict(mim=0., mlc=0.), 1, 1),
    (dict(mim=0., con=0.), 1, 0),
])
def test_zero_weight_skips_branch(weights, online, momentum):
    model = build(**weights)
    calls_online = _count_calls(model.backbone)
    calls_mom = (_count_calls(model.momentum_encoder.module.backbone)
                 if hasattr(model, 'momentum_encoder') else [])
    views, samples = make_batch()
    out = model(views, samples, mode='loss')
    assert len(calls_online) == online and len(calls_mom) == momentum
    for signal in ('mim', 'con', 'mlc'):
        active = weights.get(signal, 1.) != 0
        assert (f'loss_{signal}' in out) == active
    if weights.get('con', 1.) == 0:
        assert not hasattr(model, 'momentum_encoder')
        assert not hasattr(model, 'con_head')
    if weights.get('mim', 1.) == 0:
        assert model.neck is None and model.head is None
        assert not model.backbone.mask_token.requires_grad


def test_weights_scale_losses():
    torch.manual_seed(0)
    a = build()
    b = build(mim=2., mlc=0.5)
    b.load_state_dict(a.state_dict())
    views, samples = make_batch()
    oa, ob = a(views, samples, mode='loss'), b(views, samples, mode='loss')
    assert torch.allclose(ob['loss_mim'], 2 * oa['loss_mim'])
    assert torch.allclose(ob['loss_mlc'], 0.5 * oa['loss_mlc'])


def test_unlabelled_samples_give_no_mlc():
    model = build(mim=0., con=0.)
    views, samples = make_batch(labelled=[False] * 4)
    out = model(views, samples, mode='loss')
    assert out['loss_mlc'].item() == 0 and torch.isfinite(out['loss_mlc'])
    out['loss_mlc'].backward()
    assert model.mlc_head.fc.weight.grad.abs().sum() == 0

    # A mixed batch equals the loss of its labelled part alone.
    model.zero_grad()
    views, samples = make_batch(labelled=[True, False, True, False])
    mixed = model(views, samples, mode='loss')['loss_mlc']
    keep = [0, 2]
    sub = model([views[0][keep], views[1][keep]],
                [samples[i] for i in keep], mode='loss')['loss_mlc']
    assert torch.allclose(mixed, sub, atol=1e-6)
    assert mixed.item() > 0


def test_extract_feat_unmasked():
    model = build()
    views, _ = make_batch()
    feats = model(views[0], mode='tensor')
    assert feats[-1].shape == (4, 256, 2, 2)


def test_config_errors():
    cfg = tiny_model_cfg()
    with pytest.raises(ValueError, match='unknown signals'):
        MODELS.build(dict(cfg, loss_weights=dict(foo=1.)))
    with pytest.raises(ValueError, match='no \\[.con_head.\\]'):
        MODELS.build(dict(cfg, con_head=None))
    with pytest.raises(ValueError, match='all loss_weights are 0'):
        MODELS.build(dict(cfg, loss_weights=dict(mim=0, con=0, mlc=0)))
    ok = copy.deepcopy(cfg)
    ok['con_head'] = None
    ok['loss_weights'] = dict(con=0.)
    MODELS.build(ok)


def test_contrastive_needs_two_views():
    model = build()
    views, samples = make_batch()
    with pytest.raises(ValueError, match='two views'):
        model([views[0]], samples, mode='loss')


def test_momentum_encoder_runs_without_drop_path():
    """The teacher's keys do not depend on stochastic depth draws."""
    set_max_iters(100)
    cfg = tiny_model_cfg()
    cfg['backbone']['drop_path_rate'] = 0.5
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    views, _ = make_batch()
    torch.manual_seed(1)
    k1 = model.forward_key(views[1])
    torch.manual_seed(2)
    k2 = model.forward_key(views[1])
    # (The EMA step between the calls moves the weights by rounding only.)
    assert torch.allclose(k1, k2, atol=1e-4)
    # The online backbone keeps its drop path.
    torch.manual_seed(1)
    f1 = model.backbone(views[1], None)[-1]
    torch.manual_seed(2)
    f2 = model.backbone(views[1], None)[-1]
    assert not torch.allclose(f1, f2)


def test_signal_grad_norms_every_interval_calls_without_runner():
    """A loop of its own (no runner, no hook) gets norms every N calls.

    The norms equal ``autograd.grad`` of each returned loss; the
    diagnostic leaves ``.grad`` and the total loss alone. Catches a wrong
    count, norms of the unweighted loss, or a diagnostic that writes
    ``.grad`` (it would double the step's gradient).
    """
    model = build(dict(hvp_cfg(), grad_norm_interval=2))
    views, samples = make_batch()
    first = model(views, samples, mode='loss')
    assert not _norms(first)
    second = model(views, samples, mode='loss')
    params = [p for p in model.backbone.stages[-1].parameters()]
    for signal in SIGNALS:
        norm = second[f'grad_norm_{signal}']
        assert 'loss' not in f'grad_norm_{signal}' and norm > 0
        grads = torch.autograd.grad(second[f'loss_{signal}'], params,
                                    retain_graph=True, allow_unused=True)
        ref = torch.sqrt(sum(g.pow(2).sum() for g in grads if g is not None))
        assert torch.allclose(norm, ref, rtol=1e-4)
    assert all(p.grad is None for p in model.parameters())
    parsed, log_vars = model.parse_losses(second)
    assert torch.allclose(parsed, sum(second[k] for k in LOSS_KEYS))
    assert 'grad_norm_mlc' in log_vars
    assert not _norms(model(views, samples, mode='loss'))  # call 3


def test_grad_norms_follow_the_schedule_and_skip_no_grad_calls():
    """``schedule_grad_norms`` (HVPTGradNormHook) decides, once per call.

    A forward without gradient (validation, a no-grad probe) neither
    measures nor uses up the request: the next training forward does.
    Catches a no-grad call that raises in ``autograd.grad``, that consumes
    the request (the step's norms would be lost), or a request measured
    twice.
    """
    model = build(dict(hvp_cfg(), grad_norm_interval=1))
    views, samples = make_batch()
    model.schedule_grad_norms(None)
    assert not _norms(model(views, samples, mode='loss'))
    model.schedule_grad_norms(1.)
    with torch.no_grad():
        quiet = model(views, samples, mode='loss')
    assert not _norms(quiet) and not quiet['loss_mim'].requires_grad
    assert set(_norms(model(views, samples, mode='loss'))) == {
        f'grad_norm_{s}' for s in SIGNALS}
    # Used up: the hook must ask again.
    assert not _norms(model(views, samples, mode='loss'))


def test_grad_norms_under_a_runner_without_the_hook_warn(monkeypatch):
    """Inside mmengine's runner only HVPTGradNormHook schedules the norms.

    Counting forward calls there would count micro-batches, restart at 0
    after a resume and miss the AMP loss scale. Catches logging such
    numbers instead of nothing, and a warning repeated every step.
    """
    from hvpt_mm.models.pretrainers import hvp
    warnings = []
    monkeypatch.setattr(
        hvp, 'print_log',
        lambda msg, **kw: warnings.append(msg) if 'no HVPTGradNormHook'
        in msg else None)
    model = build(dict(hvp_cfg(), grad_norm_interval=1))
    MessageHub.get_current_instance().update_info('iter', 0)  # the runner
    views, samples = make_batch()
    for _ in range(2):
        assert not _norms(model(views, samples, mode='loss'))
    assert len(warnings) == 1 and 'custom_hooks' in warnings[0]


def _cp_pair(cfg):
    """Two models with the same weights, with and without ``with_cp``."""
    cfg = dict(cfg, grad_norm_interval=1)
    models = []
    for with_cp in (True, False):
        c = copy.deepcopy(cfg)
        c['backbone']['with_cp'] = with_cp
        models.append(build(c))
    models[1].load_state_dict(models[0].state_dict())
    return models


def _assert_cp_norms_equal(cp, plain, views, samples):
    outs = []
    for model in (cp, plain):
        model.schedule_grad_norms(1.)
        torch.manual_seed(0)  # the same drop path draws
        outs.append(_norms(model(views, samples, mode='loss')))
    assert set(outs[0]) == {f'grad_norm_{s}' for s in SIGNALS}
    for key, norm in outs[1].items():
        assert norm > 0, key
        torch.testing.assert_close(outs[0][key], norm, rtol=1e-5,
                                   atol=1e-8, msg=key)
    # Only the last stage gives up checkpointing.
    blocks = [b.with_cp for stage in cp.backbone.stages
              for b in stage.blocks]
    assert blocks[-len(cp.backbone.stages[-1].blocks):] == [False] * len(
        cp.backbone.stages[-1].blocks)
    assert all(blocks[:-len(cp.backbone.stages[-1].blocks)])


def test_grad_norms_with_activation_checkpointing_equal_without():
    """``with_cp=True`` gives the same non-zero norms as without.

    The reentrant checkpoint of Swin blocks hides their parameters from
    ``autograd.grad``: the norms read 0.0000. Catches that.
    """
    cp, plain = _cp_pair(hvp_cfg())
    _assert_cp_norms_equal(cp, plain, *make_batch())


def test_swin_l_config_measures_non_zero_norms():
    """The Swin-L pre-training config (``with_cp=True``) at tiny size.

    Its backbone options (with_cp, window 12 with pad_small_map) with the
    tiny arch and 64 px input; norms equal those without ``with_cp``.
    """
    path = sorted(glob.glob(osp.join(REPO, 'configs/pretrain/'
                                     'hvpt_swin-l*.py')))[0]
    cfg = Config.fromfile(path).model.to_dict()
    assert cfg['backbone']['with_cp'] and cfg['grad_norm_interval'] > 0
    tiny = hvp_cfg()
    cfg['backbone'].update(arch=copy.deepcopy(TINY_ARCH), img_size=TINY_SIZE)
    for key in ('neck', 'con_neck', 'con_head', 'mlc_head'):
        cfg[key] = tiny[key]
    assert cfg['head']['type'] == 'HVPTSimMIMHead'
    cp, plain = _cp_pair(cfg)
    assert cp.backbone.stages[0].blocks[0].attn.w_msa.window_size == (12, 12)
    _assert_cp_norms_equal(cp, plain, *make_batch())


def test_grad_norms_still_checkpointed_raise():
    """A last stage put back under checkpointing fails loudly, not 0."""
    model = build(dict(hvp_cfg(), grad_norm_interval=1))
    for block in model.backbone.stages[-1].blocks:
        block.with_cp = True
    model.schedule_grad_norms(1.)
    with pytest.raises(RuntimeError, match='with_cp'):
        model(*make_batch(), mode='loss')


def test_grad_norms_at_the_amp_loss_scale():
    """The extra backward runs at the loss scale it is given (AMP).

    In fp32 the norms do not depend on the scale. Under fp16 autocast with
    small losses (weights 1e-4) the unscaled gradient underflows (the MIM
    norm reads far below the fp32 one, often 0); at 2**16 it matches.
    Catches a scale that is ignored or not divided out.
    """
    weights = dict(mim=1e-4, con=1e-4, mlc=1e-4)
    views, samples = make_batch()

    def norms(scale, fp16):
        torch.manual_seed(0)
        model = build(dict(hvp_cfg(**weights), grad_norm_interval=1))
        model.schedule_grad_norms(scale)
        with torch.autocast('cpu', dtype=torch.float16, enabled=fp16):
            return _norms(model(views, samples, mode='loss'))

    ref = norms(1., False)
    for key, value in norms(2.**16, False).items():
        torch.testing.assert_close(value, ref[key], rtol=1e-5, atol=0)
    scaled, unscaled = norms(2.**16, True), norms(1., True)
    for key, value in scaled.items():
        torch.testing.assert_close(value, ref[key], rtol=5e-2, atol=0,
                                   msg=key)
    assert unscaled['grad_norm_mim'] < 0.5 * ref['grad_norm_mim']


def test_pool_visible_weights_tokens_by_visible_area():
    model = MODELS.build(dict(tiny_model_cfg(), pool_visible=True))
    feat = torch.randn(2, 5, 2, 2)
    mask = torch.zeros(2, 8, 8, dtype=torch.bool)
    mask[0, :, :4] = True  # left column of tokens hidden
    mask[1, :4, :4] = True
    mask[1, :2, 4:] = True  # top-right token half hidden
    pooled = model.pool_image((feat, ), mask)[0]
    assert torch.allclose(pooled[0], feat[0, :, :, 1].mean(-1))
    w = torch.tensor([[0., 0.5], [1., 1.]]) / 2.5
    assert torch.allclose(pooled[1], (feat[1] * w).sum((1, 2)), atol=1e-6)
    # Everything hidden: the plain mean. No mask or option off: the mean.
    assert torch.allclose(
        model.pool_image((feat, ), torch.ones(2, 8, 8))[0], feat.mean((2, 3)))
    assert torch.allclose(model.pool_image((feat, ), None)[0],
                          feat.mean((2, 3)))


def test_batch_without_masked_view_gives_zero_mim(monkeypatch):
    """Views left clean by the transform add nothing to loss_mim.

    With some views clean, loss_mim equals the loss of the masked views
    alone: catches clean views counted in the normaliser or their pixels
    in the sum. With none masked it is 0 in the graph, and the masked
    count is still reduced across processes: catches an early return that
    would leave the other processes waiting in the collective.
    """
    from hvpt_mm.models.heads import simmim_head
    model = build()
    views, samples = make_batch()
    for i in (0, 2):
        samples[i].set_mask(torch.zeros_like(samples[i].mask))
    masked = [1, 3]
    assert all(samples[i].mask.any() for i in masked)
    partly = model(views, samples, mode='loss')['loss_mim']
    alone = model([v[masked] for v in views], [samples[i] for i in masked],
                  mode='loss')['loss_mim']
    assert partly > 0
    torch.testing.assert_close(partly, alone, rtol=1e-5, atol=1e-7)

    reduced = []
    monkeypatch.setattr(simmim_head, 'get_world_size', lambda: 2)
    monkeypatch.setattr(simmim_head, 'all_reduce',
                        lambda t, op: reduced.append(t.item()))
    for ds in samples:
        ds.set_mask(torch.zeros_like(ds.mask))
    out = model(views, samples, mode='loss')
    assert reduced == [0.]
    assert out['loss_mim'].item() == 0 and out['loss_mim'].requires_grad
    assert out['loss_mlc'] > 0 and torch.isfinite(out['loss_con'])
