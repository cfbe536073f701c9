# Copyright (c) hvpt_mm authors. All rights reserved.
from .hvp import HeuristicMultiTaskPretrainer

__all__ = ['HeuristicMultiTaskPretrainer']
