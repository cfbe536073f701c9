# Copyright (c) hvpt_mm authors. All rights reserved.
"""Feature maps of an image, and a picture of the last one.

Builds the model of an mmpretrain classification config (ours in
``configs/classification/``, or a config inheriting them) with mmpretrain's
``get_model``, loads a checkpoint (a pre-training's ``epoch_*.pth`` or its
extracted backbone), runs the image through the config's test pipeline with
``FeatureExtractor``, prints the shape of each backbone stage's feature map
and saves the model's input beside a PCA map of the last stage: each
position's features projected on their first three principal components,
shown as red, green and blue. Positions that look alike to the model get
alike colours.

Example::

    python demo/extract_features.py demo/demo.jpg \\
        configs/classification/swin-base_hvpt-pre_8xb128-linear-coslr-90e_in1k.py \\
        work_dirs/hvpt_swin-b/epoch_100.pth --out work_dirs/features.png

``demo/demo.jpg`` is scikit-image's astronaut photo (NASA, public domain),
192 px.
"""  # noqa: E501
import argparse
import os
import os.path as osp
from typing import Sequence

import numpy as np
import torch

# The backbone's four stages, not only the last one the head reads.
ALL_STAGES = (0, 1, 2, 3)
PANEL_INCHES = 4
DPI = 100


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Print the shape of each backbone stage\'s feature map '
        'for an image and save the image beside a PCA map (3 components as '
        'RGB) of the last stage')
    parser.add_argument('image', help='image file')
    parser.add_argument('config', help='mmpretrain classification config')
    parser.add_argument(
        'checkpoint', help='runner checkpoint or extracted backbone')
    parser.add_argument(
        '--out',
        default='features.png',
        help='output PNG (default: features.png)')
    parser.add_argument(
        '--device',
        default=None,
        help='cuda or cpu (default: cuda when available)')
    return parser.parse_args()


def pca_rgb(feat: torch.Tensor) -> np.ndarray:
    """First three principal components of a feature map, as colours.

    Args:
        feat (Tensor): ``[C, H, W]`` features.

    Returns:
        np.ndarray: ``[H, W, 3]`` float in [0, 1]: component ``k`` of each
        position, scaled to [0, 1] over the map, in channel ``k`` (0 where
        the map has fewer than 3 components).
    """
    c, h, w = feat.shape
    x = feat.detach().double().cpu().reshape(c, h * w).T  # [HW, C]
    x = x - x.mean(0)
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    comps = x @ vh[:3].T  # [HW, k], k <= 3
    low, high = comps.min(0).values, comps.max(0).values
    comps = (comps - low) / (high - low).clamp_min(1e-12)
    rgb = torch.zeros(h * w, 3, dtype=torch.float64)
    rgb[:, :comps.shape[1]] = comps
    return rgb.reshape(h, w, 3).numpy()


def save_picture(image: np.ndarray, feat: torch.Tensor, out: str) -> None:
    """The image beside the PCA map of ``feat``, ``2 * PANEL_INCHES`` by
    ``PANEL_INCHES`` inches at ``DPI``.

    Args:
        image (np.ndarray): RGB uint8 ``[H, W, 3]``, the model's input.
        feat (Tensor): ``[C, h, w]`` last-stage features.
        out (str): PNG path.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, 2, figsize=(2 * PANEL_INCHES, PANEL_INCHES), dpi=DPI)
    h, w = image.shape[:2]
    c, fh, fw = feat.shape
    axes[0].imshow(image)
    axes[0].set_title(f'input {h} x {w}')
    # Same extent as the image: each feature cell covers its patch.
    axes[1].imshow(pca_rgb(feat), interpolation='nearest',
                   extent=(0, w, h, 0))
    axes[1].set_title(f'last stage PCA ({c} ch, {fh} x {fw})')
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    fig.savefig(out, dpi=DPI)
    plt.close(fig)


def describe(feats: Sequence[torch.Tensor]) -> str:
    """One line per stage: ``stage i: C x H x W``."""
    return '\n'.join(f'stage {i}: ' + ' x '.join(map(str, f.shape))
                     for i, f in enumerate(feats))


def main() -> None:
    args = parse_args()
    from mmengine.config import Config
    from mmpretrain.apis import FeatureExtractor, get_model
    from mmpretrain.models import ImageClassifier
    from mmpretrain.registry import MODELS

    # Checked before building: FeatureExtractor needs the test pipeline
    # and a classifier's extract_feat(stage=...).
    cfg = Config.fromfile(args.config)
    model_type = MODELS.get(cfg.model.type)
    if not (isinstance(model_type, type)
            and issubclass(model_type, ImageClassifier)
            and cfg.get('test_dataloader')):
        raise TypeError(
            f'{args.config}: builds a {cfg.model.type}; this demo needs an '
            'image classifier config with a test pipeline, e.g. '
            'configs/classification/swin-base_hvpt-pre_8xb128-linear-'
            'coslr-90e_in1k.py')
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    model = get_model(
        cfg,
        pretrained=args.checkpoint,
        device=device,
        backbone=dict(out_indices=ALL_STAGES))
    extractor = FeatureExtractor(model, device=device)
    # The batch the extractor feeds: the image after the test pipeline.
    batch = next(extractor.preprocess([args.image]))
    feats = extractor.forward(batch, stage='backbone')[0]
    shown = batch['inputs'][0].permute(1, 2, 0).numpy()[..., ::-1]  # RGB
    print(f'input: {" x ".join(map(str, batch["inputs"][0].shape))}')
    print(describe(feats))
    save_picture(np.ascontiguousarray(shown), feats[-1], args.out)
    print(f'saved {args.out}')


if __name__ == '__main__':
    main()
