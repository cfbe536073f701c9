# Fine-tune an HVP-pre-trained Swin-B on ImageNet-1K, 224 px, window 7.
#
# The recipe is mmpretrain's for SimMIM Swin-B (83.5 % after 100 pre-training
# epochs): simmim/benchmarks/swin-base-w7_8xb256-coslr-100e_in1k.py, i.e.
# 8 GPUs x 256 images, AdamW lr 5e-3, layer-wise lr decay 0.9, weight decay
# 0.05 (none on norms, biases and position tables), 20 warm-up epochs then
# cosine to 100 epochs, drop path 0.1, RandAugment, random erasing,
# Mixup 0.8 / CutMix 1.0, label smoothing 0.1, AMP, gradient clipping 5.
# The pre-trained window-6 relative-position tables are resized to window 7
# when the checkpoint loads.
#
#   python tools/transfer.py work_dirs/hvpt_swin-b --tasks finetune
# or by hand (the work dir is then work_dirs/hvpt_swin-b/<config name>):
#   tools/dist_train.sh configs/classification/<this file> 8 --cfg-options \
#       model.backbone.init_cfg.checkpoint=work_dirs/hvpt_swin-b/backbone.pth
_base_ = [
    'mmpretrain::simmim/benchmarks/swin-base-w7_8xb256-coslr-100e_in1k.py',
    '../_base_/hvpt_downstream_runtime.py',
]

# The pre-trained backbone is named on the command line (or by
# tools/transfer.py), never here: a run without it stops before training.
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
# PATH: a pre-training's extracted backbone (work_dirs/<pre-training>/
# backbone.pth) or its runner checkpoint (epoch_*.pth).
model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=None, prefix='backbone.')))

# `mmpretrain::` inheritance adds a `_scope_` key to every typed dict, and
# mmengine 0.10.7 passes it on to the collate function: restate them.
train_dataloader = dict(collate_fn=dict(_delete_=True, type='default_collate'))
val_dataloader = dict(collate_fn=dict(_delete_=True, type='default_collate'))
test_dataloader = dict(collate_fn=dict(_delete_=True, type='default_collate'))

custom_imports = dict(
    imports=['mmpretrain.models', 'hvpt_mm'],
    allow_failed_imports=False)
# Atomic checkpoint writes, pointer repair and the non-finite-loss hook of
# ../_base_/hvpt_downstream_runtime.py.
default_hooks = dict(checkpoint=_base_.atomic_checkpoint)

# The lr is mmpretrain's for 8 GPUs x 256 images and follows the batch that
# runs (HVPTRunner: world size x batch x accumulative_counts / 2048).
auto_scale_lr = dict(enable=True, base_batch_size=2048)
