# Copyright (c) hvpt_mm authors. All rights reserved.
"""Window-size transfer: relative-position tables resized on current SciPy.

The pre-training window (6 at 192 px) differs from the downstream ones (7
for classification and detection, 12 for segmentation). mmpretrain 1.2.0
resizes the tables with ``scipy.interpolate.interp2d``, removed in SciPy
1.14; ``import hvpt_mm`` installs an equivalent.
"""
import copy

import pytest
import torch

from hvpt_mm.utils.rel_pos_bias import \
    resize_relative_position_bias_table
from test_transfer.hvpt_transfer_utils import (  # noqa: I001
    LoadLog, assert_backbone_loaded)
from _helpers.tiny import TINY_ARCH

# interp2d(kind='cubic') of SciPy 1.13.1 on the table below, head by head:
# (sum, sum of squares, out[1, 2], out[-1, 0]) of the resized square table.
INTERP2D_REFERENCE = {
    (5, 7): [(24.168611526489258, 40.92802047729492, 1.5409650802612305,
              0.8987081050872803),
             (18.739179611206055, 36.30983352661133, 1.1914584636688232,
              0.8545990586280823)],
    (11, 13): [(1.6197195053100586, 87.29988098144531, -1.256575107574463,
                0.14020465314388275),
               (7.305900573730469, 84.4231185913086, -0.30819639563560486,
                -0.7573968172073364)],
}


def _table(side: int, heads: int = 2) -> torch.Tensor:
    steps = torch.arange(side * side, dtype=torch.float32) * 0.37
    return torch.stack([torch.sin(steps + h) for h in range(heads)], dim=1)


@pytest.mark.parametrize('src,dst', sorted(INTERP2D_REFERENCE))
def test_resize_matches_interp2d(src, dst):
    out = resize_relative_position_bias_table(src, dst, _table(src), 2)
    assert out.shape == (dst * dst, 2) and out.dtype == torch.float32
    for head, (total, squares, a, b) in enumerate(INTERP2D_REFERENCE[(src,
                                                                      dst)]):
        grid = out[:, head].view(dst, dst).double()
        assert grid.sum().item() == pytest.approx(total, abs=1e-4)
        assert (grid**2).sum().item() == pytest.approx(squares, abs=1e-4)
        assert grid[1, 2].item() == pytest.approx(a, abs=1e-5)
        assert grid[-1, 0].item() == pytest.approx(b, abs=1e-5)


def test_resize_installed_in_mmpretrain():
    import mmpretrain.models.backbones.swin_transformer as swin
    assert swin.resize_relative_position_bias_table is \
        resize_relative_position_bias_table


def test_small_table_window_2():
    # interp2d(kind='cubic') refused 3x3 tables; a quadratic spline fits.
    table = _table(3)
    out = resize_relative_position_bias_table(3, 5, table, 2)
    assert out.shape == (25, 2) and torch.isfinite(out).all()
    # The centre (relative offset 0) stays where it was.
    assert out.view(5, 5, 2)[2, 2].tolist() == pytest.approx(
        table.view(3, 3, 2)[1, 1].tolist(), abs=1e-5)


@pytest.mark.parametrize('img_size,window', [(224, 7), (512, 12)])
def test_swin_window6_192px_loads_into(img_size, window):
    """The real pre-training -> downstream windows, on a narrow Swin."""
    from mmpretrain.models import SimMIMSwinTransformer, SwinTransformer
    pre = SimMIMSwinTransformer(
        arch=copy.deepcopy(TINY_ARCH),
        img_size=192,
        out_indices=(0, 1, 2, 3),
        stage_cfgs=dict(block_cfgs=dict(window_size=6)))
    for p in pre.parameters():  # make every table distinct from an init
        torch.nn.init.normal_(p)
    state = pre.state_dict()
    down = SwinTransformer(
        arch=copy.deepcopy(TINY_ARCH),
        img_size=img_size,
        window_size=window,
        out_indices=(0, 1, 2, 3),
        pad_small_map=True)
    result = down.load_state_dict(copy.copy(state), strict=False)
    assert result.unexpected_keys == ['mask_token']
    assert all(
        k.endswith('relative_position_index') for k in result.missing_keys)
    log = LoadLog()
    log.lines.append('missing keys in source state_dict: ' +
                     ', '.join(result.missing_keys))
    assert_backbone_loaded(down, state, log)
    table = down.stages[0].blocks[0].attn.w_msa.relative_position_bias_table
    assert table.shape == ((2 * window - 1)**2, TINY_ARCH['num_heads'][0])
    with torch.no_grad():
        outs = down(torch.randn(1, 3, img_size, img_size))
    assert [o.shape[-1]
            for o in outs] == [img_size // s for s in (4, 8, 16, 32)]
