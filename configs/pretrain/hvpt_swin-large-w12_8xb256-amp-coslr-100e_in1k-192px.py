# Swin-L variant of the main recipe
# (hvpt_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py):
# 1536-d final stage, window 12 at 192 px as in SimMIM's Swin-L recipe,
# activation checkpointing to fit 8 GPUs x 256 images.
#
#   tools/dist_train.sh configs/pretrain/<this file> 8
_base_ = './hvpt_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py'

model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.2,
        with_cp=True,
        stage_cfgs=dict(block_cfgs=dict(window_size=12)),
        pad_small_map=True),
    neck=dict(in_channels=192 * 2**3),
    con_neck=dict(in_channels=192 * 2**3),
    mlc_head=dict(in_channels=192 * 2**3))
