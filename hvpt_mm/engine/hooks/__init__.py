# Copyright (c) hvpt_mm authors. All rights reserved.
from .trust_checkpoint_hook import HVPTTrustCheckpointHook

__all__ = ['HVPTTrustCheckpointHook']
