# Copyright (c) hvpt_mm authors. All rights reserved.
"""``demo/extract_features.py`` on the bundled photo, with a tiny model."""
import importlib.util
import os.path as osp
import re
import shlex

import numpy as np
import pytest
import torch
from PIL import Image

from _helpers.tiny import REPO, TINY_ARCH, TINY_OUT, run_tool

SCRIPT = 'demo/extract_features.py'
PHOTO = osp.join(REPO, 'demo', 'demo.jpg')
LINEAR = osp.join(REPO, 'configs', 'classification',
                  'swin-base_hvpt-pre_8xb128-linear-coslr-90e_in1k.py')
# Resized to 96 x 64 (W x H): patches of 4, then halved by each stage.
TINY_CONFIG = f'''
_base_ = {LINEAR!r}
model = dict(
    backbone=dict(arch=dict(_delete_=True, **{TINY_ARCH!r}), img_size=64,
                  window_size=2,
                  init_cfg=None),
    head=dict(in_channels={TINY_OUT}, num_classes=3))
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(96, 64)),
    dict(type='PackInputs'),
]))
'''


def tiny_files(tmp_path):
    """The tiny config and a checkpoint of its model (random weights)."""
    from mmpretrain.apis import get_model
    config = tmp_path / 'tiny_linear.py'
    config.write_text(TINY_CONFIG)
    ckpt = tmp_path / 'tiny.pth'
    torch.save(dict(state_dict=get_model(str(config)).state_dict()), ckpt)
    return str(config), str(ckpt)


def load_demo():
    """The demo script as a module (``demo/`` is no package)."""
    spec = importlib.util.spec_from_file_location(
        'extract_features', osp.join(REPO, SCRIPT))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bundled_photo_is_small_and_real():
    img = Image.open(PHOTO)
    assert img.size == (192, 192) and img.mode == 'RGB'
    assert osp.getsize(PHOTO) < 32 * 1024
    # A photo, not a flat test pattern: many distinct colours.
    assert len(np.unique(np.asarray(img).reshape(-1, 3), axis=0)) > 5000


def test_shapes_and_picture(tmp_path):
    """Every stage's shape for a 64 x 96 input, computed by hand (the bugs:
    only the last stage printed, H and W swapped, the config's test pipeline
    skipped) and the picture at the size its constants give."""
    config, ckpt = tiny_files(tmp_path)
    out = tmp_path / 'pics' / 'features.png'
    proc = run_tool([SCRIPT, PHOTO, config, ckpt, '--out', str(out),
                     '--device', 'cpu'])
    lines = proc.stdout.strip().splitlines()
    assert lines[-6:] == [
        'input: 3 x 64 x 96',
        'stage 0: 32 x 16 x 24',
        'stage 1: 64 x 8 x 12',
        'stage 2: 128 x 4 x 6',
        'stage 3: 256 x 2 x 3',
        f'saved {out}',
    ]
    demo = load_demo()
    with Image.open(out) as png:
        assert png.size == (2 * demo.PANEL_INCHES * demo.DPI,
                            demo.PANEL_INCHES * demo.DPI) == (800, 400)


def test_not_a_classifier_is_refused(tmp_path):
    """A pre-training config has no test pipeline nor stage selection: the
    error names the config (the bug: an opaque TypeError deep in
    mmpretrain)."""
    pretrain = osp.join(REPO, 'configs', 'pretrain', 'hvpt_swin-b.py')
    with pytest.raises(AssertionError, match='hvpt_swin-b.py: builds a '
                       'HeuristicMultiTaskPretrainer'):
        run_tool([SCRIPT, PHOTO, pretrain, str(tmp_path / 'none.pth')])


def test_pca_colours_follow_the_strongest_directions():
    """Channel k of the picture is the k-th principal component: features
    varying most along x, less along y, least as a checkerboard give red =
    x ramp, green = y ramp, blue = checkerboard, each up to its sign (the
    bugs: PCA over channels instead of positions, no centring, components
    out of order)."""
    h, w = 4, 6
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    ramp_x, ramp_y = x - x.mean(), y - y.mean()
    checker = np.where((x + y) % 2 == 0, 1., -1.)
    feat = np.zeros((8, h, w))
    # Orthogonal patterns with decreasing variance, mixed into channels
    # by a rotation, plus an offset that centring must remove.
    feat[0], feat[1], feat[2] = 10 * ramp_x, 3 * ramp_y, 0.5 * checker
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(8, 8)))
    feat = np.einsum('dc,chw->dhw', q, feat) + 5.
    rgb = load_demo().pca_rgb(torch.from_numpy(feat).float())
    assert rgb.shape == (h, w, 3)

    def unit(a):
        return (a - a.min()) / (a.max() - a.min())

    for k, pattern in enumerate((ramp_x, ramp_y, checker)):
        got = rgb[..., k]
        assert (np.allclose(got, unit(pattern), atol=1e-5)
                or np.allclose(got, unit(-pattern), atol=1e-5)), k


def test_method_readme_usage(tmp_path):
    """The "Look at the features" code of configs/hvpt/README.md runs, with
    the tiny config and checkpoint in place of Swin-B's; the Swin-B shapes
    it shows are those of 224 px inputs (the bugs: a README snippet that no
    longer runs, or shows shapes the model does not give)."""
    with open(osp.join(REPO, 'configs', 'hvpt', 'README.md')) as f:
        text = f.read()
    part = text.split('**Look at the features**', 1)[1].split('\n## ')[0]
    bash, python, output = re.findall(r'```\w+\n(.*?)```', part, re.S)
    config, ckpt = tiny_files(tmp_path)
    out = str(tmp_path / 'features.png')
    swaps = {
        'configs/classification/swin-base_hvpt-pre_8xb128-linear-coslr-'
        '90e_in1k.py': config,
        'work_dirs/hvpt_swin-b/epoch_100.pth': ckpt,
        'work_dirs/features.png': out,
    }
    for old, new in swaps.items():
        assert old in bash and (old in python or new == out)
        bash, python = bash.replace(old, new), python.replace(old, new)
    args = shlex.split(bash.replace('\\\n', ' '))
    assert args[:2] == ['python', SCRIPT]
    run_tool(args[1:])
    with Image.open(out) as png:
        assert png.size == (800, 400)
    snippet = tmp_path / 'snippet.py'
    snippet.write_text(python)
    proc = run_tool([str(snippet)])
    assert proc.stdout.strip().splitlines()[-1] == \
        '[(32, 16, 24), (64, 8, 12), (128, 4, 6), (256, 2, 3)]'
    # Swin-B, 224 px: 128 channels at stride 4, doubled per stage.
    assert output.strip() == str([(128 * 2**i, 56 // 2**i, 56 // 2**i)
                                  for i in range(4)])
