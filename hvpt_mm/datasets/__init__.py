# Copyright (c) hvpt_mm authors. All rights reserved.
from .class_count import check_num_classes
from .coco_multilabel import HVPTCocoMultiLabelDataset
from .custom import HVPTCustomDataset, HVPTImageNet
from .mixed import HVPTMixedDataset
from .multi_label import HVPTMultiLabelDataset
from .transforms import *  # noqa: F401,F403
from .unlabelled import HVPTUnlabelledDataset

__all__ = [
    'HVPTCocoMultiLabelDataset', 'HVPTCustomDataset', 'HVPTImageNet',
    'HVPTMixedDataset', 'HVPTMultiLabelDataset', 'HVPTUnlabelledDataset',
    'check_num_classes'
]
