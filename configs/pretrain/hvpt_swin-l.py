# Swin-L variant of hvpt_swin-b.py (1536-d final stage), window 12 at
# 192 px as in SimMIM's Swin-L recipe; activation checkpointing to fit.
_base_ = './hvpt_swin-b.py'

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
