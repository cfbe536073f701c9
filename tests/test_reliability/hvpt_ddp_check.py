# Copyright (c) hvpt_mm authors. All rights reserved.
"""One forward-backward of the tiny HVP model: one process vs. DDP.

The module is importable by the processes that ``torch.multiprocessing``
spawns (``tests/`` is on their ``sys.path``, inherited from the parent).
"""
import os
from typing import Dict, List, Tuple

import torch
import torch.distributed as dist

from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from _helpers.batches import set_max_iters
from _helpers.tiny import TINY_SIZE, tiny_model_cfg

LOSS_KEYS = ('loss_mim', 'loss_con', 'loss_mlc')
PER_RANK = 4
# Labelled images unevenly split: 3 on rank 0, 1 on rank 1.
LABELLED = [True, True, True, False, False, True, False, False]
# Which online views are masked (2 of 4 blocks each) in each case. 'equal':
# all, as SimMIM's mask generator does. 'unequal': views left clean
# (HVPTMixedSignals' mask probabilities), 1 masked view on rank 0 and 3 on
# rank 1, so the masked counts of the two processes differ.
MASKED = dict(equal=[True] * 8,
              unequal=[False, True, False, False, True, True, False, True])


def model_cfg() -> dict:
    """The tiny model with GroupNorm in the projector and predictor.

    The MoCo v3 projector / predictor use (Sync)BN, whose batch statistics
    couple the samples of a batch; on the CPU SyncBN becomes per-process BN
    (HVPTCPUDistributedDataParallel), so one process on 2B images and two on
    B each would differ by design. GroupNorm with one group normalises each
    sample alone, so the equivalence can be checked exactly. The MIM head is
    the configs' ``HVPTSimMIMHead``.
    """
    cfg = tiny_model_cfg()
    cfg['head']['type'] = 'HVPTSimMIMHead'
    norm = dict(type='GN', num_groups=1)
    cfg['con_neck']['norm_cfg'] = norm
    cfg['con_head']['predictor']['norm_cfg'] = norm
    return cfg


def double_batch(case: str = 'equal'
                 ) -> Tuple[List[torch.Tensor], List[DataSample]]:
    """A fixed batch of 2 x PER_RANK images, the same in every process.

    Args:
        case (str): Key of ``MASKED``: which online views are masked.
    """
    g = torch.Generator().manual_seed(1)
    n, blocks = 2 * PER_RANK, TINY_SIZE // 32
    views = [torch.randn(n, 3, TINY_SIZE, TINY_SIZE, generator=g)
             for _ in range(2)]
    samples = []
    for i in range(n):
        ds = DataSample()
        mask = torch.zeros(blocks * blocks)
        chosen = torch.randperm(blocks * blocks, generator=g)[:2]
        if MASKED[case][i]:
            mask[chosen] = 1
        # [2, 2] blocks of 32 px -> [16, 16] patches of 4 px.
        ds.set_mask(mask.view(blocks, blocks).repeat_interleave(8, 0)
                    .repeat_interleave(8, 1))
        score = torch.zeros(3)
        if LABELLED[i]:
            score[i % 3] = 1.
        ds.set_gt_score(score)
        ds.set_field(LABELLED[i], 'has_label')
        samples.append(ds)
    return views, samples


def build(state_path: str):
    set_max_iters(100)
    model = MODELS.build(model_cfg())
    model.load_state_dict(torch.load(state_path, weights_only=True))
    model.train()
    return model


def forward_backward(model, runner, views, samples) -> Dict:
    """Losses, contrastive logits / labels and gradients of one step.

    Args:
        model: The bare model (its heads are hooked, its grads read).
        runner: What to call: the model or its DDP wrapper.
    """
    seen = []
    handle = model.con_head.loss_module.register_forward_pre_hook(
        lambda module, args: seen.append((args[0].detach().clone(),
                                          args[1].clone())))
    out = runner(views, samples, mode='loss')
    handle.remove()
    sum(out[k] for k in LOSS_KEYS).backward()
    return dict(
        losses={k: out[k].detach() for k in LOSS_KEYS},
        logits=seen[0][0], labels=seen[0][1],
        grads={n: p.grad.clone() for n, p in model.named_parameters()
               if p.grad is not None})


def rank_main(rank: int, world_size: int, init_file: str, state_path: str,
              out_dir: str) -> None:
    """Entry point of each spawned process: one step per case of MASKED.

    Writes ``rank<rank>_<case>.pth`` in ``out_dir``.
    """
    torch.set_num_threads(1)
    import hvpt_mm  # noqa: F401  (registers the modules)
    from hvpt_mm.engine.model_wrappers import HVPTCPUDistributedDataParallel
    dist.init_process_group('gloo', init_method=f'file://{init_file}',
                            rank=rank, world_size=world_size)
    try:
        for case in MASKED:
            model = build(state_path)
            ddp = HVPTCPUDistributedDataParallel(module=model)
            views, samples = double_batch(case)
            part = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
            result = forward_backward(model, ddp, [v[part] for v in views],
                                      samples[part])
            torch.save(result,
                       os.path.join(out_dir, f'rank{rank}_{case}.pth'))
    finally:
        dist.destroy_process_group()
