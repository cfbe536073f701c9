# SimMIM's Swin-B recipe (mmpretrain simmim_swin-base-w6 100e): AdamW,
# 10 warm-up epochs, cosine decay, AMP, grad clipping.
#
# The lr is written for 2048 images per optimizer step and follows the
# batch that runs (auto_scale_lr below): every schedule value is a ratio of
# it, so warm-up start and cosine floor scale with it.
# AmpOptimWrapper needs a GPU; tools/train.py falls back to fp32
# OptimWrapper (with a warning) on a machine without one.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    # Leaves the EMA-updated momentum encoder out of the optimizer quietly.
    constructor='HVPTOptimWrapperConstructor',
    optimizer=dict(
        # SimMIM's 2e-4 per 512 images, for 2048.
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
        # SimMIM's floor, 1e-5 per 512 images, as a ratio of the lr.
        eta_min_ratio=1e-5 / 2e-4,
        by_epoch=True,
        begin=10,
        end=100,
        convert_to_iter_based=True)
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100)

# The lr above is for 2048 images per optimizer step (8 GPUs x 256 or
# 16 x 128). HVPTRunner scales it (and with it the schedule) by
# world size x batch_size x optim_wrapper.accumulative_counts / 2048, so
# any launch trains with the lr of its batch; --auto-scale-lr is not needed.
auto_scale_lr = dict(enable=True, base_batch_size=2048)
runner_type = 'HVPTRunner'
