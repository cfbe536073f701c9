# Copyright (c) hvpt_mm authors. All rights reserved.
from mmengine.hooks import Hook

from mmpretrain.registry import HOOKS
from hvpt_mm.utils.checkpoint import checkpoints_named_in, trust_checkpoint


@HOOKS.register_module()
class HVPTTrustCheckpointHook(Hook):
    """Let the runner load the checkpoints its config names on torch >= 2.6.

    The runner calls ``before_run`` before it initialises weights and loads
    or resumes, so the files named by ``load_from``, ``resume`` (the latest
    checkpoint of the work dir) and ``Pretrained`` init configs are trusted
    in time; see :mod:`hvpt_mm.utils.checkpoint`. Other files are untouched.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        for path in checkpoints_named_in(runner.cfg, runner.work_dir):
            trust_checkpoint(path)
