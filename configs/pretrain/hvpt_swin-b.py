# HVP pre-training of Swin-B: masked image modeling + contrastive +
# multi-label classification, 100 epochs on ImageNet-1K at 192 px,
# 16 GPUs x 128 images, AMP. Window 6 at 192 px, as SimMIM.
#
#   tools/dist_train.sh configs/pretrain/hvpt_swin-b.py 16
#   tools/train.py configs/pretrain/hvpt_swin-b.py \
#       --cfg-options train_dataloader.dataset.data_root=DIR
_base_ = [
    '../_base_/models/hvpt_swin-base-w6.py',
    '../_base_/datasets/imagenet_bs128_hvpt_192.py',
    '../_base_/schedules/hvpt_adamw_coslr-100e.py',
    '../_base_/default_runtime.py',
]

default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
