# Copyright (c) hvpt_mm authors. All rights reserved.
"""Checkpoint writes that stop half-way, as in a job killed while saving.

Imported into runs through ``custom_imports`` (for the hook) or called by
a script (``install_half_write``).
"""
import builtins
import os.path as osp
import time

from mmengine.fileio.backends import local_backend
from mmengine.hooks import Hook

from mmpretrain.registry import HOOKS
from hvpt_mm.engine import fileio


class HalfThenHang:
    """A file whose first write stores half the bytes, then waits.

    Args:
        f (file): The real file, opened for writing.
        marker (str): Created once the half is on disk.
        timeout (float): Give up (raise) after this many seconds.
    """

    def __init__(self, f, marker: str, timeout: float) -> None:
        self.f = f
        self.marker = marker
        self.timeout = timeout

    def write(self, data: bytes) -> None:
        self.f.write(data[:len(data) // 2])
        self.f.flush()
        builtins.open(self.marker, 'w').close()
        time.sleep(self.timeout)
        raise RuntimeError(f'HalfThenHang: not killed within {self.timeout} s')

    def __getattr__(self, name: str):
        return getattr(self.f, name)

    def __enter__(self) -> 'HalfThenHang':
        return self

    def __exit__(self, *exc) -> None:
        self.f.close()


def install_half_write(name: str, marker: str, timeout: float = 300.) -> None:
    """Make writes of the file ``name`` stop half-way (see HalfThenHang).

    Affects the writes of mmengine's local backend and of hvpt_mm's atomic
    one (which writes ``.{name}.tmp`` first), whichever the run uses.

    Args:
        name (str): Base name of the checkpoint, e.g. ``'epoch_2.pth'``.
        marker (str): File created when the write has stopped.
        timeout (float): Seconds to wait for the kill. Defaults to 300.
    """
    real_open = builtins.open

    def half_open(file, mode='r', *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if 'w' in mode and osp.basename(str(file)) in (name, f'.{name}.tmp'):
            return HalfThenHang(f, marker, timeout)
        return f

    fileio.open = local_backend.open = half_open


@HOOKS.register_module()
class HalfWriteCheckpointHook(Hook):
    """Stop the write of checkpoint ``name`` half-way so a test can kill us.

    Writes ``writing_{name}`` in the work dir when the half is on disk.

    Args:
        name (str): Base name of the checkpoint, e.g. ``'epoch_2.pth'``.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def before_train(self, runner) -> None:
        install_half_write(
            self.name, osp.join(runner.work_dir, f'writing_{self.name}'))
