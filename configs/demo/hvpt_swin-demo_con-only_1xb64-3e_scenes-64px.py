# Demo ablation at the budget of hvpt_swin-demo_1xb64-3e_scenes-64px.py:
# contrastive only.
# The same views are made (unused ones are cheap at 64 px), so data and
# schedule are identical.
_base_ = './hvpt_swin-demo_1xb64-3e_scenes-64px.py'

model = dict(loss_weights=dict(mim=0.0, con=1.0, mlc=0.0))
# Without masked image modeling no view is masked: the contrastive pair is
# two whole views, as in MoCo v3.
train_pipeline = [
    _base_.train_pipeline[0],
    dict(_base_.train_pipeline[1], unlabelled_mask_prob=0.),
    *_base_.train_pipeline[2:],
]
train_dataloader = dict(dataset=dict(datasets=[
    dict(_base_.labelled_scenes, pipeline=train_pipeline),
    dict(_base_.unlabelled_scenes, pipeline=train_pipeline),
]))
