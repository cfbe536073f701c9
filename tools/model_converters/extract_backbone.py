# Copyright (c) hvpt_mm authors. All rights reserved.
"""Extract the backbone of an HVP checkpoint for downstream use.

A pre-training checkpoint written by the runner holds the online backbone
(with the SimMIM mask token), the MIM decoder and head, the contrastive
projector and predictor, the multi-label head, the momentum encoder, the
optimizer state, the parameter schedulers and the message hub. Downstream
configs need only the backbone. The output holds tensors and plain strings
only, so it loads with ``torch.load(weights_only=True)`` (the default from
torch 2.6) in any process, also one that never imports ``hvpt_mm``.

Output formats (``--to``):

- ``mmpretrain`` (default): keys ``backbone.*`` as mmpretrain's own
  checkpoints; loads into ``mmpretrain.SwinTransformer`` (classification,
  and mmdet / mmseg configs with ``type='mmpretrain.SwinTransformer'``)
  through ``init_cfg=dict(type='Pretrained', prefix='backbone.')``. The
  ``relative_position_index`` buffers are kept: mmpretrain's Swin rebuilds
  them itself when it resizes the relative-position tables to another
  window size.
- ``mmdet``: for mmdet's and mmseg's own ``SwinTransformer``
  (``convert_weights=False``). Parameter names are the same as mmpretrain's,
  but those backbones copy ``relative_position_index`` as it is and fail on
  a size mismatch when the window changes, so the buffers are dropped (the
  modules build their own). mmdet's Swin reads only ``backbone.*`` keys, so
  the prefix is kept.

Example::

    python tools/model_converters/extract_backbone.py \\
        work_dirs/hvpt_swin-b/epoch_100.pth \\
        work_dirs/hvpt_swin-b/hvpt_swin-b_backbone.pth
"""
import argparse
import logging
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader

# Lets torch's safe loader read runner checkpoints (their message hub).
import hvpt_mm  # noqa: F401,I001


SOURCES = dict(
    online='backbone.', momentum='momentum_encoder.module.backbone.')
# Parameters of the pre-training backbone that no downstream model has.
PRETRAIN_ONLY = ('mask_token', )
INDEX_BUFFER = 'relative_position_index'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Extract the backbone of an HVP (or any mmpretrain '
        'self-supervised) checkpoint: drop the mask token, the momentum '
        'encoder, the heads, the optimizer and the message hub, and write a '
        'tensors-only file that loads with torch.load(weights_only=True).')
    parser.add_argument(
        'src',
        help='pre-training checkpoint (a runner '
        'epoch_*.pth / iter_*.pth, or a state dict)')
    parser.add_argument('dst', help='output file, e.g. backbone.pth')
    parser.add_argument(
        '--source',
        choices=list(SOURCES),
        default='online',
        help='which encoder to extract: the online backbone (default, what '
        'SimMIM and MoCo v3 transfer) or the EMA momentum backbone of the '
        'contrastive branch')
    parser.add_argument(
        '--to',
        choices=['mmpretrain', 'mmdet'],
        default='mmpretrain',
        help='mmpretrain: for mmpretrain.SwinTransformer (default; also in '
        'mmdet / mmseg configs). mmdet: for mmdet\'s / mmseg\'s own '
        'SwinTransformer with convert_weights=False (drops the '
        'relative_position_index buffers, which they cannot resize)')
    parser.add_argument(
        '--strip-prefix',
        action='store_true',
        help='write keys without the leading "backbone." (load them with a '
        'Pretrained init_cfg without prefix); mmdet\'s Swin needs the prefix')
    return parser.parse_args()


def _group(key: str) -> str:
    """The name a dropped key is reported under."""
    if key.startswith('momentum_encoder.'):
        return 'momentum_encoder'
    if key.startswith('backbone.'):
        return key
    return key.split('.', 1)[0]


def extract_backbone(state_dict: Dict[str, torch.Tensor],
                     source: str = 'online',
                     to: str = 'mmpretrain',
                     strip_prefix: bool = False
                     ) -> Tuple[OrderedDict, Dict[str, int]]:
    """Keep the backbone tensors of a pre-training state dict.

    Args:
        state_dict (dict[str, Tensor]): The model state dict of a
            pre-training checkpoint.
        source (str): ``'online'`` or ``'momentum'``. Defaults to
            ``'online'``.
        to (str): ``'mmpretrain'`` or ``'mmdet'``, see the module docstring.
            Defaults to ``'mmpretrain'``.
        strip_prefix (bool): Write keys without ``backbone.``.
            Defaults to False.

    Returns:
        tuple[OrderedDict, dict[str, int]]: The backbone state dict (keys
        ``backbone.*`` unless ``strip_prefix``) and the number of dropped
        tensors per module.
    """
    prefix = SOURCES[source]
    kept: OrderedDict = OrderedDict()
    dropped: Dict[str, int] = {}
    for key, value in state_dict.items():
        name = key[len(prefix):] if key.startswith(prefix) else None
        drop = (
            name is None or name in PRETRAIN_ONLY
            or not isinstance(value, torch.Tensor)
            or (to == 'mmdet' and name.endswith(INDEX_BUFFER)))
        if drop:
            group = _group(key)
            if name is not None and name.endswith(INDEX_BUFFER):
                group = f'{prefix}*.{INDEX_BUFFER}'
            dropped[group] = dropped.get(group, 0) + 1
            continue
        out_key = name if strip_prefix else f'backbone.{name}'
        kept[out_key] = value.detach().cpu().clone()
    if not kept:
        found = sorted({k.split('.', 1)[0] for k in state_dict})
        raise ValueError(f'no key starts with "{prefix}" (modules found: '
                         f'{found}); is this a pre-training checkpoint?')
    return kept, dropped


def main() -> None:
    args = parse_args()
    if args.strip_prefix and args.to == 'mmdet':
        print_log(
            'mmdet\'s SwinTransformer reads only "backbone.*" keys; '
            'mmseg\'s reads both',
            logger='current',
            level=logging.WARNING)
    ckpt = CheckpointLoader.load_checkpoint(args.src, map_location='cpu')
    entry = next((k for k in ('state_dict', 'model') if k in ckpt), None)
    state_dict = ckpt[entry] if entry else ckpt
    other: List[str] = sorted(k for k in ckpt if k != entry) if entry else []

    kept, dropped = extract_backbone(state_dict, args.source, args.to,
                                     args.strip_prefix)
    num_params = sum(v.numel() for v in kept.values())
    meta = dict(
        source=osp.basename(args.src),
        encoder=args.source,
        format=args.to,
        prefix='' if args.strip_prefix else 'backbone.',
        tool='hvpt_mm tools/model_converters/extract_backbone.py')
    if osp.dirname(args.dst):
        os.makedirs(osp.dirname(args.dst), exist_ok=True)
    torch.save(dict(state_dict=kept, meta=meta), args.dst)

    print_log(
        f'kept {len(kept)} tensors ({num_params / 1e6:.2f} M values) of the '
        f'{args.source} backbone',
        logger='current')
    for group, count in sorted(dropped.items()):
        print_log(f'dropped {group}: {count} tensor(s)', logger='current')
    if other:
        print_log(
            f'dropped checkpoint entries: {", ".join(other)}',
            logger='current')
    print_log(f'saved {args.dst}', logger='current')


if __name__ == '__main__':
    main()
