# Copyright (c) hvpt_mm authors. All rights reserved.
"""hvpt_mm: Heuristic Vision Pre-Training for OpenMMLab.

Importing the package registers its modules into mmpretrain's registries
(configs name it in ``custom_imports``) and lets torch's safe loader read
the runner's checkpoints (:mod:`hvpt_mm.utils.checkpoint`).
"""
from .version import __version__, version_info
from . import (datasets, engine, evaluation, models,  # noqa: E402,F401,I001
               registry, utils)

__all__ = ['__version__', 'version_info']
