# Copyright (c) hvpt_mm authors. All rights reserved.
from .heads import *  # noqa: F401,F403
from .pretrainers import *  # noqa: F401,F403
