# Copyright (c) hvpt_mm authors. All rights reserved.
from .mixed_signals import HVPTMixedSignals, HVPTPackInputs

__all__ = ['HVPTMixedSignals', 'HVPTPackInputs']
