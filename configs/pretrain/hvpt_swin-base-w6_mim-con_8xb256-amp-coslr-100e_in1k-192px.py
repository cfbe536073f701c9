# Ablation of the main recipe
# (hvpt_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py):
# both self-supervised signals, labels unused.
#
#   tools/dist_train.sh configs/pretrain/<this file> 8
_base_ = './hvpt_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py'

model = dict(loss_weights=dict(mim=1.0, con=1.0, mlc=0.0))
