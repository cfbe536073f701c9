# Copyright (c) hvpt_mm authors. All rights reserved.
"""The GPU tier's marker, and what its tests share.

Import as ``test_gpu.hvpt_gpu_utils`` (``tests/`` is on the path). Every
module of the tier sets ``pytestmark = GPU``: its tests carry the ``gpu``
marker (``pytest -m gpu`` selects them, ``-m 'not gpu'`` leaves them out)
and skip on a machine without a CUDA GPU.
"""
import json
import os.path as osp
from typing import List

import pytest
import torch

HAS_CUDA = torch.cuda.is_available()
# The downstream builders of tests/test_transfer name a checkpoint; the GPU
# tier drops it (loading is tested there, on the CPU).
NO_CHECKPOINT = 'not-loaded.pth'
GPU = [
    pytest.mark.gpu,
    pytest.mark.skipif(not HAS_CUDA, reason='needs a CUDA GPU'),
]
# For bf16 cases: GPUs before Ampere have no bfloat16 (without a GPU the
# module's own skip says so).
NEEDS_BF16 = pytest.mark.skipif(
    HAS_CUDA and not torch.cuda.is_bf16_supported(),
    reason='the GPU has no bfloat16')


def random_init(model: torch.nn.Module) -> torch.nn.Module:
    """``init_weights`` without the pre-trained backbone, on the GPU."""
    model.backbone.init_cfg = None
    model.init_weights()
    return model.cuda()


def read_json(path: str):
    """A json file, or the records of a json-lines file."""
    with open(path) as f:
        if path.endswith('.jsonl'):
            return [json.loads(line) for line in f]
        return json.load(f)


def gpu_state(work_dir: str, rank: int = 0) -> List[dict]:
    """What ``RecordGPUStateHook`` wrote in a work dir, in order."""
    return read_json(osp.join(work_dir, f'gpu_state_rank{rank}.jsonl'))
