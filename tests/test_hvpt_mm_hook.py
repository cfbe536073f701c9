# Copyright (c) hvpt_mm authors. All rights reserved.
"""``hvpt_mm::`` configs from any mmengine script, with no import to add.

Every check runs a fresh interpreter outside the checkout, as a user's
script would: only the installed packages are on its path, and nothing
imports hvpt_mm before the config is parsed.
"""
import json
import os.path as osp
import shutil
import site
import subprocess
import sys
from typing import List, Optional

import pytest

from _helpers.coco import write_coco
from _helpers.install import install_wheel, outside_checkout_env
from _helpers.tiny import REPO

DETECTION = ('hvpt_mm::detection/'
             'mask-rcnn_swin-b-p4-w7-hvpt-pre_fpn_1x_coco.py')
SEGMENTATION = ('hvpt_mm::segmentation/swin-base-patch4-window12-hvpt-pre_'
                'upernet_8xb2-160k_ade20k-512x512.py')

# Parses the configs named on the command line and prints what they hold,
# where mmengine found our detection config and what was imported.
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
out['imported'] = sorted(m for m in sys.modules
                         if m.split('.')[0] == 'hvpt_mm')
out['base'] = Config._get_cfg_path({DETECTION!r}, '')[0]
print(json.dumps(out))
'''


def parse_code(prelude: str = '') -> str:
    """:data:`PARSE`, after ``prelude`` (code run before mmengine)."""
    return PARSE.format(DETECTION=DETECTION, prelude=prelude)


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
    proc = run_fresh(parse_code(), user_configs, str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    det, seg = (out[p] for p in user_configs)
    for cfg in (det, seg):
        assert cfg['backbone'] == 'mmpretrain.SwinTransformer'
        assert cfg['arch'] == 'base'
        assert 'hvpt_mm' in cfg['imports']
    assert (det['default_scope'], det['lr']) == ('mmdet', 2e-4)
    assert (seg['default_scope'], seg['lr']) == ('mmseg', 1e-4)
    # The start-up hook did it.
    assert out['hook'] and osp.basename(out['hook']) == '_hvpt_mm_hook.py'


def test_resolving_a_path_imports_nothing(user_configs, tmp_path):
    """Parsing a config that inherits ours leaves hvpt_mm unimported (the
    bug: mmengine's lookup of a submodule locator imports the package, and
    with it replaces the checkpoint loader and fills the registries)."""
    proc = run_fresh(parse_code(),
                     user_configs, str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out['imported'] == []
    # Found where `import hvpt_mm` would find the package: the editable
    # install's checkout (.mim links to its configs), else site-packages.
    import hvpt_mm
    mim = osp.join(osp.dirname(hvpt_mm.__file__), '.mim', 'configs')
    assert out['base'] == osp.join(mim, DETECTION.split('::')[1])


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
    proc = run_fresh(parse_code(prelude), user_configs[:1],
                     str(tmp_path))
    assert proc.returncode != 0
    assert 'mmengine does not support to load hvpt_mm config' in proc.stderr


def test_regular_install(user_configs, tmp_path, tmp_path_factory):
    """A wheel installed into a site dir: its own ``.pth`` loads its own
    hook, and the configs come from its ``.mim`` copies."""
    site_dir = install_wheel(str(tmp_path_factory.getbasetemp() / 'wheel'))
    prelude = (
        'import site\n'
        f'site.addsitedir({site_dir!r})\n'
        f'site.addsitedir({site.getsitepackages()[0]!r})\n'
        "assert 'mmengine' not in sys.modules")
    # -S: no site-packages until the prelude adds the wheel's site dir
    # first, then this environment's (torch, mmengine, ...).
    proc = run_fresh(parse_code(prelude), user_configs,
                     str(tmp_path), python_args=['-S'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out['hook'] == osp.join(site_dir, '_hvpt_mm_hook.py')
    assert out['imported'] == []
    assert out['base'] == osp.join(site_dir, 'hvpt_mm', '.mim', 'configs',
                                   DETECTION.split('::')[1])
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


def _site_dir(root, hook: str) -> str:
    """A site dir as an editable install leaves it: our ``.pth`` and a path
    entry (processed first, as ``__editable__.*.pth`` is) to the folder of
    the hook module, ``root/checkout``.

    Args:
        hook (str): ``'installed'``: the repository's module is in the
            folder; ``'moved'``: the folder is gone; ``'deleted'``: the
            folder is there without the module; ``'broken'``: the module is
            a truncated file.
    """
    site_dir, checkout = root / 'site', root / 'checkout'
    site_dir.mkdir()
    shutil.copy(osp.join(REPO, '_hvpt_mm_hook.pth'), site_dir)
    (site_dir / '__editable__.hvpt_mm-0.1.0.pth').write_text(f'{checkout}\n')
    if hook != 'moved':
        checkout.mkdir()
    if hook == 'installed':
        shutil.copy(osp.join(REPO, '_hvpt_mm_hook.py'), checkout)
    elif hook == 'broken':
        (checkout / '_hvpt_mm_hook.py').write_text('def install(:\n')
    return str(site_dir)


@pytest.mark.parametrize('hook', ['moved', 'deleted', 'broken'])
def test_pth_without_its_module_is_silent(tmp_path, hook):
    """A moved, deleted or half-written checkout: processing our ``.pth``
    prints nothing and changes nothing (the bug: an unguarded ``import``
    line makes site print a traceback in every interpreter of the env)."""
    site_dir = _site_dir(tmp_path, hook)
    code = ('import site, sys\n'
            'before = list(sys.meta_path)\n'
            f'site.addsitedir({site_dir!r})\n'
            'assert sys.meta_path == before, sys.meta_path\n'
            "assert '_hvpt_mm_hook' not in sys.modules\n")
    # -S: the env's own site-packages (with the real hook) stay out.
    proc = run_fresh(code, [], str(tmp_path), python_args=['-S'])
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, '', '')


def test_pth_with_its_module_installs_the_finder(tmp_path):
    """The control of the test above: the same site dir with the module in
    place runs it (the bug: a guard that never imports the hook)."""
    site_dir = _site_dir(tmp_path, 'installed')
    code = ('import site, sys\n'
            f'site.addsitedir({site_dir!r})\n'
            "print(sys.modules['_hvpt_mm_hook'].__file__,\n"
            '      type(sys.meta_path[0]).__name__)\n')
    proc = run_fresh(code, [], str(tmp_path), python_args=['-S'])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [
        str(tmp_path / 'checkout' / '_hvpt_mm_hook.py'), 'ConfigTableFinder']


def test_hook_imports_only_itself(tmp_path):
    """Start-up cost: importing the hook loads no other module, even in an
    interpreter that loaded next to nothing (-S). The bug: a typing or
    importlib import at the top of the module, paid by every process."""
    code = ('import sys\n'
            f'sys.path.insert(0, {REPO!r})\n'
            'before = set(sys.modules)\n'
            'import _hvpt_mm_hook\n'
            'print(sorted(set(sys.modules) - before))\n')
    proc = run_fresh(code, [], str(tmp_path), python_args=['-S'])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['_hvpt_mm_hook']"


def test_vendored_package_without_the_hook(tmp_path):
    """A copy of ``hvpt_mm/`` vendored into a project, without the
    top-level hook module: it imports, and ``import hvpt_mm`` lets mmengine
    resolve ``hvpt_mm::`` from the copy (the bug: hvpt_mm importing
    ``_hvpt_mm_hook`` fails with ModuleNotFoundError)."""
    vendor = tmp_path / 'vendor'
    shutil.copytree(osp.join(REPO, 'hvpt_mm'), vendor / 'hvpt_mm',
                    ignore=shutil.ignore_patterns('__pycache__', '.mim'))
    mim = vendor / 'hvpt_mm' / '.mim'
    mim.mkdir()
    for name in ('configs', 'model-index.yml'):
        (mim / name).symlink_to(osp.join(REPO, name))
    code = ('import sys\n'
            "sys.modules['_hvpt_mm_hook'] = None  # unreachable\n"
            f'sys.path[:0] = [{str(vendor)!r}]\n'
            f'sys.path.append({site.getsitepackages()[0]!r})\n'
            'import hvpt_mm\n'
            'from mmengine.config import Config\n'
            f'print(hvpt_mm.__file__, Config._get_cfg_path({DETECTION!r}, '
            "'')[0])\n")
    # -S: no site-packages processing, so no .pth and no hook at all.
    proc = run_fresh(code, [], str(tmp_path), python_args=['-S'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    package, base = proc.stdout.split()[-2:]
    assert package == str(vendor / 'hvpt_mm' / '__init__.py')
    assert base == str(mim / 'configs' / DETECTION.split('::')[1])
