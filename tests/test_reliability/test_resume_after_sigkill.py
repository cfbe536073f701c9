# Copyright (c) hvpt_mm authors. All rights reserved.
"""A training job killed with SIGKILL resumes exactly where it stood."""
import glob
import json
import os
import os.path as osp
import signal

from mmengine.config import Config

from _helpers.tiny import run_tool, tiny_pretrain_options
from test_reliability.hvpt_reliability_utils import (  # noqa: I001
    CONFIG, epoch_options, finish, losses_by_iter, start_tool, wait_for_file,
    write_config)

TERMS = ('loss_mim', 'loss_con', 'loss_mlc', 'con_acc', 'mlc_map')


def test_sigkill_then_resume_repeats_uninterrupted_losses(
        tmp_path, imagenet_root):
    """Deterministic mode: the losses after the restart equal a clean run's.

    The job is killed in epoch 2 (after iteration 5 of 9, epoch_1.pth
    written), then resumed with ``--resume``. Without HVPTEpochSeedHook
    iterations 4-9 differ: mmengine restarts the random generators from the
    seed, so epoch 2 of the resumed run draws epoch 1's augmentations. The
    loader runs as the main config ships it, with persistent workers (two
    here): the uninterrupted run keeps its workers from epoch 1, the resumed
    one starts new ones in epoch 2, and both draw the same.
    The pointer ``last_checkpoint`` is also left empty, as a kill during
    CheckpointHook's plain write of it would.
    """
    recorded = write_config(
        tmp_path / 'recorded.py',
        [dict(type='RecordLossHook'), dict(type='RecordStartHook')])
    paused = write_config(
        tmp_path / 'paused.py',
        [dict(type='RecordLossHook'), dict(type='PauseAtIterHook', at=5)])
    assert Config.fromfile(CONFIG).train_dataloader.persistent_workers
    opts = (tiny_pretrain_options(imagenet_root) + epoch_options(3) + [
        'randomness.deterministic=True', 'train_dataloader.num_workers=2',
        'train_dataloader.persistent_workers=True'
    ])
    ref_dir, work = str(tmp_path / 'ref'), str(tmp_path / 'work')

    # The uninterrupted run and the one to kill share the two cores.
    ref_log, job_log = str(tmp_path / 'ref.log'), str(tmp_path / 'job.log')
    ref = start_tool(['tools/train.py', recorded, '--work-dir', ref_dir,
                      '--cfg-options'] + opts, ref_log)
    job = start_tool(['tools/train.py', paused, '--work-dir', work,
                      '--cfg-options'] + opts, job_log)
    try:
        wait_for_file(osp.join(work, 'paused_at_iter'), job, job_log)
        assert osp.isfile(osp.join(work, 'epoch_1.pth'))
        assert not osp.exists(osp.join(work, 'epoch_2.pth'))
        os.kill(job.pid, signal.SIGKILL)
        job.wait(timeout=60)
        assert job.returncode == -signal.SIGKILL
    finally:
        if job.poll() is None:
            job.kill()
    killed = losses_by_iter(work)
    assert sorted(killed) == [1, 2, 3, 4, 5]
    # As a kill inside CheckpointHook's plain write of the pointer leaves
    # it; HVPTLastCheckpointHook points it at epoch_1.pth again.
    with open(osp.join(work, 'last_checkpoint'), 'w'):
        pass

    run_tool(['tools/train.py', recorded, '--work-dir', work, '--resume',
              '--cfg-options'] + opts)
    finish(ref, ref_log)
    with open(osp.join(work, 'start_state.json')) as f:
        start = json.load(f)
    assert (start['epoch'], start['iter']) == (1, 3)

    expected, resumed = losses_by_iter(ref_dir), losses_by_iter(work)
    assert sorted(expected) == sorted(resumed) == list(range(1, 10))
    for it in range(1, 10):
        for key in TERMS:
            # Same operations on the same numbers: equal to the last bit.
            assert resumed[it][key] == expected[it][key], (it, key)
    # The killed run's iterations 4-5 are the resumed run's as well.
    for it in (4, 5):
        assert killed[it]['loss_mim'] == resumed[it]['loss_mim']
    # Atomic checkpoint writes leave no temporary behind.
    for folder in (work, ref_dir):
        assert not glob.glob(osp.join(folder, '.*.tmp'))
        assert sorted(osp.basename(p) for p in glob.glob(
            osp.join(folder, 'epoch_*.pth'))) == [
                'epoch_1.pth', 'epoch_2.pth', 'epoch_3.pth']
