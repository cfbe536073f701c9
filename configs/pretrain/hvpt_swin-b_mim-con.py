# Ablation of hvpt_swin-b.py: both self-supervised signals, labels unused.
_base_ = './hvpt_swin-b.py'

model = dict(loss_weights=dict(mim=1.0, con=1.0, mlc=0.0))
