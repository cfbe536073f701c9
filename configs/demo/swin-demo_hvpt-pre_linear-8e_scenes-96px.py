# The demo's multi-label linear probe in the ImageNet-like setting
# (./_base_/labelled_scenes_96px.py): 96-px scenes, window 3.
#
#   python tools/train.py \
#       configs/demo/swin-demo_hvpt-pre_linear-8e_scenes-96px.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=CKPT
_base_ = [
    './swin-demo_hvpt-pre_linear-8e_scenes-64px.py',
    './_base_/labelled_scenes_96px.py'
]

data_root = _base_.scenes96_data_root
model = dict(
    backbone=dict(
        img_size=_base_.scenes96_size, window_size=_base_.scenes96_window))
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = dict(dataset=dict(data_root=data_root))
