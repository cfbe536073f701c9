# Copyright (c) hvpt_mm authors. All rights reserved.
"""Every config loads with mmengine's Config and registers hvpt_mm."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                         recursive=True))
# Fragments under _base_ are not run on their own.
RUNNABLE = [p for p in CONFIGS if '/_base_/' not in p]


def _id(path):
    return osp.relpath(path, osp.join(REPO, 'configs'))


@pytest.mark.parametrize('path', CONFIGS, ids=_id)
def test_config_loads(path):
    cfg = Config.fromfile(path)
    assert isinstance(cfg.to_dict(), dict)


@pytest.mark.parametrize('path', RUNNABLE, ids=_id)
def test_config_imports_hvpt_mm(path):
    cfg = Config.fromfile(path)
    imports = cfg.get('custom_imports', {})
    assert 'hvpt_mm' in imports.get('imports', []), path
    assert imports.get('allow_failed_imports') is False
    assert 'model' in cfg


def test_main_config_is_the_documented_recipe():
    cfg = Config.fromfile(osp.join(REPO, 'configs/pretrain/hvpt_swin-b.py'))
    assert cfg.model.type == 'HeuristicMultiTaskPretrainer'
    assert cfg.model.backbone.arch == 'base'
    assert cfg.model.backbone.img_size == 192
    assert cfg.model.backbone.stage_cfgs.block_cfgs.window_size == 6
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.train_dataloader.dataset.data_root == 'data/imagenet/'
    assert cfg.train_dataloader.dataset.split == 'train'
    mixed = cfg.train_dataloader.dataset.pipeline[1]
    assert mixed.num_classes == cfg.model.mlc_head.num_classes


def test_installed_package_carries_configs():
    """Other projects inherit our configs through `hvpt_mm::`."""
    from mmengine.config.utils import _get_package_and_cfg_path
    from mmengine.utils import get_installed_path
    pkg_path = get_installed_path('hvpt_mm')
    assert osp.isfile(
        osp.join(pkg_path, '.mim', 'configs', 'pretrain', 'hvpt_swin-b.py'))
    assert _get_package_and_cfg_path('hvpt_mm::pretrain/hvpt_swin-b.py')[0] \
        == 'hvpt_mm'


def test_inherit_from_other_project(tmp_path):
    child = tmp_path / 'my_hvpt.py'
    child.write_text("_base_ = 'hvpt_mm::pretrain/hvpt_swin-b.py'\n"
                     "model = dict(loss_weights=dict(con=0.5))\n")
    cfg = Config.fromfile(str(child))
    assert cfg.model.loss_weights.con == 0.5
    assert cfg.model.loss_weights.mim == 1.0
