# Copyright (c) hvpt_mm authors. All rights reserved.
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
from mmengine.registry import MODEL_WRAPPERS
from torch import nn


# Registered in mmengine's root registry so that configs of every scope
# (mmpretrain, mmdet, mmseg) reach it.
@MODEL_WRAPPERS.register_module()
class HVPTCPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for processes without a GPU (gloo).

    GPU configs use SyncBN (MoCo v3 projectors, UperNet heads), which only
    runs on GPU modules; here it becomes per-process BatchNorm. Any
    ``device_ids`` given is dropped: DDP takes None for CPU modules.

    Args:
        module (nn.Module): The model to wrap.
        **kwargs: Passed to :class:`MMDistributedDataParallel`.
    """

    def __init__(self, module: nn.Module, **kwargs) -> None:
        kwargs['device_ids'] = None
        super().__init__(module=revert_sync_batchnorm(module), **kwargs)
