# Copyright (c) hvpt_mm authors. All rights reserved.
import logging
import random
from functools import partial
from typing import Callable, Optional

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop

from mmpretrain.registry import HOOKS


def derive_seed(seed: int, *keys: int) -> int:
    """A 32-bit seed for the stream named by ``(seed, *keys)``.

    ``numpy.random.SeedSequence`` mixes the keys, so the streams of
    neighbouring epochs (or workers) are unrelated, unlike ``seed + epoch``.

    Args:
        seed (int): The run's seed.
        *keys (int): Epoch, rank, worker id...

    Returns:
        int: A seed in ``[0, 2**32)``.
    """
    entropy = [int(seed) % 2**64] + [int(k) for k in keys]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def seed_all(seed: int) -> None:
    """Seed the global ``random``, ``numpy`` and ``torch`` generators.

    ``torch.manual_seed`` seeds every device, CUDA included.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def seed_worker(worker_id: int,
                seed: int,
                epoch: int,
                rank: int,
                base_fn: Optional[Callable[[int], None]] = None) -> None:
    """``worker_init_fn`` seeding a data worker from (seed, epoch, rank, id).

    Args:
        worker_id (int): Id of the worker in ``[0, num_workers)``.
        seed (int): The run's seed.
        epoch (int): The epoch whose data the worker loads.
        rank (int): The process's rank.
        base_fn (callable, optional): The loader's previous
            ``worker_init_fn`` (mmengine's also silences warnings of
            workers), called first. Defaults to None.
    """
    if base_fn is not None:
        base_fn(worker_id)
    seed_all(derive_seed(seed, epoch, rank, worker_id))


@HOOKS.register_module()
class HVPTEpochSeedHook(Hook):
    """Make each epoch's randomness a function of (seed, epoch) only.

    Resuming must continue exactly where the stopped run was; with
    ``randomness=dict(seed=..., deterministic=True)`` the losses after a
    resume then equal those of a run that was never stopped. mmengine does
    not get there on its own:

    - it seeds the global ``random`` / ``numpy`` / ``torch`` generators once,
      when the runner is built, and does not checkpoint their states. A
      resumed run restarts them from the seed, so with ``num_workers=0`` the
      augmentations, SimMIM masks and drop-path draws after a resume repeat
      those of epoch 1 instead of continuing;
    - with workers, its ``worker_init_fn`` seeds every worker from
      ``(seed, rank, worker id)`` without the epoch: non-persistent workers
      restart each epoch with the same streams, so the i-th sample a worker
      loads gets the same random draws every epoch.

    This hook reseeds the main process at the start of every epoch from
    ``(runner.seed, epoch)`` and gives the data workers of that epoch a
    ``worker_init_fn`` seeded from ``(seed, epoch, rank, worker id)``. It
    needs no state in the checkpoint, so it also holds when resuming
    checkpoints written without it, and it survives validation or other
    code that draws random numbers between epochs. ``runner.seed`` already
    includes the rank when ``randomness.diff_rank_seed`` is set.

    Limits, logged when they apply: workers with ``persistent_workers=True``
    are started once and keep their streams across epochs, so a resumed run
    draws different (equally random) augmentations; for bit-exact resumes
    use ``persistent_workers=False`` or ``num_workers=0``. Resumes are exact
    from epoch checkpoints of epoch-based loops; an ``IterBasedTrainLoop``
    is reseeded once, at its start.
    """

    priority = 'HIGHEST'

    def __init__(self) -> None:
        self._base_fn: Optional[Callable[[int], None]] = None
        self._base_fn_saved = False
        self._warned = False

    def before_train(self, runner) -> None:
        if isinstance(runner.train_loop, IterBasedTrainLoop):
            print_log(
                'HVPTEpochSeedHook reseeds per epoch; an IterBasedTrainLoop '
                'is one epoch, so a resumed run does not repeat its random '
                'draws exactly', logger='current', level=logging.WARNING)

    def before_train_epoch(self, runner) -> None:
        seed, epoch = runner.seed, runner.epoch
        seed_all(derive_seed(seed, epoch))
        loader = runner.train_dataloader
        if getattr(loader, 'num_workers', 0) == 0:
            return
        if not self._base_fn_saved:
            self._base_fn = loader.worker_init_fn
            self._base_fn_saved = True
        # Read when the epoch's workers start (DataLoader allows the change).
        loader.worker_init_fn = partial(
            seed_worker, seed=seed, epoch=epoch, rank=get_rank(),
            base_fn=self._base_fn)
        if getattr(loader, 'persistent_workers', False) and not self._warned:
            self._warned = True
            deterministic = (runner.cfg.get('randomness') or {}).get(
                'deterministic', False)
            print_log(
                'persistent_workers=True: data workers keep their random '
                'streams across epochs, so the augmentations of a resumed '
                'run differ from those of an uninterrupted one; use '
                'persistent_workers=False for bit-exact resumes',
                logger='current',
                level=logging.WARNING if deterministic else logging.INFO)
