# Copyright (c) hvpt_mm authors. All rights reserved.
from .transforms import *  # noqa: F401,F403
