# Copyright (c) hvpt_mm authors. All rights reserved.
"""Weighted k-NN accuracy of a frozen backbone, as in DINO.

Features are the globally average-pooled last-stage outputs of the backbone
(after its final norm), L2-normalised; every validation image is classified
by a vote of its ``k`` most cosine-similar training images, each weighted by
``exp(cos / T)`` (`DINO <https://arxiv.org/abs/2104.14294>`_, ``T=0.07``).
Both sets go through the data config's test pipeline (no augmentation).

The backbone comes from ``CONFIG``: an HVP pre-training config (its
``SimMIMSwinTransformer`` is built as a plain ``SwinTransformer``) or any
downstream config whose ``model.backbone`` is an mmpretrain backbone. Its
weights come from ``CHECKPOINT`` (an HVP runner checkpoint, an extracted
backbone, any mmpretrain checkpoint with ``backbone.*`` keys) or, without
it, from the backbone's ``Pretrained`` ``init_cfg``.

Example::

    python tools/benchmarks/knn_eval.py configs/pretrain/hvpt_swin-b.py \\
        work_dirs/hvpt_swin-b/epoch_100.pth \\
        --data-config \\
        configs/classification/swin-base-w7_hvpt-pre_8xb256-coslr-100e_in1k.py
"""
import argparse
import copy
import json
import os
import os.path as osp
import time
from typing import Optional, Tuple

import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import default_collate
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader
from mmengine.utils import ProgressBar, import_modules_from_strings
from torch import nn
from torch.utils.data import DataLoader

from hvpt_mm.evaluation.knn import knn_accuracy
from hvpt_mm.utils import register_all_modules

PRETRAIN_BACKBONES = {'SimMIMSwinTransformer': 'SwinTransformer'}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='k-NN evaluation of a frozen backbone (DINO protocol): '
        'cosine similarity of pooled last-stage features, k nearest training '
        'images vote with weight exp(cos/T); prints top-1 / top-5 and writes '
        'them to a json file')
    parser.add_argument(
        'config',
        help='config whose model.backbone is evaluated: an HVP pre-training '
        'config or a classification / detection / segmentation config')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='checkpoint with backbone.* keys (HVP runner checkpoint, '
        'extracted backbone, mmpretrain checkpoint); default: the '
        'backbone\'s Pretrained init_cfg')
    parser.add_argument(
        '--data-config',
        help='config with train_dataloader / val_dataloader of a labelled '
        'dataset (e.g. a classification config); default: CONFIG')
    parser.add_argument(
        '--ks',
        type=int,
        nargs='+',
        default=[10, 20, 100, 200],
        help='numbers of neighbours (default: 10 20 100 200, as DINO)')
    parser.add_argument(
        '--temperature',
        type=float,
        default=0.07,
        help='temperature T of the vote weights exp(cos/T)')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--num-workers', type=int, default=4)
    parser.add_argument(
        '--device',
        default=None,
        help='cuda or cpu (default: cuda when available)')
    parser.add_argument(
        '--out',
        help='json file for the results (default: '
        'WORK_DIR/knn_<time>.json)')
    parser.add_argument(
        '--work-dir', help='default: ./work_dirs/knn/<config name>')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of CONFIG, key=value pairs')
    parser.add_argument(
        '--data-cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the data config, key=value pairs')
    return parser.parse_args()


def build_backbone(cfg: Config, checkpoint: Optional[str]) -> nn.Module:
    """Build ``cfg.model.backbone`` without its pre-training extras."""
    from mmpretrain.registry import MODELS
    backbone_cfg = copy.deepcopy(cfg.model.backbone)
    scope, _, name = backbone_cfg['type'].rpartition('.')
    if name in PRETRAIN_BACKBONES:
        name = PRETRAIN_BACKBONES[name]
        backbone_cfg['type'] = f'{scope}.{name}' if scope else name
    init_cfg = backbone_cfg.pop('init_cfg', None)
    backbone = MODELS.build(backbone_cfg)
    if checkpoint is not None:
        load_backbone(backbone, checkpoint)
    elif init_cfg and init_cfg.get('type') == 'Pretrained':
        prefix = init_cfg.get('prefix', '')
        load_backbone(backbone, init_cfg['checkpoint'], prefix)
    else:
        raise ValueError('no weights: pass CHECKPOINT or give '
                         'model.backbone a Pretrained init_cfg')
    return backbone


def load_backbone(backbone: nn.Module,
                  path: str,
                  prefix: Optional[str] = None) -> None:
    """Load backbone weights; fail if a backbone parameter is missing."""
    ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    entry = next((k for k in ('state_dict', 'model') if k in ckpt), None)
    state_dict = ckpt[entry] if entry else ckpt
    if prefix is None:
        has_prefix = any(k.startswith('backbone.') for k in state_dict)
        prefix = 'backbone.' if has_prefix else ''
    state_dict = {
        k[len(prefix):]: v
        for k, v in state_dict.items() if k.startswith(prefix)
    }
    result = backbone.load_state_dict(state_dict, strict=False)
    # relative_position_index is rebuilt by the module when mmpretrain's
    # Swin resizes the relative-position tables to another window size.
    missing = [
        k for k in result.missing_keys
        if not k.endswith('relative_position_index')
    ]
    if missing:
        raise KeyError(f'{path}: {len(missing)} backbone weights missing, '
                       f'e.g. {missing[:3]}')
    unexpected = [k for k in result.unexpected_keys if k != 'mask_token']
    if unexpected:
        print_log(
            f'ignored {len(unexpected)} keys of {path} that the '
            f'backbone does not have, e.g. {unexpected[:3]}',
            logger='current')
    print_log(
        f'loaded {len(state_dict)} backbone tensors from {path}',
        logger='current')


def build_preprocessor(cfg: Config, data_cfg: Config) -> nn.Module:
    """A ``ClsDataPreprocessor`` with the normalisation of the configs."""
    from mmpretrain.models.utils import ClsDataPreprocessor
    for source in (data_cfg.get('data_preprocessor'),
                   data_cfg.get('model', {}).get('data_preprocessor'),
                   cfg.get('model', {}).get('data_preprocessor')):
        if source and 'mean' in source:
            to_rgb = source.get('to_rgb', source.get('bgr_to_rgb', False))
            return ClsDataPreprocessor(
                mean=source['mean'], std=source['std'], to_rgb=to_rgb)
    raise ValueError('no data_preprocessor with mean / std in the configs')


def build_loaders(data_cfg: Config, batch_size: int,
                  num_workers: int) -> Tuple[DataLoader, DataLoader]:
    """Train and val loaders, both with the val (test) pipeline."""
    from mmpretrain.registry import DATASETS

    def unwrap(cfg):  # RepeatDataset & co. hold the real one in `dataset`
        cfg = copy.deepcopy(cfg)
        while 'pipeline' not in cfg and 'dataset' in cfg:
            cfg = cfg['dataset']
        return cfg

    val_cfg = data_cfg.get('val_dataloader') or data_cfg.get('test_dataloader')
    if not val_cfg or 'train_dataloader' not in data_cfg:
        raise ValueError('the data config needs train_dataloader and '
                         'val_dataloader (or test_dataloader)')
    val_set = unwrap(val_cfg['dataset'])
    train_set = unwrap(data_cfg.train_dataloader.dataset)
    train_set['pipeline'] = copy.deepcopy(val_set['pipeline'])
    loaders = []
    for dataset_cfg in (train_set, val_set):
        loaders.append(
            DataLoader(
                DATASETS.build(dataset_cfg),
                batch_size=batch_size,
                num_workers=num_workers,
                shuffle=False,
                collate_fn=default_collate))
    return loaders[0], loaders[1]


@torch.no_grad()
def extract_features(backbone: nn.Module, preprocessor: nn.Module,
                     loader: DataLoader,
                     name: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """Pooled last-stage features ``[N, C]`` and labels ``[N]``."""
    print_log(
        f'extracting {name} features ({len(loader.dataset)} images)',
        logger='current')
    feats, labels = [], []
    progress = ProgressBar(len(loader.dataset))
    for data in loader:
        data = preprocessor(data, False)
        out = backbone(data['inputs'])[-1]  # [B, C, h, w] or [B, C]
        if out.dim() == 4:
            out = out.mean(dim=(2, 3))  # [B, C]
        feats.append(out.float().cpu())
        for sample in data['data_samples']:
            label = sample.gt_label.view(-1)
            if label.numel() != 1:
                raise ValueError('k-NN needs single-label samples')
            labels.append(label.cpu())
        progress.update(out.size(0))
    print()  # end the progress bar line
    return torch.cat(feats), torch.cat(labels)


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    data_cfg = Config.fromfile(args.data_config) if args.data_config \
        else copy.deepcopy(cfg)
    if args.data_cfg_options:
        data_cfg.merge_from_dict(args.data_cfg_options)
    for c in (cfg, data_cfg):
        if c.get('custom_imports'):
            import_modules_from_strings(**c.custom_imports)
    register_all_modules(init_default_scope=True)

    device = torch.device(
        args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    backbone = build_backbone(cfg, args.checkpoint).to(device)
    backbone.eval()  # mmpretrain's Swin.train() returns None: no chaining
    preprocessor = build_preprocessor(cfg, data_cfg).to(device)
    train_loader, val_loader = build_loaders(data_cfg, args.batch_size,
                                             args.num_workers)
    train_feats, train_labels = extract_features(backbone, preprocessor,
                                                 train_loader, 'train')
    val_feats, val_labels = extract_features(backbone, preprocessor,
                                             val_loader, 'val')
    classes = train_loader.dataset.metainfo.get('classes') or ()
    num_classes = max(
        len(classes),
        int(torch.cat([train_labels, val_labels]).max()) + 1)

    results = knn_accuracy(
        train_feats.to(device),
        train_labels.to(device),
        val_feats.to(device),
        val_labels.to(device),
        num_classes,
        ks=args.ks,
        temperature=args.temperature)
    for k, accs in results.items():
        print_log(
            f'{k}: ' + '  '.join(f'{n} {v:.2f}' for n, v in accs.items()),
            logger='current')

    work_dir = args.work_dir or osp.join(
        'work_dirs', 'knn',
        osp.splitext(osp.basename(args.config))[0])
    out = args.out or osp.join(work_dir,
                               f'knn_{time.strftime("%Y%m%d_%H%M%S")}.json')
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(
            dict(
                config=args.config,
                checkpoint=args.checkpoint,
                data_config=args.data_config or args.config,
                feature='global average pool of the last stage, L2-normed',
                temperature=args.temperature,
                num_train=len(train_labels),
                num_val=len(val_labels),
                num_classes=num_classes,
                results=results),
            f,
            indent=2)
    print_log(f'results written to {out}', logger='current')


if __name__ == '__main__':
    main()
