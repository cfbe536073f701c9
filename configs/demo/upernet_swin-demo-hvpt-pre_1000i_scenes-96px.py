# The demo's UperNet in the ImageNet-like setting
# (./_base_/labelled_scenes_96px.py): 96-px scenes at their native size,
# window 3.
#
#   python tools/train.py \
#       configs/demo/upernet_swin-demo-hvpt-pre_1000i_scenes-96px.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=CKPT
_base_ = [
    './upernet_swin-demo-hvpt-pre_1000i_scenes-64px.py',
    './_base_/labelled_scenes_96px.py'
]

data_root = _base_.scenes96_data_root
img_scale = (_base_.scenes96_size, _base_.scenes96_size)
model = dict(
    data_preprocessor=dict(size=img_scale),
    backbone=dict(
        img_size=_base_.scenes96_size, window_size=_base_.scenes96_window))

train_pipeline = [
    *_base_.train_pipeline[:2],
    dict(_base_.train_pipeline[2], scale=img_scale),
    *_base_.train_pipeline[3:],
]
test_pipeline = [
    _base_.test_pipeline[0],
    dict(_base_.test_pipeline[1], scale=img_scale),
    *_base_.test_pipeline[2:],
]
train_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
