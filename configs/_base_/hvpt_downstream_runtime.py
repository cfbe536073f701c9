# The guards of hvpt_mm's pre-training runtime for downstream runs, on top of
# the host library's runtime (mmpretrain, mmdet or mmseg): add this file to
# `_base_` after the host config. Types carry the `mmpretrain.` scope so that
# mmdet and mmseg runners find them.
# NOTE: lists are replaced whole when inherited; keep these hooks in any
# `custom_hooks` a child config sets.
custom_hooks = [
    # --resume: repairs a `last_checkpoint` pointer left broken by a kill.
    dict(type='mmpretrain.HVPTLastCheckpointHook'),
    # NaN / inf losses stop the run, naming the iteration and the term
    # (policy='skip' drops such steps instead).
    dict(type='mmpretrain.HVPTNonFiniteLossHook', policy='raise'),
]
# `default_hooks` comes from the host base (two bases may not both set it);
# the child config merges this into its checkpoint hook. Checkpoints are
# then written to a temporary file and renamed: a job killed while saving
# keeps its previous checkpoint and leaves no truncated one.
atomic_checkpoint = dict(backend_args=dict(backend='hvpt_atomic_local'))

# mmengine's runner, with an auto_scale_lr that counts
# optim_wrapper.accumulative_counts (registered for every scope).
runner_type = 'HVPTRunner'
