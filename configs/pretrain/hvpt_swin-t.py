# Swin-T variant of hvpt_swin-b.py (768-d final stage).
_base_ = './hvpt_swin-b.py'

model = dict(
    backbone=dict(arch='tiny', drop_path_rate=0.1),
    neck=dict(in_channels=96 * 2**3),
    con_neck=dict(in_channels=96 * 2**3),
    mlc_head=dict(in_channels=96 * 2**3))
