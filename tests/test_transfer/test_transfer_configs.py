# Copyright (c) hvpt_mm authors. All rights reserved.
"""What every downstream config promises, read from the configs."""
import ast
import os.path as osp

import pytest
from mmengine.config import Config

from test_transfer.hvpt_transfer_utils import (  # noqa: I001
    CLASSIFICATION, DETECTION, DOWNSTREAM, SEGMENTATION)
from _helpers.tiny import REPO

# Demo transfers: deltas on the downstream configs, on CPU-sized data.
DEMO = [
    'configs/demo/swin-demo_hvpt-pre_linear-8e_scenes-64px.py',
    'configs/demo/mask-rcnn_swin-demo-hvpt-pre_fpn_2e_scenes-64px.py',
    'configs/demo/upernet_swin-demo-hvpt-pre_1000i_scenes-64px.py',
]
GUARDS = [
    dict(type='mmpretrain.HVPTLastCheckpointHook'),
    dict(type='mmpretrain.HVPTNonFiniteLossHook', policy='raise'),
]


def _cfg(relpath):
    return Config.fromfile(osp.join(REPO, relpath))


def _assigned(relpath, name):
    """The literal assigned to ``name`` at the top level of the file."""
    with open(osp.join(REPO, relpath)) as f:
        for node in ast.parse(f.read()).body:
            if isinstance(node, ast.Assign) and node.targets[0].id == name:
                return ast.literal_eval(node.value)
    return None


def _base_hooks(relpath, tmp_path):
    """custom_hooks of the config's ``_base_`` files (without the file)."""
    base = _assigned(relpath, '_base_')
    hooks = []
    for i, name in enumerate([base] if isinstance(base, str) else base):
        if '::' not in name:
            name = osp.normpath(osp.join(REPO, osp.dirname(relpath), name))
        stub = tmp_path / f'base_{i}.py'
        stub.write_text(f'_base_ = {name!r}\n')
        hooks += list(Config.fromfile(str(stub)).get('custom_hooks') or [])
    return hooks


@pytest.mark.parametrize('relpath', DOWNSTREAM, ids=osp.basename)
def test_downstream_config_contract(relpath, tmp_path):
    cfg = _cfg(relpath)
    imports = cfg.custom_imports
    assert {'mmpretrain.models', 'hvpt_mm'} <= set(imports.imports)
    assert imports.allow_failed_imports is False
    hooks = cfg.custom_hooks
    for hook in _base_hooks(relpath, tmp_path):  # lists replace whole
        assert hook in hooks, hook
    init = cfg.model.backbone.init_cfg
    assert init.type == 'Pretrained' and init.prefix == 'backbone.'
    # No default backbone: a run must name its own (one spelling,
    # model.backbone.init_cfg.checkpoint), or it would silently load
    # another pre-training's.
    assert init.checkpoint is None
    assert 'checkpoint' not in cfg, 'a second, dead spelling'
    # The lr follows the batch that runs, accumulation counted.
    assert cfg.auto_scale_lr.enable is True
    # Every downstream recipe is 8 GPUs (the commands the docs show).
    assert cfg.auto_scale_lr.base_batch_size == \
        8 * cfg.train_dataloader.batch_size
    assert cfg.runner_type == 'HVPTRunner'
    assert 'SwinTransformer' in cfg.model.backbone.type
    # mmengine 0.10.7 hands every key but `type` to the collate function.
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        collate = (cfg.get(name) or {}).get('collate_fn') or {}
        assert '_scope_' not in collate, name


@pytest.mark.parametrize('relpath', DOWNSTREAM + DEMO, ids=osp.basename)
def test_downstream_runs_are_guarded(relpath):
    """Atomic checkpoint writes, pointer repair, non-finite losses stop."""
    cfg = _cfg(relpath)
    for hook in GUARDS:
        assert hook in cfg.custom_hooks, hook
    assert cfg.default_hooks.checkpoint.backend_args == dict(
        backend='hvpt_atomic_local')
    # CheckpointHook deletes the oldest kept file before writing the next:
    # with one kept, a kill during that write would leave none.
    keep = cfg.default_hooks.checkpoint.get('max_keep_ckpts', -1)
    interval = cfg.default_hooks.checkpoint.interval
    end = cfg.train_cfg.get('max_epochs') or cfg.train_cfg.get('max_iters')
    assert keep != 1 or interval >= end, 'one checkpoint kept'


def test_classification_recipe():
    cfg = _cfg(CLASSIFICATION['finetune'])
    backbone = cfg.model.backbone
    assert (backbone.arch, backbone.img_size) == ('base', 224)
    assert backbone.stage_cfgs.block_cfgs.window_size == 7
    assert cfg.optim_wrapper.constructor == \
        'LearningRateDecayOptimWrapperConstructor'
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.9
    assert cfg.optim_wrapper.optimizer.lr == 5e-3
    assert cfg.train_cfg.max_epochs == 100
    assert cfg.model.head.in_channels == 1024

    linear = _cfg(CLASSIFICATION['linear'])
    assert linear.model.backbone.frozen_stages == 3
    assert linear.optim_wrapper.optimizer.type == 'SGD'
    assert linear.train_cfg.max_epochs == 90


@pytest.mark.parametrize('kind,epochs', [('1x', 12), ('3x', 36)])
def test_detection_recipe(kind, epochs):
    cfg = _cfg(DETECTION[kind])
    backbone = cfg.model.backbone
    assert backbone.type == 'mmpretrain.SwinTransformer'
    assert (backbone.arch, backbone.window_size) == ('base', 7)
    assert backbone.out_indices == (0, 1, 2, 3) and backbone.pad_small_map
    assert cfg.model.neck.in_channels == [128, 256, 512, 1024]
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.default_scope == 'mmdet'


def test_segmentation_recipe():
    cfg = _cfg(SEGMENTATION)
    backbone = cfg.model.backbone
    assert backbone.type == 'mmpretrain.SwinTransformer'
    assert (backbone.arch, backbone.window_size) == ('base', 12)
    assert cfg.model.decode_head.in_channels == [128, 256, 512, 1024]
    assert cfg.model.auxiliary_head.in_channels == 512
    assert cfg.train_cfg.max_iters == 160000
    assert cfg.default_scope == 'mmseg'
