# Copyright (c) hvpt_mm authors. All rights reserved.
"""Rehearse the whole documented path on tiny generated data, on the CPU.

The same commands as a GPU run, shrunk by ``--cfg-options`` only:

1. pre-training: ``tools/dist_train.sh configs/pretrain/hvpt_swin-b.py 2``
   (two processes, gloo, a free port), a 32-d Swin at 64 px, one epoch;
2. ``python tools/transfer.py WORK/work_dirs/hvpt_swin-b``: backbone
   extraction, then ImageNet fine-tuning, linear probe, Mask R-CNN and
   UperNet from it, a few iterations each, with evaluation.

The data are written first: ImageNet (``train/``, ``val/``, ``meta/``),
COCO 2017 (boxes and polygon masks) and ADE20K layouts with a handful of
random images each. Every stage's output goes to ``WORK/logs/``; the run
stops at the first failing stage, naming its log. About two minutes on
two CPU cores with nothing else running (one thread per process).

Example::

    python tools/rehearse.py --work-dir work_dirs/rehearsal
"""
import warnings

# mmengine 0.10.7 imports pkg_resources, which setuptools deprecates; the
# warning says nothing to our users.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')

import argparse
import json
import os
import os.path as osp
import shlex
import shutil
import socket
import subprocess
import sys
import time
from typing import Dict, List

import numpy as np
from PIL import Image

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(HERE)
PRETRAIN_CONFIG = 'configs/pretrain/hvpt_swin-b.py'
TASKS = ['finetune', 'linear', 'detection', 'segmentation']
# The tiny Swin: 32-d, one block per stage, 64-px pre-training, window 2.
EMBED = 32
DIMS = [EMBED * 2**i for i in range(4)]
PRETRAIN_SIZE = 64
CLS_SIZE = 96  # stage maps 24, 12, 6, 3: whole windows of 3
DENSE_SIZE = 64
COCO_CATEGORIES = [(1, 'person'), (3, 'car')]
# Marks a folder as a rehearsal's, which the next rehearsal may empty.
MARKER = '.hvpt_rehearsal'


def free_port() -> int:
    """A TCP port nobody listens on now (for torch.distributed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _image(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random RGB image."""
    low = rng.integers(0, 256, (4, 4, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(low).resize((size, size),
                                                  Image.BILINEAR))


def write_imagenet(root: str, rng: np.random.Generator, classes: int = 3,
                   per_class: int = 4, val: int = 4) -> None:
    """mmpretrain's ImageNet layout: train/<wnid>/, val/, meta/*.txt."""
    lines = []
    for c in range(classes):
        os.makedirs(osp.join(root, 'train', f'n{c:08d}'), exist_ok=True)
        for i in range(per_class):
            rel = f'n{c:08d}/n{c:08d}_{i}.JPEG'
            Image.fromarray(_image(rng, 80)).save(
                osp.join(root, 'train', rel), format='JPEG')
            lines.append(f'{rel} {c}')
    os.makedirs(osp.join(root, 'val'), exist_ok=True)
    val_lines = []
    for i in range(val):
        name = f'ILSVRC2012_val_{i + 1:08d}.JPEG'
        Image.fromarray(_image(rng, 80)).save(
            osp.join(root, 'val', name), format='JPEG')
        val_lines.append(f'{name} {i % classes}')
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    for split, split_lines in (('train', lines), ('val', val_lines)):
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(split_lines) + '\n')


def write_coco(root: str, rng: np.random.Generator) -> None:
    """COCO 2017 layout, train2017 / val2017 with boxes and masks."""
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    for split, count in (('train2017', 4), ('val2017', 2)):
        os.makedirs(osp.join(root, split), exist_ok=True)
        images, anns = [], []
        for i in range(count):
            name = f'{i + 1:012d}.jpg'
            Image.fromarray(_image(rng, DENSE_SIZE)).save(
                osp.join(root, split, name))
            images.append(dict(id=i + 1, file_name=name, width=DENSE_SIZE,
                               height=DENSE_SIZE))
            for k, (cat, _) in enumerate(COCO_CATEGORIES[:1 + i % 2]):
                x, y, w = 4 + 24 * k, 6 + 20 * k, 20
                anns.append(dict(
                    id=len(anns) + 1, image_id=i + 1, category_id=cat,
                    bbox=[x, y, w, w], area=w * w, iscrowd=0,
                    segmentation=[[x, y, x + w, y, x + w, y + w, x,
                                   y + w]]))
        with open(osp.join(root, 'annotations', f'instances_{split}.json'),
                  'w') as f:
            json.dump(dict(images=images, annotations=anns,
                           categories=[dict(id=c, name=n)
                                       for c, n in COCO_CATEGORIES]), f)


def write_ade(root: str, rng: np.random.Generator) -> None:
    """ADEChallengeData2016 layout: images/*.jpg, annotations/*.png."""
    for split, count in (('training', 4), ('validation', 2)):
        for kind in ('images', 'annotations'):
            os.makedirs(osp.join(root, kind, split), exist_ok=True)
        for i in range(count):
            name = f'ADE_{split}_{i + 1:08d}'
            Image.fromarray(_image(rng, DENSE_SIZE)).save(
                osp.join(root, 'images', split, name + '.jpg'))
            # Labels 1-150 (0 is "other", ignored): two regions.
            seg = np.full((DENSE_SIZE, DENSE_SIZE), 1 + i, np.uint8)
            seg[DENSE_SIZE // 2:] = 10 + i
            Image.fromarray(seg).save(
                osp.join(root, 'annotations', split, name + '.png'))


def write_data(data: str) -> Dict[str, str]:
    """All tiny data sets under ``data``; returns their roots."""
    rng = np.random.default_rng(0)
    roots = dict(
        imagenet=osp.join(data, 'imagenet') + '/',
        coco=osp.join(data, 'coco') + '/',
        ade=osp.join(data, 'ade', 'ADEChallengeData2016') + '/')
    write_imagenet(roots['imagenet'], rng)
    write_coco(roots['coco'], rng)
    write_ade(roots['ade'], rng)
    return roots


def _list(values) -> str:
    return '[' + ','.join(str(v) for v in values) + ']'


def _loaders(names, batch_size: int) -> List[str]:
    """One process per loader, small batches (no worker processes)."""
    opts = []
    for name in names:
        opts += [f'{name}.num_workers=0', f'{name}.persistent_workers=False']
        if batch_size and name == 'train_dataloader':
            opts.append(f'{name}.batch_size={batch_size}')
    return opts


def pretrain_options(roots: Dict[str, str]) -> List[str]:
    """The main pre-training config, shrunk: tiny Swin, 64 px, 1 epoch."""
    out = DIMS[-1]
    return [
        'model.backbone.arch._delete_=True',
        f'model.backbone.arch.embed_dims={EMBED}',
        'model.backbone.arch.depths=[1,1,1,1]',
        'model.backbone.arch.num_heads=[1,2,2,4]',
        f'model.backbone.img_size={PRETRAIN_SIZE}',
        'model.backbone.stage_cfgs.block_cfgs.window_size=2',
        f'model.neck.in_channels={out}', f'model.con_neck.in_channels={out}',
        'model.con_neck.hid_channels=64', 'model.con_neck.out_channels=32',
        'model.con_head.predictor.in_channels=32',
        'model.con_head.predictor.hid_channels=64',
        'model.con_head.predictor.out_channels=32',
        f'model.mlc_head.in_channels={out}',
        f'train_dataloader.dataset.data_root={roots["imagenet"]}',
        f'train_dataloader.dataset.pipeline.1.input_size={PRETRAIN_SIZE}',
        'train_dataloader.pin_memory=False',
        *_loaders(['train_dataloader'], 2),
        'train_cfg.max_epochs=1', 'param_scheduler.0.end=1',
        'param_scheduler.1.begin=0', 'param_scheduler.1.end=1',
        'param_scheduler.1.T_max=1', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1', 'randomness.seed=0',
    ]


def task_options(roots: Dict[str, str]) -> Dict[str, List[str]]:
    """Per transfer: the tiny data roots, input sizes and schedule (the
    tiny arch comes from tools/transfer.py, which reads the backbone)."""
    loaders = ['train_dataloader', 'val_dataloader', 'test_dataloader']
    imagenet, coco, ade = roots['imagenet'], roots['coco'], roots['ade']
    short_side = CLS_SIZE * 8 // 7
    classification = [f'model.backbone.img_size={CLS_SIZE}'] + [
        f'{name}.dataset.data_root={imagenet}' for name in loaders
    ] + [
        f'train_dataloader.dataset.pipeline.1.scale={CLS_SIZE}',
        f'val_dataloader.dataset.pipeline.1.scale={short_side}',
        f'val_dataloader.dataset.pipeline.2.crop_size={CLS_SIZE}',
        'train_cfg.max_epochs=1', 'default_hooks.checkpoint.interval=1',
        'default_hooks.logger.interval=1',
        *_loaders(loaders, 4),
    ]
    dense_scale = f'({2 * DENSE_SIZE},{DENSE_SIZE})'
    coco_val = coco + 'annotations/instances_val2017.json'
    return dict(
        finetune=classification +
        ['model.backbone.stage_cfgs.block_cfgs.window_size=3'],
        linear=classification + [
            'model.backbone.window_size=3', 'param_scheduler.0.T_max=1',
            'param_scheduler.0.end=1'
        ],
        detection=[f'{name}.dataset.data_root={coco}' for name in loaders] + [
            f'train_dataloader.dataset.pipeline.2.scale={dense_scale}',
            f'val_dataloader.dataset.pipeline.1.scale={dense_scale}',
            f'test_dataloader.dataset.pipeline.1.scale={dense_scale}',
            f'val_evaluator.ann_file={coco_val}',
            f'test_evaluator.ann_file={coco_val}',
            # Fewer proposals and sampled RoIs for 64-px images.
            'model.train_cfg.rpn_proposal.nms_pre=200',
            'model.train_cfg.rpn_proposal.max_per_img=100',
            'model.train_cfg.rcnn.sampler.num=64',
            'model.test_cfg.rpn.nms_pre=200',
            'model.test_cfg.rpn.max_per_img=100',
            'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1',
            *_loaders(loaders, 0),
        ],
        segmentation=[f'{name}.dataset.data_root={ade}'
                      for name in loaders] + [
            f'train_dataloader.dataset.pipeline.2.scale={dense_scale}',
            'train_dataloader.dataset.pipeline.3.crop_size='
            f'({DENSE_SIZE},{DENSE_SIZE})',
            f'val_dataloader.dataset.pipeline.1.scale={dense_scale}',
            f'test_dataloader.dataset.pipeline.1.scale={dense_scale}',
            f'model.data_preprocessor.size=({DENSE_SIZE},{DENSE_SIZE})',
            'model.decode_head.channels=32',
            'model.auxiliary_head.channels=16',
            'train_cfg.max_iters=4', 'train_cfg.val_interval=4',
            'default_hooks.checkpoint.interval=4',
            'default_hooks.logger.interval=1',
            *_loaders(loaders, 0),
        ])


def run_stage(name: str, cmd: List[str], log: str,
              env: Dict[str, str]) -> float:
    """Run one stage, its output to ``log``; stop the rehearsal on failure.

    Returns:
        float: Seconds it took.
    """
    print(f'[{name}] + {shlex.join(cmd)}', flush=True)
    start = time.monotonic()
    with open(log, 'w') as f:
        code = subprocess.run(cmd, cwd=REPO, env=env, stdout=f,
                              stderr=subprocess.STDOUT).returncode
    seconds = time.monotonic() - start
    if code != 0:
        with open(log) as f:
            tail = ''.join(f.readlines()[-40:])
        raise SystemExit(f'[{name}] failed (exit {code}) after '
                         f'{seconds:.0f} s; full log: {log}\n{tail}')
    print(f'[{name}] done in {seconds:.0f} s (log: {log})', flush=True)
    return seconds


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Run pre-training (2 processes), backbone extraction and '
        'the four transfers on tiny generated data on the CPU, with the '
        'documented configs and commands.')
    parser.add_argument(
        '--work-dir',
        default='work_dirs/rehearsal',
        help='where data, runs and logs go; an earlier rehearsal there is '
        'removed first (default: work_dirs/rehearsal)')
    parser.add_argument(
        '--procs',
        type=int,
        default=2,
        help='pre-training processes (tools/dist_train.sh); default 2')
    parser.add_argument(
        '--tasks',
        nargs='+',
        choices=TASKS,
        default=TASKS,
        help='transfers to rehearse (default: all four)')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    work = osp.abspath(args.work_dir)
    marker = osp.join(work, MARKER)
    if osp.isdir(work) and os.listdir(work):
        # Only an earlier rehearsal's folder is emptied, never another one.
        if not osp.isfile(marker):
            raise SystemExit(f'{work} is not empty and holds no earlier '
                             'rehearsal; give a new or empty --work-dir')
        shutil.rmtree(work)
    logs = osp.join(work, 'logs')
    os.makedirs(logs)
    open(marker, 'w').close()
    roots = write_data(osp.join(work, 'data'))
    pretrain_dir = osp.join(work, 'work_dirs', 'hvpt_swin-b')

    env = dict(os.environ)
    # The CPU path (gloo, fp32) whatever the machine; one thread each.
    env.update(CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1',
               MKL_NUM_THREADS='1', PORT=str(free_port()),
               PYTHON=sys.executable)
    times = {}
    times['pre-training'] = run_stage(
        'pre-training', [
            osp.join('tools', 'dist_train.sh'), PRETRAIN_CONFIG,
            str(args.procs), '--work-dir', pretrain_dir, '--cfg-options',
            *pretrain_options(roots)
        ], osp.join(logs, 'pretrain.log'), env)
    transfer = [sys.executable, osp.join('tools', 'transfer.py'),
                pretrain_dir, '--tasks', *args.tasks]
    options = task_options(roots)
    for task in args.tasks:
        transfer += ['--task-options', task, *options[task]]
    times['extraction + transfers'] = run_stage(
        'transfers', transfer, osp.join(logs, 'transfer.log'), env)

    print('\nrehearsal passed:')
    for stage, seconds in times.items():
        print(f'  {stage:<24} {seconds:6.0f} s')
    print(f'  runs in {pretrain_dir}, logs in {logs}')


if __name__ == '__main__':
    main()
