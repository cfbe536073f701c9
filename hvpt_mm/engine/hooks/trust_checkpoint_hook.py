# Copyright (c) hvpt_mm authors. All rights reserved.
import logging

from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class HVPTTrustCheckpointHook(Hook):
    """Deprecated, does nothing: kept so that older configs still build.

    Runner checkpoints now load with torch's safe loader wherever
    :mod:`hvpt_mm` is imported (see :mod:`hvpt_mm.utils.checkpoint`), so no
    file needs to be trusted. Remove the hook from ``custom_hooks``.
    """

    def before_run(self, runner) -> None:
        print_log(
            'HVPTTrustCheckpointHook is no longer needed and does nothing; '
            'remove it from custom_hooks',
            logger='current',
            level=logging.WARNING)
