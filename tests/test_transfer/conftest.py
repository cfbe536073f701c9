# Copyright (c) hvpt_mm authors. All rights reserved.
"""One tiny HVP pre-training, and its extracted backbone, per session."""
import pytest

from test_transfer.hvpt_transfer_utils import extract, pretrain_tiny


@pytest.fixture(scope='session')
def hvp_ckpt(tmp_path_factory, imagenet_root) -> str:
    """A real runner checkpoint of the tiny HVP model."""
    return pretrain_tiny(tmp_path_factory, imagenet_root)


@pytest.fixture(scope='session')
def backbone_ckpt(tmp_path_factory, hvp_ckpt) -> str:
    """The backbone of :func:`hvp_ckpt`, tensors only."""
    return extract(hvp_ckpt,
                   str(tmp_path_factory.mktemp('extracted') / 'backbone.pth'))
