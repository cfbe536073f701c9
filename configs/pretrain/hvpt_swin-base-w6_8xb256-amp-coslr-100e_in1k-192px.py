# HVP pre-training of Swin-B: masked image modeling + contrastive +
# multi-label classification, 100 epochs on ImageNet-1K at 192 px,
# 8 GPUs x 256 images (2048 per step), AMP. Window 6 at 192 px, as SimMIM.
# configs/pretrain/hvpt_swin-b.py is this file under a short name.
#
# The lr follows the batch that runs (auto_scale_lr in the schedule, for
# 2048 images per step); 16 GPUs: the 16xb128 variant of this file.
#
#   tools/dist_train.sh configs/pretrain/<this file> 8
_base_ = [
    '../_base_/models/hvpt_swin-base-w6.py',
    '../_base_/datasets/imagenet_bs128_hvpt_192.py',
    '../_base_/schedules/hvpt_adamw_coslr-100e.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=256)

# The multi-label head follows the data's class count (`num_classes` of the
# dataset base, which the pipeline uses); HVPTRunner checks head, pipeline
# and class list against each other before the first step.
# One label per ImageNet image: every class starts at 1 / num_classes.
num_classes = _base_.num_classes
model = dict(
    mlc_head=dict(num_classes=num_classes, init_prior=1 / num_classes))

default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
