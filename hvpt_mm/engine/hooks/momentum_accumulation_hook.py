# Copyright (c) hvpt_mm authors. All rights reserved.
from typing import List

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import BaseAveragedModel, is_model_wrapper

from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class HVPTMomentumAccumulationHook(Hook):
    """Step momentum (EMA) encoders once per optimizer step.

    Models such as HVP, MoCo v3 or BYOL update their momentum encoder inside
    the forward pass, i.e. once per micro-batch. With
    ``optim_wrapper.accumulative_counts = N`` the online weights change only
    every N micro-batches, so the encoder would average the same weights N
    times per step and move N times faster than configured. This hook sets
    the ``interval`` of every :class:`~mmengine.model.BaseAveragedModel` in
    the model to N times its own: the average is taken on the first
    micro-batch after each optimizer step (the step counter is saved in the
    checkpoint, so resuming keeps the alignment), and the cosine momentum
    schedule still follows the iteration count. Without accumulation the
    hook changes nothing.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        """Scale the averaging interval by the accumulation count."""
        counts = getattr(runner.optim_wrapper, '_accumulative_counts', 1)
        if counts == 1:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        scaled: List[str] = []
        for name, m in model.named_modules():
            if isinstance(m, BaseAveragedModel):
                if not hasattr(m, '_hvpt_base_interval'):
                    m._hvpt_base_interval = m.interval
                m.interval = m._hvpt_base_interval * counts
                scaled.append(name)
        if scaled:
            print_log(
                f'gradient accumulation over {counts} micro-batches: '
                f'{", ".join(scaled)} averaged once per optimizer step',
                logger='current')
