# Copyright (c) hvpt_mm authors. All rights reserved.
"""HVPTNonFiniteLossHook under AMP: the gradient scaler and the hook.

A non-finite loss gives non-finite scaled gradients: ``GradScaler`` skips
the optimizer step itself and halves its scale, the hook counts the step
(``policy='skip'``) or stops the run before the backward pass
(``policy='raise'``).
"""
import os.path as osp

import pytest
from mmengine.optim import AmpOptimWrapper

from _helpers.tiny import (epoch_options, run_tool, tiny_pretrain_options,
                           write_config)
from test_engine.test_hooks.test_nonfinite_loss_hook import (  # noqa: I001
    _train, check_skipped_steps, skip_batches)
from test_gpu.hvpt_gpu_utils import GPU, gpu_state
from test_reliability.hvpt_reliability_utils import assert_one_step_skipped

pytestmark = GPU

INIT_SCALE = 256.


class _Recorded(AmpOptimWrapper):
    """``AmpOptimWrapper`` that keeps its instances for inspection."""

    made: list = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.made.append(self)


def test_skip_under_amp_toy_model():
    """The hook's unit scenario (tests/test_engine) on the GPU with AMP."""
    _Recorded.made.clear()
    check_skipped_steps(*_train('skip', skip_batches(), device='cuda',
                                wrapper=_Recorded,
                                loss_scale=dict(init_scale=INIT_SCALE)))
    # The scaler skipped both bad steps itself and halved its scale twice.
    assert _Recorded.made[0].loss_scaler.get_scale() == INIT_SCALE / 4


def _run(tmp_path, imagenet_root, policy):
    inject = dict(type='InjectNonFiniteHook', signal='loss_con', iters=[2])
    config = write_config(
        str(tmp_path / f'{policy}.py'),
        [dict(type='HVPTNonFiniteLossHook', policy=policy), inject,
         dict(type='RecordGPUStateHook')],
        drop=('HVPTNonFiniteLossHook', ))
    work = str(tmp_path / policy)
    opts = tiny_pretrain_options(imagenet_root) + epoch_options(1) + [
        f'optim_wrapper.loss_scale.init_scale={INIT_SCALE}']
    run_tool(['tools/train.py', config, '--work-dir', work,
              '--cfg-options'] + opts)
    return work


def test_skip_with_the_main_config(tmp_path, imagenet_root):
    work = _run(tmp_path, imagenet_root, 'skip')
    iters = {s['iter']: s for s in gpu_state(work)
             if s['event'] == 'after_train_iter'}
    assert sorted(iters) == [1, 2, 3]
    assert iters[1]['optim_wrapper'] == 'AmpOptimWrapper'
    assert [iters[i]['nonfinite_skips'] for i in (1, 2, 3)] == [0, 1, 1]
    assert [iters[i]['loss_scaler']['scale'] for i in (1, 2, 3)] == [
        INIT_SCALE, INIT_SCALE / 2, INIT_SCALE / 2]
    assert_one_step_skipped(osp.join(work, 'epoch_1.pth'))


def test_raise_with_the_main_config(tmp_path, imagenet_root):
    with pytest.raises(AssertionError) as e:
        _run(tmp_path, imagenet_root, 'raise')
    assert 'FloatingPointError: non-finite loss at iteration 2 (epoch 1): ' \
        'loss_con=nan (rank 0)' in str(e.value)
    assert not osp.exists(osp.join(tmp_path, 'raise', 'epoch_1.pth'))
