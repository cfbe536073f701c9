# hvpt_mm runtime: mmpretrain's, plus registration of hvpt_mm and the hooks
# that make faults and restarts lose nothing and fail loudly.
_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_imports = dict(imports=['hvpt_mm'], allow_failed_imports=False)
# NOTE: lists are replaced whole when inherited; keep these hooks in any
# `custom_hooks` a child config sets.
custom_hooks = [
    # --resume: repairs a `last_checkpoint` pointer left broken by a kill.
    dict(type='HVPTLastCheckpointHook'),
    # Each epoch's randomness from (seed, epoch): a resumed run draws what
    # the uninterrupted one would have (mmengine keeps no RNG state).
    dict(type='HVPTEpochSeedHook'),
    # NaN / inf losses: 'raise' names iteration and term; 'skip' drops the
    # step (all ranks alike) and logs `nonfinite_skips`.
    dict(type='HVPTNonFiniteLossHook', policy='raise'),
    # With optim_wrapper.accumulative_counts > 1: the momentum encoder
    # averages once per optimizer step, not once per micro-batch.
    dict(type='HVPTMomentumAccumulationHook'),
    # model.grad_norm_interval: per-signal gradient norms every N optimizer
    # steps (counted from runner.iter, so accumulation and --resume keep
    # the schedule), measured at the AMP loss scale.
    dict(type='HVPTGradNormHook'),
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    # Checkpoints are written to a temporary file and renamed: a job killed
    # while saving keeps its previous checkpoint. Keep max_keep_ckpts >= 2:
    # CheckpointHook deletes the oldest checkpoint before writing the new.
    checkpoint=dict(backend_args=dict(backend='hvpt_atomic_local')))
