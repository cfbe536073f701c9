# HVP model: SimMIM Swin-B encoder (window 6 at 192 px) serving three heads.
model = dict(
    type='HeuristicMultiTaskPretrainer',
    # Weight per signal; 0 removes the branch and its compute. The paper
    # gives none; at 1 no signal's gradient dwarfs the others' (see the
    # grad_norm_* logs and docs/experiments.md).
    loss_weights=dict(mim=1.0, con=1.0, mlc=1.0),
    # EMA update rate of the momentum encoder, cosine-decayed to 0
    # (momentum 0.99 -> 1), as in MoCo v3.
    base_momentum=0.01,
    # Every 50 optimizer steps (the logger's interval without gradient
    # accumulation) log each signal's gradient norm on the last backbone
    # stage: grad_norm_mim / _con / _mlc. HVPTGradNormHook (default runtime)
    # schedules it and passes the AMP loss scale; the last stage then runs
    # without with_cp. 0: off.
    grad_norm_interval=50,
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='SimMIMSwinTransformer',
        arch='base',
        img_size=192,
        drop_path_rate=0.1,
        stage_cfgs=dict(block_cfgs=dict(window_size=6))),
    # mim: SimMIM linear decoder + L1 on masked pixels. The head averages
    # over the masked pixels of all processes (views left unmasked make the
    # counts differ), so DDP equals one process on the whole batch.
    neck=dict(
        type='SimMIMLinearDecoder', in_channels=128 * 2**3, encoder_stride=32),
    head=dict(
        type='HVPTSimMIMHead',
        patch_size=4,
        loss=dict(type='PixelReconstructionLoss', criterion='L1', channel=3)),
    # con: MoCo v3 projector / predictor on globally pooled features, 2048
    # wide (MoCo v3: 4096) to keep the step's memory near SimMIM's
    # (docs/experiments.md).
    con_neck=dict(
        type='NonLinearNeck',
        in_channels=128 * 2**3,
        hid_channels=2048,
        out_channels=256,
        num_layers=3,
        with_bias=False,
        with_last_bn=True,
        with_last_bn_affine=False,
        with_last_bias=False,
        with_avg_pool=False),
    con_head=dict(
        type='HVPTContrastiveHead',
        predictor=dict(
            type='NonLinearNeck',
            in_channels=256,
            hid_channels=2048,
            out_channels=256,
            num_layers=2,
            with_bias=False,
            with_last_bn=True,
            with_last_bn_affine=False,
            with_last_bias=False,
            with_avg_pool=False),
        temperature=0.2),
    # mlc: linear multi-label head, BCE summed over classes, averaged over
    # labelled samples. The bias starts at the logit of the share of
    # positives per class (1 of 1000 on ImageNet), so the loss starts at the
    # prior's entropy, not at 1000 * ln 2, which would set the gradient clip
    # for all three signals (docs/experiments.md). Set it to labels per
    # image / num_classes for other data (e.g. 2.9 / 80 for COCO).
    # For the asymmetric loss: loss=dict(type='AsymmetricLoss', gamma_pos=0,
    # gamma_neg=4, clip=0.05).
    mlc_head=dict(
        type='HVPTMultiLabelHead',
        # The data's class count; the pre-training configs set it from
        # the dataset base's num_classes, and HVPTRunner checks head,
        # pipeline and class list agree before the first step.
        num_classes=1000,
        in_channels=128 * 2**3,
        init_prior=1 / 1000,
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True)))

# Show the latest gradient norms, not a mean over past diagnostics.
log_processor = dict(custom_cfg=[
    dict(data_src='grad_norm_mim', method_name='current'),
    dict(data_src='grad_norm_con', method_name='current'),
    dict(data_src='grad_norm_mlc', method_name='current'),
])
