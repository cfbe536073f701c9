# Copyright (c) hvpt_mm authors. All rights reserved.
"""An HVP checkpoint into mmdet Mask R-CNN (1x, 3x) and mmseg UperNet."""
import pytest
import torch
from mmengine.registry import DefaultScope

from test_transfer.hvpt_transfer_utils import (  # noqa: I001
    DENSE_SIZE, DETECTION, DOWNSTREAM_WINDOW, PRETRAIN_WINDOW, SEGMENTATION,
    STAGE_DIMS, assert_backbone_loaded, backbone_state, load_config,
    record_load_log, tiny_backbone_options)


def init_and_check(model, cfg, hvp_ckpt):
    """init_weights as the runner or a plain script does, then check."""
    with record_load_log() as log:
        model.init_weights()
    assert_backbone_loaded(model.backbone, backbone_state(hvp_ckpt), log)
    assert set(log.unexpected) <= {'mask_token'}


def backbone_grad(model):
    grad = model.backbone.patch_embed.projection.weight.grad
    return 0. if grad is None else grad.abs().sum().item()


def build_detector(kind, ckpt, window):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = load_config(
        DETECTION[kind], {
            **tiny_backbone_options(ckpt, window, DENSE_SIZE),
            'model.neck.in_channels':
            STAGE_DIMS,
        })
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    return cfg, model


@pytest.mark.parametrize('kind,source,window', [
    ('1x', 'extracted', PRETRAIN_WINDOW),
    ('1x', 'runner', DOWNSTREAM_WINDOW),
    ('3x', 'extracted', DOWNSTREAM_WINDOW),
])
def test_mask_rcnn(kind, source, window, hvp_ckpt, backbone_ckpt):
    from mmdet.testing import demo_mm_inputs
    ckpt = backbone_ckpt if source == 'extracted' else hvp_ckpt
    cfg, model = build_detector(kind, ckpt, window)
    assert cfg.model.backbone.type == 'mmpretrain.SwinTransformer'
    init_and_check(model, cfg, hvp_ckpt)

    model.train()
    packed = demo_mm_inputs(
        batch_size=2,
        image_shapes=[(3, DENSE_SIZE, DENSE_SIZE)] * 2,
        num_items=[2, 1],
        num_classes=80,
        with_mask=True)
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    assert {'loss_rpn_cls', 'loss_cls', 'loss_bbox', 'loss_mask'} <= \
        set(losses)
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()
    assert backbone_grad(model) > 0


def test_mask_rcnn_3x_pipeline_builds():
    from mmengine.dataset import Compose
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = load_config(DETECTION['3x'], {})
    assert cfg.train_cfg.max_epochs == 36
    with DefaultScope.overwrite_default_scope('mmdet'):
        pipeline = Compose(cfg.train_dataloader.dataset.pipeline)
    assert 'RandomChoice' in repr(pipeline)


@pytest.mark.parametrize('source,window', [
    ('extracted', DOWNSTREAM_WINDOW),
    ('runner', PRETRAIN_WINDOW),
])
def test_upernet(source, window, hvp_ckpt, backbone_ckpt):
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    ckpt = backbone_ckpt if source == 'extracted' else hvp_ckpt
    cfg = load_config(
        SEGMENTATION, {
            **tiny_backbone_options(ckpt, window, DENSE_SIZE),
            'model.decode_head.in_channels':
            STAGE_DIMS,
            'model.decode_head.channels':
            32,
            'model.auxiliary_head.in_channels':
            STAGE_DIMS[2],
            'model.auxiliary_head.channels':
            16,
            'model.data_preprocessor.size': (DENSE_SIZE, DENSE_SIZE),
        })
    assert cfg.model.backbone.type == 'mmpretrain.SwinTransformer'
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
    init_and_check(model, cfg, hvp_ckpt)

    model.train()
    g = torch.Generator().manual_seed(0)
    shape = (DENSE_SIZE, DENSE_SIZE)
    samples = []
    for _ in range(2):
        sample = SegDataSample(
            metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, 150, (1, *shape), generator=g))
        samples.append(sample)
    data = dict(
        inputs=[
            torch.randint(0, 256, (3, *shape), generator=g, dtype=torch.uint8)
            for _ in range(2)
        ],
        data_samples=samples)
    data = model.data_preprocessor(data, True)
    losses = model(**data, mode='loss')
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(losses)
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()
    assert backbone_grad(model) > 0
