# Demo transfer 2/3: Mask R-CNN with the pre-trained demo Swin + FPN on the
# scenes' COCO instances (boxes and masks of the visible item silhouettes)
# at their native 64 px, as pre-trained (items are 22-48 px: the stride-4 and
# stride-8 anchors of 32 and 64 px fit them); box and mask AP on the val
# scenes. A delta on
# ../detection/mask-rcnn_swin-b-p4-w7-hvpt-pre_fpn_1x_coco.py
# with narrower heads (64-d FPN) sized for a CPU.
#
#   python tools/train.py \
#       configs/demo/mask-rcnn_swin-demo-hvpt-pre_fpn_2e_scenes-64px.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=CKPT
_base_ = [
    '../detection/mask-rcnn_swin-b-p4-w7-hvpt-pre_fpn_1x_coco.py',
    './_base_/demo_settings.py'
]

img_scale = (64, 64)
# 2 epochs over the first 3,000 train scenes (750 iterations of 8): about
# 5 minutes on 2 CPU cores.
max_epochs = 2
fpn_dims = 64
num_classes = len(_base_.demo_classes)

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, **_base_.demo_arch),
        img_size=_base_.demo_size,
        window_size=_base_.demo_window,
        drop_path_rate=0.1,
        init_cfg=dict(checkpoint=_base_.demo_checkpoint)),
    neck=dict(in_channels=_base_.demo_stage_dims, out_channels=fpn_dims),
    rpn_head=dict(in_channels=fpn_dims, feat_channels=fpn_dims),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=fpn_dims),
        bbox_head=dict(
            in_channels=fpn_dims, fc_out_channels=256,
            num_classes=num_classes),
        mask_roi_extractor=dict(out_channels=fpn_dims),
        mask_head=dict(
            num_convs=2, in_channels=fpn_dims, conv_out_channels=fpn_dims,
            num_classes=num_classes)),
    # At most 4 objects per scene: fewer proposals and RoI samples.
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=300, max_per_img=100),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(
        rpn=dict(nms_pre=300, max_per_img=100),
        rcnn=dict(max_per_img=10)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
]
scenes = dict(
    type='CocoDataset',
    data_root=_base_.demo_data_root,
    metainfo=dict(classes=_base_.demo_classes),
    # file_name in the annotation files is relative to the data root.
    data_prefix=dict(img=''))
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(
        _delete_=True, **scenes, ann_file='annotations/instances_train.json',
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        indices=3000,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(
        _delete_=True, **scenes, ann_file='annotations/instances_val.json',
        test_mode=True, pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(
        _delete_=True, **scenes, ann_file='annotations/instances_test.json',
        test_mode=True, pipeline=test_pipeline))
val_evaluator = dict(
    ann_file=_base_.demo_data_root + 'annotations/instances_val.json')
test_evaluator = dict(
    ann_file=_base_.demo_data_root + 'annotations/instances_test.json')

optim_wrapper = dict(optimizer=dict(lr=2e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=100),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[max_epochs - 1], gamma=0.1)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
auto_scale_lr = dict(base_batch_size=8)
