# Copyright (c) hvpt_mm authors. All rights reserved.
"""Train a model from a config (pre-training or any downstream task).

Works for hvpt_mm, mmpretrain, mmdet and mmseg configs: modules are
registered through each config's ``custom_imports``.

A downstream config (fine-tuning, linear probe, detection, segmentation)
must be given its pre-trained backbone, ``--cfg-options
model.backbone.init_cfg.checkpoint=PATH``; without it, or when the file is
missing, the run stops before anything is built, naming the commands that
make the file. Its work dir then defaults to ``<folder of PATH>/<config
name>``: the transfers of each pre-training stay apart, and ``--resume``
never picks up another pre-training's run.
"""
import warnings

# mmengine 0.10.7 imports pkg_resources, which setuptools deprecates; the
# warning says nothing to our users.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')

import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from hvpt_mm.utils.backbone import (  # noqa: I001
    backbone_problem, is_local_path, pretrained_checkpoints)
from hvpt_mm.utils.launch import prepare_cfg_for_launch


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or from the latest one in '
        'the work dir when no path is given')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic mixed precision training')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='skip validation during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by the actual total batch size (linear rule); '
        'the configs of this project enable it already')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs; e.g. '
        'train_dataloader.dataset.data_root=DIR')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def default_work_dir(cfg: Config, config_path: str) -> str:
    """Where a run writes when neither ``--work-dir`` nor the config says.

    ``work_dirs/<config name>``, as mmengine's tools do; for a run that
    loads a pre-trained backbone from a local file, ``<folder of that
    file>/<config name>`` instead (the pre-training's work dir), so that
    fine-tunes of different pre-trainings never share a folder. When that
    folder is not writable: ``work_dirs/<its name>/<config name>``.
    """
    name = osp.splitext(osp.basename(config_path))[0]
    checkpoints = [c for _, c in pretrained_checkpoints(cfg)
                   if is_local_path(c)]
    if not checkpoints:
        return osp.join('./work_dirs', name)
    folder = osp.dirname(osp.expanduser(checkpoints[0])) or '.'
    if os.access(folder, os.W_OK):
        return osp.join(folder, name)
    return osp.join('./work_dirs', osp.basename(osp.abspath(folder)), name)


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply the command-line switches to the config."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    if args.amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise ValueError(f'--amp works with OptimWrapper or '
                             f'AmpOptimWrapper, the config has {wrapper}')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise ValueError('--auto-scale-lr needs `auto_scale_lr = dict('
                             'base_batch_size=...)` in the config')
        cfg.auto_scale_lr.enable = True
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    # After --cfg-options, which may name the backbone.
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = default_work_dir(cfg, args.config)
    cfg.launcher = args.launcher
    return cfg


def check_backbone(cfg: Config) -> None:
    """Stop before building anything if the pre-trained backbone is
    unnamed or missing (the weight init would find it only after the
    datasets are loaded)."""
    for key, checkpoint in pretrained_checkpoints(cfg):
        problem = backbone_problem(checkpoint, key)
        if problem is not None:
            name = osp.basename(cfg.filename or 'config')
            raise SystemExit(f'{name}: {problem}')


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg = merge_args(cfg, args)
    check_backbone(cfg)
    prepare_cfg_for_launch(cfg)
    if 'runner_type' in cfg:
        from mmengine.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
