# Copyright (c) hvpt_mm authors. All rights reserved.
import math
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.dist import all_reduce, get_world_size

from mmpretrain.evaluation.metrics import AveragePrecision
from mmpretrain.models.heads import MultiLabelLinearClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


@MODELS.register_module()
class HVPTMultiLabelHead(MultiLabelLinearClsHead):
    """Multi-label head that learns from labelled samples only.

    A mixed batch holds labelled and unlabelled images; each data sample
    carries a multi-hot ``gt_score`` and a boolean ``has_label``. The loss
    (BCE by default, or mmpretrain's ``AsymmetricLoss``) is averaged over the
    labelled samples of the whole distributed batch: the labelled count is
    summed over processes, so that DDP's gradient averaging gives the same
    result as one process holding every sample, however the labelled images
    fall on the ranks. A batch without any gives a zero loss that still keeps
    the head in the graph (needed by DDP).

    The BCE sums over classes, so with a zero bias it starts at
    ``K * ln 2`` (693 for 1,000 classes), far above the other signals' losses;
    under global-norm clipping that one term would set every early update.
    ``init_prior`` sets the bias to the logit of the expected share of
    positives per class (the RetinaNet prior initialisation), so the loss
    starts at the prior's entropy (about 8 for ImageNet-1k, 5.4 for the
    10-class demo scenes) and the early gradient teaches features rather
    than class frequencies.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Channels of the pooled feature.
        loss (dict): Config of the loss. Defaults to
            ``dict(type='CrossEntropyLoss', use_sigmoid=True)``.
        init_prior (float, optional): Expected probability of a class being
            present, in (0, 1): the initial sigmoid output of every class.
            None keeps a zero bias (0.5). Defaults to None.
        init_cfg (dict, optional): Initialisation of the linear layer.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 init_prior: Optional[float] = None,
                 **kwargs) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels,
                         **kwargs)
        if init_prior is not None and not 0 < init_prior < 1:
            raise ValueError(f'init_prior must be in (0, 1), got {init_prior}')
        self.init_prior = init_prior

    def init_weights(self) -> None:
        """Initialise the linear layer, then the bias to the class prior."""
        super().init_weights()
        if self.init_prior is not None:
            p = self.init_prior
            torch.nn.init.constant_(self.fc.bias, math.log(p / (1 - p)))

    def loss(self, feats: Tuple[torch.Tensor],
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """Loss over labelled samples, and the batch mAP as diagnostic.

        Args:
            feats (tuple[Tensor]): Pooled features, the last one ``[N, C]``.
            data_samples (list[DataSample]): With ``gt_score`` and
                ``has_label`` (a sample without ``has_label`` counts as
                labelled if it has ``gt_score`` or ``gt_label``).

        Returns:
            dict[str, Tensor]: ``loss``, ``map`` (percent; 0 without labels)
            and ``labelled`` (number of labelled samples).
        """
        cls_score = self(feats)  # [N, K]
        target, has_label = self._targets(data_samples, cls_score)
        n_lab = int(has_label.sum())
        # Labelled samples per process on average over the world.
        n_global = has_label.sum().float()
        if get_world_size() > 1:
            all_reduce(n_global, op='mean')
        if n_lab == 0:
            zero = cls_score.sum() * 0.
            return dict(loss=zero, map=zero.detach(),
                        labelled=zero.detach())
        score, target = cls_score[has_label], target[has_label]
        loss = self.loss_module(score, target, avg_factor=n_global.item())
        with torch.no_grad():
            # Classes absent from the batch have no AP; AveragePrecision
            # averages over the classes it can score.
            present = target.sum(0) > 0
            mean_ap = (
                AveragePrecision.calculate(
                    score[:, present].float(), target[:, present])
                if present.any() else score.new_zeros(()))
        return dict(
            loss=loss,
            map=torch.as_tensor(mean_ap, dtype=torch.float32),
            labelled=cls_score.new_tensor(float(n_lab)))

    def _targets(self, data_samples: List[DataSample],
                 cls_score: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Stack multi-hot targets ``[N, K]`` and the labelled flag ``[N]``."""
        num_classes = cls_score.size(1)
        targets, flags = [], []
        for ds in data_samples:
            if 'gt_score' in ds:
                t = ds.gt_score.float()
            elif 'gt_label' in ds:
                t = cls_score.new_zeros(num_classes)
                t[ds.gt_label] = 1.
            else:
                t = cls_score.new_zeros(num_classes)
            if t.numel() != num_classes:
                raise ValueError(
                    f'{ds.get("img_path", "a sample")}: gt_score has '
                    f'{t.numel()} classes, the head has {num_classes}')
            has = ds.get('has_label', None)
            if has is None:
                has = 'gt_score' in ds or 'gt_label' in ds
            targets.append(t.to(cls_score.device))
            flags.append(bool(has))
        return (torch.stack(targets),
                torch.tensor(flags, device=cls_score.device))
