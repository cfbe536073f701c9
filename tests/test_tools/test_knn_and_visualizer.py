# Copyright (c) hvpt_mm authors. All rights reserved.
"""k-NN evaluation (math and tool) and the reconstruction visualiser."""
import json
import math
import os
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from hvpt_mm.evaluation import knn_accuracy, knn_scores
from test_transfer.hvpt_transfer_utils import (  # noqa: I001
    CLASSIFICATION, extract, load_tool, pretrain_tiny)
from _helpers.tiny import TINY_SIZE, tiny_pretrain_options

PRETRAIN = 'configs/pretrain/hvpt_swin-b.py'
COLOURS = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]


@pytest.fixture(scope='module')
def hvp_ckpt(tmp_path_factory, imagenet_root):
    return pretrain_tiny(tmp_path_factory, imagenet_root)


# -- k-NN math ----------------------------------------------------------------


def test_knn_scores_weighted_vote():
    train = torch.tensor([[1., 0.], [0.8, 0.6], [0., 1.], [-1., 0.]])
    labels = torch.tensor([0, 1, 1, 2])
    query = torch.tensor([[2., 0.]])  # normalised to (1, 0)
    scores = knn_scores(
        train, labels, query, num_classes=3, k=2, temperature=0.5)
    # Neighbours: (1, 0) with cos 1 -> class 0, (0.8, 0.6) cos 0.8 -> 1.
    expected = torch.tensor([[math.exp(1 / 0.5), math.exp(0.8 / 0.5), 0.]])
    torch.testing.assert_close(scores, expected, rtol=1e-5, atol=1e-5)


def test_knn_accuracy_clusters_and_clipping():
    g = torch.Generator().manual_seed(0)
    centres = torch.eye(3) * 5
    train = centres.repeat_interleave(4, 0) + torch.randn(12, 3, generator=g)
    val = centres + 0.1 * torch.randn(3, 3, generator=g)
    labels = torch.arange(3)
    res = knn_accuracy(
        train, labels.repeat_interleave(4), val, labels, 3, ks=(1, 5, 200))
    assert set(res) == {'k=1', 'k=5', 'k=200'}  # 200 > 12 is clipped
    assert res['k=1'] == {'top1': 100., 'top5': 100.}
    assert res['k=5']['top1'] == 100.


def test_knn_chunks_agree():
    g = torch.Generator().manual_seed(1)
    train, query = torch.randn(
        50, 8, generator=g), torch.randn(
            9, 8, generator=g)
    labels = torch.randint(0, 4, (50, ), generator=g)
    whole = knn_scores(train, labels, query, 4, k=7, chunk_size=100)
    parts = knn_scores(train, labels, query, 4, k=7, chunk_size=2)
    torch.testing.assert_close(whole, parts, rtol=1e-5, atol=0.)


# -- tools on tiny image folders ---------------------------------------------


def _write_folders(root, per_class=(4, 2)):
    """train/ and val/ with one colour per class, CustomDataset layout."""
    rng = np.random.default_rng(0)
    for split, n in zip(('train', 'val'), per_class):
        for c, colour in enumerate(COLOURS):
            folder = root / split / f'class_{c}'
            folder.mkdir(parents=True)
            for i in range(n):
                img = np.clip(
                    np.array(colour) + rng.normal(0, 25, (80, 80, 3)), 0,
                    255).astype(np.uint8)
                Image.fromarray(img).save(folder / f'{i}.png')


def _data_config(tmp_path):
    root = tmp_path / 'folders'
    _write_folders(root)
    config = tmp_path / 'tiny_folders.py'
    config.write_text(f"""
data_preprocessor = dict(
    num_classes=3, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
    to_rgb=True)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale={TINY_SIZE}, edge='short'),
    dict(type='CenterCrop', crop_size={TINY_SIZE}),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=4,
    dataset=dict(type='CustomDataset', data_root={str(root)!r},
                 data_prefix='train', pipeline=test_pipeline))
val_dataloader = dict(
    batch_size=4,
    dataset=dict(type='CustomDataset', data_root={str(root)!r},
                 data_prefix='val', pipeline=test_pipeline))
""")
    return str(config)


def _run_main(tool, argv, monkeypatch):
    monkeypatch.setattr(sys, 'argv', argv)
    tool.main()


def test_knn_tool_on_hvp_checkpoint(hvp_ckpt, imagenet_root, tmp_path,
                                    monkeypatch):
    tool = load_tool('tools/benchmarks/knn_eval.py')
    out = tmp_path / 'res' / 'knn.json'
    _run_main(tool, [
        'knn_eval.py', PRETRAIN, hvp_ckpt, '--data-config',
        _data_config(tmp_path), '--ks', '1', '3', '200', '--num-workers', '0',
        '--device', 'cpu', '--out',
        str(out), '--cfg-options'
    ] + tiny_pretrain_options(imagenet_root), monkeypatch)
    res = json.loads(out.read_text())
    assert (res['num_train'], res['num_val'], res['num_classes']) == (12, 6, 3)
    assert set(res['results']) == {'k=1', 'k=3', 'k=200'}
    for accs in res['results'].values():
        assert 0. <= accs['top1'] <= 100.
        assert accs['top5'] == 100.  # 3 classes
    # Colour is easy: a barely trained backbone separates it.
    assert res['results']['k=1']['top1'] > 100. / 3


def test_knn_tool_from_classification_config(hvp_ckpt, tmp_path, monkeypatch):
    """No CHECKPOINT: the backbone's Pretrained init_cfg is used."""
    backbone = extract(hvp_ckpt, str(tmp_path / 'backbone.pth'))
    tool = load_tool('tools/benchmarks/knn_eval.py')
    out = tmp_path / 'knn.json'
    _run_main(tool, [
        'knn_eval.py', CLASSIFICATION['finetune'], '--data-config',
        _data_config(tmp_path), '--ks', '2', '--num-workers', '0', '--device',
        'cpu', '--out',
        str(out), '--cfg-options', 'model.backbone.arch._delete_=True',
        'model.backbone.arch.embed_dims=32',
        'model.backbone.arch.depths=[1,1,1,1]',
        'model.backbone.arch.num_heads=[1,2,2,4]',
        f'model.backbone.img_size={TINY_SIZE}',
        'model.backbone.stage_cfgs.block_cfgs.window_size=2',
        f'model.backbone.init_cfg.checkpoint={backbone}'
    ], monkeypatch)
    res = json.loads(out.read_text())
    assert 0. <= res['results']['k=2']['top1'] <= 100.


def test_knn_tool_refuses_missing_weights(tmp_path):
    tool = load_tool('tools/benchmarks/knn_eval.py')
    from mmpretrain.models import SwinTransformer
    swin = SwinTransformer(arch='tiny')
    torch.save({'state_dict': {
        'backbone.norm3.weight': torch.ones(768)
    }}, str(tmp_path / 'partial.pth'))
    with pytest.raises(KeyError, match='backbone weights missing'):
        tool.load_backbone(swin, str(tmp_path / 'partial.pth'))


def _images(tmp_path, n=2):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        low = rng.integers(0, 256, (4, 6, 3)).astype(np.uint8)
        path = tmp_path / f'img_{i}.jpg'
        Image.fromarray(low).resize((120, 90), Image.BILINEAR).save(path)
        paths.append(str(path))
    return paths


def test_visualizer(hvp_ckpt, imagenet_root, tmp_path, monkeypatch):
    tool = load_tool('tools/analysis/visualize_reconstruction.py')
    images = _images(tmp_path)
    opts = ['--cfg-options'] + tiny_pretrain_options(imagenet_root)

    def run(seed, out):
        _run_main(tool, [
            'visualize_reconstruction.py', PRETRAIN, hvp_ckpt, *images,
            '--out',
            str(out), '--seed',
            str(seed), '--device', 'cpu', *opts
        ], monkeypatch)
        return np.asarray(Image.open(out).convert('RGB'))

    grid = run(0, tmp_path / 'vis' / 'rec.png')
    size, pad, title = TINY_SIZE, tool.PAD, tool.TITLE_HEIGHT
    assert grid.shape == (title + 2 * (size + pad) + pad,
                          4 * (size + pad) + pad, 3)
    assert np.array_equal(grid, run(0, tmp_path / 'again.png'))
    # Another seed draws other masks (2 of 4 blocks per image: two seeds can
    # draw the same pair, three in a row hardly).
    assert any(not np.array_equal(grid, run(s, tmp_path / f'other{s}.png'))
               for s in (1, 2, 3))

    # The mask as training draws it (the config's generator: 30 % of the
    # 32-px blocks, rounded up: 2 of the 4 blocks of a 64-px image), seeded.
    from mmengine.config import Config
    from mmpretrain.registry import TRANSFORMS
    gen_cfg = tool.find_mask_generator(Config.fromfile(PRETRAIN))
    assert (gen_cfg['type'], gen_cfg['mask_ratio']) == ('SimMIMMaskGenerator',
                                                        0.3)
    gen_cfg['input_size'] = size  # as the tiny options set
    np.random.seed(0)
    mask = TRANSFORMS.build(gen_cfg)({})['mask']  # first image
    pixel = mask.repeat(4, 0).repeat(4, 1).astype(bool)
    assert pixel.mean() == 0.5

    def panel(col, row=0):
        top, left = title + pad + row * (size + pad), pad + col * (size + pad)
        return grid[top:top + size, left:left + size].astype(int)

    original, masked, pasted = panel(0), panel(1), panel(2)
    assert np.all(masked[pixel] == tool.GREY)
    assert np.array_equal(masked[~pixel], original[~pixel])
    # Visible patches are pasted back: the original up to normalisation
    # round trip.
    assert np.abs(pasted[~pixel] - original[~pixel]).max() <= 1
    assert os.path.getsize(tmp_path / 'vis' / 'rec.png') > 0
