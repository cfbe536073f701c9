# Copyright (c) hvpt_mm authors. All rights reserved.
from .contrastive_head import HVPTContrastiveHead
from .multilabel_head import HVPTMultiLabelHead
from .simmim_head import HVPTSimMIMHead

__all__ = ['HVPTContrastiveHead', 'HVPTMultiLabelHead', 'HVPTSimMIMHead']
