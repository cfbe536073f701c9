# Mask R-CNN with an HVP-pre-trained Swin-B + FPN on COCO, 1x schedule.
#
# Everything but the backbone is mmdet's Swin recipe
# (swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py): 8 GPUs x 2 images,
# single-scale 1333x800, AdamW lr 1e-4, weight decay 0.05 (none on norms and
# relative-position tables), 12 epochs, steps at 8 and 11. The backbone is
# mmpretrain's SwinTransformer, so an mmpretrain-format checkpoint loads with
# prefix='backbone.'; its pre-training window (6) is resized to 7 on load.
# Drop path 0.3 is the Swin-B detection setting of the Swin paper.
#
#   tools/dist_train.sh configs/detection/<this file> 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=CKPT
_base_ = [
    'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',
    '../_base_/hvpt_downstream_runtime.py',
]

# An HVP checkpoint: the extracted backbone (tools/model_converters/
# extract_backbone.py) or the runner's own epoch_*.pth.
checkpoint = 'work_dirs/hvpt_swin-b/hvpt_swin-b_backbone.pth'

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.SwinTransformer',
        arch='base',
        img_size=224,
        window_size=7,
        drop_path_rate=0.3,
        out_indices=(0, 1, 2, 3),
        # Pad feature maps to whole windows instead of shrinking the window,
        # as detection inputs come in any size.
        pad_small_map=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    neck=dict(in_channels=[128, 256, 512, 1024]))

custom_imports = dict(
    imports=['mmpretrain.models', 'hvpt_mm'],
    allow_failed_imports=False)
# Atomic checkpoint writes, pointer repair and the non-finite-loss hook of
# ../_base_/hvpt_downstream_runtime.py.
default_hooks = dict(checkpoint=_base_.atomic_checkpoint)
