# Copyright (c) hvpt_mm authors. All rights reserved.
import logging
import random
from typing import Callable, List, Optional

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop
from torch.utils.data import get_worker_info

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


class HVPTWorkerReseed:
    """``worker_init_fn`` that reseeds a data worker at each epoch's start.

    In the worker it wraps the worker's copy of the dataset: the first batch
    the worker loads after the epoch changed (read from ``epoch``, a tensor
    in shared memory that :class:`HVPTEpochSeedHook` sets before the epoch's
    indices go out) reseeds ``random``, ``numpy`` and ``torch`` from
    ``(seed, epoch, rank, worker id)``. Persistent workers, which
    ``worker_init_fn`` reaches only once, are reseeded every epoch too; with
    non-persistent ones the epoch's new workers are reseeded before their
    first batch. The wrapper is the batched fetch that torch's ``DataLoader``
    calls when a dataset has one (``__getitems__``); a dataset's own is
    called from it.

    Args:
        seed (int): The run's seed.
        rank (int): The process's rank.
        epoch (torch.Tensor): Shared 0-d tensor holding the current epoch.
        base_fn (callable, optional): The loader's previous
            ``worker_init_fn`` (mmengine's also silences warnings of
            workers), called first. Defaults to None.
    """

    def __init__(self,
                 seed: int,
                 rank: int,
                 epoch: torch.Tensor,
                 base_fn: Optional[Callable[[int], None]] = None) -> None:
        self.seed = seed
        self.rank = rank
        self.epoch = epoch
        self.base_fn = base_fn

    def __call__(self, worker_id: int) -> None:
        if self.base_fn is not None:
            self.base_fn(worker_id)
        dataset = get_worker_info().dataset
        fetch = getattr(dataset, '__getitems__', None)
        seen: List[Optional[int]] = [None]

        def reseed_then_fetch(indices: list) -> list:
            epoch = int(self.epoch)
            if epoch != seen[0]:
                seen[0] = epoch
                seed_all(derive_seed(self.seed, epoch, self.rank, worker_id))
            if fetch is not None:
                return fetch(indices)
            return [dataset[i] for i in indices]

        # DataLoader looks the batched fetch up on the object.
        dataset.__getitems__ = reseed_then_fetch


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
      loads gets the same random draws every epoch; persistent workers keep
      their streams across epochs, which a resumed run cannot reproduce.

    This hook reseeds the main process at the start of every epoch from
    ``(runner.seed, epoch)``, and every data worker, persistent or not, at
    the start of its share of the epoch from ``(seed, epoch, rank, worker
    id)`` (:class:`HVPTWorkerReseed`). The loader's ``generator`` is set to
    a generator of its own, so that starting the workers (which a resumed
    run does in an epoch where the uninterrupted one reuses them) draws
    nothing from the main process's streams. It needs no state in the
    checkpoint, so it also holds when resuming checkpoints written without
    it, and it survives validation or other code that draws random numbers
    between epochs. ``runner.seed`` already includes the rank when
    ``randomness.diff_rank_seed`` is set.

    Limits: resumes are exact from epoch checkpoints of epoch-based loops;
    an ``IterBasedTrainLoop`` is reseeded once, at its start (logged).
    Workers started before training (a loader iterated by other code first)
    are not reached; that is logged too.
    """

    priority = 'HIGHEST'

    def __init__(self) -> None:
        self._epoch: Optional[torch.Tensor] = None

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
        if self._epoch is None:
            self._install(loader, seed)
        # Before the loop asks for the epoch's first batches.
        self._epoch.fill_(epoch)
        loader.generator.manual_seed(derive_seed(seed, epoch, get_rank()))

    def _install(self, loader, seed: int) -> None:
        """Give the loader its worker reseeding (before workers start)."""
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        if getattr(loader, '_iterator', None) is not None:
            print_log(
                'HVPTEpochSeedHook: the persistent data workers started '
                'before training and are not reseeded per epoch',
                logger='current', level=logging.WARNING)
        loader.worker_init_fn = HVPTWorkerReseed(
            seed, get_rank(), self._epoch, base_fn=loader.worker_init_fn)
        if loader.generator is None:
            loader.generator = torch.Generator()
