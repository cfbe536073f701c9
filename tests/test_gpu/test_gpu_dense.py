# Copyright (c) hvpt_mm authors. All rights reserved.
"""Mask R-CNN and UperNet (tiny Swin) trained on the GPU.

The detector's RoIAlign and nms are mmcv's compiled CUDA ops. The models
are the tiny-Swin builds of tests/test_transfer, randomly initialised:
loading an HVP checkpoint into them is tested there, on the CPU.
"""
from contextlib import nullcontext

import pytest
import torch

from test_gpu.hvpt_gpu_utils import GPU, NO_CHECKPOINT, random_init
from test_transfer.hvpt_transfer_utils import (  # noqa: I001
    DENSE_SIZE, DOWNSTREAM_WINDOW, SEGMENTATION, STAGE_DIMS, load_config,
    tiny_backbone_options)

pytestmark = GPU


def _record_devices(module):
    """Devices of ``module``'s outputs, one per call."""
    seen = []
    module.register_forward_hook(
        lambda m, i, o: seen.append(o.device.type))
    return seen


def _backbone_grad(model):
    grad = model.backbone.patch_embed.projection.weight.grad
    return 0. if grad is None else grad.abs().sum().item()


def _detector():
    from test_transfer.test_transfer_dense import build_detector
    _, model = build_detector('1x', NO_CHECKPOINT, DOWNSTREAM_WINDOW)
    return random_init(model)


def _det_inputs(model, training):
    from mmdet.testing import demo_mm_inputs
    packed = demo_mm_inputs(
        batch_size=2, image_shapes=[(3, DENSE_SIZE, DENSE_SIZE)] * 2,
        num_items=[2, 1], num_classes=80, with_mask=True)
    return model.data_preprocessor(packed, training)


@pytest.mark.parametrize('amp', [False, True], ids=['fp32', 'fp16'])
def test_mask_rcnn_train_step(amp):
    from mmcv.ops import RoIAlign
    model = _detector().train()
    roi_layer = model.roi_head.bbox_roi_extractor.roi_layers[0]
    assert isinstance(roi_layer, RoIAlign)
    roi_devices = _record_devices(roi_layer)
    data = _det_inputs(model, True)
    context = torch.autocast('cuda', dtype=torch.float16) if amp \
        else nullcontext()
    with context:
        losses = model(**data, mode='loss')
    assert {'loss_rpn_cls', 'loss_cls', 'loss_bbox', 'loss_mask'} <= \
        set(losses)
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()
    assert roi_devices and set(roi_devices) == {'cuda'}
    assert _backbone_grad(model) > 0
    assert all(torch.isfinite(p.grad).all() for p in model.parameters()
               if p.grad is not None)


def test_mask_rcnn_predict():
    """Inference: nms and mask pasting on the GPU."""
    model = _detector().eval()
    # A random head scores below the configured 0.05: keep every box.
    model.roi_head.test_cfg.score_thr = 0.
    with torch.no_grad():
        results = model(**_det_inputs(model, False), mode='predict')
    assert len(results) == 2
    for result in results:
        pred = result.pred_instances
        assert len(pred) == model.roi_head.test_cfg.max_per_img
        assert pred.bboxes.device.type == pred.masks.device.type == 'cuda'
        assert pred.masks.shape[1:] == (DENSE_SIZE, DENSE_SIZE)


def build_upernet():
    """The UperNet config with the tiny Swin, as tests/test_transfer."""
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = load_config(SEGMENTATION, {
        **tiny_backbone_options(NO_CHECKPOINT, DOWNSTREAM_WINDOW,
                                DENSE_SIZE),
        'model.decode_head.in_channels': STAGE_DIMS,
        'model.decode_head.channels': 32,
        'model.auxiliary_head.in_channels': STAGE_DIMS[2],
        'model.auxiliary_head.channels': 16,
        'model.data_preprocessor.size': (DENSE_SIZE, DENSE_SIZE),
    })
    with DefaultScope.overwrite_default_scope('mmseg'):
        return MODELS.build(cfg.model)


def test_upernet_train_step():
    model = random_init(build_upernet()).train()
    data = seg_inputs(model)
    losses = model(**data, mode='loss')
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(losses)
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss) and loss.device.type == 'cuda'
    loss.backward()
    assert _backbone_grad(model) > 0


def seg_inputs(model):
    """Two images and label maps, preprocessed on the model's device."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    g = torch.Generator().manual_seed(0)
    shape = (DENSE_SIZE, DENSE_SIZE)
    samples = []
    for _ in range(2):
        sample = SegDataSample(
            metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, 150, (1, *shape), generator=g))
        samples.append(sample)
    inputs = [torch.randint(0, 256, (3, *shape), generator=g,
                            dtype=torch.uint8) for _ in range(2)]
    return model.data_preprocessor(dict(inputs=inputs, data_samples=samples),
                                   True)
