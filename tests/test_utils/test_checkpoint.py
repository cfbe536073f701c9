# Copyright (c) hvpt_mm authors. All rights reserved.
"""Scoped loading of runner checkpoints on torch >= 2.6."""
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint
from packaging.version import Version

from hvpt_mm.utils import (checkpoints_named_in, is_trusted,
                           trust_checkpoint, trusted_checkpoints,
                           untrust_checkpoint)

WEIGHTS_ONLY_DEFAULT = Version(torch.__version__.split('+')[0]) >= \
    Version('2.6')


@pytest.fixture
def runner_like_ckpt(tmp_path):
    """What mmengine's runner writes: tensors plus non-tensor objects."""
    path = str(tmp_path / 'epoch_1.pth')
    buf = HistoryBuffer()
    buf.update(1.5)
    torch.save(
        dict(meta=dict(epoch=1, iter=3, seed=np.int64(7)),
             state_dict=dict(w=torch.ones(2)),
             message_hub=dict(log_scalars=dict(loss=buf))), path)
    yield path
    untrust_checkpoint(path)


@pytest.mark.skipif(not WEIGHTS_ONLY_DEFAULT, reason='torch < 2.6')
def test_untrusted_fails_with_clear_message(runner_like_ckpt):
    with pytest.raises(pickle.UnpicklingError) as e:
        _load_checkpoint(runner_like_ckpt, map_location='cpu')
    msg = str(e.value)
    assert runner_like_ckpt in msg and 'load_from' in msg
    assert 'extract_backbone' in msg


def test_trusted_loads(runner_like_ckpt):
    trust_checkpoint(runner_like_ckpt)
    ckpt = _load_checkpoint(runner_like_ckpt, map_location='cpu')
    assert ckpt['meta']['iter'] == 3
    assert isinstance(ckpt['message_hub']['log_scalars']['loss'],
                      HistoryBuffer)


@pytest.mark.skipif(not WEIGHTS_ONLY_DEFAULT, reason='torch < 2.6')
def test_scope_is_per_file_and_torch_load_unchanged(runner_like_ckpt):
    with trusted_checkpoints([runner_like_ckpt]):
        assert is_trusted(runner_like_ckpt)
        _load_checkpoint(runner_like_ckpt, map_location='cpu')
        # torch.load itself keeps its default for everyone else.
        with pytest.raises(pickle.UnpicklingError):
            torch.load(runner_like_ckpt)
    assert not is_trusted(runner_like_ckpt)


def test_tensor_only_files_need_no_trust(tmp_path):
    path = str(tmp_path / 'weights.pth')
    torch.save(dict(state_dict=dict(w=torch.zeros(1))), path)
    assert _load_checkpoint(path, map_location='cpu')['state_dict']['w'] == 0


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        _load_checkpoint(str(tmp_path / 'nope.pth'))


def test_checkpoints_named_in(tmp_path, runner_like_ckpt):
    work = tmp_path / 'work'
    work.mkdir()
    latest = work / 'epoch_2.pth'
    latest.write_bytes(b'x')
    (work / 'last_checkpoint').write_text(str(latest))
    pre = tmp_path / 'pre.pth'
    pre.write_bytes(b'x')
    cfg = Config(dict(
        model=dict(backbone=dict(init_cfg=dict(
            type='Pretrained', checkpoint=str(pre), prefix='backbone.'))),
        load_from=None, resume=True, work_dir=str(work)))
    names = checkpoints_named_in(cfg)
    assert str(pre) in names and str(latest) in names
    cfg.load_from = runner_like_ckpt
    names = checkpoints_named_in(cfg)
    assert runner_like_ckpt in names and str(latest) not in names
    # URLs and missing files are left to mmengine.
    cfg.load_from = 'https://example.com/x.pth'
    assert 'https://example.com/x.pth' not in checkpoints_named_in(cfg)


def test_pretrained_init_of_runner_checkpoint(runner_like_ckpt, tmp_path):
    """`Pretrained` init_cfg on a runner checkpoint, trusted by the hook."""
    from mmengine.model import BaseModule

    from hvpt_mm.engine.hooks import HVPTTrustCheckpointHook

    class M(BaseModule):

        def __init__(self, init_cfg):
            super().__init__(init_cfg)
            self.w = torch.nn.Parameter(torch.zeros(2))

    cfg = Config(dict(model=dict(init_cfg=dict(
        type='Pretrained', checkpoint=runner_like_ckpt)), load_from=None,
        resume=False))

    class FakeRunner:
        work_dir = str(tmp_path)

    FakeRunner.cfg = cfg
    HVPTTrustCheckpointHook().before_run(FakeRunner())
    m = M(init_cfg=cfg.model.init_cfg)
    m.init_weights()
    assert torch.equal(m.w.data, torch.ones(2))
    assert osp.isfile(runner_like_ckpt)
