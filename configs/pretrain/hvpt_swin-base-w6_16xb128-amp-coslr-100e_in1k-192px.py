# hvpt_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py on 16 GPUs x 128
# images: the same 2048 images per step, so the same lr.
#
#   GPUS=16 tools/slurm_train.sh PARTITION hvpt \
#       configs/pretrain/<this file> work_dirs/hvpt_swin-b
_base_ = './hvpt_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py'

train_dataloader = dict(batch_size=128)
