# Copyright (c) hvpt_mm authors. All rights reserved.
import logging
from typing import List, Optional, Tuple

import torch
from mmengine.dist import all_gather, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict
from torch import nn

from mmpretrain.registry import HOOKS

POLICIES = ('raise', 'skip')


def _optim_wrappers(optim_wrapper) -> List:
    if isinstance(optim_wrapper, OptimWrapperDict):
        return list(optim_wrapper.optim_wrappers.values())
    return [optim_wrapper]


def _as_scalar(value) -> torch.Tensor:
    # The reduction mmengine's BaseModel.parse_losses applies.
    if isinstance(value, torch.Tensor):
        return value.detach().float().mean()
    return sum(v.detach().float().mean() for v in value)


@HOOKS.register_module()
class HVPTNonFiniteLossHook(Hook):
    """Stop on, or skip, training steps whose loss is NaN or infinite.

    Every training forward's loss terms (the keys containing ``loss``, e.g.
    ``loss_mim``, ``loss_con``, ``loss_mlc``) are checked before the
    backward pass. The terms of all processes are gathered first, so every
    rank takes the same decision: a rank stopping alone would leave the
    others waiting in the next collective, and one skipping alone would let
    the others step with the NaN gradients DDP averages into everyone's.

    - ``policy='raise'``: a ``FloatingPointError`` names the iteration and
      epoch (as logged, from 1), each non-finite term, its value and rank.
      It is raised before the backward pass: no optimizer step used it.
    - ``policy='skip'``: the step is dropped: the backward pass still runs
      (DDP expects it on every rank), then the gradients are discarded
      before the optimizer sees them, so parameters and optimizer state
      (AdamW moments, step counts) stay as they were. Under
      ``AmpOptimWrapper`` the gradient scaler already skips steps with
      non-finite gradients and lowers its scale. Skips are warned about and
      counted: ``nonfinite_skips`` is a log scalar (every iteration) and is
      kept in the checkpoint's message hub across resumes. With gradient
      accumulation, the whole accumulated step is dropped.

    Why a hook, not a ``train_step`` override in the model or an optimizer
    wrapper: under DDP, mmengine's ``MMDistributedDataParallel.train_step``
    (and our CPU subclass) runs its own step and never calls the model's
    ``train_step``; an optimizer wrapper sees only the summed loss, not which
    term failed, and its type is chosen by the schedule configs and
    ``tools/train.py`` (``--amp``, the CPU fall-back). A hook reaches both
    ends whatever the wrapper: a forward hook on the model (inside DDP's
    forward, on every rank, before the backward) reads the loss terms, and
    an optimizer step pre-hook (a public ``torch.optim`` API) drops the
    gradients. It works for any mmengine model, downstream ones included.

    Not undone on a skipped step: the momentum encoder's EMA update, which
    runs inside the forward pass. The online weights it moves towards are
    the previous, finite ones, so this costs one extra EMA step and nothing
    else; undoing it would need a copy of the encoder at every step.

    Args:
        policy (str): ``'raise'`` or ``'skip'``. Defaults to 'raise'.
    """

    # Publishes its scalar before LoggerHook (BELOW_NORMAL) writes the log.
    priority = 'ABOVE_NORMAL'

    def __init__(self, policy: str = 'raise') -> None:
        if policy not in POLICIES:
            raise ValueError(
                f'policy must be one of {POLICIES}, got {policy!r}')
        self.policy = policy
        self.skips = 0
        self._pending = False
        self._where: Tuple[int, int] = (0, 0)
        self._handles: list = []

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        self._handles.append(
            model.register_forward_hook(self._check, with_kwargs=True))
        if self.policy == 'skip':
            for wrapper in _optim_wrappers(runner.optim_wrapper):
                self._handles.append(
                    wrapper.optimizer.register_step_pre_hook(
                        self._drop_gradients))
            self.skips = runner.message_hub.get_info('nonfinite_skips', 0)

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        self._where = (runner.iter + 1, runner.epoch + 1)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if self.policy != 'skip':
            return
        # The gradient scaler skips the optimizer itself (the pre-hook then
        # never runs); the skip is over once the wrapper has stepped.
        if self._pending and any(
                w.should_update()
                for w in _optim_wrappers(runner.optim_wrapper)):
            self._pending = False
        runner.message_hub.update_scalar('train/nonfinite_skips', self.skips)
        runner.message_hub.update_info('nonfinite_skips', self.skips)

    def after_train(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _check(self, module: nn.Module, args: tuple, kwargs: dict,
               output) -> None:
        mode = kwargs.get('mode', args[2] if len(args) > 2 else None)
        if mode != 'loss' or not module.training or \
                not isinstance(output, dict):
            return
        names = sorted(k for k in output if 'loss' in k)
        if not names:
            return
        values = torch.stack([_as_scalar(output[k]) for k in names])
        if get_world_size() > 1:
            values = torch.stack(all_gather(values))  # [world, terms]
        else:
            values = values[None]
        bad = ~torch.isfinite(values)
        if not bool(bad.any()):
            return
        values, bad = values.cpu(), bad.cpu()
        found = ', '.join(
            f'{names[j]}={values[r, j].item()} (rank {r})'
            for r, j in bad.nonzero().tolist())
        it, epoch = self._where
        where = f'non-finite loss at iteration {it} (epoch {epoch}): {found}'
        if self.policy == 'raise':
            raise FloatingPointError(
                f'{where}. No optimizer step was made with it. To skip such '
                "steps instead, set dict(type='HVPTNonFiniteLossHook', "
                "policy='skip') in custom_hooks.")
        self.skips += 1
        self._pending = True
        print_log(f'{where}; step skipped ({self.skips} so far)',
                  logger='current', level=logging.WARNING)

    def _drop_gradients(self, optimizer: torch.optim.Optimizer, args,
                        kwargs) -> None:
        if not self._pending:
            return
        # Optimizers skip parameters without a gradient: no update, no
        # change of their state.
        for group in optimizer.param_groups:
            for p in group['params']:
                p.grad = None
