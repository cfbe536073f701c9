# Copyright (c) hvpt_mm authors. All rights reserved.
"""SyncBN under a one-process nccl group: its kernels and a real run.

The pre-training projector and predictor use SyncBN (mmpretrain's
``NonLinearNeck``); ``tools/dist_train.sh CONFIG 1`` keeps it under
``MMDistributedDataParallel`` (a plain ``tools/train.py`` run reverts it to
BatchNorm).
"""
import json

from _helpers.tiny import (epoch_options, run_tool, tiny_pretrain_options,
                           write_config)
from test_gpu.hvpt_gpu_utils import GPU, gpu_state
from test_reliability.hvpt_reliability_utils import free_port

pytestmark = GPU


def test_sync_path_matches_batch_norm():
    proc = run_tool(['tests/test_gpu/hvpt_syncbn_check.py'],
                    env=dict(MASTER_PORT=str(free_port())), timeout=300)
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (record['backend'], record['world_size']) == ('nccl', 1)
    assert record['finite']
    for field, diff in record['max_abs_diff'].items():
        assert diff < 1e-4, (field, diff)


def test_dist_train_one_gpu_keeps_sync_bn(tmp_path, imagenet_root):
    config = write_config(str(tmp_path / 'syncbn.py'),
                          [dict(type='RecordGPUStateHook')])
    work = str(tmp_path / 'work')
    run_tool(['tools/dist_train.sh', config, '1', '--work-dir', work,
              '--cfg-options'] + tiny_pretrain_options(imagenet_root) +
             epoch_options(1), env=dict(PORT=str(free_port())))
    states = gpu_state(work)
    start = states[0]
    assert start['world_size'] == 1
    assert start['model_wrapper'] == 'MMDistributedDataParallel'
    assert start['device'].startswith('cuda')
    # Projector and predictor, online and momentum: all SyncBN still.
    assert start['sync_bn'] >= 4
    assert [s['iter'] for s in states
            if s['event'] == 'after_train_iter'] == [1, 2, 3]
