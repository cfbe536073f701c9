# Copyright (c) hvpt_mm authors. All rights reserved.
import copy
import math

import pytest
import torch

from mmpretrain.registry import MODELS
from _helpers.batches import make_batch, set_max_iters
from _helpers.tiny import tiny_model_cfg

LOSS_KEYS = ('loss_mim', 'loss_con', 'loss_mlc')


def build(**weights):
    set_max_iters(100)
    model = MODELS.build(tiny_model_cfg(**weights))
    model.init_weights()
    model.train()
    return model


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


def test_signal_grad_norms_logged_at_interval():
    set_max_iters(100)
    model = MODELS.build(dict(tiny_model_cfg(), grad_norm_interval=2))
    model.init_weights()
    model.train()
    views, samples = make_batch()
    first = model(views, samples, mode='loss')
    assert not any(k.startswith('grad_norm') for k in first)
    second = model(views, samples, mode='loss')
    params = [p for p in model.backbone.stages[-1].parameters()]
    for signal in ('mim', 'con', 'mlc'):
        norm = second[f'grad_norm_{signal}']
        assert 'loss' not in f'grad_norm_{signal}' and norm > 0
        grads = torch.autograd.grad(second[f'loss_{signal}'], params,
                                    retain_graph=True, allow_unused=True)
        ref = torch.sqrt(sum(g.pow(2).sum() for g in grads if g is not None))
        assert torch.allclose(norm, ref, rtol=1e-4)
    # The diagnostic leaves .grad alone and the total loss unchanged.
    assert all(p.grad is None for p in model.parameters())
    parsed, log_vars = model.parse_losses(second)
    assert torch.allclose(
        parsed, sum(second[f'loss_{s}'] for s in ('mim', 'con', 'mlc')))
    assert 'grad_norm_mlc' in log_vars
    # Not in eval / no-grad calls.
    with torch.no_grad():
        model(views, samples, mode='loss')


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


def test_batch_without_masked_view_gives_zero_mim():
    """Views left clean by the transform add nothing to loss_mim."""
    model = build()
    views, samples = make_batch()
    samples[0].set_mask(torch.zeros_like(samples[0].mask))
    partly = model(views, samples, mode='loss')['loss_mim']
    assert torch.isfinite(partly) and partly > 0
    for ds in samples:
        ds.set_mask(torch.zeros_like(ds.mask))
    out = model(views, samples, mode='loss')
    assert out['loss_mim'].item() == 0 and out['loss_mim'].requires_grad
    assert out['loss_mlc'] > 0 and torch.isfinite(out['loss_con'])
