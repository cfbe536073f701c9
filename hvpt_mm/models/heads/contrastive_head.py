# Copyright (c) hvpt_mm authors. All rights reserved.
from typing import Dict

import torch
import torch.nn.functional as F
from mmengine.dist import all_gather, get_rank

from mmpretrain.models.heads import MoCoV3Head
from mmpretrain.registry import MODELS


@MODELS.register_module()
class HVPTContrastiveHead(MoCoV3Head):
    """InfoNCE head between an online query and momentum keys.

    The predictor and the loss module are built as in mmpretrain's
    :class:`MoCoV3Head`; this head adds negatives gathered from every process
    and reports the contrastive top-1 accuracy.

    Args:
        predictor (dict): Config of the predictor applied to the query.
        loss (dict): Config of the loss on the logits. Defaults to
            ``dict(type='CrossEntropyLoss', loss_weight=2 * temperature)``
            when None, the MoCo v3 scaling.
        temperature (float): Softmax temperature of the logits.
            Defaults to 0.2.
    """

    def __init__(self,
                 predictor: dict,
                 loss: dict = None,
                 temperature: float = 0.2) -> None:
        if loss is None:
            loss = dict(type='CrossEntropyLoss', loss_weight=2 * temperature)
        super().__init__(
            predictor=predictor, loss=loss, temperature=temperature)

    def loss(self, query: torch.Tensor,
             key: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Compute InfoNCE with the keys of all processes as negatives.

        Args:
            query (Tensor): Online projections, ``[N, C]``.
            key (Tensor): Momentum projections of the other view, ``[N, C]``,
                without gradient.

        Returns:
            dict[str, Tensor]: ``loss`` and ``acc`` (top-1 of the positive
            among all keys, in percent).
        """
        pred = F.normalize(self.predictor([query])[0], dim=1)
        key = F.normalize(key, dim=1)
        # [N * world_size, C]: every process's keys serve as negatives.
        keys = torch.cat(all_gather(key), dim=0)
        logits = pred @ keys.t() / self.temperature  # [N, N * world_size]
        n = logits.size(0)
        labels = torch.arange(n, device=logits.device) + n * get_rank()
        loss = self.loss_module(logits, labels)
        with torch.no_grad():
            acc = (logits.argmax(dim=1) == labels).float().mean() * 100
        return dict(loss=loss, acc=acc)
