# Copyright (c) hvpt_mm authors. All rights reserved.
"""SyncBN's synchronised path in a one-process nccl group.

``nn.SyncBatchNorm`` synchronises only when the group has more than one
process, which one GPU cannot host with nccl. Its autograd function is
called here directly with the world size of the group, so the CUDA kernels
of the synchronised path (statistics gathered over nccl, the reduced
backward) run, and must agree with plain batch norm.

Run by tests/test_gpu/test_gpu_syncbn.py in its own process, so that the
process group does not outlive it; prints one json line.
"""
import json
import os
from typing import Dict, List

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.modules._functions import SyncBatchNorm as SyncBNFunction

CHANNELS = 16
FIELDS = ('output', 'running_mean', 'running_var', 'grad_input',
          'grad_weight', 'grad_bias')


def batch_norm(sync: bool, x: torch.Tensor, weight: torch.Tensor,
               bias: torch.Tensor) -> List[torch.Tensor]:
    """One training-mode forward and backward; outputs in FIELDS order."""
    x, weight, bias = (t.clone().requires_grad_() for t in (x, weight, bias))
    mean = torch.zeros(CHANNELS, device=x.device)
    var = torch.ones(CHANNELS, device=x.device)
    if sync:
        y = SyncBNFunction.apply(x, weight, bias, mean, var, 1e-5, 0.1,
                                 dist.group.WORLD, dist.get_world_size())
    else:
        y = F.batch_norm(x, mean, var, weight, bias, training=True,
                         momentum=0.1, eps=1e-5)
    # A loss that weighs every output differently.
    ramp = torch.arange(y.numel(), device=y.device).view_as(y).sin()
    (y * ramp).sum().backward()
    return [y.detach(), mean, var, x.grad, weight.grad, bias.grad]


def main() -> Dict[str, object]:
    torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
    dist.init_process_group('nccl', rank=0, world_size=1)
    g = torch.Generator(device='cuda').manual_seed(0)
    x = torch.randn(8, CHANNELS, 6, 6, device='cuda', generator=g) * 3 + 1
    weight = torch.rand(CHANNELS, device='cuda', generator=g) + .5
    bias = torch.randn(CHANNELS, device='cuda', generator=g)
    sync = batch_norm(True, x, weight, bias)
    plain = batch_norm(False, x, weight, bias)
    record = dict(
        backend=dist.get_backend(), world_size=dist.get_world_size(),
        max_abs_diff={k: (a - b).abs().max().item()
                      for k, a, b in zip(FIELDS, sync, plain)},
        finite=all(bool(torch.isfinite(t).all()) for t in sync))
    dist.destroy_process_group()
    return record


if __name__ == '__main__':
    os.environ.setdefault('MASTER_ADDR', '127.0.0.1')
    print(json.dumps(main()))
