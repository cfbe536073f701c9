# Copyright (c) hvpt_mm authors. All rights reserved.
"""Load a checkpoint through a host library's own API, as a user script would.

Run in a fresh interpreter by ``test_load_anywhere.py``::

    python hvpt_load_anywhere.py API CONFIG CHECKPOINT OUT_DIR [IMAGE]

API is ``mmpretrain`` (``get_model`` then ``FeatureExtractor`` on IMAGE),
``mmdet`` (``init_detector``), ``mmseg`` (``init_model``), or
``mmdet-swin`` / ``mmseg-swin`` (the library's own ``SwinTransformer`` with
a ``Pretrained`` init_cfg; CONFIG is then the window size). Nothing here
imports ``hvpt_mm``: the configs do, through ``custom_imports``. Writes
``OUT_DIR/backbone.pth`` (the backbone's state dict) and
``OUT_DIR/result.json`` (mmengine's load messages, features, imports).
"""
import json
import os.path as osp
import sys

import torch
from mmengine.config import ConfigDict

from test_transfer.hvpt_transfer_utils import record_load_log  # noqa: I001
from _helpers.tiny import TINY_ARCH


def own_swin(lib: str, checkpoint: str, window: int) -> torch.nn.Module:
    """mmdet's or mmseg's SwinTransformer, initialised from ``checkpoint``."""
    if lib == 'mmdet':
        from mmdet.models.backbones import SwinTransformer
        extra = dict(convert_weights=False)
    else:
        from mmseg.models.backbones import SwinTransformer
        extra = dict()
    swin = SwinTransformer(
        pretrain_img_size=64,
        embed_dims=TINY_ARCH['embed_dims'],
        depths=TINY_ARCH['depths'],
        num_heads=TINY_ARCH['num_heads'],
        window_size=window,
        drop_path_rate=0.,
        out_indices=(0, 1, 2, 3),
        # As a config builds it (their init_weights reads attributes).
        init_cfg=ConfigDict(type='Pretrained', checkpoint=checkpoint),
        **extra)
    swin.init_weights()
    return swin


def main() -> None:
    api, config, checkpoint, out_dir = sys.argv[1:5]
    image = sys.argv[5] if len(sys.argv) > 5 else None
    result = dict(hvpt_mm_before='hvpt_mm' in sys.modules)
    with record_load_log() as log:
        if api == 'mmpretrain':
            from mmpretrain.apis import FeatureExtractor, get_model
            model = get_model(config, pretrained=checkpoint, device='cpu')
            feats = FeatureExtractor(model)(image, stage='neck')[0]
            result['features'] = [list(f.shape) for f in feats]
            backbone = model.backbone
        elif api == 'mmdet':
            from mmdet.apis import init_detector
            backbone = init_detector(config, checkpoint, device='cpu').backbone
        elif api == 'mmseg':
            from mmseg.apis import init_model
            backbone = init_model(config, checkpoint, device='cpu').backbone
        else:
            backbone = own_swin(api.split('-')[0], checkpoint, int(config))
    result['hvpt_mm_after'] = 'hvpt_mm' in sys.modules
    result['log'] = log.lines
    torch.save(backbone.state_dict(), osp.join(out_dir, 'backbone.pth'))
    with open(osp.join(out_dir, 'result.json'), 'w') as f:
        json.dump(result, f)


if __name__ == '__main__':
    main()
