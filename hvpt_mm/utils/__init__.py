# Copyright (c) hvpt_mm authors. All rights reserved.
from .checkpoint import (checkpoints_named_in, is_trusted, trust_checkpoint,
                         trusted_checkpoints, untrust_checkpoint)
from .config import get_config_path, register_config_package
# Installs a SciPy >= 1.14 replacement of mmpretrain's window resizing.
from .rel_pos_bias import resize_relative_position_bias_table
from .setup_env import register_all_modules

register_config_package()

__all__ = [
    'checkpoints_named_in', 'is_trusted', 'trust_checkpoint',
    'trusted_checkpoints', 'untrust_checkpoint', 'register_all_modules',
    'get_config_path', 'register_config_package',
    'resize_relative_position_bias_table'
]
