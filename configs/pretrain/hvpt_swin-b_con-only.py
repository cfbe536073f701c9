# Ablation of hvpt_swin-b.py: contrastive only (MoCo v3 style, one query view).
_base_ = './hvpt_swin-b.py'

model = dict(loss_weights=dict(mim=0.0, con=1.0, mlc=0.0))

# The data pipeline skips what the model does not use.
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='HVPTMixedSignals', num_classes={{_base_.num_classes}},
         input_size={{_base_.input_size}}, mask_generator=None),
    dict(type='HVPTPackInputs'),
]))
