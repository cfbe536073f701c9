# hvpt_mm runtime: mmpretrain's, plus registration of hvpt_mm and the hook
# that lets the runner load its own checkpoints on torch >= 2.6.
_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_imports = dict(imports=['hvpt_mm'], allow_failed_imports=False)
# NOTE: lists are replaced whole when inherited; keep this hook in any
# `custom_hooks` a child config sets.
custom_hooks = [dict(type='HVPTTrustCheckpointHook')]

default_hooks = dict(logger=dict(type='LoggerHook', interval=50))
