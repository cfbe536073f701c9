# Copyright (c) hvpt_mm authors. All rights reserved.
"""Test-only hooks, imported into runs through ``custom_imports``."""
import json
import os.path as osp
import time

import torch
from mmengine.hooks import Hook

from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class RecordStartHook(Hook):
    """Write iter, epoch and a weight digest when training starts.

    ``before_train`` runs after the runner loaded or resumed a checkpoint.
    """

    def before_train(self, runner) -> None:
        model = runner.model.module if hasattr(runner.model, 'module') \
            else runner.model
        state = {k: v.detach().double().sum().item()
                 for k, v in model.state_dict().items()
                 if k.startswith('backbone.') and v.is_floating_point()}
        with open(osp.join(runner.work_dir, 'start_state.json'), 'w') as f:
            json.dump(dict(iter=runner.iter, epoch=runner.epoch,
                           world_size=runner.world_size, digest=state), f)


@HOOKS.register_module()
class RecordLossHook(Hook):
    """Append each iteration's outputs (losses, diagnostics) to a file."""

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        rec = {k: float(v) for k, v in (outputs or {}).items()
               if isinstance(v, torch.Tensor) and v.numel() == 1}
        rec['iter'] = runner.iter + 1  # the loop increments after the hooks
        with open(osp.join(runner.work_dir, f'losses_rank{runner.rank}.jsonl'),
                  'a') as f:
            f.write(json.dumps(rec) + '\n')


@HOOKS.register_module()
class PauseAtIterHook(Hook):
    """Stop making progress after iteration ``at`` so a test can kill us.

    Writes ``paused_at_iter`` in the work dir, then waits (the test sends
    SIGKILL). Waiting instead of racing a running job makes the kill land
    at a known point: after ``at`` iterations, before the next one.

    Args:
        at (int): Iteration (from 1) after which to pause.
        timeout (float): Give up (raise) after this many seconds.
    """

    def __init__(self, at: int, timeout: float = 300.) -> None:
        self.at = at
        self.timeout = timeout

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if runner.iter + 1 != self.at:
            return
        with open(osp.join(runner.work_dir, 'paused_at_iter'), 'w') as f:
            f.write(str(self.at))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            time.sleep(0.05)
        raise RuntimeError(f'PauseAtIterHook: not killed within '
                           f'{self.timeout} s')


@HOOKS.register_module()
class InjectNonFiniteHook(Hook):
    """Make one loss term non-finite at given iterations (and ranks).

    The term is multiplied by ``value`` inside the forward pass, keeping its
    graph, so its gradients become non-finite too, as a real overflow would.

    Args:
        signal (str): Loss key, e.g. ``'loss_con'``.
        iters (list[int]): Iterations (from 1) to poison.
        value (str): ``'nan'`` or ``'inf'``.
        ranks (list[int], optional): Ranks to poison; all when None.
    """

    priority = 'VERY_HIGH'

    def __init__(self, signal: str, iters, value: str = 'nan',
                 ranks=None) -> None:
        self.signal = signal
        self.iters = set(iters)
        self.value = float(value)
        self.ranks = None if ranks is None else set(ranks)
        self._iter = 0

    def before_train(self, runner) -> None:
        model = runner.model.module if hasattr(runner.model, 'module') \
            else runner.model
        rank = runner.rank

        def poison(module, args, kwargs, output):
            if kwargs.get('mode') != 'loss' or self._iter not in self.iters \
                    or (self.ranks is not None and rank not in self.ranks):
                return None
            output = dict(output)
            output[self.signal] = output[self.signal] * self.value
            return output

        # prepend: runs before the hook under test reads the losses.
        model.register_forward_hook(poison, with_kwargs=True, prepend=True)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._iter = runner.iter + 1


@HOOKS.register_module()
class RecordEndHook(Hook):
    """Write a digest of every parameter when training ends.

    Buffers are left out: BatchNorm running statistics are per process on
    the CPU (no SyncBN there).
    """

    def after_train(self, runner) -> None:
        model = runner.model.module if hasattr(runner.model, 'module') \
            else runner.model
        state = {k: v.detach().double().sum().item()
                 for k, v in model.named_parameters()}
        with open(osp.join(runner.work_dir,
                           f'end_state_rank{runner.rank}.json'), 'w') as f:
            json.dump(dict(iter=runner.iter, digest=state), f)


@HOOKS.register_module()
class RecordGPUStateHook(Hook):
    """Append the AMP and distribution state of a run to a file.

    One json line in ``gpu_state_rank<rank>.jsonl`` when training starts
    (after a resume), after each iteration (numbered from 1, as logged) and
    when it ends: optimizer and
    model wrapper types, the loss scaler's state (AMP), the number of
    ``SyncBatchNorm`` layers, the parameters' device and the non-finite
    steps skipped so far.
    """

    def _record(self, runner, event: str, it: int) -> None:
        model = runner.model.module if hasattr(runner.model, 'module') \
            else runner.model
        scaler = getattr(runner.optim_wrapper, 'loss_scaler', None)
        rec = dict(
            event=event, iter=it, world_size=runner.world_size,
            optim_wrapper=type(runner.optim_wrapper).__name__,
            model_wrapper=type(runner.model).__name__,
            loss_scaler=None if scaler is None else scaler.state_dict(),
            sync_bn=sum(isinstance(m, torch.nn.SyncBatchNorm)
                        for m in model.modules()),
            device=str(next(model.parameters()).device),
            nonfinite_skips=runner.message_hub.get_info('nonfinite_skips',
                                                        0))
        with open(osp.join(runner.work_dir,
                           f'gpu_state_rank{runner.rank}.jsonl'), 'a') as f:
            f.write(json.dumps(rec) + '\n')

    def before_train(self, runner) -> None:
        self._record(runner, 'before_train', runner.iter)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        # The loop increments the iteration after the hooks.
        self._record(runner, 'after_train_iter', runner.iter + 1)

    def after_train(self, runner) -> None:
        self._record(runner, 'after_train', runner.iter)
