# Copyright (c) hvpt_mm authors. All rights reserved.
"""Convert official Swin / SimMIM checkpoints to mmpretrain keys.

Handles the checkpoints of `microsoft/Swin-Transformer
<https://github.com/microsoft/Swin-Transformer>`_ (Swin V1, classification)
and `microsoft/SimMIM <https://github.com/microsoft/SimMIM>`_ (Swin encoder,
pre-trained or fine-tuned). The output loads into mmpretrain's
``SwinTransformer`` / ``ImageClassifier`` (``backbone.*``, ``head.fc.*``) or,
for a SimMIM pre-training checkpoint, into mmpretrain's ``SimMIM`` /
``SimMIMSwinTransformer`` (``backbone.mask_token``, ``neck.decoder.*``), so
it can start an HVP run or feed any downstream config of this project.

Key mapping (official -> mmpretrain):

- ``patch_embed.proj.*`` -> ``backbone.patch_embed.projection.*``
- ``layers.i.blocks.j.attn.*`` -> ``backbone.stages.i.blocks.j.attn.w_msa.*``
- ``layers.i.blocks.j.mlp.fc1.*`` -> ``...ffn.layers.0.0.*``, ``mlp.fc2.*``
  -> ``...ffn.layers.1.*``; other ``layers.i.*`` -> ``stages.i.*``
- ``layers.i.downsample.{reduction,norm}.*``: same names, channels
  reordered (below)
- ``norm.*`` -> ``backbone.norm{last stage}.*``; ``head.*`` -> ``head.fc.*``
- SimMIM: ``encoder.*`` as above, ``encoder.mask_token`` ->
  ``backbone.mask_token``, ``decoder.*`` -> ``neck.decoder.*``

The official patch merging concatenates the 2x2 neighbours in the order
(0,0), (1,0), (0,1), (1,1) along channels, neighbour-major; mmpretrain's
(``nn.Unfold``) is channel-major in the order (0,0), (0,1), (1,0), (1,1),
so the merging ``reduction`` weight and ``norm`` parameters are permuted.
``attn_mask`` buffers are dropped (mmpretrain computes them on the fly).

Example::

    python tools/model_converters/swin_to_mmpretrain.py \\
        simmim_pretrain__swin_base__img192_window6__100ep.pth \\
        simmim_swin-b_mmpretrain.pth
"""
import argparse
import os
import os.path as osp
import pickle
import re
import types
from collections import OrderedDict
from typing import Dict

import torch
from mmengine.logging import print_log

BACKBONE = 'backbone.'


def correct_unfold_reduction_order(x: torch.Tensor) -> torch.Tensor:
    """Official merging ``reduction`` weight ``[C', 4C]`` -> unfold order."""
    out_channels, in_channels = x.shape
    x = x.reshape(out_channels, 4, in_channels // 4)
    x = x[:, [0, 2, 1, 3], :].transpose(1, 2)  # [C', C, 4]
    return x.reshape(out_channels, in_channels)


def correct_unfold_norm_order(x: torch.Tensor) -> torch.Tensor:
    """Official merging ``norm`` parameter ``[4C]`` -> unfold order."""
    in_channels = x.shape[0]
    x = x.reshape(4, in_channels // 4)
    x = x[[0, 2, 1, 3], :].transpose(0, 1)  # [C, 4]
    return x.reshape(in_channels)


def convert_swin(state_dict: Dict[str, torch.Tensor]) -> OrderedDict:
    """Convert the keys of an official Swin V1 model (no prefix).

    Args:
        state_dict (dict[str, Tensor]): ``patch_embed.*``, ``layers.*``,
            ``norm.*``, optionally ``absolute_pos_embed`` and ``head.*``.

    Returns:
        OrderedDict: ``backbone.*`` keys, and ``head.fc.*`` for a classifier
        head.
    """
    stages = {
        int(m.group(1))
        for k in state_dict
        for m in [re.match(r'layers\.(\d+)\.', k)] if m
    }
    if not stages:
        raise ValueError('no "layers.<i>." keys: not a Swin state dict')
    last = max(stages)
    v2 = [
        k for k in state_dict if any(
            s in k for s in ('cpb_mlp', 'logit_scale', 'q_bias'))
    ]
    if v2:
        raise NotImplementedError(
            f'Swin V2 keys ({v2[0]}, ...) are not supported here; use '
            'mmpretrain\'s SwinTransformerV2 converter')

    new = OrderedDict()
    unknown = []
    for key, value in state_dict.items():
        if 'attn_mask' in key:
            continue
        if key.startswith('head.'):
            new['head.fc.' + key[len('head.'):]] = value
            continue
        if key.startswith('layers.'):
            new_key = key.replace('layers.', 'stages.', 1)
            if '.attn.' in new_key:
                new_key = new_key.replace('.attn.', '.attn.w_msa.')
            elif '.mlp.fc1.' in new_key:
                new_key = new_key.replace('.mlp.fc1.', '.ffn.layers.0.0.')
            elif '.mlp.fc2.' in new_key:
                new_key = new_key.replace('.mlp.fc2.', '.ffn.layers.1.')
            elif '.downsample.reduction.' in new_key:
                value = correct_unfold_reduction_order(value)
            elif '.downsample.norm.' in new_key:
                value = correct_unfold_norm_order(value)
        elif key.startswith('patch_embed.proj.'):
            new_key = key.replace('patch_embed.proj.',
                                  'patch_embed.projection.')
        elif (key.startswith('patch_embed.norm.')
              or key == 'absolute_pos_embed'):
            new_key = key
        elif key.startswith('norm.'):
            new_key = key.replace('norm.', f'norm{last}.', 1)
        else:
            unknown.append(key)
            continue
        new[BACKBONE + new_key] = value
    if unknown:
        raise KeyError(f'unknown Swin keys: {unknown[:5]} ({len(unknown)})')
    return new


def convert_checkpoint(state_dict: Dict[str, torch.Tensor],
                       backbone_only: bool = False) -> OrderedDict:
    """Convert an official Swin or SimMIM (Swin) state dict.

    Args:
        state_dict (dict[str, Tensor]): The ``model`` entry of the official
            checkpoint.
        backbone_only (bool): Keep only ``backbone.*`` and drop the mask
            token. Defaults to False.

    Returns:
        OrderedDict: mmpretrain keys.
    """
    state_dict = {
        (k[len('module.'):] if k.startswith('module.') else k): v
        for k, v in state_dict.items()
    }
    if any(k.startswith('encoder.') for k in state_dict):  # SimMIM
        encoder = {
            k[len('encoder.'):]: v
            for k, v in state_dict.items() if k.startswith('encoder.')
        }
        mask_token = encoder.pop('mask_token', None)
        if 'cls_token' in encoder or any(
                k.startswith('blocks.') for k in encoder):
            raise NotImplementedError('a SimMIM ViT checkpoint; only Swin '
                                      'encoders are converted here')
        new = convert_swin(encoder)
        if mask_token is not None:
            new[BACKBONE + 'mask_token'] = mask_token
        for k, v in state_dict.items():
            if k.startswith('decoder.'):
                new['neck.' + k] = v
        rest = [
            k for k in state_dict if not k.startswith(('encoder.', 'decoder.'))
        ]
        if rest:
            raise KeyError(f'unknown SimMIM keys: {rest[:5]} ({len(rest)})')
    else:
        new = convert_swin(state_dict)
    if backbone_only:
        new = OrderedDict(
            (k, v) for k, v in new.items()
            if k.startswith(BACKBONE) and k != BACKBONE + 'mask_token')
    return new


class _Placeholder(dict):
    """Stands in for objects of packages not installed here (e.g. yacs's
    ``CfgNode``, a dict); their content is kept, their class is not."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def __setstate__(self, state) -> None:
        self.state = state


class _LenientUnpickler(pickle.Unpickler):

    def find_class(self, module: str, name: str):
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return _Placeholder


_lenient_pickle = types.SimpleNamespace(
    Unpickler=_LenientUnpickler, load=pickle.load, __name__='lenient')


def load_official(path: str) -> dict:
    """Load an official checkpoint the user named.

    Official checkpoints hold non-tensor objects (SimMIM's hold its yacs
    config), so they are read with the full unpickler; classes of packages
    that are not installed are read as placeholders.
    """
    try:
        return torch.load(path, map_location='cpu', weights_only=False)
    except (ImportError, AttributeError):
        return torch.load(
            path,
            map_location='cpu',
            weights_only=False,
            pickle_module=_lenient_pickle)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert an official Swin (microsoft/Swin-Transformer) '
        'or SimMIM (microsoft/SimMIM, Swin encoder) checkpoint to mmpretrain '
        'keys: backbone.*, head.fc.*, and for SimMIM backbone.mask_token and '
        'neck.decoder.*')
    parser.add_argument('src', help='official checkpoint (.pth)')
    parser.add_argument('dst', help='output file in mmpretrain format')
    parser.add_argument(
        '--backbone-only',
        action='store_true',
        help='keep only backbone.* (drop the classifier head, the SimMIM '
        'decoder and the mask token)')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    ckpt = load_official(args.src)
    entry = next((k for k in ('model', 'state_dict') if k in ckpt), None)
    state_dict = ckpt[entry] if entry else ckpt
    new = convert_checkpoint(state_dict, args.backbone_only)
    if osp.dirname(args.dst):
        os.makedirs(osp.dirname(args.dst), exist_ok=True)
    meta = dict(
        source=osp.basename(args.src),
        tool='hvpt_mm tools/model_converters/swin_to_mmpretrain.py')
    torch.save(dict(state_dict=new, meta=meta), args.dst)
    groups = OrderedDict()
    for k in new:
        group = k.split('.', 1)[0]
        groups[group] = groups.get(group, 0) + 1
    summary = ', '.join(f'{g}: {n}' for g, n in groups.items())
    print_log(
        f'converted {len(new)} tensors ({summary}); saved {args.dst}',
        logger='current')


if __name__ == '__main__':
    main()
