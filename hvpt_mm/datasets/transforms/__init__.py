# Copyright (c) hvpt_mm authors. All rights reserved.
from .loading import HVPTLoadImageFromFile, UnreadableImageError
from .mixed_signals import HVPTMixedSignals, HVPTPackInputs

__all__ = [
    'HVPTLoadImageFromFile', 'UnreadableImageError', 'HVPTMixedSignals',
    'HVPTPackInputs'
]
