# Copyright (c) hvpt_mm authors. All rights reserved.
"""``hvpt_mm::`` configs from any mmengine script, with no import to add.

Every check runs a fresh interpreter outside the checkout, as a user's
script would: only the installed packages are on its path, and nothing
imports hvpt_mm before the config is parsed.
"""
import json
import os.path as osp
import subprocess
import sys
from typing import List, Optional

import pytest

from _helpers.coco import write_coco
from _helpers.install import install_wheel, outside_checkout_env

DETECTION = ('hvpt_mm::detection/'
             'mask-rcnn_swin-b-p4-w7-hvpt-pre_fpn_1x_coco.py')
SEGMENTATION = ('hvpt_mm::segmentation/swin-base-patch4-window12-hvpt-pre_'
                'upernet_8xb2-160k_ade20k-512x512.py')

# Parses the configs named on the command line and prints what they hold.
PARSE = '''
import json, sys
assert 'hvpt_mm' not in sys.modules
{prelude}
from mmengine.config import Config
out = {{}}
for path in sys.argv[1:]:
    cfg = Config.fromfile(path, import_custom_modules=False)
    out[path] = dict(
        backbone=cfg.model.backbone.type, arch=cfg.model.backbone.arch,
        default_scope=cfg.default_scope, imports=cfg.custom_imports.imports,
        lr=cfg.optim_wrapper.optimizer.lr)
hook = sys.modules.get('_hvpt_mm_hook')
out['hook'] = hook and hook.__file__
out['hvpt_mm'] = sys.modules['hvpt_mm'].__file__
print(json.dumps(out))
'''


def run_fresh(code: str, args: List[str], cwd: str,
              python_args: Optional[List[str]] = None
              ) -> subprocess.CompletedProcess:
    """``python [python_args] -c code args`` in a user's environment."""
    return subprocess.run(
        [sys.executable, *(python_args or []), '-c', code, *args],
        cwd=cwd, env=outside_checkout_env(), capture_output=True, text=True,
        timeout=600)


@pytest.fixture
def user_configs(tmp_path) -> List[str]:
    """Two configs of another project, inheriting ours."""
    det = tmp_path / 'my_mask_rcnn.py'
    det.write_text(f'_base_ = {DETECTION!r}\n'
                   'optim_wrapper = dict(optimizer=dict(lr=2e-4))\n')
    seg = tmp_path / 'my_upernet.py'
    seg.write_text(f'_base_ = {SEGMENTATION!r}\n'
                   'optim_wrapper = dict(optimizer=dict(lr=1e-4))\n')
    return [str(det), str(seg)]


def test_config_fromfile_in_fresh_interpreter(user_configs, tmp_path):
    proc = run_fresh(PARSE.format(prelude=''), user_configs, str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    det, seg = (out[p] for p in user_configs)
    for cfg in (det, seg):
        assert cfg['backbone'] == 'mmpretrain.SwinTransformer'
        assert cfg['arch'] == 'base'
        assert 'hvpt_mm' in cfg['imports']
    assert (det['default_scope'], det['lr']) == ('mmdet', 2e-4)
    assert (seg['default_scope'], seg['lr']) == ('mmseg', 1e-4)
    # The start-up hook did it (mmengine imported hvpt_mm afterwards, to
    # locate its configs).
    assert out['hook'] and osp.basename(out['hook']) == '_hvpt_mm_hook.py'


def test_hook_costs_nothing_without_mmengine(tmp_path):
    """At start-up only the tiny hook module loads; it waits on the meta
    path and imports nothing heavy."""
    code = ('import sys, json\n'
            "heavy = [m for m in sys.modules if m.split('.')[0] in\n"
            "         ('mmengine', 'torch', 'numpy', 'hvpt_mm')]\n"
            'finders = [type(f).__name__ for f in sys.meta_path]\n'
            "print(json.dumps([heavy, '_hvpt_mm_hook' in sys.modules,\n"
            "                  'ConfigTableFinder' in finders]))")
    proc = run_fresh(code, [], str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [[], True, True]


def test_without_the_hook_mmengine_refuses(user_configs, tmp_path):
    """The control: with the hook's finder removed before mmengine loads,
    parsing fails as it does for an unknown package."""
    prelude = ('sys.meta_path[:] = [f for f in sys.meta_path\n'
               "    if type(f).__name__ != 'ConfigTableFinder']")
    proc = run_fresh(PARSE.format(prelude=prelude), user_configs[:1],
                     str(tmp_path))
    assert proc.returncode != 0
    assert 'mmengine does not support to load hvpt_mm config' in proc.stderr


def test_regular_install(user_configs, tmp_path, tmp_path_factory):
    """A wheel installed into a site dir: its own ``.pth`` loads its own
    hook, and the configs come from its ``.mim`` copies."""
    site_dir = install_wheel(str(tmp_path_factory.getbasetemp() / 'wheel'))
    import site
    prelude = (
        'import site\n'
        f'site.addsitedir({site_dir!r})\n'
        f'site.addsitedir({site.getsitepackages()[0]!r})\n'
        "assert 'mmengine' not in sys.modules")
    # -S: no site-packages until the prelude adds the wheel's site dir
    # first, then this environment's (torch, mmengine, ...).
    proc = run_fresh(PARSE.format(prelude=prelude), user_configs,
                     str(tmp_path), python_args=['-S'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out['hook'] == osp.join(site_dir, '_hvpt_mm_hook.py')
    assert out['hvpt_mm'] == osp.join(site_dir, 'hvpt_mm', '__init__.py')
    assert out[user_configs[0]]['default_scope'] == 'mmdet'


def test_mmdet_train_script(tmp_path):
    """mmdet's own tools/train.py (as its wheel ships it) trains a tiny
    Mask R-CNN from a config that inherits ours."""
    import mmdet
    script = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools',
                      'train.py')
    assert osp.isfile(script), script
    root = tmp_path / 'coco'
    write_coco(str(root), num_images=5, size=64)
    config = tmp_path / 'tiny_mask_rcnn.py'
    config.write_text(f'''
_base_ = {DETECTION!r}
data_root = {str(root) + '/'!r}
dims = [32, 64, 128, 256]
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=32, depths=[1, 1, 1, 1],
                  num_heads=[1, 2, 2, 4]),
        window_size=2, drop_path_rate=0., init_cfg=None),
    neck=dict(in_channels=dims, out_channels=32),
    rpn_head=dict(in_channels=32, feat_channels=32),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=32),
        bbox_head=dict(in_channels=32, fc_out_channels=64, num_classes=2),
        mask_roi_extractor=dict(out_channels=32),
        mask_head=dict(num_convs=1, in_channels=32, conv_out_channels=32,
                       num_classes=2)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root,
                 metainfo=dict(classes=('person', 'car')),
                 pipeline=train_pipeline))
train_cfg = dict(max_epochs=1, val_interval=10)
val_dataloader = val_cfg = val_evaluator = None
test_dataloader = test_cfg = test_evaluator = None
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=1))
''')
    work = tmp_path / 'work'
    proc = subprocess.run(
        [sys.executable, script, str(config), '--work-dir', str(work)],
        cwd=str(tmp_path), env=outside_checkout_env(), capture_output=True,
        text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert 'loss_mask' in out
    assert (work / 'epoch_1.pth').is_file()
