# Copyright (c) hvpt_mm authors. All rights reserved.
"""HVPTGradNormHook: per-signal gradient norms in optimizer steps."""
import argparse
from types import SimpleNamespace
from typing import Dict, List, Optional

import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.optim.optimizer import amp_optimizer_wrapper
from mmengine.registry import RUNNERS

from hvpt_mm.engine.hooks import HVPTGradNormHook
from _helpers.tiny import PRETRAIN_CONFIG, epoch_options, tiny_pretrain_options


class _Model(torch.nn.Module):
    """Records what the hook schedules."""

    def __init__(self, interval: int) -> None:
        super().__init__()
        self.grad_norm_interval = interval
        self.scheduled: List[Optional[float]] = []

    def schedule_grad_norms(self, scale: Optional[float]) -> None:
        self.scheduled.append(scale)


def _sgd(counts: int = 1) -> dict:
    params = [torch.nn.Parameter(torch.zeros(1))]
    return dict(optimizer=torch.optim.SGD(params, lr=0.1),
                accumulative_counts=counts)


def _schedule(model, optim_wrapper, iters) -> List[Optional[float]]:
    hook = HVPTGradNormHook()
    for it in iters:
        hook.before_train_iter(
            SimpleNamespace(model=model, iter=it,
                            optim_wrapper=optim_wrapper), it)
    return getattr(model, 'scheduled', None)


def test_measures_the_last_micro_batch_of_every_nth_step():
    """Interval 2 with 2 micro-batches per step: iterations 4 and 8.

    Catches counting micro-batches instead of optimizer steps (2, 4, 6, 8)
    or measuring the first micro-batch of a step (3, 7).
    """
    model = _Model(interval=2)
    scheduled = _schedule(model, OptimWrapper(**_sgd(counts=2)), range(8))
    # runner.iter counts from 0; the logs number iterations from 1.
    due = [it + 1 for it, s in enumerate(scheduled) if s is not None]
    assert due == [4, 8] and len(scheduled) == 8
    assert scheduled[3] == 1.


def test_hands_over_the_amp_loss_scale(monkeypatch):
    """The model gets the scaler's current scale, 1 without AMP.

    Catches norms taken on the unscaled loss under fp16, where small
    gradients underflow.
    """
    # AmpOptimWrapper refuses to build without a GPU; its scaler is
    # replaced by a CPU one.
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available',
                        lambda: True)
    amp = AmpOptimWrapper(loss_scale='dynamic', **_sgd())
    amp.loss_scaler = torch.amp.GradScaler('cpu', init_scale=2.**16)
    assert _schedule(_Model(interval=1), amp, [0]) == [2.**16]
    assert _schedule(_Model(interval=1), OptimWrapper(**_sgd()), [0]) == [1.]


def test_models_without_the_diagnostic_are_left_alone():
    """Interval 0 or another model: no call (other models lack it)."""
    model = _Model(interval=0)
    assert _schedule(model, OptimWrapper(**_sgd()), range(3)) == []
    assert _schedule(torch.nn.Linear(1, 1), OptimWrapper(**_sgd()),
                     range(3)) is None


class _RecordNorms(Hook):
    """Iterations (from 1) whose outputs carry ``grad_norm_*``."""

    def __init__(self, stop_before_epoch: Optional[int] = None) -> None:
        self.norms: Dict[int, Dict[str, float]] = {}
        self.stop_before_epoch = stop_before_epoch

    def before_train_epoch(self, runner) -> None:
        if runner.epoch == self.stop_before_epoch:
            raise KeyboardInterrupt  # a job stopped between epochs

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        norms = {k: float(v) for k, v in outputs.items()
                 if k.startswith('grad_norm')}
        if norms:
            self.norms[runner.iter + 1] = norms


def _run(work_dir, data_root, resume: bool = False,
         stop_before_epoch: Optional[int] = None) -> Dict[int, dict]:
    """3 epochs of 3 iterations, 2 micro-batches per step, interval 2."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(['--cfg-options'] + tiny_pretrain_options(
        data_root) + epoch_options(3) + [
            'optim_wrapper.accumulative_counts=2',
            'optim_wrapper.type=OptimWrapper',
            'model.grad_norm_interval=2',
        ])
    cfg = Config.fromfile(PRETRAIN_CONFIG)
    cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = str(work_dir)
    cfg.resume = resume
    runner = RUNNERS.build(cfg)
    record = _RecordNorms(stop_before_epoch)
    runner.register_hook(record)
    if stop_before_epoch is None:
        runner.train()
    else:
        with pytest.raises(KeyboardInterrupt):
            runner.train()
    return record.norms


def test_runner_schedule_in_optimizer_steps_survives_resume(
        tmp_path, imagenet_root):
    """Interval 2, 2 micro-batches a step: iterations 4 and 8 of 9, also
    when the run is stopped after epoch 1 and resumed.

    Catches the schedule counting forward calls (iterations 2, 4, 6, 8)
    and restarting that count after a resume (iterations 5, 7, 9).
    """
    whole = _run(tmp_path / 'whole', imagenet_root)
    assert sorted(whole) == [4, 8]
    for norms in whole.values():
        assert sorted(norms) == ['grad_norm_con', 'grad_norm_mim',
                                 'grad_norm_mlc']
        assert all(v > 0 for v in norms.values()), norms
    first = _run(tmp_path / 'resumed', imagenet_root, stop_before_epoch=1)
    assert first == {}
    second = _run(tmp_path / 'resumed', imagenet_root, resume=True)
    assert sorted(second) == [4, 8]
