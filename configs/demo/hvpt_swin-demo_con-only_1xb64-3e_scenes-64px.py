# Demo ablation at the budget of hvpt_swin-demo_1xb64-3e_scenes-64px.py:
# contrastive only.
# The same views are made (unused ones are cheap at 64 px), so data and
# schedule are identical.
_base_ = './hvpt_swin-demo_1xb64-3e_scenes-64px.py'

model = dict(loss_weights=dict(mim=0.0, con=1.0, mlc=0.0))
