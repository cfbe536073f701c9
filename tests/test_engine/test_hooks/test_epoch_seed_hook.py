# Copyright (c) hvpt_mm authors. All rights reserved.
import logging
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from hvpt_mm.engine.hooks import HVPTEpochSeedHook
from hvpt_mm.engine.hooks.epoch_seed_hook import (HVPTWorkerReseed,
                                                  derive_seed, seed_all)


def _draws():
    return (random.random(), float(np.random.rand()),
            float(torch.rand(())))


def _runner(epoch, loader=None, seed=7, deterministic=True):
    return SimpleNamespace(
        seed=seed, epoch=epoch, train_loop=None,
        train_dataloader=loader or DataLoader(list(range(4))),
        cfg=dict(randomness=dict(seed=seed, deterministic=deterministic)))


def test_derive_seed():
    assert derive_seed(0, 1) == derive_seed(0, 1)
    seeds = {derive_seed(s, e) for s in range(3) for e in range(3)}
    assert len(seeds) == 9 and all(0 <= s < 2**32 for s in seeds)
    assert derive_seed(0, 1, 0, 0) != derive_seed(0, 1, 0, 1)


def test_epoch_draws_depend_on_seed_and_epoch_only():
    hook = HVPTEpochSeedHook()
    hook.before_train_epoch(_runner(epoch=1))
    first = _draws()
    _draws()  # whatever happened before (another epoch, a validation)
    hook.before_train_epoch(_runner(epoch=1))
    assert _draws() == first
    hook.before_train_epoch(_runner(epoch=2))
    assert _draws() != first
    hook.before_train_epoch(_runner(epoch=1, seed=8))
    assert _draws() != first


class Draws:
    """A dataset whose samples are random draws of the loading process."""

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return torch.tensor(_draws(), dtype=torch.float64)


def _epochs(hook, loader, epochs, seed=7):
    """The batches the loader yields in each epoch, the hook in charge."""
    out = []
    for epoch in epochs:
        hook.before_train_epoch(_runner(epoch, loader, seed))
        out.append(torch.cat(list(loader)))
    return out


@pytest.mark.parametrize('persistent', [True, False])
def test_workers_reseeded_per_epoch(persistent):
    """An uninterrupted run's epoch 2 equals that of a run resumed there."""
    def make_loader():
        return DataLoader(Draws(), batch_size=2, num_workers=2,
                          persistent_workers=persistent)

    whole = _epochs(HVPTEpochSeedHook(), make_loader(), [0, 1, 2])
    resumed = _epochs(HVPTEpochSeedHook(), make_loader(), [2])
    assert torch.equal(whole[2], resumed[0])
    # Epochs differ; the two workers' streams differ.
    assert not torch.equal(whole[1], whole[2])
    assert not torch.equal(whole[2][:2], whole[2][2:4])
    # And another seed draws otherwise.
    other = _epochs(HVPTEpochSeedHook(), make_loader(), [2], seed=8)
    assert not torch.equal(whole[2], other[0])


def test_worker_seed_and_main_stream():
    """Workers draw from (seed, epoch, rank, worker id); starting them takes
    nothing from the main process's streams."""
    base_calls = []
    loader = DataLoader(Draws(), batch_size=8, num_workers=1,
                        worker_init_fn=base_calls.append)
    hook = HVPTEpochSeedHook()
    hook.before_train_epoch(_runner(epoch=1, loader=loader))
    fn = loader.worker_init_fn
    assert isinstance(fn, HVPTWorkerReseed)
    # The loader's own worker_init_fn is kept and called first.
    assert fn.base_fn == base_calls.append
    batch = next(iter(loader))
    seed_all(derive_seed(7, 1, 0, 0))
    assert tuple(batch[0].tolist()) == _draws()
    # The main process continues its epoch stream untouched.
    hook.before_train_epoch(_runner(epoch=1, loader=loader))
    expected = _draws()
    hook.before_train_epoch(_runner(epoch=1, loader=loader))
    iter(loader)
    assert _draws() == expected


def test_workers_started_before_training_are_reported(monkeypatch):
    messages = []
    monkeypatch.setattr(
        'hvpt_mm.engine.hooks.epoch_seed_hook.print_log',
        lambda msg, logger=None, level=logging.INFO: messages.append(
            (msg, level)))
    loader = DataLoader(list(range(4)), num_workers=1,
                        persistent_workers=True)
    list(loader)
    hook = HVPTEpochSeedHook()
    for epoch in range(3):
        hook.before_train_epoch(_runner(epoch, loader))
    assert len(messages) == 1 and messages[0][1] == logging.WARNING
    assert 'started before training' in messages[0][0]
