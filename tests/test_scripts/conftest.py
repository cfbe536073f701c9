# Copyright (c) hvpt_mm authors. All rights reserved.
"""The set-up helpers under ``scripts/``, imported as modules."""
import importlib.util
import os.path as osp
from types import ModuleType

import pytest

from _helpers.tiny import REPO


def load_script(name: str) -> ModuleType:
    """Import ``scripts/<name>.py``."""
    spec = importlib.util.spec_from_file_location(
        f'hvpt_script_{name}', osp.join(REPO, 'scripts', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def mmcv_build() -> ModuleType:
    return load_script('mmcv_build')


@pytest.fixture(scope='session')
def setup_checks() -> ModuleType:
    return load_script('setup_checks')
