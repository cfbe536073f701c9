# Copyright (c) hvpt_mm authors. All rights reserved.
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmpretrain.registry import HOOKS
from ..runner import accumulative_counts


@HOOKS.register_module()
class HVPTGradNormHook(Hook):
    """Schedule a model's per-signal gradient norms in optimizer steps.

    For models with a ``grad_norm_interval`` attribute and a
    ``schedule_grad_norms(scale)`` method (``HeuristicMultiTaskPretrainer``).
    Before each training iteration the hook tells the model whether to
    measure: on the last micro-batch of every ``grad_norm_interval``-th
    optimizer step, i.e. when ``(runner.iter + 1)`` is a multiple of
    ``grad_norm_interval * accumulative_counts``. The schedule follows the
    runner's iteration count, so it counts optimizer steps under gradient
    accumulation and is the same after ``--resume`` as in an uninterrupted
    run. With ``AmpOptimWrapper`` it also hands over the loss scaler's
    current scale, which the model's extra backward applies as the real
    backward does (fp16 gradients would otherwise underflow), dividing the
    norms by it. A model with ``grad_norm_interval = 0`` is left alone.
    """

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        """Schedule (or not) the measurement of this iteration."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        interval = getattr(model, 'grad_norm_interval', 0)
        if not interval:
            return
        optim_wrapper = runner.optim_wrapper
        counts = accumulative_counts(optim_wrapper)
        if (runner.iter + 1) % (interval * counts) != 0:
            model.schedule_grad_norms(None)
            return
        scaler = getattr(optim_wrapper, 'loss_scaler', None)
        scale = 1. if scaler is None else float(scaler.get_scale())
        model.schedule_grad_norms(scale)
