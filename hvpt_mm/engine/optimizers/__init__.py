# Copyright (c) hvpt_mm authors. All rights reserved.
from .constructor import HVPTOptimWrapperConstructor

__all__ = ['HVPTOptimWrapperConstructor']
