# Copyright (c) hvpt_mm authors. All rights reserved.
"""Hand-made batches for model tests."""
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.logging import MessageHub

from mmpretrain.structures import DataSample
from _helpers.tiny import TINY_SIZE


def set_max_iters(n: int = 100) -> None:
    """CosineEMA reads the schedule length from the message hub."""
    MessageHub.get_current_instance().update_info('max_iters', n)


def make_batch(batch: int = 4, num_classes: int = 3,
               labelled: Optional[Sequence[bool]] = None,
               size: int = TINY_SIZE, seed: int = 0
               ) -> Tuple[List[torch.Tensor], List[DataSample]]:
    """Two normalised views and data samples with mask / labels."""
    g = torch.Generator().manual_seed(seed)
    views = [torch.randn(batch, 3, size, size, generator=g) for _ in range(2)]
    labelled = [True] * batch if labelled is None else list(labelled)
    samples = []
    for i in range(batch):
        ds = DataSample()
        ds.set_mask((torch.rand(size // 32, size // 32, generator=g) > 0.4)
                    .repeat_interleave(8, 0).repeat_interleave(8, 1))
        score = torch.zeros(num_classes)
        if labelled[i]:
            score[i % num_classes] = 1.
        ds.set_gt_score(score)
        ds.set_field(labelled[i], 'has_label')
        samples.append(ds)
    return views, samples
