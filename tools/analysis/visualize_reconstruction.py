# Copyright (c) hvpt_mm authors. All rights reserved.
"""Show what a masked-image-modeling model reconstructs.

For each image, one row of four panels: the original (resized and centre-
cropped to the pre-training input size), the masked input (masked patches
greyed out), the reconstruction with the visible patches pasted back, and
the raw prediction of every pixel. The mask is drawn as in training, by the
``SimMIMMaskGenerator`` of the config's pipeline (HVP's
``HVPTMixedSignals`` or SimMIM's), seeded with ``--seed``.

Works with HVP configs (``HeuristicMultiTaskPretrainer`` with the ``mim``
signal on) and mmpretrain SimMIM configs: any model with
``backbone(x, mask)`` and a ``neck`` that decodes the last stage to pixels.

Example::

    python tools/analysis/visualize_reconstruction.py \\
        configs/pretrain/hvpt_swin-b.py work_dirs/hvpt_swin-b/epoch_100.pth \\
        data/imagenet/val/ILSVRC2012_val_00000001.JPEG \\
        data/imagenet/val/ILSVRC2012_val_00000002.JPEG \\
        --out work_dirs/reconstruction.png
"""
import argparse
import copy
import os
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader
from mmengine.utils import import_modules_from_strings
from PIL import Image, ImageDraw

from hvpt_mm.datasets.transforms.mixed_signals import \
    default_mask_generator
from hvpt_mm.utils import register_all_modules

TITLES = ('original', 'masked input', 'reconstruction + visible',
          'raw prediction')
SHORT_TITLES = ('input', 'masked', 'pasted', 'raw')  # for narrow panels
GREY = 127
TITLE_HEIGHT = 16
PAD = 4


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Visualise masked-image-modeling reconstructions of an '
        'HVP (or SimMIM) model: original | masked input | reconstruction '
        'with visible patches pasted back | raw prediction, one row per '
        'image, written as a PNG')
    parser.add_argument('config', help='pre-training config')
    parser.add_argument('checkpoint', help='pre-training checkpoint')
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument(
        '--out',
        default='reconstruction.png',
        help='output PNG (default: reconstruction.png)')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of the random masks')
    parser.add_argument(
        '--mask-ratio',
        type=float,
        help='override the mask ratio of the config\'s mask generator')
    parser.add_argument(
        '--device',
        default=None,
        help='cuda or cpu (default: cuda when available)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    return parser.parse_args()


def find_mask_generator(cfg: Config) -> dict:
    """The ``SimMIMMaskGenerator`` config of the training pipeline."""

    def search(node) -> Optional[dict]:
        if isinstance(node, dict):
            if node.get('type') == 'SimMIMMaskGenerator':
                return dict(node)
            if node.get('type') == 'HVPTMixedSignals':
                gen = node.get('mask_generator', 'default')
                if gen == 'default':
                    gen = default_mask_generator()
                if gen:
                    # HVPTMixedSignals gives its size to a generator
                    # without one.
                    return dict(
                        dict(input_size=node.get('input_size', 192)), **gen)
            for value in node.values():
                found = search(value)
                if found:
                    return found
        elif isinstance(node, (list, tuple)):
            for value in node:
                found = search(value)
                if found:
                    return found
        return None

    found = search(cfg.get('train_dataloader', {}))
    if found is None:
        raise ValueError('no SimMIMMaskGenerator in the training pipeline '
                         'of the config')
    return found


def load_image(path: str, size: int) -> np.ndarray:
    """RGB uint8 ``[size, size, 3]``: shorter side resized, centre crop."""
    img = Image.open(path).convert('RGB')
    scale = size / min(img.size)
    w, h = (max(size, round(s * scale)) for s in img.size)
    img = img.resize((w, h), Image.BICUBIC)
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)))


@torch.no_grad()
def reconstruct(model: torch.nn.Module, images: List[np.ndarray],
                masks: torch.Tensor
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masked inputs, pasted reconstructions and raw predictions (RGB).

    Args:
        model (nn.Module): Model with ``data_preprocessor``,
            ``backbone(x, mask)`` and a pixel-decoding ``neck``.
        images (list[np.ndarray]): RGB uint8 ``[H, W, 3]`` images.
        masks (Tensor): ``[B, h, w]`` patch masks, 1 = masked.

    Returns:
        tuple[np.ndarray]: Three uint8 arrays ``[B, H, W, 3]``.
    """
    pre = model.data_preprocessor
    device = next(model.parameters()).device
    rgb = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)  # [B,3,H,W]
    # Feed BGR as the training loader does; with to_rgb the preprocessor
    # turns it into RGB, otherwise the model works on BGR.
    is_bgr = not getattr(pre, '_channel_conversion', False)
    data = pre(
        dict(inputs=rgb[:, [2, 1, 0]].to(device), data_samples=None), False)
    x = data['inputs']  # [B, 3, H, W], normalised
    masks = masks.to(device)
    feats = model.backbone(x, masks)  # ([B, C, H/32, W/32], )
    pred = model.neck(feats[-1])  # [B, 3, H, W]
    scale = x.size(-1) // masks.size(-1)
    pixel_mask = masks.repeat_interleave(scale, 1).repeat_interleave(
        scale, 2)[:, None].float()  # [B, 1, H, W]
    pasted = x * (1. - pixel_mask) + pred * pixel_mask
    masked_err = ((pred - x).abs() * pixel_mask).sum() / (
        pixel_mask.sum() * x.size(1)).clamp(min=1)
    print_log(
        f'mean L1 of masked pixels (normalised space): '
        f'{masked_err.item():.4f}',
        logger='current')

    def to_rgb_uint8(t: torch.Tensor) -> np.ndarray:
        mean = getattr(pre, 'mean', torch.zeros(1, 3, 1, 1))
        std = getattr(pre, 'std', torch.ones(1, 3, 1, 1))
        t = t * std.view(1, -1, 1, 1) + mean.view(1, -1, 1, 1)
        if is_bgr:
            t = t[:, [2, 1, 0]]
        return t.clamp(0, 255).round().byte().permute(0, 2, 3, 1).cpu() \
            .numpy()

    masked = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
    masked = masked * (1. - pixel_mask.cpu()) + GREY * pixel_mask.cpu()
    masked = masked.round().byte().permute(0, 2, 3, 1).numpy()
    return masked, to_rgb_uint8(pasted), to_rgb_uint8(pred)


def make_grid(rows: List[List[np.ndarray]]) -> Image.Image:
    """Panels ``rows[i][j]`` (uint8 ``[H, W, 3]``) with column titles."""
    h, w = rows[0][0].shape[:2]
    cols = len(rows[0])
    canvas = Image.new('RGB',
                       (cols * (w + PAD) + PAD, TITLE_HEIGHT + len(rows) *
                        (h + PAD) + PAD), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    fits = all(draw.textlength(t) <= w for t in TITLES[:cols])
    for j, title in enumerate((TITLES if fits else SHORT_TITLES)[:cols]):
        draw.text((PAD + j * (w + PAD), 2), title, fill=(0, 0, 0))
    for i, row in enumerate(rows):
        for j, panel in enumerate(row):
            canvas.paste(
                Image.fromarray(panel),
                (PAD + j * (w + PAD), TITLE_HEIGHT + PAD + i * (h + PAD)))
    return canvas


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    register_all_modules(init_default_scope=True)
    from mmpretrain.registry import MODELS, TRANSFORMS

    model_cfg = copy.deepcopy(cfg.model)
    if 'data_preprocessor' not in model_cfg and cfg.get('data_preprocessor'):
        model_cfg['data_preprocessor'] = cfg.data_preprocessor
    model = MODELS.build(model_cfg)
    if getattr(model, 'neck', None) is None:
        raise ValueError('the model has no MIM decoder (neck); for HVP, the '
                         'mim signal must be on')
    ckpt = CheckpointLoader.load_checkpoint(
        args.checkpoint, map_location='cpu')
    state_dict = ckpt.get('state_dict', ckpt)
    result = model.load_state_dict(state_dict, strict=False)
    missing = [
        k for k in result.missing_keys if k.startswith(('backbone.', 'neck.'))
    ]
    if missing:
        raise KeyError(f'{args.checkpoint} lacks {len(missing)} encoder / '
                       f'decoder weights, e.g. {missing[:3]}')
    device = torch.device(
        args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    model.to(device)
    model.eval()

    gen_cfg = find_mask_generator(cfg)
    if args.mask_ratio is not None:
        gen_cfg['mask_ratio'] = args.mask_ratio
    generator = TRANSFORMS.build(gen_cfg)
    size = gen_cfg['input_size']
    images = [load_image(p, size) for p in args.images]
    # SimMIMMaskGenerator draws from numpy's global generator.
    np.random.seed(args.seed)
    masks = torch.stack([
        torch.from_numpy(generator({})['mask']).bool() for _ in images
    ])  # [B, h, w]

    masked, pasted, pred = reconstruct(model, images, masks)
    rows = [[images[i], masked[i], pasted[i], pred[i]]
            for i in range(len(images))]
    if osp.dirname(args.out):
        os.makedirs(osp.dirname(args.out), exist_ok=True)
    make_grid(rows).save(args.out)
    print_log(
        f'{len(images)} image(s), mask ratio {gen_cfg["mask_ratio"]}, '
        f'seed {args.seed}: saved {args.out}',
        logger='current')


if __name__ == '__main__':
    main()
