# Copyright (c) hvpt_mm authors. All rights reserved.
import torch
from mmengine.dist import all_reduce, get_world_size

from mmpretrain.models.heads import SimMIMHead
from mmpretrain.registry import MODELS


@MODELS.register_module()
class HVPTSimMIMHead(SimMIMHead):
    """SimMIM masked-pixel loss averaged over the masked pixels of all
    processes.

    mmpretrain's :class:`SimMIMHead` divides by the masked count of the local
    batch, which makes DDP's gradient average equal to one process holding
    every image only when each process masks as many pixels. With views left
    unmasked at random (``HVPTMixedSignals(labelled_mask_prob=...)``) the
    counts differ between processes. This head divides the local sum of the
    per-pixel penalty by the masked count averaged over processes (the same
    as :class:`HVPTMultiLabelHead` does with its labelled count), so that the
    mean of the processes' gradients is the gradient of one process on the
    whole batch. Without any masked pixel in the distributed batch the loss
    is 0 and keeps the decoder in the graph (needed by DDP).

    The count is all-reduced in every call, also on a process without a
    masked view, so every process joins the collective.

    Args:
        patch_size (int): Side of the mask's cells in pixels.
        loss (dict): Config of the pixel loss, e.g.
            ``dict(type='PixelReconstructionLoss', criterion='L1',
            channel=3)``: its ``penalty`` (per-pixel L1 or L2) and
            ``channel`` (the sum over channels is divided by it) are used.
    """

    def __init__(self, patch_size: int, loss: dict) -> None:
        super().__init__(patch_size=patch_size, loss=loss)
        if not hasattr(self.loss_module, 'penalty'):
            raise TypeError(
                f'HVPTSimMIMHead needs a loss with a per-pixel `penalty` '
                f'(PixelReconstructionLoss), got {loss.get("type")}')

    def loss(self, pred: torch.Tensor, target: torch.Tensor,
             mask: torch.Tensor) -> torch.Tensor:
        """Masked-pixel loss normalised by the distributed masked count.

        Args:
            pred (Tensor): Reconstructed images, ``[B, C, H, W]``.
            target (Tensor): Input images, ``[B, C, H, W]``.
            mask (Tensor): 1 where a cell is masked, ``[B, h, w]`` with
                ``H = h * patch_size``.

        Returns:
            Tensor: The loss, a scalar.
        """
        p = self.patch_size
        # [B, h, w] -> [B, 1, H, W]
        pixel_mask = mask.to(pred.dtype).repeat_interleave(
            p, 1).repeat_interleave(p, 2).unsqueeze(1)
        penalty = self.loss_module.penalty(pred, target)  # [B, C, H, W]
        masked_sum = (penalty * pixel_mask).sum()
        # Masked pixels per process on average over the world; counted on
        # the cell grid, exact in float32 up to 2**24 cells.
        count = mask.detach().float().sum() * (p * p)
        if get_world_size() > 1:
            all_reduce(count, op='mean')
        # The clamp only guards 0 / 0 (nothing masked anywhere), where the
        # sum is 0 too; otherwise count >= p * p / world_size.
        return masked_sum / count.clamp_min(1e-6) / self.loss_module.channel
