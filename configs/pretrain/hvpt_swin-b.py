# The README's entry: hvpt_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py
# (HVP Swin-B, 8 GPUs x 256 images, 100 epochs) under a short name.
#
#   tools/dist_train.sh configs/pretrain/hvpt_swin-b.py 8
_base_ = './hvpt_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py'
