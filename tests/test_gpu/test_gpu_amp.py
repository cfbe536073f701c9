# Copyright (c) hvpt_mm authors. All rights reserved.
"""AMP training steps on a GPU: the HVP model and a fine-tuned classifier.

The optimizer wrappers are built from the configs' own settings
(``AmpOptimWrapper``, ``HVPTOptimWrapperConstructor``, gradient clipping).
"""
import copy

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from mmpretrain.registry import MODELS
from _helpers.batches import make_batch, set_max_iters
from _helpers.tiny import tiny_model_cfg
from test_gpu.hvpt_gpu_utils import (GPU, NO_CHECKPOINT, NEEDS_BF16,
                                    random_init)
from test_transfer.hvpt_transfer_utils import CLS_SIZE, DOWNSTREAM_WINDOW

pytestmark = GPU

LOSS_KEYS = ('loss_mim', 'loss_con', 'loss_mlc')
DTYPES = [
    pytest.param('float16', id='fp16'),
    pytest.param('bfloat16', id='bf16', marks=NEEDS_BF16),
]


def _hvp():
    set_max_iters(100)
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg())
    model.init_weights()
    return model.cuda().train()


def _wrapper(model, dtype=None):
    """The pre-training schedule's wrapper; fp32 when ``dtype`` is None."""
    cfg = dict(
        type='AmpOptimWrapper' if dtype else 'OptimWrapper',
        constructor='HVPTOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
        clip_grad=dict(max_norm=5.0))
    if dtype:
        # Dynamic scaling from 2**10: fp16 overflows at the default 2**16
        # would skip the first steps.
        cfg.update(dtype=dtype, loss_scale=dict(init_scale=2.**10))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return build_optim_wrapper(model, cfg)


def _data(seed=0):
    views, samples = make_batch(seed=seed)
    return dict(inputs=views, data_samples=samples)


def _record_dtypes(model):
    """The output dtype of the backbone's first attention projection."""
    seen = []
    qkv = model.backbone.stages[0].blocks[0].attn.w_msa.qkv
    qkv.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    return seen


@pytest.mark.parametrize('dtype', DTYPES)
def test_hvp_amp_steps(dtype):
    model = _hvp()
    reference = copy.deepcopy(model)
    optim = _wrapper(model, dtype)
    seen = _record_dtypes(model)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}

    # One step in fp32 on a copy: the AMP losses must be close to it.
    fp32 = reference.train_step(_data(), _wrapper(reference))
    steps = [model.train_step(_data(seed=i), optim) for i in range(3)]
    first = steps[0]
    for key in LOSS_KEYS:
        assert all(torch.isfinite(s[key]) for s in steps), key
        assert first[key].item() == pytest.approx(fp32[key].item(),
                                                  rel=0.05, abs=0.02), key
    assert seen and all(d == getattr(torch, dtype) for d in seen)
    # Weights stay fp32 (autocast, not a half model) and move, except the
    # EMA encoder's, which follow the online ones without a gradient.
    moved = [n for n, p in model.named_parameters()
             if not torch.equal(p.detach(), before[n])]
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert any(n.startswith('backbone.') for n in moved)
    assert all(p.grad is None for p in
               model.momentum_encoder.parameters())
    # The scaler let the steps through: AdamW counted them.
    steps_taken = {int(s['step']) for s in
                   optim.optimizer.state_dict()['state'].values()}
    assert steps_taken == {3}
    assert optim.state_dict()['loss_scaler']['scale'] == 2.**10


@pytest.mark.parametrize('dtype', DTYPES)
def test_finetune_amp_step(dtype):
    """The fine-tune config's own AmpOptimWrapper and layer decay."""
    from test_transfer.test_transfer_classification import batch, build
    cfg, model = build('finetune', NO_CHECKPOINT, DOWNSTREAM_WINDOW,
                       CLS_SIZE)
    model = random_init(model).train()
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    assert optim_cfg.type == 'AmpOptimWrapper'
    optim_cfg.dtype = dtype
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        optim = build_optim_wrapper(model, optim_cfg)
    before = model.backbone.patch_embed.projection.weight.detach().clone()
    # The config's dynamic scale starts at 2**16: the scaler may skip the
    # first fp16 steps as overflows (halving each time) before one goes
    # through.
    for _ in range(6):
        with optim.optim_context(model):
            losses = model(**batch(model, CLS_SIZE), mode='loss')
        loss, _ = model.parse_losses(losses)
        assert torch.isfinite(loss)
        optim.update_params(loss)
    assert not torch.equal(model.backbone.patch_embed.projection.weight,
                           before)
