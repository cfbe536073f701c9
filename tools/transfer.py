# Copyright (c) hvpt_mm authors. All rights reserved.
"""Transfer one pre-training to the downstream tasks, each with its backbone.

Given a pre-training's work dir, this:

1. takes its last checkpoint (``last_checkpoint``, else the newest
   ``epoch_*.pth`` / ``iter_*.pth``; ``--checkpoint`` names another);
2. extracts the backbone into ``PRETRAIN_WORK_DIR/backbone.pth`` with
   ``tools/model_converters/extract_backbone.py`` (again only when the
   checkpoint is newer than the file);
3. reads the Swin's size from that file and, for a size other than Swin-B,
   adds the overrides each downstream config needs (``model.backbone.arch``
   and the input widths of head, neck or decode heads);
4. trains each task's config with ``model.backbone.init_cfg.checkpoint``
   set to that file and its own work dir, ``PRETRAIN_WORK_DIR/<config
   name>`` (the default of ``tools/train.py`` for that backbone, so a run
   started by hand resumes in the same folder).

The tasks run one after the other; the first failure stops the rest.

Example::

    # 8 GPUs per task, on this machine
    python tools/transfer.py work_dirs/hvpt_swin-b --launcher pytorch \\
        --gpus 8
    # one task, with its data elsewhere
    python tools/transfer.py work_dirs/hvpt_swin-b --tasks detection \\
        --launcher pytorch --gpus 8 --task-options detection \\
        train_dataloader.dataset.data_root=/datasets/coco/ \\
        val_dataloader.dataset.data_root=/datasets/coco/
"""
import warnings

# mmengine 0.10.7 imports pkg_resources, which setuptools deprecates; the
# warning says nothing to our users.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')

import argparse
import glob
import os
import os.path as osp
import re
import shlex
import subprocess
import sys
from typing import Dict, List, Optional

import torch

HERE = osp.dirname(osp.abspath(__file__))
CONFIGS = osp.join(osp.dirname(HERE), 'configs')
# Task name -> downstream config (under configs/).
TASKS = {
    'finetune':
    'classification/swin-base-w7_hvpt-pre_8xb256-coslr-100e_in1k.py',
    'linear':
    'classification/swin-base_hvpt-pre_8xb128-linear-coslr-90e_in1k.py',
    'detection': 'detection/mask-rcnn_swin-b-p4-w7-hvpt-pre_fpn_1x_coco.py',
    'detection-3x':
    'detection/mask-rcnn_swin-b-p4-w7-hvpt-pre_fpn_ms-crop-3x_coco.py',
    'segmentation':
    'segmentation/swin-base-patch4-window12-hvpt-pre_upernet_'
    '8xb2-160k_ade20k-512x512.py',
}
DEFAULT_TASKS = ['finetune', 'linear', 'detection', 'segmentation']
BACKBONE_KEY = 'model.backbone.init_cfg.checkpoint'
# mmpretrain's named Swin sizes (SwinTransformer.arch_zoo).
SWIN_ARCHS = {
    'tiny': dict(embed_dims=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24]),
    'small':
    dict(embed_dims=96, depths=[2, 2, 18, 2], num_heads=[3, 6, 12, 24]),
    'base':
    dict(embed_dims=128, depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32]),
    'large':
    dict(embed_dims=192, depths=[2, 2, 18, 2], num_heads=[6, 12, 24, 48]),
}
# The downstream configs are written for Swin-B.
CONFIG_ARCH = 'base'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Extract the backbone of a pre-training and train the '
        'downstream configs from it, each in its own work dir inside the '
        'pre-training\'s.')
    parser.add_argument(
        'pretrain_work_dir',
        help='work dir of the pre-training (holds its checkpoints)')
    parser.add_argument(
        '--tasks',
        nargs='+',
        choices=list(TASKS),
        default=DEFAULT_TASKS,
        help=f'downstream tasks, in order (default: {DEFAULT_TASKS})')
    parser.add_argument(
        '--checkpoint',
        help='pre-training checkpoint to extract (default: the last one of '
        'the work dir)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm'],
        default='none',
        help='none: python tools/train.py (one process); pytorch: '
        'tools/dist_train.sh with --gpus processes; slurm: '
        'tools/slurm_train.sh with GPUS=--gpus')
    parser.add_argument(
        '--gpus',
        type=int,
        default=None,
        help='processes per task (pytorch, slurm; default 8)')
    parser.add_argument('--partition', help='Slurm partition (slurm)')
    parser.add_argument(
        '--amp', action='store_true', help='passed to tools/train.py')
    parser.add_argument(
        '--resume',
        action='store_true',
        help='resume each task from the latest checkpoint of its own work '
        'dir (tools/train.py --resume)')
    parser.add_argument(
        '--dry-run',
        action='store_true',
        help='print the commands (after extracting) without running them')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        metavar='KEY=VALUE',
        help='--cfg-options of every task (after the derived ones)')
    parser.add_argument(
        '--task-options',
        nargs='+',
        action='append',
        default=[],
        metavar='TASK KEY=VALUE',
        help='--cfg-options of one task, e.g. --task-options detection '
        'train_dataloader.dataset.data_root=/datasets/coco/; repeatable')
    args = parser.parse_args(argv)
    if args.launcher == 'none' and args.gpus not in (None, 1):
        parser.error('--gpus needs --launcher pytorch or slurm')
    if args.launcher == 'slurm' and not args.partition:
        parser.error('--launcher slurm needs --partition')
    for item in args.task_options:
        if item[0] not in TASKS:
            parser.error(f'--task-options: unknown task {item[0]!r}; '
                         f'choose from {list(TASKS)}')
    return args


def _numbered(path: str) -> int:
    match = re.search(r'_(\d+)\.pth$', path)
    return int(match.group(1)) if match else -1


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint a pre-training in ``work_dir`` wrote last.

    ``last_checkpoint`` (the runner's pointer) when it names a file that
    exists (also after the work dir was moved: its base name is looked up
    in ``work_dir``); else the highest ``epoch_*.pth``, then ``iter_*.pth``.

    Raises:
        FileNotFoundError: Nothing to extract; the message says how to
            pre-train into ``work_dir``.
    """
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        for path in (named, osp.join(work_dir, osp.basename(named))):
            if named and osp.isfile(path):
                return path
    for pattern in ('epoch_*.pth', 'iter_*.pth'):
        found = sorted(glob.glob(osp.join(work_dir, pattern)), key=_numbered)
        if found:
            return found[-1]
    name = osp.basename(osp.normpath(work_dir))
    raise FileNotFoundError(
        f'{work_dir}: no pre-training checkpoint (last_checkpoint, '
        'epoch_*.pth or iter_*.pth). Pre-train into it first, e.g.\n'
        f'    tools/dist_train.sh configs/pretrain/{name}.py 8 --work-dir '
        f'{work_dir}\nor name a checkpoint with --checkpoint.')


def _source_of(backbone: str) -> Optional[str]:
    """The checkpoint name an extracted backbone records, if any."""
    try:
        meta = torch.load(backbone, map_location='cpu',
                          weights_only=True).get('meta', {})
    except Exception:  # unreadable: extract again
        return None
    return meta.get('source')


def ensure_backbone(checkpoint: str, backbone: str) -> bool:
    """Extract ``checkpoint``'s backbone into ``backbone`` unless current.

    Returns:
        bool: Whether it was extracted now.
    """
    if (osp.isfile(backbone)
            and osp.getmtime(backbone) >= osp.getmtime(checkpoint)
            and _source_of(backbone) == osp.basename(checkpoint)):
        print(f'backbone: {backbone} (from {checkpoint}, up to date)')
        return False
    cmd = [
        sys.executable,
        osp.join(HERE, 'model_converters', 'extract_backbone.py'),
        checkpoint, backbone
    ]
    print('+ ' + shlex.join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return True


def swin_arch(backbone: str) -> Dict[str, object]:
    """``embed_dims``, ``depths`` and ``num_heads`` of an extracted Swin.

    Read from the tensors: the patch embedding's width, the blocks of each
    stage, the heads of each stage's relative-position table.
    """
    state = torch.load(backbone, map_location='cpu', weights_only=True)
    state = state.get('state_dict', state)
    prefix = 'backbone.' if any(k.startswith('backbone.')
                                for k in state) else ''
    embed = f'{prefix}patch_embed.projection.weight'
    if embed not in state:
        raise ValueError(f'{backbone}: no {embed}; not a Swin backbone')
    blocks: Dict[int, set] = {}
    heads: Dict[int, int] = {}
    pattern = re.compile(re.escape(prefix) + r'stages\.(\d+)\.blocks\.(\d+)'
                         r'\.attn\.w_msa\.relative_position_bias_table$')
    for key, value in state.items():
        match = pattern.match(key)
        if match:
            stage, block = int(match.group(1)), int(match.group(2))
            blocks.setdefault(stage, set()).add(block)
            heads[stage] = int(value.shape[1])
    stages = sorted(blocks)
    return dict(
        embed_dims=int(state[embed].shape[0]),
        depths=[len(blocks[s]) for s in stages],
        num_heads=[heads[s] for s in stages])


def _list(values: List[int]) -> str:
    return '[' + ','.join(str(v) for v in values) + ']'


def arch_options(task: str, arch: Dict[str, object]) -> List[str]:
    """``--cfg-options`` fitting a Swin-B downstream config to ``arch``."""
    name = next((n for n, a in SWIN_ARCHS.items() if a == arch), None)
    if name == CONFIG_ARCH:
        return []
    if name is not None:
        opts = [f'model.backbone.arch={name}']
    else:
        opts = [
            'model.backbone.arch._delete_=True',
            f'model.backbone.arch.embed_dims={arch["embed_dims"]}',
            f'model.backbone.arch.depths={_list(arch["depths"])}',
            f'model.backbone.arch.num_heads={_list(arch["num_heads"])}',
        ]
    dims = [arch['embed_dims'] * 2**i for i in range(len(arch['depths']))]
    if task in ('finetune', 'linear'):
        opts.append(f'model.head.in_channels={dims[-1]}')
    elif task.startswith('detection'):
        opts.append(f'model.neck.in_channels={_list(dims)}')
    elif task == 'segmentation':
        opts += [
            f'model.decode_head.in_channels={_list(dims)}',
            f'model.auxiliary_head.in_channels={dims[2]}',
        ]
    return opts


def task_command(args: argparse.Namespace, task: str, backbone: str,
                 options: List[str]) -> List[str]:
    """The train command of one task (tools/train.py, dist or Slurm)."""
    config = osp.join(CONFIGS, TASKS[task])
    work_dir = osp.join(args.pretrain_work_dir,
                        osp.splitext(osp.basename(config))[0])
    flags = (['--amp'] if args.amp else []) + (
        ['--resume'] if args.resume else [])
    flags += ['--cfg-options', f'{BACKBONE_KEY}={backbone}', *options]
    gpus = args.gpus or 8
    if args.launcher == 'pytorch':
        return [osp.join(HERE, 'dist_train.sh'), config, str(gpus),
                '--work-dir', work_dir, *flags]
    if args.launcher == 'slurm':
        name = osp.basename(osp.normpath(args.pretrain_work_dir))
        return [osp.join(HERE, 'slurm_train.sh'), args.partition,
                f'{name}_{task}', config, work_dir, *flags]
    return [sys.executable, osp.join(HERE, 'train.py'), config,
            '--work-dir', work_dir, *flags]


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    work_dir = args.pretrain_work_dir
    if not osp.isdir(work_dir):
        raise SystemExit(f'{work_dir}: no such pre-training work dir')
    try:
        checkpoint = args.checkpoint or last_checkpoint(work_dir)
    except FileNotFoundError as e:
        raise SystemExit(str(e))
    if not osp.isfile(checkpoint):
        raise SystemExit(f'--checkpoint {checkpoint}: no such file')
    backbone = osp.join(work_dir, 'backbone.pth')
    ensure_backbone(checkpoint, backbone)
    arch = swin_arch(backbone)
    print(f'backbone: Swin {arch}')

    task_options: Dict[str, List[str]] = {}
    for item in args.task_options:
        task_options.setdefault(item[0], []).extend(item[1:])
    env = dict(os.environ, PYTHON=os.environ.get('PYTHON', sys.executable))
    if args.launcher == 'slurm':
        env['GPUS'] = str(args.gpus or 8)
    for task in args.tasks:
        options = (arch_options(task, arch) + list(args.cfg_options) +
                   task_options.get(task, []))
        cmd = task_command(args, task, backbone, options)
        print(f'[{task}] + ' + shlex.join(cmd), flush=True)
        if args.dry_run:
            continue
        code = subprocess.run(cmd, env=env).returncode
        if code != 0:
            raise SystemExit(f'[{task}] failed (exit {code}); the tasks after '
                             'it did not run')
    print(f'done: {", ".join(args.tasks)}; work dirs in {work_dir}')


if __name__ == '__main__':
    main()
