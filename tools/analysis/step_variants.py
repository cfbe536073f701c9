# Copyright (c) hvpt_mm authors. All rights reserved.
"""The variants that ``benchmark_step.py`` compares, and their step.

HVP, mmpretrain's SimMIM and a MoCo v3-style model built from one HVP
model config, their shared batch, and :class:`Trainer`, whose
:meth:`Trainer.step` is the training step that is measured. A variant is
one or more trainers: ``naive_sum`` steps a SimMIM and a MoCo v3-style
model back to back.
"""
import argparse
import copy
import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.config import Config
from torch import nn

VARIANTS = ('hvp', 'simmim', 'mocov3', 'naive_sum')
TITLES = dict(
    hvp='HVP: mim + con + mlc, one pass',
    simmim='SimMIM (mmpretrain)',
    mocov3='MoCo v3-style, 2 views',
    naive_sum='naive sum: SimMIM + MoCo v3')
DTYPES = dict(fp32=None, bf16=torch.bfloat16, fp16=torch.float16)


# ----------------------------------------------------------------- models
def parse_arch(text: str) -> Union[str, dict]:
    """``tiny`` / ``small`` / ``base`` / ``large``, or ``key=v,...``.

    A custom arch such as ``embed_dims=32,depths=1,1,1,1`` takes
    ``embed_dims``, ``depths`` and optionally ``num_heads`` (default: one
    head per 32 channels, as Swin-T/S/B).
    """
    from mmpretrain.models import SwinTransformer
    if text in SwinTransformer.arch_zoo:
        return text
    arch: Dict[str, list] = {}
    key = None
    for token in text.split(','):
        if '=' in token:
            key, token = token.split('=', 1)
            arch[key.strip()] = []
        if key is None:
            raise argparse.ArgumentTypeError(
                f'--arch {text!r}: expected a name from '
                f'{sorted(SwinTransformer.arch_zoo)} or key=value pairs')
        arch[key.strip()].append(int(token))
    if 'embed_dims' not in arch or 'depths' not in arch:
        raise argparse.ArgumentTypeError(
            f'--arch {text!r}: a custom arch needs embed_dims and depths')
    dims = arch['embed_dims'][0]
    depths = arch['depths']
    heads = arch.get('num_heads') or [
        max(1, dims * 2**i // 32) for i in range(len(depths))
    ]
    return dict(embed_dims=dims, depths=depths, num_heads=heads)


def arch_embed_dims(arch: Union[str, dict]) -> int:
    """Channels of the first stage."""
    if isinstance(arch, dict):
        return arch['embed_dims']
    from mmpretrain.models import SwinTransformer
    return SwinTransformer.arch_zoo[arch]['embed_dims']


def model_configs(args: argparse.Namespace) -> Dict[str, dict]:
    """Configs of the HVP, SimMIM and MoCo v3-style models.

    All three share the backbone, MIM decoder / head and contrastive
    projector / predictor configs of ``args.config``.
    """
    hvp = Config.fromfile(args.config).model.to_dict()
    out_channels = arch_embed_dims(args.arch) * 8
    backbone = hvp['backbone']
    backbone.update(arch=copy.deepcopy(args.arch), img_size=args.img_size,
                    with_cp=args.with_cp)
    backbone.setdefault('stage_cfgs', {}).setdefault(
        'block_cfgs', {})['window_size'] = args.window_size
    hvp['neck']['in_channels'] = out_channels
    hvp['con_neck']['in_channels'] = out_channels
    hvp['mlc_head'].update(in_channels=out_channels,
                           num_classes=args.num_classes)
    hid, out = args.proj_dims
    if hid:
        hvp['con_neck']['hid_channels'] = hid
        hvp['con_head']['predictor']['hid_channels'] = hid
    if out:
        hvp['con_neck']['out_channels'] = out
        hvp['con_head']['predictor'].update(in_channels=out,
                                            out_channels=out)
    simmim = dict(
        type='SimMIM', backbone=copy.deepcopy(backbone),
        neck=copy.deepcopy(hvp['neck']), head=copy.deepcopy(hvp['head']),
        data_preprocessor=copy.deepcopy(hvp['data_preprocessor']))
    mocov3 = dict(
        backbone=copy.deepcopy(backbone),
        neck=copy.deepcopy(hvp['con_neck']),
        head=copy.deepcopy(hvp['con_head']),
        base_momentum=hvp.get('base_momentum', 0.01),
        data_preprocessor=copy.deepcopy(hvp['data_preprocessor']))
    return dict(hvp=hvp, simmim=simmim, mocov3=mocov3)


def build_mocov3(cfg: dict) -> nn.Module:
    """A MoCo v3 step on a Swin, as mmpretrain's ``MoCoV3.loss``."""
    from mmpretrain.models.necks import GlobalAveragePooling
    from mmpretrain.models.selfsup import BaseSelfSupervisor
    from mmpretrain.models.utils import CosineEMA

    from hvpt_mm.models.pretrainers.hvp import _KeyEncoder

    class SwinMoCoV3(BaseSelfSupervisor):
        """Query: backbone + projector + predictor of both views, with
        gradient; keys: momentum backbone + projector of both views."""

        def __init__(self, backbone: dict, neck: dict, head: dict,
                     base_momentum: float = 0.01,
                     data_preprocessor: Optional[dict] = None) -> None:
            super().__init__(backbone=backbone, neck=neck, head=head,
                             data_preprocessor=data_preprocessor)
            self.backbone.mask_token.requires_grad_(False)  # unused
            self.pool = GlobalAveragePooling()
            self.momentum_encoder = CosineEMA(
                _KeyEncoder(self.backbone, self.neck),
                momentum=base_momentum)

        def loss(self, inputs: List[torch.Tensor], data_samples: list,
                 **kwargs) -> Dict[str, torch.Tensor]:
            view_1, view_2 = inputs
            q1 = self.neck(self.pool(self.backbone(view_1, None)))[0]
            q2 = self.neck(self.pool(self.backbone(view_2, None)))[0]
            with torch.no_grad():
                self.momentum_encoder.update_parameters(
                    _KeyEncoder(self.backbone, self.neck))
                k1 = self.momentum_encoder(view_1)
                k2 = self.momentum_encoder(view_2)
            loss = (self.head.loss(q1, k2)['loss'] +
                    self.head.loss(q2, k1)['loss'])
            return dict(loss=loss)

    return SwinMoCoV3(**cfg)


# ------------------------------------------------------------------ batch
def make_batches(args: argparse.Namespace, device: torch.device
                 ) -> Dict[str, dict]:
    """The batch of each model, as ``default_collate`` gives it.

    Two uint8 views (random pixels), a SimMIM mask per image (60 % of the
    32-px blocks, at 4-px model patches) and a multi-hot target with one
    to three classes. The tensors sit on ``device`` already.
    """
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(0)
    size, batch = args.img_size, args.batch
    if size % 32:
        raise ValueError(f'--img-size {size} must be a multiple of 32 '
                         '(the SimMIM mask patch)')
    views = [
        torch.randint(0, 256, (batch, 3, size, size), generator=g,
                      dtype=torch.uint8).to(device) for _ in range(2)
    ]
    blocks = (size // 32)**2
    n_masked = math.ceil(blocks * 0.6)  # as SimMIMMaskGenerator
    samples = []
    for _ in range(batch):
        mask = torch.zeros(blocks, dtype=torch.bool)
        mask[torch.randperm(blocks, generator=g)[:n_masked]] = True
        mask = mask.view(size // 32, size // 32).repeat_interleave(
            8, 0).repeat_interleave(8, 1)  # [h, w] at 4-px patches
        score = torch.zeros(args.num_classes)
        n_pos = int(torch.randint(1, 4, (1, ), generator=g))
        score[torch.randint(0, args.num_classes, (n_pos, ), generator=g)] = 1
        ds = DataSample()
        ds.set_mask(mask.to(device))
        ds.set_gt_score(score.to(device))
        ds.set_field(True, 'has_label')
        samples.append(ds)
    return dict(
        hvp=dict(inputs=views, data_samples=samples),
        simmim=dict(inputs=views[0], data_samples=samples),
        mocov3=dict(inputs=views, data_samples=samples))


# ------------------------------------------------------------------- step
@dataclass
class Trainer:
    """One model with its optimizer; :meth:`step` is one training step."""

    model: nn.Module
    data: dict
    dtype: Optional[torch.dtype]
    device: torch.device
    params: List[nn.Parameter] = field(init=False)
    optimizer: torch.optim.Optimizer = field(init=False)
    scaler: Optional[torch.amp.GradScaler] = field(init=False)

    def __post_init__(self) -> None:
        self.model.to(self.device).train()
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        # The configs' optimizer: AdamW, gradient clipping at 5.
        self.optimizer = torch.optim.AdamW(
            self.params, lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05)
        self.scaler = (
            torch.amp.GradScaler(self.device.type)
            if self.dtype == torch.float16 else None)

    def autocast(self):
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def step(self) -> None:
        """Preprocess, forward, backward, clip, AdamW step."""
        with self.autocast():
            data = self.model.data_preprocessor(self.data, True)
            losses = self.model(**data, mode='loss')
        loss, _ = self.model.parse_losses(losses)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, max_norm=5.0)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def build_variant(name: str, cfgs: Dict[str, dict],
                  batches: Dict[str, dict], args: argparse.Namespace,
                  device: torch.device) -> List[Trainer]:
    """The trainers whose steps make up one step of ``name``."""
    from mmpretrain.registry import MODELS
    dtype = DTYPES[args.dtype]
    parts = dict(hvp=['hvp'], simmim=['simmim'], mocov3=['mocov3'],
                 naive_sum=['simmim', 'mocov3'])[name]
    trainers = []
    for part in parts:
        torch.manual_seed(0)
        cfg = copy.deepcopy(cfgs[part])
        model = build_mocov3(cfg) if part == 'mocov3' else MODELS.build(cfg)
        trainers.append(Trainer(model, batches[part], dtype, device))
    return trainers


def run_step(trainers: Sequence[Trainer]) -> None:
    for t in trainers:
        t.step()

