# Copyright (c) hvpt_mm authors. All rights reserved.
"""Atomic checkpoint writes (HVPTAtomicLocalBackend)."""
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import get_file_backend
from mmengine.hooks import CheckpointHook
from mmengine.runner.checkpoint import save_checkpoint

from hvpt_mm.engine import fileio
from hvpt_mm.engine.fileio import (HVPTAtomicLocalBackend, atomic_write,
                                   temp_path_for)

BACKEND_ARGS = dict(backend='hvpt_atomic_local')


def test_put_and_put_text(tmp_path):
    backend = get_file_backend(str(tmp_path), backend_args=BACKEND_ARGS)
    assert isinstance(backend, HVPTAtomicLocalBackend)
    target = tmp_path / 'sub' / 'a.bin'  # the folder is created
    backend.put(b'first', target)
    backend.put(b'second', target)
    assert target.read_bytes() == b'second'
    backend.put_text('text', tmp_path / 'b.txt')
    assert backend.get_text(tmp_path / 'b.txt') == 'text'
    assert sorted(os.listdir(tmp_path)) == ['b.txt', 'sub']
    assert os.listdir(tmp_path / 'sub') == ['a.bin']


@pytest.mark.parametrize('stage', ['write', 'fsync', 'replace'])
def test_failed_write_keeps_previous_file(tmp_path, monkeypatch, stage):
    target = str(tmp_path / 'epoch_1.pth')
    torch.save(dict(w=torch.ones(3)), target)
    before = open(target, 'rb').read()

    def fail(*args, **kwargs):
        raise OSError(f'simulated failure in {stage}')

    if stage == 'write':
        real_open = open

        class HalfWriter:
            """Writes half of the data, then the disk is 'full'."""

            def __init__(self, *args):
                self.f = real_open(*args)

            def write(self, data):
                self.f.write(data[:len(data) // 2])
                raise OSError('No space left on device')

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

        monkeypatch.setattr(fileio, 'open', HalfWriter, raising=False)
    else:
        monkeypatch.setattr(fileio.os, stage, fail)
    with pytest.raises(OSError):
        atomic_write(target, b'x' * 1000)
    monkeypatch.undo()
    assert open(target, 'rb').read() == before
    assert torch.equal(torch.load(target)['w'], torch.ones(3))
    assert not osp.exists(temp_path_for(target))


def test_stale_temporary_is_overwritten(tmp_path):
    """A temporary left by a killed job does not block the next write."""
    target = str(tmp_path / 'epoch_2.pth')
    with open(temp_path_for(target), 'wb') as f:
        f.write(b'half a checkpoint')
    atomic_write(target, b'whole')
    assert open(target, 'rb').read() == b'whole'
    assert os.listdir(tmp_path) == ['epoch_2.pth']


def test_save_checkpoint_goes_through_backend(tmp_path, monkeypatch):
    """What CheckpointHook passes to runner.save_checkpoint reaches us."""
    calls = []
    real_put = HVPTAtomicLocalBackend.put

    def spy(self, obj, filepath):
        calls.append(str(filepath))
        real_put(self, obj, filepath)

    monkeypatch.setattr(HVPTAtomicLocalBackend, 'put', spy)
    path = str(tmp_path / 'epoch_1.pth')
    save_checkpoint(dict(state_dict=dict(w=torch.zeros(2))), path,
                    backend_args=BACKEND_ARGS)
    assert calls == [path]
    assert torch.equal(torch.load(path)['state_dict']['w'], torch.zeros(2))

    hook = CheckpointHook(interval=1, backend_args=BACKEND_ARGS)

    class FakeRunner:
        work_dir = str(tmp_path)
        message_hub = None

        class logger:
            info = staticmethod(lambda msg: None)

    hook.before_train(FakeRunner())
    assert isinstance(hook.file_backend, HVPTAtomicLocalBackend)


def test_default_runtime_uses_backend(repo_root):
    cfg = Config.fromfile(
        osp.join(repo_root, 'configs/pretrain/hvpt_swin-b.py'))
    assert cfg.default_hooks.checkpoint.backend_args == BACKEND_ARGS
    types = [h['type'] for h in cfg.custom_hooks]
    for name in ('HVPTLastCheckpointHook', 'HVPTEpochSeedHook',
                 'HVPTNonFiniteLossHook'):
        assert name in types
