# Copyright (c) hvpt_mm authors. All rights reserved.
"""tools/train.py and tools/dist_train.sh on CPU, with tiny settings."""
import glob
import json
import math
import os.path as osp

import pytest
import torch

from _helpers.tiny import (epoch_options, run_tool, tiny_pretrain_options,
                           write_config)

CONFIG = 'configs/pretrain/hvpt_swin-b.py'


@pytest.fixture
def recorded(tmp_path):
    """The main config plus test hooks that record the run."""
    return write_config(
        str(tmp_path / 'recorded.py'),
        [dict(type='RecordStartHook'), dict(type='RecordLossHook')])


def _losses(work_dir, rank=0):
    path = glob.glob(osp.join(work_dir, '**', f'losses_rank{rank}.jsonl'),
                     recursive=True)
    with open(path[0]) as f:
        return [json.loads(line) for line in f]


def test_train_few_iters(tmp_path, imagenet_root):
    """The main config, shrunk by --cfg-options only."""
    work = str(tmp_path / 'work')
    opts = tiny_pretrain_options(imagenet_root) + epoch_options(1)
    run_tool(['tools/train.py', CONFIG, '--work-dir', work,
              '--cfg-options'] + opts)
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    scalars = glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))
    with open(scalars[0]) as f:
        rows = [json.loads(line) for line in f]
    assert [r['iter'] for r in rows] == [1, 2, 3]
    for r in rows:
        for key in ('loss_mim', 'loss_con', 'loss_mlc', 'con_acc',
                    'mlc_map'):
            assert math.isfinite(r[key]), (key, r)


def test_resume_continues_iteration_and_weights(tmp_path, imagenet_root,
                                                 recorded):
    work = str(tmp_path / 'work')
    base = ['tools/train.py', recorded, '--work-dir', work, '--cfg-options']
    opts = tiny_pretrain_options(imagenet_root)
    run_tool(base + opts + epoch_options(2))
    ckpt2 = osp.join(work, 'epoch_2.pth')
    assert osp.isfile(ckpt2)

    # The runner's checkpoint holds non-tensor objects: plain torch.load
    # (weights_only=True since torch 2.6) refuses it; --resume must not.
    run_tool(['tools/train.py', recorded, '--work-dir', work, '--resume',
              '--cfg-options'] + opts + epoch_options(3))
    with open(osp.join(work, 'start_state.json')) as f:
        start = json.load(f)
    assert (start['epoch'], start['iter']) == (2, 6)
    saved = torch.load(ckpt2, map_location='cpu', weights_only=False)
    for k, v in start['digest'].items():
        assert v == pytest.approx(saved['state_dict'][k].double().sum().item(),
                                  rel=1e-9, abs=1e-9), k
    ckpt3 = torch.load(osp.join(work, 'epoch_3.pth'), map_location='cpu',
                       weights_only=False)
    assert ckpt3['meta']['iter'] == 9 and ckpt3['meta']['epoch'] == 3
    assert [r['iter'] for r in _losses(work)][-3:] == [7, 8, 9]


def test_resume_from_named_checkpoint(tmp_path, imagenet_root, recorded):
    work = str(tmp_path / 'work')
    opts = tiny_pretrain_options(imagenet_root)
    run_tool(['tools/train.py', recorded, '--work-dir', work,
              '--cfg-options'] + opts + epoch_options(2))
    other = str(tmp_path / 'other')
    run_tool(['tools/train.py', recorded, '--work-dir', other, '--resume',
              osp.join(work, 'epoch_1.pth'), '--cfg-options'] + opts +
             epoch_options(2))
    with open(osp.join(other, 'start_state.json')) as f:
        assert json.load(f)['iter'] == 3


def test_dist_train_two_processes_on_cpu(tmp_path, imagenet_root, recorded):
    """Two gloo processes of 2 images train at the lr of 4 images.

    No PORT is given: dist_train.sh picks a free one on one machine (a
    fixed default collides with any other run there). The schedule is made
    flat, so the logged lr is the recipe's 8e-4 for 2048 images scaled to
    the 4 of a step. Catches: a world size left out of the lr, a fixed
    port."""
    work = str(tmp_path / 'work')
    opts = tiny_pretrain_options(imagenet_root, batch_size=2)
    env = dict(OMP_NUM_THREADS='1')
    env['PORT'] = ''  # unset: the script's own choice
    run_tool(['tools/dist_train.sh', recorded, '2', '--work-dir', work,
              '--cfg-options'] + opts + epoch_options(1) + [
                  'param_scheduler.0.start_factor=1.0',
                  'param_scheduler.1.eta_min_ratio=1.0'
              ], env=env)
    with open(osp.join(work, 'start_state.json')) as f:
        assert json.load(f)['world_size'] == 2
    # 12 images / (2 processes x 2) = 3 iterations per epoch.
    assert [r['iter'] for r in _losses(work, rank=0)] == [1, 2, 3]
    assert [r['iter'] for r in _losses(work, rank=1)] == [1, 2, 3]
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    scalars = glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))
    with open(scalars[0]) as f:
        lrs = [json.loads(line)['lr'] for line in f]
    assert lrs == pytest.approx([8e-4 * 2 * 2 / 2048] * 3, rel=1e-6)
