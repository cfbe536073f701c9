# Copyright (c) hvpt_mm authors. All rights reserved.
"""The extracted backbone in mmdet's and mmseg's own SwinTransformer.

mmdet / mmseg name Swin parameters exactly as mmpretrain does (both come
from mmcls), so an mmpretrain-format backbone loads with
``convert_weights=False`` and computes the same features. What differs is
the loading: their ``init_weights`` resizes the relative-position tables
(bicubic) but copies ``relative_position_index`` as it is, which fails on
another window size; ``extract_backbone.py --to mmdet`` drops those buffers.
"""
import copy

import pytest
import torch
from mmengine.config import ConfigDict

from test_transfer.hvpt_transfer_utils import (  # noqa: I001
    DOWNSTREAM_WINDOW, PRETRAIN_WINDOW, backbone_state, extract,
    new_output_norms)
from _helpers.tiny import TINY_ARCH

INDEX = 'relative_position_index'


@pytest.fixture(scope='module')
def ckpt_dir(tmp_path_factory):
    return tmp_path_factory.mktemp('own_swin')


def own_swin(lib, checkpoint, window, depths=None):
    if lib == 'mmdet':
        from mmdet.models.backbones import SwinTransformer
        extra = dict(convert_weights=False)
    else:
        from mmseg.models.backbones import SwinTransformer
        extra = dict()
    return SwinTransformer(
        pretrain_img_size=64,
        embed_dims=TINY_ARCH['embed_dims'],
        depths=depths or TINY_ARCH['depths'],
        num_heads=TINY_ARCH['num_heads'],
        window_size=window,
        drop_path_rate=0.,
        out_indices=(0, 1, 2, 3),
        init_cfg=ConfigDict(type='Pretrained', checkpoint=checkpoint),
        **extra)


@pytest.mark.parametrize('lib', ['mmdet', 'mmseg'])
def test_same_window_no_missing_key(lib, hvp_ckpt, ckpt_dir):
    path = extract(hvp_ckpt, str(ckpt_dir / 'mmpretrain.pth'))
    pretrained = backbone_state(hvp_ckpt)
    swin = own_swin(lib, path, PRETRAIN_WINDOW)
    swin.init_weights()
    state = swin.state_dict()
    # norm0-2: outputs the pre-training never had (see new_output_norms).
    new = new_output_norms(state, pretrained)
    assert new == [
        f'norm{i}.{p}' for i in range(3) for p in ('bias', 'weight')
    ]
    assert not set(state) - set(pretrained) - set(new), 'missing keys'
    assert not set(pretrained) - set(state) - {'mask_token'}, 'unused keys'
    for key, value in state.items():
        if key not in new:
            assert torch.equal(value, pretrained[key]), key


@pytest.mark.parametrize('lib', ['mmdet', 'mmseg'])
def test_other_window_needs_to_mmdet(lib, hvp_ckpt, ckpt_dir):
    keep = extract(hvp_ckpt, str(ckpt_dir / 'mmpretrain.pth'))
    with pytest.raises(RuntimeError, match=INDEX):
        own_swin(lib, keep, DOWNSTREAM_WINDOW).init_weights()

    path = extract(hvp_ckpt, str(ckpt_dir / 'mmdet.pth'), to='mmdet')
    assert not any(INDEX in k for k in torch.load(path)['state_dict'])
    pretrained = backbone_state(hvp_ckpt)
    swin = own_swin(lib, path, DOWNSTREAM_WINDOW)
    swin.init_weights()
    state = swin.state_dict()
    new = new_output_norms(state, pretrained)
    for key, value in state.items():
        if INDEX in key or key in new:
            continue  # built by the module for its window / new outputs
        if 'relative_position_bias_table' in key:
            side = 2 * DOWNSTREAM_WINDOW - 1
            assert value.shape[0] == side * side
            assert not torch.equal(value[:1], torch.zeros_like(value[:1]))
            continue
        assert torch.equal(value, pretrained[key]), key


@pytest.mark.parametrize('lib', ['mmdet', 'mmseg'])
def test_same_features_as_mmpretrain_swin(lib, tmp_path):
    """Same weights, same outputs: the names mean the same (shifted windows
    and patch merging included, hence depth 2)."""
    from mmpretrain.models import SwinTransformer
    arch = dict(copy.deepcopy(TINY_ARCH), depths=[2, 2, 2, 2])
    torch.manual_seed(0)
    ours = SwinTransformer(
        arch=arch,
        img_size=64,
        window_size=2,
        out_indices=(0, 1, 2, 3),
        pad_small_map=True,
        drop_path_rate=0.)
    for p in ours.parameters():
        torch.nn.init.normal_(p, std=0.2)
    path = str(tmp_path / 'swin.pth')
    torch.save(
        {
            'state_dict': {
                'backbone.' + k: v
                for k, v in ours.state_dict().items()
            }
        }, path)
    theirs = own_swin(lib, path, 2, depths=arch['depths'])
    theirs.init_weights()
    x = torch.randn(2, 3, 64, 64)
    ours.eval()  # mmpretrain's Swin.train() returns None: no chaining
    theirs.eval()
    with torch.no_grad():
        a, b = ours(x), theirs(x)
    assert len(a) == len(b) == 4
    for out_a, out_b in zip(a, b):
        torch.testing.assert_close(out_a, out_b, rtol=1e-4, atol=1e-4)
