# UperNet with an HVP-pre-trained Swin-B on ADE20K, 512x512 crops, 160k iters.
#
# Everything but the backbone is mmseg's Swin-B UperNet recipe
# (swin/swin-base-patch4-window12-in1k-384x384-pre_upernet_8xb2-160k_ade20k-
# 512x512.py): 8 GPUs x 2 images, AdamW lr 6e-5, weight decay 0.01 (none on
# norms and relative-position tables), 1500 warm-up iterations then
# poly decay, auxiliary FCN head on stage 3, drop path 0.3. The backbone is
# mmpretrain's SwinTransformer, so an mmpretrain-format checkpoint loads with
# prefix='backbone.'; its pre-training window (6) is resized to 12 on load.
#
#   python tools/transfer.py work_dirs/hvpt_swin-b --tasks segmentation
# or by hand (the work dir is then work_dirs/hvpt_swin-b/<config name>):
#   tools/dist_train.sh configs/segmentation/<this file> 8 --cfg-options \
#       model.backbone.init_cfg.checkpoint=work_dirs/hvpt_swin-b/backbone.pth
_base_ = [
    'mmseg::swin/swin-base-patch4-window12-in1k-384x384-pre_upernet_'
    '8xb2-160k_ade20k-512x512.py',
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
        img_size=512,
        window_size=12,
        drop_path_rate=0.3,
        out_indices=(0, 1, 2, 3),
        # Pad feature maps to whole windows (16x16 at the last stage).
        pad_small_map=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=None, prefix='backbone.')))

custom_imports = dict(
    imports=['mmpretrain.models', 'hvpt_mm'],
    allow_failed_imports=False)
# Atomic checkpoint writes, pointer repair and the non-finite-loss hook of
# ../_base_/hvpt_downstream_runtime.py.
default_hooks = dict(checkpoint=_base_.atomic_checkpoint)

# mmseg's lr is for 8 GPUs x 2 images; it follows the batch that runs.
auto_scale_lr = dict(enable=True, base_batch_size=16)
