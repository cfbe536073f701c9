# Copyright (c) hvpt_mm authors. All rights reserved.
from .contrastive_head import HVPTContrastiveHead
from .multilabel_head import HVPTMultiLabelHead

__all__ = ['HVPTContrastiveHead', 'HVPTMultiLabelHead']
