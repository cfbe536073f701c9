# Demo transfer 1/3: multi-label linear probe of the pre-trained demo Swin
# on the scenes (frozen backbone, linear head on pooled features, BCE),
# scored by mAP on the val scenes. A delta on the ImageNet linear probe.
#
#   python tools/train.py \
#       configs/demo/swin-demo_hvpt-pre_linear-8e_scenes-64px.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=CKPT
_base_ = [
    '../classification/swin-base_hvpt-pre_8xb128-linear-coslr-90e_in1k.py',
    './_base_/demo_settings.py'
]

max_epochs = 8

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, **_base_.demo_arch),
        img_size=_base_.demo_size,
        window_size=_base_.demo_window,
        pad_small_map=True,
        init_cfg=dict(checkpoint=_base_.demo_checkpoint)),
    head=dict(
        _delete_=True,
        type='MultiLabelLinearClsHead',
        num_classes=len(_base_.demo_classes),
        in_channels=_base_.demo_stage_dims[-1],
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True)))

# Scenes are not cropped: a crop could cut a labelled item out.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
scenes = dict(
    type='HVPTMultiLabelDataset',
    data_root=_base_.demo_data_root,
    metainfo=dict(classes=_base_.demo_classes))
train_dataloader = dict(
    batch_size=64,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        _delete_=True, **scenes, ann_file='annotations/multilabel_train.json',
        # The first 4,000 train scenes.
        indices=4000,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=100,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        _delete_=True, **scenes, ann_file='annotations/multilabel_val.json',
        pipeline=test_pipeline))
test_dataloader = dict(
    val_dataloader,
    dataset=dict(
        _delete_=True, **scenes, ann_file='annotations/multilabel_test.json',
        pipeline=test_pipeline))
val_evaluator = [
    dict(type='AveragePrecision'),
    dict(type='MultiLabelMetric', average='macro'),
]
test_evaluator = val_evaluator

# BCE sums over the 10 classes: a lower lr than the ImageNet probe's.
optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True, begin=0,
         end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
auto_scale_lr = dict(base_batch_size=64)
