# Copyright (c) hvpt_mm authors. All rights reserved.
"""Resizing relative-position bias tables on current SciPy.

mmpretrain 1.2.0 resizes the relative-position bias tables of Swin and BEiT
when a checkpoint of one window size loads into another (a window-6
pre-training into a window-7 fine-tuning, say) with
``scipy.interpolate.interp2d``, which SciPy 1.14 removed: every such load
fails with ``NotImplementedError``. :func:`resize_relative_position_bias_table`
computes the same geometric-grid bicubic resampling with
``RectBivariateSpline`` (SciPy's documented replacement of ``interp2d`` on
regular grids) and, unlike ``interp2d``, also accepts tables of fewer than
4 x 4 entries (window 2) by lowering the spline degree. Importing this
module installs it in mmpretrain's modules.
"""
import numpy as np
import torch


def _geometric_grid(src_size: int, dst_size: int):
    """Source and target offsets of mmpretrain's (BEiT's) resizing.

    Source offsets grow geometrically from the centre so that the source
    table spans the target's range; the target grid is uniform.
    """

    def geometric_progression(a, r, n):
        return a * (1.0 - r**n) / (1.0 - r)

    left, right = 1.01, 1.5
    while right - left > 1e-6:
        q = (left + right) / 2.0
        gp = geometric_progression(1, q, src_size // 2)
        if gp > dst_size // 2:
            right = q
        else:
            left = q
    dis = []
    cur = 1
    for i in range(src_size // 2):
        dis.append(cur)
        cur += q**(i + 1)
    r_ids = [-d for d in reversed(dis)]
    src = np.asarray(r_ids + [0] + dis, dtype=np.float64)
    t = dst_size // 2.0
    dst = np.arange(-t, t + 0.1, 1.0)
    return src, dst


def resize_relative_position_bias_table(src_shape: int, dst_shape: int,
                                        table: torch.Tensor,
                                        num_head: int) -> torch.Tensor:
    """Resize a ``[src_shape**2, num_head]`` table to ``dst_shape**2`` rows.

    Same signature and result as mmpretrain's function of this name
    (``mmpretrain.models.utils.embed``) with SciPy < 1.14.

    Args:
        src_shape (int): Side of the source table, ``2 * window - 1``.
        dst_shape (int): Side of the target table.
        table (Tensor): ``[src_shape**2, num_head]`` source table.
        num_head (int): Number of attention heads.

    Returns:
        Tensor: ``[dst_shape**2, num_head]`` table.
    """
    from scipy.interpolate import RectBivariateSpline

    src, dst = _geometric_grid(src_shape, dst_shape)
    degree = min(3, src_shape - 1)  # interp2d(kind='cubic') needs 4 points
    columns = []
    for i in range(num_head):
        z = table[:, i].view(src_shape, src_shape).float().cpu().numpy()
        # interp2d(x, y, z)(u, v) == RectBivariateSpline(x, y, z.T)(u, v).T
        spline = RectBivariateSpline(src, src, z.T, kx=degree, ky=degree, s=0)
        resized = spline(dst, dst).T  # [dst_shape, dst_shape]
        columns.append(
            torch.as_tensor(resized, dtype=torch.float32).reshape(-1, 1))
    return torch.cat(columns, dim=-1).to(table.device)


def install() -> None:
    """Use :func:`resize_relative_position_bias_table` in mmpretrain."""
    import mmpretrain.models.backbones.beit as beit
    import mmpretrain.models.backbones.swin_transformer as swin
    import mmpretrain.models.utils as utils
    import mmpretrain.models.utils.embed as embed
    for module in (embed, utils, swin, beit):
        module.resize_relative_position_bias_table = \
            resize_relative_position_bias_table


install()
