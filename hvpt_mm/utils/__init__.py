# Copyright (c) hvpt_mm authors. All rights reserved.
# Allow-lists the objects of runner checkpoints for torch's safe loader.
from .checkpoint import register_safe_globals, safe_checkpoint_globals
from .config import get_config_path, register_config_package
# Installs a SciPy >= 1.14 replacement of mmpretrain's window resizing.
from .rel_pos_bias import resize_relative_position_bias_table
from .setup_env import register_all_modules

register_config_package()

__all__ = [
    'register_safe_globals', 'safe_checkpoint_globals', 'register_all_modules',
    'get_config_path', 'register_config_package',
    'resize_relative_position_bias_table'
]
