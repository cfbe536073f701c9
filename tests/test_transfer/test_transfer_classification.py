# Copyright (c) hvpt_mm authors. All rights reserved.
"""An HVP checkpoint into mmpretrain classification (fine-tune, linear)."""
import os.path as osp

import pytest
import torch
from mmengine.registry import DefaultScope

from test_transfer.hvpt_transfer_utils import (  # noqa: I001
    CLASSIFICATION, CLS_SIZE, DOWNSTREAM_WINDOW, PRETRAIN_WINDOW, STAGE_DIMS,
    assert_backbone_loaded, backbone_state, load_config,
    record_load_log, tiny_backbone_options)
from _helpers.tiny import TINY_SIZE, run_tool

NUM_CLASSES = 5
WINDOW_KEY = dict(
    finetune='stage_cfgs.block_cfgs.window_size', linear='window_size')


def build(kind, ckpt, window, size):
    from mmpretrain.registry import MODELS
    cfg = load_config(
        CLASSIFICATION[kind], {
            **tiny_backbone_options(ckpt, window, size, WINDOW_KEY[kind]),
            'model.head.in_channels':
            STAGE_DIMS[-1],
            'model.head.num_classes':
            NUM_CLASSES,
            'data_preprocessor.num_classes':
            NUM_CLASSES,
        })
    # The runner hands the top-level data_preprocessor to the model.
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    return cfg, model


def init_and_record(model):
    """init_weights as a runner or a plain script calls it."""
    with record_load_log() as log:
        model.init_weights()
    return log


def batch(model, size, n=4):
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(0)
    data = dict(
        inputs=[
            torch.randint(
                0, 256, (3, size, size), generator=g, dtype=torch.uint8)
            for _ in range(n)
        ],
        data_samples=[
            DataSample().set_gt_label(i % NUM_CLASSES) for i in range(n)
        ])
    return model.data_preprocessor(data, True)


@pytest.mark.parametrize('source,window,size', [
    ('extracted', PRETRAIN_WINDOW, TINY_SIZE),
    ('extracted', DOWNSTREAM_WINDOW, CLS_SIZE),
    ('runner', DOWNSTREAM_WINDOW, CLS_SIZE),
])
def test_finetune(source, window, size, hvp_ckpt, backbone_ckpt):
    from mmengine.optim import build_optim_wrapper
    ckpt = backbone_ckpt if source == 'extracted' else hvp_ckpt
    cfg, model = build('finetune', ckpt, window, size)
    log = init_and_record(model)
    assert_backbone_loaded(model.backbone, backbone_state(hvp_ckpt), log)
    # The runner checkpoint carries the mask token the classifier lacks.
    assert set(log.unexpected) <= {'mask_token'}

    optim_cfg = cfg.optim_wrapper.copy()
    # AMP needs a GPU: tests/test_gpu/test_gpu_amp.py covers it.
    optim_cfg.update(type='OptimWrapper')
    optim_cfg.pop('loss_scale', None)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        optim = build_optim_wrapper(model, optim_cfg)
    scales = {
        g['param_name']: g['lr_scale']
        for g in optim.optimizer.param_groups
    }
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.9
    assert scales['backbone.patch_embed.projection.weight'] < \
        scales['head.fc.weight'] == 1.

    model.train()
    losses = model(**batch(model, size), mode='loss')
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss)
    optim.update_params(loss)  # backward + step: the backbone moves
    moved = model.backbone.patch_embed.projection.weight
    assert not torch.equal(
        moved,
        backbone_state(hvp_ckpt)['patch_embed.projection.weight'])


def test_linear_probe_is_frozen(backbone_ckpt, hvp_ckpt):
    cfg, model = build('linear', backbone_ckpt, DOWNSTREAM_WINDOW, CLS_SIZE)
    log = init_and_record(model)
    assert_backbone_loaded(model.backbone, backbone_state(hvp_ckpt), log)
    assert not cfg.model.train_cfg  # no Mixup / CutMix
    model.train()
    assert not any(p.requires_grad for p in model.backbone.parameters())
    losses = model(**batch(model, CLS_SIZE), mode='loss')
    loss, _ = model.parse_losses(losses)
    loss.backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.head.fc.weight.grad is not None
    assert model.head.fc.weight.grad.abs().sum() > 0


def test_finetune_runs_through_train_py(hvp_ckpt, imagenet_root, tmp_path):
    """tools/train.py on the runner checkpoint: it loads, the window-2
    tables are resized to 7, one epoch of 224 px images runs."""
    work = str(tmp_path / 'ft')
    proc = run_tool([
        'tools/train.py', CLASSIFICATION['finetune'], '--work-dir', work,
        '--no-validate', '--cfg-options', 'model.backbone.arch._delete_=True',
        'model.backbone.arch.embed_dims=32',
        'model.backbone.arch.depths=[1,1,1,1]',
        'model.backbone.arch.num_heads=[1,2,2,4]',
        f'model.backbone.init_cfg.checkpoint={hvp_ckpt}',
        f'model.head.in_channels={STAGE_DIMS[-1]}',
        f'train_dataloader.dataset.data_root={imagenet_root}',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'optim_wrapper.type=OptimWrapper', 'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1'
    ])
    out = proc.stdout + proc.stderr
    assert 'load backbone. in model from' in out
    assert 'Resize the relative_position_bias_table' in out
    for line in out.splitlines():
        if 'missing keys in source state_dict' in line:
            keys = line.split('state_dict:', 1)[1].split(',')
            assert all(k.strip().endswith('relative_position_index')
                       for k in keys), line
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
