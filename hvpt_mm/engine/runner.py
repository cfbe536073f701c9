# Copyright (c) hvpt_mm authors. All rights reserved.
"""mmengine's runner with the lr scaled by the batch one update really sees.

mmengine 0.10.7's ``Runner.scale_lr`` (``auto_scale_lr``) scales the lr by
``world_size * batch_size / base_batch_size``. With gradient accumulation
(``optim_wrapper.accumulative_counts = k``) one optimizer step averages
``k`` such batches, so the rule under-scales the lr by ``k``.
:class:`HVPTRunner` counts it. Configs select it with
``runner_type = 'HVPTRunner'``; it is registered in mmengine's root
registry, so mmpretrain's, mmdet's and mmseg's train scripts find it too.

Before the first step it also checks that the multi-label head, the data
pipeline and the dataset agree on the number of classes
(:func:`hvpt_mm.datasets.check_num_classes`).
"""
from typing import Dict, Optional, Union

from mmengine.optim import OptimWrapper, OptimWrapperDict, _ParamScheduler
from mmengine.registry import RUNNERS
from mmengine.runner import BaseLoop, Runner
from torch.utils.data import DataLoader

from hvpt_mm.datasets.class_count import check_num_classes


def accumulative_counts(optim_wrapper: Union[OptimWrapper, dict]) -> int:
    """Micro-batches one optimizer step averages (1 without accumulation).

    Args:
        optim_wrapper (OptimWrapper | dict): A built wrapper (or a
            :class:`OptimWrapperDict`, whose first wrapper counts) or its
            config.

    Returns:
        int: ``accumulative_counts``.
    """
    if isinstance(optim_wrapper, OptimWrapperDict):
        wrappers = list(optim_wrapper.values())
        return accumulative_counts(wrappers[0]) if wrappers else 1
    if isinstance(optim_wrapper, OptimWrapper):
        return int(optim_wrapper._accumulative_counts)
    return int((optim_wrapper or {}).get('accumulative_counts', 1))


def lr_scale_ratio(world_size: int, batch_size: int, accumulative: int,
                   base_batch_size: int) -> float:
    """The linear rule: images per optimizer step over the base batch.

    Args:
        world_size (int): Processes (GPUs).
        batch_size (int): Images per process and forward pass.
        accumulative (int): ``accumulative_counts`` of the optim wrapper.
        base_batch_size (int): The batch the config's lr is set for.

    Returns:
        float: The factor the lr is multiplied by.
    """
    return world_size * batch_size * accumulative / base_batch_size


def _schedulers_built(schedulers) -> bool:
    """Whether any parameter scheduler is an object rather than a config."""
    if isinstance(schedulers, dict):
        return 'type' not in schedulers and any(
            _schedulers_built(s) for s in schedulers.values())
    if isinstance(schedulers, (list, tuple)):
        return any(_schedulers_built(s) for s in schedulers)
    return isinstance(schedulers, _ParamScheduler)


@RUNNERS.register_module()
class HVPTRunner(Runner):
    """:class:`mmengine.runner.Runner` that scales the lr by the real batch.

    Differences from mmengine's runner:

    - :meth:`scale_lr` counts ``accumulative_counts``: the lr follows
      ``world_size * batch_size * accumulative_counts``, the images one
      optimizer step averages; the logged ``base_lr`` is scaled too;
    - :meth:`build_train_loop` checks, once the train dataset is built, that
      ``model.mlc_head.num_classes``, the ``num_classes`` of every
      ``HVPTMixedSignals`` of the train pipelines and the dataset's class
      list agree, and stops naming the numbers and where each comes from.
    """

    def scale_lr(self,
                 optim_wrapper: OptimWrapper,
                 auto_scale_lr: Optional[Dict] = None) -> None:
        """Scale the lr of every parameter group by the linear rule.

        Args:
            optim_wrapper (OptimWrapper): The built wrapper(s).
            auto_scale_lr (dict, optional): ``enable`` and
                ``base_batch_size``; nothing happens unless enabled.
        """
        if auto_scale_lr is None or not auto_scale_lr.get('enable', False):
            return
        if 'base_batch_size' not in auto_scale_lr:
            raise ValueError('auto_scale_lr needs base_batch_size, the batch '
                             'the lr of the config is set for')
        loader = self._train_dataloader
        batch = loader.batch_size if isinstance(
            loader, DataLoader) else loader['batch_size']
        accumulative = accumulative_counts(optim_wrapper)
        base = auto_scale_lr['base_batch_size']
        ratio = lr_scale_ratio(self.world_size, batch, accumulative, base)
        self.logger.info(
            f'auto_scale_lr: the lr is set for {base} images per update; '
            f'this run has {self.world_size} process(es) x {batch} images x '
            f'{accumulative} accumulated step(s) = '
            f'{self.world_size * batch * accumulative}: lr x {ratio:g}')
        if _schedulers_built(self.param_schedulers):
            raise RuntimeError('scale_lr must run before the parameter '
                               'schedulers are built (they store the lr)')
        wrappers = list(optim_wrapper.values()) if isinstance(
            optim_wrapper, OptimWrapperDict) else [optim_wrapper]
        for wrapper in wrappers:
            for group in wrapper.optimizer.param_groups:
                group['lr'] = group['lr'] * ratio
            # The lr logged as base_lr (scheduled alongside the groups);
            # mmengine leaves it unscaled.
            base = getattr(wrapper, 'base_param_settings', None)
            if base is not None and 'lr' in base:
                base['lr'] = base['lr'] * ratio

    def build_train_loop(self, loop: Union[BaseLoop, Dict]) -> BaseLoop:
        """Build the loop (and the train dataset), then check class counts.
        """
        loop = super().build_train_loop(loop)
        check_num_classes(self.model, loop.dataloader.dataset)
        return loop
