# Copyright (c) hvpt_mm authors. All rights reserved.
"""A downstream run killed while writing a checkpoint keeps the previous one.

Fine-tuning and Mask R-CNN, as their configs ship (atomic checkpoint backend
and the hooks of ``configs/_base_/hvpt_downstream_runtime.py``), on tiny
models and data: the write of ``epoch_2.pth`` stops half-way, the job is
killed, and ``--resume`` continues from ``epoch_1.pth``. With mmengine's
own backend the kill would leave a truncated ``epoch_2.pth`` beside it.
"""
import glob
import json
import os
import os.path as osp
import signal

import numpy as np
import pytest
from mmengine.runner.checkpoint import _load_checkpoint
from PIL import Image

from test_reliability.hvpt_reliability_utils import (  # noqa: I001
    finish, start_tool, wait_for_file, write_config)
from test_transfer.hvpt_transfer_utils import (CLASSIFICATION, DETECTION,
                                               STAGE_DIMS)
from _helpers.tiny import REPO, TINY_DIMS, random_image, run_tool

# No pre-trained weights: the runs are about checkpoints, not transfer.
TINY_SWIN = [
    'model.backbone.arch._delete_=True',
    f'model.backbone.arch.embed_dims={TINY_DIMS}',
    'model.backbone.arch.depths=[1,1,1,1]',
    'model.backbone.arch.num_heads=[1,2,2,4]',
    'model.backbone.init_cfg=None',
]
LOADER = [
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'train_cfg.max_epochs=2',
    'default_hooks.checkpoint.interval=1',
    'default_hooks.logger.interval=1',
]


def write_coco(root: str, num_images: int = 4) -> None:
    """A tiny COCO instance set: 64 px images, one box and mask each."""
    rng = np.random.default_rng(0)
    images, annotations = [], []
    for i in range(num_images):
        name = f'img_{i}.jpg'
        Image.fromarray(random_image(rng, 64)).save(osp.join(root, name))
        x, y = 8 + 4 * i, 12
        w, h = 30, 36
        images.append(dict(id=i, file_name=name, width=64, height=64))
        annotations.append(
            dict(id=i, image_id=i, category_id=1, iscrowd=0, area=w * h,
                 bbox=[x, y, w, h],
                 segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]]))
    with open(osp.join(root, 'instances.json'), 'w') as f:
        json.dump(dict(images=images, annotations=annotations,
                       categories=[dict(id=1, name='person')]), f)


def options(task: str, data_root: str) -> list:
    """cfg-options shrinking the downstream config of ``task``."""
    if task == 'classification':
        return TINY_SWIN + LOADER + [
            f'model.head.in_channels={STAGE_DIMS[-1]}',
            f'train_dataloader.dataset.data_root={data_root}',
            'train_dataloader.batch_size=4',
            'optim_wrapper.type=OptimWrapper',  # AMP needs a GPU
        ]
    return TINY_SWIN + LOADER + [
        'model.backbone.img_size=64',
        f'model.neck.in_channels={STAGE_DIMS}'.replace(' ', ''),
        f'train_dataloader.dataset.data_root={data_root}',
        'train_dataloader.dataset.ann_file=instances.json',
        'train_dataloader.dataset.data_prefix.img=./',
        'train_dataloader.dataset.pipeline.2.scale=(64,64)',
        'train_dataloader.batch_size=2',
    ]


@pytest.mark.parametrize('task', ['classification', 'detection'])
def test_kill_during_downstream_checkpoint_write(task, tmp_path,
                                                 imagenet_root):
    relpath = dict(classification=CLASSIFICATION['finetune'],
                   detection=DETECTION['1x'])[task]
    base = osp.join(REPO, relpath)
    if task == 'detection':
        data_root = str(tmp_path / 'coco')
        os.makedirs(data_root)
        write_coco(data_root)
    else:
        data_root = imagenet_root
    imports = ('mmpretrain.models', 'hvpt_mm', '_helpers.half_write')
    killed = write_config(
        tmp_path / 'killed.py',
        [dict(type='mmpretrain.HalfWriteCheckpointHook', name='epoch_2.pth')],
        base=base, imports=imports)
    resumed = write_config(tmp_path / 'resumed.py', [], base=base,
                           imports=imports)
    work, log = str(tmp_path / 'work'), str(tmp_path / 'job.log')
    opts = ['--no-validate', '--cfg-options'] + options(task, data_root)

    job = start_tool(['tools/train.py', killed, '--work-dir', work] + opts,
                     log)
    try:
        wait_for_file(osp.join(work, 'writing_epoch_2.pth'), job, log)
        os.kill(job.pid, signal.SIGKILL)
        job.wait(timeout=60)
    finally:
        if job.poll() is None:
            job.kill()
    finish(job, log, expect_ok=False)
    assert job.returncode == -signal.SIGKILL

    # The previous checkpoint loads (safe loader), nothing truncated stands
    # under a checkpoint's name, the pointer names the previous one.
    previous = osp.join(work, 'epoch_1.pth')
    assert _load_checkpoint(previous, map_location='cpu')['meta']['epoch'] \
        == 1
    assert sorted(osp.basename(p) for p in glob.glob(
        osp.join(work, 'epoch_*.pth'))) == ['epoch_1.pth']
    assert osp.isfile(osp.join(work, '.epoch_2.pth.tmp'))
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read().strip() == previous

    proc = run_tool(['tools/train.py', resumed, '--work-dir', work,
                     '--resume'] + opts)
    assert 'resumed epoch: 1' in proc.stdout + proc.stderr
    assert _load_checkpoint(osp.join(work, 'epoch_2.pth'),
                            map_location='cpu')['meta']['epoch'] == 2
    assert not glob.glob(osp.join(work, '.*.tmp'))
