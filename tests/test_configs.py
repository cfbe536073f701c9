# Copyright (c) hvpt_mm authors. All rights reserved.
"""Every config loads with mmengine's Config and registers hvpt_mm."""
import glob
import os.path as osp
import shutil
import subprocess
import sys
import zipfile

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


def _leftover_delete_keys(obj, where=''):
    """Paths of `_delete_` keys that no merge consumed (they would reach
    the built objects as keyword arguments)."""
    if isinstance(obj, dict):
        found = [where] if '_delete_' in obj else []
        for k, v in obj.items():
            found += _leftover_delete_keys(v, f'{where}.{k}')
        return found
    if isinstance(obj, (list, tuple)):
        return sum((_leftover_delete_keys(v, f'{where}[{i}]')
                    for i, v in enumerate(obj)), [])
    return []


@pytest.mark.parametrize('path', RUNNABLE, ids=_id)
def test_no_unconsumed_delete_keys(path):
    cfg = Config.fromfile(path)
    assert _leftover_delete_keys(cfg.to_dict()) == []


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


def test_package_carries_configs(tmp_path):
    """A built wheel holds configs and model-index under hvpt_mm/.mim."""
    src = tmp_path / 'src'
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        '.venv', '.git', 'work_dirs', 'data', 'reports', '.mim', '*.egg-info',
        '__pycache__', 'build', 'dist'))
    subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '--no-deps',
         '--no-build-isolation', '-q', '-w', str(tmp_path / 'dist'),
         str(src)], check=True, capture_output=True)
    wheel = next((tmp_path / 'dist').glob('hvpt_mm-*.whl'))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert 'hvpt_mm/.mim/configs/pretrain/hvpt_swin-b.py' in names
    assert 'hvpt_mm/.mim/configs/_base_/default_runtime.py' in names
    assert 'hvpt_mm/.mim/model-index.yml' in names
    assert 'hvpt_mm/.mim/tools/train.py' in names


def test_config_path_of_installed_package():
    from hvpt_mm.utils import get_config_path
    path = get_config_path('pretrain/hvpt_swin-b.py')
    assert osp.isfile(path) and '.mim' in path
    with pytest.raises(FileNotFoundError, match='nope.py'):
        get_config_path('pretrain/nope.py')


def test_inherit_from_other_project(tmp_path):
    """`hvpt_mm::` works in _base_ and the result builds."""
    from mmengine.registry import MODELS, init_default_scope
    child = tmp_path / 'my_hvpt.py'
    child.write_text("_base_ = 'hvpt_mm::pretrain/hvpt_swin-b.py'\n"
                     "model = dict(loss_weights=dict(con=0.5),\n"
                     "             backbone=dict(arch='tiny'))\n")
    cfg = Config.fromfile(str(child))
    assert cfg.model.loss_weights.con == 0.5
    assert cfg.model.loss_weights.mim == 1.0
    # mmengine tags inherited dicts with the package's scope.
    assert cfg.model._scope_ == 'hvpt_mm'
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'HeuristicMultiTaskPretrainer'


def test_inherited_config_runs_through_our_tools(tmp_path):
    """The launch fixes apply to configs inherited with `hvpt_mm::`."""
    from hvpt_mm.utils.launch import prepare_cfg_for_launch
    child = tmp_path / 'my_hvpt.py'
    child.write_text("_base_ = 'hvpt_mm::pretrain/hvpt_swin-b.py'\n")
    cfg = Config.fromfile(str(child))
    assert cfg.train_dataloader.collate_fn._scope_ == 'hvpt_mm'
    cfg.launcher = 'none'
    prepare_cfg_for_launch(cfg)
    assert '_scope_' not in cfg.train_dataloader.collate_fn
    assert 'hvpt_mm' in cfg.custom_imports.imports


def test_foreign_config_gets_hvpt_mm_imported(tmp_path):
    """Our tools run plain mmpretrain configs with hvpt_mm imported (the
    atomic backend, the hooks, safe loading of runner checkpoints)."""
    from hvpt_mm.utils.launch import ensure_hvpt_imported
    child = tmp_path / 'plain.py'
    child.write_text("_base_ = 'mmpretrain::_base_/default_runtime.py'\n")
    cfg = Config.fromfile(str(child))
    assert 'custom_imports' not in cfg
    ensure_hvpt_imported(cfg)
    assert cfg.custom_imports == dict(
        imports=['hvpt_mm'], allow_failed_imports=False)
