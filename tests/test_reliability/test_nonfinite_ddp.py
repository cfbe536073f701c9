# Copyright (c) hvpt_mm authors. All rights reserved.
"""Non-finite losses on one rank of two: both ranks decide alike.

``tools/dist_train.sh CONFIG 2`` on the CPU (gloo); ``loss_con`` of rank 1
becomes NaN at iteration 2. A rank deciding alone would either hang the
other in the next collective (raise) or let the weights diverge (skip).
"""
import json
import math
import os.path as osp

from _helpers.tiny import tiny_pretrain_options
from test_reliability.hvpt_reliability_utils import (  # noqa: I001
    assert_one_step_skipped, epoch_options, finish, free_port,
    losses_by_iter, scalars, start_tool, write_config)

INJECT = dict(type='InjectNonFiniteHook', signal='loss_con', iters=[2],
              ranks=[1])


def _run(tmp_path, imagenet_root, policy, expect_ok):
    cfg = write_config(
        tmp_path / f'{policy}.py',
        [dict(type='HVPTNonFiniteLossHook', policy=policy), INJECT,
         dict(type='RecordLossHook'), dict(type='RecordEndHook')],
        drop=('HVPTNonFiniteLossHook', ))
    work, log = str(tmp_path / 'work'), str(tmp_path / 'job.log')
    opts = tiny_pretrain_options(imagenet_root, batch_size=2) + \
        epoch_options(1)
    job = start_tool(['tools/dist_train.sh', cfg, '2', '--work-dir', work,
                      '--cfg-options'] + opts, log,
                     env=dict(PORT=str(free_port())))
    # A rank left waiting would sit in gloo's 30-minute timeout: the
    # timeout here fails the test instead.
    return work, finish(job, log, timeout=240, expect_ok=expect_ok), job


def test_skip_on_every_rank(tmp_path, imagenet_root):
    work, _, _ = _run(tmp_path, imagenet_root, 'skip', expect_ok=True)
    for rank in (0, 1):
        assert sorted(losses_by_iter(work, rank)) == [1, 2, 3]
    # Rank 0's own loss_con was finite; it skipped with rank 1.
    assert math.isfinite(losses_by_iter(work, 0)[2]['loss_con'])
    assert math.isnan(losses_by_iter(work, 1)[2]['loss_con'])
    assert [r['nonfinite_skips'] for r in scalars(work)] == [0, 1, 1]
    ends = []
    for rank in (0, 1):
        with open(osp.join(work, f'end_state_rank{rank}.json')) as f:
            ends.append(json.load(f)['digest'])
    # Both ranks made the same two updates (a lone skip would diverge).
    assert ends[0] == ends[1]
    assert_one_step_skipped(osp.join(work, 'epoch_1.pth'))


def test_raise_on_every_rank(tmp_path, imagenet_root):
    work, out, job = _run(tmp_path, imagenet_root, 'raise', expect_ok=False)
    assert job.returncode != 0
    msg = 'non-finite loss at iteration 2 (epoch 1): loss_con=nan (rank 1)'
    # Both processes stop with the same message, naming the rank at fault.
    assert out.count('FloatingPointError: ' + msg) == 2, out[-6000:]
    assert not osp.exists(osp.join(work, 'epoch_1.pth'))
    for rank in (0, 1):
        assert sorted(losses_by_iter(work, rank)) == [1]
