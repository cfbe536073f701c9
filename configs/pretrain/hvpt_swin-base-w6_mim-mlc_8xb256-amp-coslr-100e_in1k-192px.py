# Ablation of the main recipe
# (hvpt_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py):
# masked image modeling + multi-label.
#
#   tools/dist_train.sh configs/pretrain/<this file> 8
_base_ = './hvpt_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py'

model = dict(loss_weights=dict(mim=1.0, con=0.0, mlc=1.0))

# The main recipe; the data pipeline skips what the model does not use
# (no target view).
train_pipeline = [
    _base_.train_pipeline[0],
    dict(_base_.train_pipeline[1], with_target_view=False),
    *_base_.train_pipeline[2:],
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
