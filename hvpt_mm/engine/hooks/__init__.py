# Copyright (c) hvpt_mm authors. All rights reserved.
from .epoch_seed_hook import HVPTEpochSeedHook
from .grad_norm_hook import HVPTGradNormHook
from .last_checkpoint_hook import HVPTLastCheckpointHook
from .momentum_accumulation_hook import HVPTMomentumAccumulationHook
from .nonfinite_loss_hook import HVPTNonFiniteLossHook
from .trust_checkpoint_hook import HVPTTrustCheckpointHook

__all__ = [
    'HVPTEpochSeedHook', 'HVPTGradNormHook', 'HVPTLastCheckpointHook',
    'HVPTMomentumAccumulationHook', 'HVPTNonFiniteLossHook',
    'HVPTTrustCheckpointHook'
]
