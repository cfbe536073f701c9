# SimMIM's Swin-B recipe (mmpretrain simmim_swin-base-w6 100e): AdamW,
# 10 warm-up epochs, cosine decay, AMP, grad clipping.
# AmpOptimWrapper needs a GPU; tools/train.py falls back to fp32
# OptimWrapper (with a warning) on a machine without one.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    # Leaves the EMA-updated momentum encoder out of the optimizer quietly.
    constructor='HVPTOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=2e-4 * 2048 / 512, betas=(0.9, 0.999),
        weight_decay=0.05),
    clip_grad=dict(max_norm=5.0),
    paramwise_cfg=dict(
        custom_keys={
            'norm': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
        }))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6 / 2e-4,
        by_epoch=True,
        begin=0,
        end=10,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=90,
        eta_min=1e-5 * 2048 / 512,
        by_epoch=True,
        begin=10,
        end=100,
        convert_to_iter_based=True)
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100)

# The lr above is set for 2048 images per step (16 GPUs x 128).
auto_scale_lr = dict(base_batch_size=2048)
