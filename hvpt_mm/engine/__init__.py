# Copyright (c) hvpt_mm authors. All rights reserved.
from .fileio import HVPTAtomicLocalBackend  # noqa: F401
from .hooks import *  # noqa: F401,F403
from .model_wrappers import HVPTCPUDistributedDataParallel  # noqa: F401
from .optimizers import *  # noqa: F401,F403
from .runner import HVPTRunner  # noqa: F401
from .weight_init import HVPTPretrainedInit  # noqa: F401
