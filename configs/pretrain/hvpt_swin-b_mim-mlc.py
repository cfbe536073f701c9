# Ablation of hvpt_swin-b.py: masked image modeling + multi-label.
_base_ = './hvpt_swin-b.py'

model = dict(loss_weights=dict(mim=1.0, con=0.0, mlc=1.0))

# The data pipeline skips what the model does not use.
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='HVPTMixedSignals', num_classes={{_base_.num_classes}},
         input_size={{_base_.input_size}}, with_target_view=False),
    dict(type='HVPTPackInputs'),
]))
