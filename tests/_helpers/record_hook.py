# Copyright (c) hvpt_mm authors. All rights reserved.
"""Test-only hook, imported into runs through ``custom_imports``."""
import json
import os.path as osp

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
