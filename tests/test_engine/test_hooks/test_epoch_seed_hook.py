# Copyright (c) hvpt_mm authors. All rights reserved.
import logging
import random
from functools import partial
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from hvpt_mm.engine.hooks import HVPTEpochSeedHook
from hvpt_mm.engine.hooks.epoch_seed_hook import derive_seed, seed_worker


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


def test_workers_reseeded_per_epoch():
    base_calls = []
    loader = DataLoader(list(range(4)), num_workers=2,
                        worker_init_fn=base_calls.append)
    hook = HVPTEpochSeedHook()
    hook.before_train_epoch(_runner(epoch=0, loader=loader))
    fn0 = loader.worker_init_fn
    assert isinstance(fn0, partial) and fn0.keywords['epoch'] == 0
    hook.before_train_epoch(_runner(epoch=1, loader=loader))
    fn1 = loader.worker_init_fn
    # The loader's own worker_init_fn is kept and called first, once.
    assert fn1.keywords['base_fn'] == base_calls.append
    fn1(1)
    assert base_calls == [1]
    # What a worker draws depends on (seed, epoch, rank, worker id).
    fn0(0)
    a = _draws()
    fn1(0)
    b = _draws()
    seed_worker(0, seed=7, epoch=1, rank=0)
    assert _draws() == b != a


@pytest.mark.parametrize('deterministic,level', [(True, logging.WARNING),
                                                 (False, logging.INFO)])
def test_persistent_workers_are_reported(deterministic, level, monkeypatch):
    messages = []
    monkeypatch.setattr(
        'hvpt_mm.engine.hooks.epoch_seed_hook.print_log',
        lambda msg, logger=None, level=logging.INFO: messages.append(
            (msg, level)))
    loader = DataLoader(list(range(4)), num_workers=1,
                        persistent_workers=True)
    hook = HVPTEpochSeedHook()
    for epoch in range(3):
        hook.before_train_epoch(
            _runner(epoch, loader, deterministic=deterministic))
    assert len(messages) == 1
    assert 'persistent_workers' in messages[0][0]
    assert messages[0][1] == level
