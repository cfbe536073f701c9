# Copyright (c) hvpt_mm authors. All rights reserved.
"""Shared fixtures: tiny models and tiny data written by the tests."""
import os
import os.path as osp
import sys

import numpy as np
import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tests'))

# Keep the suite fast and quiet on 2 cores.
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('MKL_NUM_THREADS', '1')

import hvpt_mm  # noqa: E402,F401  (registers the modules under test)
from _helpers.tiny import (TINY_SIZE, tiny_model_cfg,  # noqa: E402
                           write_imagenet_folder)


@pytest.fixture(scope='session')
def repo_root() -> str:
    return REPO


@pytest.fixture(autouse=True)
def _seed():
    import torch
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def tiny_cfg():
    """A fresh tiny HVP model config (dict)."""
    return tiny_model_cfg()


@pytest.fixture(scope='session')
def imagenet_root(tmp_path_factory) -> str:
    """ImageNet layout with 3 classes x 4 images of TINY_SIZE+ px."""
    root = tmp_path_factory.mktemp('imagenet')
    write_imagenet_folder(str(root), num_classes=3, per_class=4)
    return str(root)


__all__ = ['TINY_SIZE']
