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
#   python tools/transfer.py work_dirs/hvpt_swin-b --tasks detection
# or by hand (the work dir is then work_dirs/hvpt_swin-b/<config name>):
#   tools/dist_train.sh configs/detection/<this file> 8 --cfg-options \
#       model.backbone.init_cfg.checkpoint=work_dirs/hvpt_swin-b/backbone.pth
_base_ = [
    'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',
    '../_base_/hvpt_downstream_runtime.py',
]

# The pre-trained backbone is named on the command line (or by
# tools/transfer.py), never here: a run without it stops before training.
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
# PATH: a pre-training's extracted backbone (work_dirs/<pre-training>/
# backbone.pth) or its runner checkpoint (epoch_*.pth).
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
            type='Pretrained', checkpoint=None, prefix='backbone.')),
    neck=dict(in_channels=[128, 256, 512, 1024]))

custom_imports = dict(
    imports=['mmpretrain.models', 'hvpt_mm'],
    allow_failed_imports=False)
# Atomic checkpoint writes, pointer repair and the non-finite-loss hook of
# ../_base_/hvpt_downstream_runtime.py.
default_hooks = dict(checkpoint=_base_.atomic_checkpoint)

# mmdet's lr is for 8 GPUs x 2 images; it follows the batch that runs.
auto_scale_lr = dict(enable=True, base_batch_size=16)
