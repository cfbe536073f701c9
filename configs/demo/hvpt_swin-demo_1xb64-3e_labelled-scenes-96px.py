# The ImageNet recipe in the demo's ImageNet-like setting
# (./_base_/labelled_scenes_96px.py): every scene labelled, every online
# view masked (60 % of a 6 x 6 block grid), as
# ../_base_/datasets/imagenet_bs128_hvpt_192.py does. Otherwise the demo's
# model and schedule (48-d Swin, 3 epochs of 32,000 scenes = 1,500
# iterations of 64). The variants of this setting are deltas on this file.
#
#   python tools/train.py \
#       configs/demo/hvpt_swin-demo_1xb64-3e_labelled-scenes-96px.py
_base_ = [
    './hvpt_swin-demo_1xb64-3e_scenes-64px.py',
    './_base_/labelled_scenes_96px.py'
]

input_size = _base_.scenes96_size
model = dict(
    backbone=dict(
        img_size=input_size,
        stage_cfgs=dict(
            block_cfgs=dict(window_size=_base_.scenes96_window))))

train_pipeline = [
    _base_.train_pipeline[0],
    dict(
        _base_.train_pipeline[1],
        input_size=input_size,
        mask_generator=_base_.scenes96_mask_generator,
        labelled_mask_prob=1.),
    *_base_.train_pipeline[2:],
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='HVPTMultiLabelDataset',
        data_root=_base_.scenes96_data_root,
        ann_file='annotations/pretrain_labelled.json',
        metainfo=dict(classes=_base_.classes),
        pipeline=train_pipeline))
