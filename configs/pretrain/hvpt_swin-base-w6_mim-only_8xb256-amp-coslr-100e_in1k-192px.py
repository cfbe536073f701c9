# Ablation of the main recipe
# (hvpt_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py):
# masked image modeling only (SimMIM).
#
#   tools/dist_train.sh configs/pretrain/<this file> 8
_base_ = './hvpt_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py'

model = dict(loss_weights=dict(mim=1.0, con=0.0, mlc=0.0))

# The main recipe's views at SimMIM's mask ratio (0.6, as the single-signal
# baseline of the CPU comparisons); no target view, which nothing uses.
train_pipeline = [
    _base_.train_pipeline[0],
    dict(
        _base_.train_pipeline[1],
        mask_generator=dict(_base_.mask_generator, mask_ratio=0.6),
        with_target_view=False),
    *_base_.train_pipeline[2:],
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
