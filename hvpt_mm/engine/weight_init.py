# Copyright (c) hvpt_mm authors. All rights reserved.
"""``Pretrained`` weight init that names a missing backbone and its cure."""
from mmengine.model.weight_init import PretrainedInit
from mmengine.registry import WEIGHT_INITIALIZERS
from torch import nn

from hvpt_mm.utils.backbone import backbone_problem


# Registered as 'Pretrained' in mmengine's root registry, replacing
# mmengine's class: configs of every scope (mmpretrain, mmdet, mmseg) then
# build it, and BaseModule still applies it after the children's own inits,
# an order it keeps for the type name 'Pretrained' only (a new name would
# let Swin's attention re-draw the loaded relative-position tables).
@WEIGHT_INITIALIZERS.register_module(name='Pretrained', force=True)
class HVPTPretrainedInit(PretrainedInit):
    """mmengine's ``PretrainedInit``, stopping on an unnamed or missing file.

    mmengine's own fails on a missing local checkpoint with a bare
    ``FileNotFoundError`` (or a ``TypeError`` for ``checkpoint=None``).
    This one names the file and how to make it: the pre-training and the
    backbone extraction, or ``tools/transfer.py``. URLs are left to
    mmengine. Every process that imports ``hvpt_mm`` (each config of this
    project does) uses it, so mmdet's and mmseg's train scripts stop with
    the message too.

    Args:
        checkpoint (str, optional): The checkpoint to load.
        prefix (str, optional): Load only the keys under this prefix,
            stripped. Defaults to None.
        map_location (str): Defaults to ``'cpu'``.
    """

    def __call__(self, module: nn.Module) -> None:
        problem = backbone_problem(self.checkpoint)
        if problem is not None:
            raise FileNotFoundError(problem)
        super().__call__(module)
