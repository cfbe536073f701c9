# Demo ablation at the budget of hvpt_swin-demo_1xb64-3e_scenes-64px.py:
# masked image modeling only (SimMIM).
# The same views are made (unused ones are cheap at 64 px), so data and
# schedule are identical.
_base_ = './hvpt_swin-demo_1xb64-3e_scenes-64px.py'

model = dict(loss_weights=dict(mim=1.0, con=0.0, mlc=0.0))
# Without a multi-label head every view is masked.
train_pipeline = [
    _base_.train_pipeline[0],
    dict(_base_.train_pipeline[1], labelled_mask_prob=1.),
    *_base_.train_pipeline[2:],
]
train_dataloader = dict(dataset=dict(datasets=[
    dict(_base_.labelled_scenes, pipeline=train_pipeline),
    dict(_base_.unlabelled_scenes, pipeline=train_pipeline),
]))
