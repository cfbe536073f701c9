# Swin-T variant of the main recipe
# (hvpt_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py):
# 768-d final stage, window 6 at 192 px, 8 GPUs x 256 images.
#
#   tools/dist_train.sh configs/pretrain/<this file> 8
_base_ = './hvpt_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py'

model = dict(
    backbone=dict(arch='tiny', drop_path_rate=0.1),
    neck=dict(in_channels=96 * 2**3),
    con_neck=dict(in_channels=96 * 2**3),
    mlc_head=dict(in_channels=96 * 2**3))
