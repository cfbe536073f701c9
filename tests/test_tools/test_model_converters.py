# Copyright (c) hvpt_mm authors. All rights reserved.
"""tools/model_converters: extract_backbone.py and swin_to_mmpretrain.py."""
import copy
import sys
from collections import OrderedDict

import pytest
import torch

from test_transfer.hvpt_transfer_utils import (  # noqa: I001
    load_tool, pretrain_tiny, runner_state_dict)
from _helpers.tiny import TINY_ARCH, run_tool

EXTRACT = 'tools/model_converters/extract_backbone.py'
SWIN = 'tools/model_converters/swin_to_mmpretrain.py'


@pytest.fixture(scope='module')
def hvp_ckpt(tmp_path_factory, imagenet_root):
    return pretrain_tiny(tmp_path_factory, imagenet_root)


@pytest.fixture(scope='module')
def extract_tool():
    return load_tool(EXTRACT)


@pytest.fixture(scope='module')
def swin_tool():
    return load_tool(SWIN)


def test_extract_backbone_cli(hvp_ckpt, tmp_path):
    out = tmp_path / 'sub' / 'backbone.pth'
    proc = run_tool(
        ['tools/model_converters/extract_backbone.py', hvp_ckpt,
         str(out)])
    # Tensors and strings only: no allow-list needed (a fresh interpreter
    # loads it: test_transfer/test_load_anywhere.py).
    ckpt = torch.load(str(out), map_location='cpu', weights_only=True)
    assert set(ckpt) == {'state_dict', 'meta'}
    state = ckpt['state_dict']
    source = runner_state_dict(hvp_ckpt)
    expected = {
        k
        for k in source
        if k.startswith('backbone.') and k != 'backbone.mask_token'
    }
    assert set(state) == expected
    for key, value in state.items():
        assert torch.equal(value, source[key]), key
    assert any(k.endswith('relative_position_index') for k in state)

    log = proc.stdout + proc.stderr
    # (SimMIMHead has no tensors: its loss is parameter-free.)
    for dropped in ('backbone.mask_token', 'momentum_encoder', 'neck',
                    'con_neck', 'con_head', 'mlc_head'):
        assert f'dropped {dropped}:' in log, dropped
    for entry in ('message_hub', 'optimizer', 'meta'):
        assert entry in log.split('dropped checkpoint entries:')[1], entry


def test_extract_options(extract_tool, hvp_ckpt):
    source = runner_state_dict(hvp_ckpt)
    plain, _ = extract_tool.extract_backbone(source, strip_prefix=True)
    assert plain and not any(k.startswith('backbone.') for k in plain)
    assert 'mask_token' not in plain

    mmdet, dropped = extract_tool.extract_backbone(source, to='mmdet')
    assert not any(k.endswith('relative_position_index') for k in mmdet)
    assert dropped['backbone.*.relative_position_index'] == 4

    momentum, _ = extract_tool.extract_backbone(source, source='momentum')
    prefix = 'momentum_encoder.module.backbone.'
    for key, value in momentum.items():
        assert torch.equal(value, source[prefix + key[len('backbone.'):]])
    assert set(momentum) == {'backbone.' + k for k in plain}

    with pytest.raises(ValueError, match='no key starts with'):
        extract_tool.extract_backbone({'neck.w': torch.zeros(1)})


# -- official Swin / SimMIM naming, written by inverting the mapping --------


def _official_reduction(x):
    """Inverse of correct_unfold_reduction_order."""
    out_channels, in_channels = x.shape
    x = x.reshape(out_channels, in_channels // 4, 4).transpose(1, 2)
    return x[:, [0, 2, 1, 3], :].reshape(out_channels, in_channels)


def _official_norm(x):
    """Inverse of correct_unfold_norm_order."""
    x = x.reshape(x.shape[0] // 4, 4).transpose(0, 1)
    return x[[0, 2, 1, 3], :].reshape(-1)


def _to_official(state, last_stage=3):
    """mmpretrain Swin keys (no prefix) -> microsoft/Swin-Transformer."""
    out = OrderedDict()
    for key, value in state.items():
        new = key
        if key.startswith('stages.'):
            new = key.replace('stages.', 'layers.', 1)
            new = new.replace('.attn.w_msa.', '.attn.')
            new = new.replace('.ffn.layers.0.0.', '.mlp.fc1.')
            new = new.replace('.ffn.layers.1.', '.mlp.fc2.')
            if '.downsample.reduction.' in key:
                value = _official_reduction(value)
            elif '.downsample.norm.' in key:
                value = _official_norm(value)
        elif key.startswith('patch_embed.projection.'):
            new = key.replace('projection', 'proj')
        elif key.startswith(f'norm{last_stage}.'):
            new = key.replace(f'norm{last_stage}.', 'norm.')
        out[new] = value.clone()
    # Official shifted blocks carry their attention masks as buffers.
    out['layers.0.blocks.1.attn_mask'] = torch.zeros(16, 4, 4)
    return out


def _mmpretrain_swin():
    from mmpretrain.models import SwinTransformer
    swin = SwinTransformer(
        arch=dict(copy.deepcopy(TINY_ARCH), depths=[2, 2, 2, 2]),
        img_size=64,
        window_size=2)
    for p in swin.parameters():
        torch.nn.init.normal_(p)
    return swin


def test_swin_round_trip(swin_tool):
    swin = _mmpretrain_swin()
    state = swin.state_dict()
    official = _to_official(state)
    official['head.weight'] = torch.randn(10, 256)
    official['head.bias'] = torch.randn(10)
    assert 'layers.0.downsample.reduction.weight' in official
    assert 'norm.weight' in official and 'layers.0.blocks.0.mlp.fc1.bias' \
        in official

    converted = swin_tool.convert_checkpoint(official)
    expected = {'backbone.' + k
                for k in state} | {'head.fc.weight', 'head.fc.bias'}
    assert set(converted) == expected
    for key, value in state.items():
        assert torch.equal(converted['backbone.' + key], value), key
    assert torch.equal(converted['head.fc.weight'], official['head.weight'])

    backbone_only = swin_tool.convert_checkpoint(official, backbone_only=True)
    assert set(backbone_only) == {'backbone.' + k for k in state}


def test_simmim_round_trip(swin_tool):
    from mmpretrain.models import SimMIMLinearDecoder, SimMIMSwinTransformer
    encoder = SimMIMSwinTransformer(
        arch=copy.deepcopy(TINY_ARCH),
        img_size=64,
        stage_cfgs=dict(block_cfgs=dict(window_size=2)))
    decoder = SimMIMLinearDecoder(in_channels=256, encoder_stride=32)
    for p in [*encoder.parameters(), *decoder.parameters()]:
        torch.nn.init.normal_(p)
    body = {k: v for k, v in encoder.state_dict().items() if k != 'mask_token'}
    official = {'encoder.' + k: v for k, v in _to_official(body).items()}
    official['encoder.mask_token'] = encoder.mask_token.detach().clone()
    official.update({
        'decoder.' + k: v
        for k, v in decoder.decoder.state_dict().items()
    })

    converted = swin_tool.convert_checkpoint(official)
    target = OrderedDict([('backbone.' + k, v)
                          for k, v in encoder.state_dict().items()] +
                         [('neck.' + k, v)
                          for k, v in decoder.state_dict().items()])
    assert set(converted) == set(target)
    for key, value in target.items():
        assert torch.equal(converted[key], value), key
    no_extras = swin_tool.convert_checkpoint(official, backbone_only=True)
    assert 'backbone.mask_token' not in no_extras
    assert not any(k.startswith('neck.') for k in no_extras)


def test_patch_merging_order_matches_official(swin_tool):
    """The channel reordering makes mmcv's unfold merging compute what the
    official x0..x3 concatenation computes (checked, not assumed)."""
    from mmcv.cnn.bricks.transformer import PatchMerging
    dims = 8
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(2 * dims, 4 * dims, generator=g)
    gamma, beta = torch.randn(
        4 * dims, generator=g), torch.randn(
            4 * dims, generator=g)
    x = torch.randn(2, 4, 6, dims, generator=g)  # [B, H, W, C]

    # microsoft/Swin-Transformer PatchMerging.forward
    x0, x1 = x[:, 0::2, 0::2], x[:, 1::2, 0::2]
    x2, x3 = x[:, 0::2, 1::2], x[:, 1::2, 1::2]
    merged = torch.cat([x0, x1, x2, x3], -1)  # [B, H/2, W/2, 4C]
    merged = torch.nn.functional.layer_norm(merged, (4 * dims, ), gamma, beta)
    official = merged @ weight.t()

    ours = PatchMerging(in_channels=dims, out_channels=2 * dims)
    ours.reduction.weight.data = swin_tool.correct_unfold_reduction_order(
        weight)
    ours.norm.weight.data = swin_tool.correct_unfold_norm_order(gamma)
    ours.norm.bias.data = swin_tool.correct_unfold_norm_order(beta)
    out, hw = ours(x.reshape(2, 24, dims), (4, 6))
    assert hw == (2, 3)
    torch.testing.assert_close(out, official.reshape(2, 6, 2 * dims))


def test_swin_to_mmpretrain_cli(swin_tool, tmp_path, monkeypatch):
    """SimMIM checkpoints pickle their yacs config: loads without yacs."""
    module_dir = tmp_path / 'mods'
    module_dir.mkdir()
    (module_dir /
     'fake_yacs_cfg.py').write_text('class CfgNode(dict):\n    pass\n')
    monkeypatch.syspath_prepend(str(module_dir))
    import fake_yacs_cfg
    swin = _mmpretrain_swin()
    official = {
        'encoder.' + k: v
        for k, v in _to_official(swin.state_dict()).items()
    }
    src = tmp_path / 'simmim.pth'
    torch.save(
        {
            'model': official,
            'config': fake_yacs_cfg.CfgNode(a=1),
            'epoch': 99
        }, str(src))
    del sys.modules['fake_yacs_cfg']
    monkeypatch.setattr(sys, 'path',
                        [p for p in sys.path if p != str(module_dir)])

    dst = tmp_path / 'out' / 'converted.pth'
    monkeypatch.setattr(sys, 'argv', [SWIN, str(src), str(dst)])
    swin_tool.main()
    state = torch.load(str(dst), weights_only=True)['state_dict']
    assert set(state) == {'backbone.' + k for k in swin.state_dict()}


def test_swin_v2_is_refused(swin_tool):
    with pytest.raises(NotImplementedError, match='V2'):
        swin_tool.convert_checkpoint(
            {'layers.0.blocks.0.attn.logit_scale': torch.zeros(1)})
