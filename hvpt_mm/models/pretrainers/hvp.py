# Copyright (c) hvpt_mm authors. All rights reserved.
"""Heuristic Vision Pre-Training, https://arxiv.org/abs/2310.07510."""
import logging
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks.drop import DropPath
from mmengine.logging import MessageHub, print_log
from torch import nn

from mmpretrain.models.necks import GlobalAveragePooling
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.models.utils import CosineEMA
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

SIGNALS = ('mim', 'con', 'mlc')


def _without_noise(module: nn.Module) -> nn.Module:
    """Switch off stochastic depth and dropout in ``module`` (in place).

    The momentum encoder is a deep copy of the online backbone, drop path
    included; a teacher that drops blocks at random gives noisy keys (MoCo v3,
    DINO and iBOT run theirs without).
    """
    for m in module.modules():
        if isinstance(m, DropPath):
            m.drop_prob = 0.
        elif isinstance(m, nn.Dropout):
            m.p = 0.
    return module


class _KeyEncoder(nn.Module):
    """Backbone -> pool -> projector, the part the momentum encoder copies.

    Built around the online modules (no copies) so that parameter names match
    between the online side and its EMA in :class:`CosineEMA`.
    """

    def __init__(self, backbone: nn.Module, projector: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = projector
        self.pool = GlobalAveragePooling()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(x, None)  # ([B, C, h, w], )
        return self.projector(self.pool(feats))[0]  # [B, D]


@MODELS.register_module()
class HeuristicMultiTaskPretrainer(BaseSelfSupervisor):
    """Masked image modeling, contrastive and multi-label learning at once.

    One forward pass with gradient of the masked online view through the
    backbone serves all three signals:

    - ``loss_mim``: SimMIM masked-pixel regression (``neck`` + ``head``);
    - ``loss_con``: InfoNCE between the online query (``con_neck`` projector
      + ``con_head`` predictor on pooled features) and a momentum encoder's
      key of the target view, negatives gathered across processes;
    - ``loss_mlc``: multi-label loss (``mlc_head``) over labelled samples.

    Each loss is multiplied by its entry in ``loss_weights``. A weight of 0
    removes the branch: its modules are not built, no momentum encoder
    exists when ``con`` is off, and without ``mim`` the online view is not
    masked.

    Args:
        backbone (dict): A backbone taking ``(x, mask)``, e.g.
            ``SimMIMSwinTransformer``.
        neck (dict, optional): MIM decoder, e.g. ``SimMIMLinearDecoder``.
        head (dict, optional): MIM head owning the reconstruction loss, e.g.
            ``HVPTSimMIMHead`` (normalised by the masked count of all
            processes).
        con_neck (dict, optional): Projector applied to pooled features,
            e.g. ``NonLinearNeck``.
        con_head (dict, optional): ``HVPTContrastiveHead``.
        mlc_head (dict, optional): ``HVPTMultiLabelHead``.
        loss_weights (dict): Weight per signal, keys from ``mim``, ``con``,
            ``mlc``; missing keys default to 1. Defaults to None.
        base_momentum (float): Start value of the EMA update rate; it decays
            to 0 on a cosine schedule over training, i.e. the momentum goes
            from ``1 - base_momentum`` to 1. Defaults to 0.01.
        grad_norm_interval (int): Every this many optimizer steps, log the
            norm of each weighted signal's gradient on the backbone's last
            stage as ``grad_norm_mim``, ``grad_norm_con``, ``grad_norm_mlc``
            (one extra backward from each loss to that stage, on the last
            micro-batch of the step). Under mmengine's runner
            ``HVPTGradNormHook`` schedules it from the iteration count, so
            gradient accumulation and resuming keep the schedule, and hands
            over the AMP loss scale, which the extra backward uses as the
            real one does (no fp16 underflow); without that hook nothing is
            logged and a warning says so. A loop of its own that calls
            ``loss()`` once per optimizer step in full precision gets the
            norms every this many calls. The last stage then runs without
            activation checkpointing (``with_cp``), which would hide its
            parameters from the extra backward. 0 switches the diagnostic
            off. Defaults to 0.
        pool_visible (bool): Pool the last stage for ``con`` and ``mlc``
            weighting each token by the visible share of its area, so that
            the image-level heads read the unmasked part of the online view
            (exact when mask blocks align with last-stage tokens, e.g.
            32-px blocks with a stride-32 last stage). False pools all
            tokens, mask tokens included. Defaults to False.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 con_neck: Optional[dict] = None,
                 con_head: Optional[dict] = None,
                 mlc_head: Optional[dict] = None,
                 loss_weights: Optional[Dict[str, float]] = None,
                 base_momentum: float = 0.01,
                 grad_norm_interval: int = 0,
                 pool_visible: bool = False,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        weights = dict.fromkeys(SIGNALS, 1.)
        unknown = set(loss_weights or {}) - set(SIGNALS)
        if unknown:
            raise ValueError(f'loss_weights has unknown signals {unknown}; '
                             f'expected keys from {SIGNALS}')
        weights.update(loss_weights or {})
        self.loss_weights = {k: float(v) for k, v in weights.items()}
        required = dict(mim=dict(neck=neck, head=head),
                        con=dict(con_neck=con_neck, con_head=con_head),
                        mlc=dict(mlc_head=mlc_head))
        for signal, modules in required.items():
            missing = [k for k, v in modules.items() if v is None]
            if self.loss_weights[signal] and missing:
                raise ValueError(
                    f'signal "{signal}" has weight '
                    f'{self.loss_weights[signal]} but no {missing}; set them '
                    f'or set loss_weights["{signal}"]=0')
        if not any(self.loss_weights.values()):
            raise ValueError('all loss_weights are 0: nothing to train')

        super().__init__(
            backbone=backbone,
            neck=neck if self.with_mim else None,
            head=head if self.with_mim else None,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if not self.with_mim and hasattr(self.backbone, 'mask_token'):
            # Unused without masking; DDP rejects parameters without grad.
            self.backbone.mask_token.requires_grad_(False)
        self.pool = GlobalAveragePooling()
        if self.with_con:
            self.con_neck = MODELS.build(con_neck)
            self.con_head = MODELS.build(con_head)
            self.momentum_encoder = CosineEMA(
                _KeyEncoder(self.backbone, self.con_neck),
                momentum=base_momentum)
            _without_noise(self.momentum_encoder.module)
        if self.with_mlc:
            self.mlc_head = MODELS.build(mlc_head)
        if grad_norm_interval < 0:
            raise ValueError('grad_norm_interval must be >= 0, got '
                             f'{grad_norm_interval}')
        self.grad_norm_interval = grad_norm_interval
        self.pool_visible = pool_visible
        # Set by schedule_grad_norms (HVPTGradNormHook) before an iteration.
        self._grad_norm_scale: Optional[float] = None
        self._grad_norm_hooked = False
        self._grad_norm_calls = 0  # training forwards, without the hook
        self._grad_norm_warned = False
        if grad_norm_interval:
            self._last_stage_without_checkpointing()

    def _last_stage_without_checkpointing(self) -> None:
        """Run the last stage's blocks without activation checkpointing.

        The reentrant ``torch.utils.checkpoint`` of mmpretrain's Swin blocks
        supports ``backward()`` only: ``autograd.grad`` does not reach the
        parameters inside, so the diagnostic would read 0. Swin blocks read
        ``with_cp`` at every forward; the last stage holds the fewest
        activations of the backbone.
        """
        blocks = [m for m in self.backbone.stages[-1].modules()
                  if getattr(m, 'with_cp', False)]
        for m in blocks:
            m.with_cp = False
        if blocks:
            print_log(
                f'grad_norm_interval={self.grad_norm_interval}: the last '
                f'backbone stage ({len(blocks)} blocks) runs without '
                'activation checkpointing (with_cp) so that its gradient '
                'norms can be measured', logger='current')

    @property
    def with_mim(self) -> bool:
        return self.loss_weights['mim'] != 0

    @property
    def with_con(self) -> bool:
        return self.loss_weights['con'] != 0

    @property
    def with_mlc(self) -> bool:
        return self.loss_weights['mlc'] != 0

    def extract_feat(self, inputs: torch.Tensor) -> Tuple[torch.Tensor]:
        """Backbone features of unmasked images."""
        return self.backbone(inputs, None)

    def loss(self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]],
             data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """One training step's losses and diagnostics.

        Args:
            inputs (Tensor | list[Tensor]): ``[online, target]`` views,
                ``[B, 3, H, W]`` each; the target view is needed only by
                ``con``.
            data_samples (list[DataSample]): With ``mask`` (for ``mim``),
                ``gt_score`` and ``has_label`` (for ``mlc``).

        Returns:
            dict[str, Tensor]: ``loss_mim``, ``loss_con``, ``loss_mlc`` for
            the active signals, plus ``con_acc``, ``mlc_map`` and
            ``mlc_labelled`` diagnostics.
        """
        views = [inputs] if isinstance(inputs, torch.Tensor) else inputs
        online = views[0]
        key = None
        if self.with_con:
            if len(views) < 2:
                raise ValueError(
                    'the contrastive signal needs two views per image '
                    '(online, target); use HVPTMixedSignals with '
                    'with_target_view=True')
            # Keys before the online pass: the momentum forward's
            # temporaries are gone before the online activations exist, so
            # they do not add to the step's peak memory.
            key = self.forward_key(views[1])  # [B, D]
        mask = None
        if self.with_mim:
            mask = torch.stack([ds.mask for ds in data_samples])  # [B, h, w]
        feats = self.backbone(online, mask)  # ([B, C, h', w'], )

        losses: Dict[str, torch.Tensor] = {}
        if self.with_mim:
            losses.update(self.forward_mim(feats, online, mask))
        if self.with_con or self.with_mlc:
            pooled = self.pool_image(feats, mask)  # ([B, C], )
            if self.with_con:
                losses.update(self.forward_con(pooled, key))
            if self.with_mlc:
                losses.update(self.forward_mlc(pooled, data_samples))
        if (self.grad_norm_interval and self.training
                and torch.is_grad_enabled()):
            scale = self._grad_norm_due()
            if scale is not None:
                losses.update(self.signal_grad_norms(losses, scale))
        return losses

    def schedule_grad_norms(self, scale: Optional[float]) -> None:
        """Measure the gradient norms in the next training forward or not.

        Called before every training iteration by ``HVPTGradNormHook``.

        Args:
            scale (float, optional): The loss scale of the iteration's
                backward (AMP), 1 without; None: no measurement.
        """
        self._grad_norm_hooked = True
        self._grad_norm_scale = scale

    def _grad_norm_due(self) -> Optional[float]:
        """The loss scale if this forward measures the norms, else None."""
        scale, self._grad_norm_scale = self._grad_norm_scale, None
        if self._grad_norm_hooked:
            return scale
        # mmengine's runner sets the iteration in the message hub; without
        # the hook it would count micro-batches from 0 after a resume and
        # ignore the loss scale: log nothing rather than wrong numbers.
        if MessageHub.get_current_instance().get_info('iter') is not None:
            if not self._grad_norm_warned:
                print_log(
                    f'grad_norm_interval={self.grad_norm_interval} but no '
                    'HVPTGradNormHook schedules it: no grad_norm_* is '
                    'logged; add dict(type="HVPTGradNormHook") to '
                    'custom_hooks', logger='current', level=logging.WARNING)
                self._grad_norm_warned = True
            return None
        self._grad_norm_calls += 1
        return 1. if self._grad_norm_calls % self.grad_norm_interval == 0 \
            else None

    def signal_grad_norms(self, losses: Dict[str, torch.Tensor],
                          scale: float = 1.) -> Dict[str, torch.Tensor]:
        """Norm of each weighted loss's gradient on the last backbone stage.

        The signals share the backbone; their gradient norms on its last
        stage show which one drives the shared update (and which one a
        global-norm clip would shrink). Computed with ``autograd.grad``,
        which leaves ``.grad`` untouched (and fires no DDP hook).

        Args:
            losses (dict[str, Tensor]): The weighted losses.
            scale (float): The loss is multiplied by it before the backward
                and the norms divided by it, as AMP's loss scaling does.
                Defaults to 1.
        """
        params = [p for p in self.backbone.stages[-1].parameters()
                  if p.requires_grad]
        norms = {}
        for signal in SIGNALS:
            loss = losses.get(f'loss_{signal}')
            if loss is None or not loss.requires_grad:
                continue
            grads = [g for g in torch.autograd.grad(
                loss * scale, params, retain_graph=True, allow_unused=True)
                     if g is not None]
            if not grads:
                raise RuntimeError(
                    f'grad_norm_{signal}: no gradient reaches the last '
                    'backbone stage; is it run under activation '
                    'checkpointing (with_cp)?')
            norms[f'grad_norm_{signal}'] = torch.linalg.vector_norm(
                torch.stack([torch.linalg.vector_norm(g.detach().float())
                             for g in grads])) / scale
        return norms

    def pool_image(self, feats: Tuple[torch.Tensor],
                   mask: Optional[torch.Tensor]) -> Tuple[torch.Tensor]:
        """Global pooling of the last stage for the image-level heads."""
        if not self.pool_visible or mask is None:
            return self.pool(feats)
        feat = feats[-1]  # [B, C, h, w]
        # Visible share of each last-stage token's area: [B, 1, h, w].
        visible = 1 - F.adaptive_avg_pool2d(
            mask[:, None].to(feat.dtype), feat.shape[-2:])
        total = visible.sum((2, 3), keepdim=True)
        # An image hidden everywhere falls back to the plain mean.
        uniform = torch.full_like(visible, 1 / visible[0, 0].numel())
        weights = torch.where(total > 0, visible / total.clamp_min(1e-6),
                              uniform)
        return ((feat * weights).sum((2, 3)), )

    def forward_mim(self, feats: Tuple[torch.Tensor], online: torch.Tensor,
                    mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Masked-pixel regression of the online view."""
        rec = self.neck(feats[-1])  # [B, 3, H, W]
        # The head normalises by the masked count of all processes (0 when
        # nothing is masked) and must run on every process every step.
        loss = self.head.loss(rec, online, mask)
        return dict(loss_mim=loss * self.loss_weights['mim'])

    def forward_key(self, target: torch.Tensor) -> torch.Tensor:
        """EMA update, then momentum keys of the target view, no gradient.

        The online weights do not change within a step, so updating the EMA
        before the online forward averages the same values. (The
        projector's BatchNorm buffers, copied unchanged by the update, are
        the online ones from before this step's query; the momentum encoder
        normalises with batch statistics in training, so they do not reach
        the keys.)
        """
        with torch.no_grad():
            self.momentum_encoder.update_parameters(
                _KeyEncoder(self.backbone, self.con_neck))
        # inference_mode skips autograd bookkeeping; clone() turns the
        # [B, D] keys into a normal tensor that autograd may save.
        with torch.inference_mode():
            key = self.momentum_encoder(target)
        return key.clone()

    def forward_con(self, pooled: Tuple[torch.Tensor],
                    key: torch.Tensor) -> Dict[str, torch.Tensor]:
        """InfoNCE of the online query against the momentum keys."""
        query = self.con_neck(pooled)[0]  # [B, D]
        out = self.con_head.loss(query, key)
        return dict(loss_con=out['loss'] * self.loss_weights['con'],
                    con_acc=out['acc'])

    def forward_mlc(self, pooled: Tuple[torch.Tensor],
                    data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """Multi-label loss over the labelled samples of the batch."""
        out = self.mlc_head.loss(pooled, data_samples)
        return dict(loss_mlc=out['loss'] * self.loss_weights['mlc'],
                    mlc_map=out['map'], mlc_labelled=out['labelled'])
