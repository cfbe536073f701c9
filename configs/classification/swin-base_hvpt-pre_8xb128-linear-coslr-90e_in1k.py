# Linear probe of an HVP-pre-trained Swin-B on ImageNet-1K, 224 px: the whole
# backbone is frozen (frozen_stages=3 also freezes the final norm), only a
# linear classifier on globally pooled last-stage features is trained.
#
# Protocol of MoCo v3 / mmpretrain's linear benchmarks: SGD with momentum
# 0.9, no weight decay, cosine schedule over 90 epochs, random-resized-crop
# and flip only (no Mixup, no label smoothing), 8 GPUs x 128 images. The
# learning rate of linear probes depends on the feature scale; sweep it
# (e.g. 0.1 / 0.4 / 1.6) when comparing pre-trainings.
#
#   python tools/transfer.py work_dirs/hvpt_swin-b --tasks linear
# or by hand (the work dir is then work_dirs/hvpt_swin-b/<config name>):
#   tools/dist_train.sh configs/classification/<this file> 8 --cfg-options \
#       model.backbone.init_cfg.checkpoint=work_dirs/hvpt_swin-b/backbone.pth
_base_ = [
    'mmpretrain::_base_/models/swin_transformer/base_224.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/hvpt_downstream_runtime.py',
]

# The pre-trained backbone is named on the command line (or by
# tools/transfer.py), never here: a run without it stops before training.
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
# PATH: a pre-training's extracted backbone (work_dirs/<pre-training>/
# backbone.pth) or its runner checkpoint (epoch_*.pth).
model = dict(
    backbone=dict(
        drop_path_rate=0.,
        frozen_stages=3,
        init_cfg=dict(
            type='Pretrained', checkpoint=None, prefix='backbone.')),
    head=dict(
        loss=dict(_delete_=True, type='CrossEntropyLoss', loss_weight=1.0),
        init_cfg=dict(
            _delete_=True, type='TruncNormal', layer='Linear', std=0.01)),
    # No Mixup / CutMix for a linear probe.
    train_cfg=dict(_delete_=True))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=128,
    collate_fn=dict(type='default_collate'),
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(collate_fn=dict(type='default_collate'))
test_dataloader = dict(collate_fn=dict(type='default_collate'))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.4, momentum=0.9, weight_decay=0.))

param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=90, by_epoch=True, begin=0, end=90)
]

train_cfg = dict(by_epoch=True, max_epochs=90, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# Atomic checkpoint writes, pointer repair and the non-finite-loss hook of
# ../_base_/hvpt_downstream_runtime.py.
default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook',
        interval=10,
        max_keep_ckpts=3,
        **_base_.atomic_checkpoint))

custom_imports = dict(
    imports=['mmpretrain.models', 'hvpt_mm'],
    allow_failed_imports=False)

randomness = dict(seed=0, diff_rank_seed=True)
# The lr is for 8 GPUs x 128 images and follows the batch that runs.
auto_scale_lr = dict(enable=True, base_batch_size=1024)
