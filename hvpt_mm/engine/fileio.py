# Copyright (c) hvpt_mm authors. All rights reserved.
"""Atomic local writes for checkpoints.

mmengine's ``LocalBackend.put`` opens the target with ``'wb'`` and writes in
place: a job killed during the write (pre-emption, OOM killer, time limit)
leaves a truncated ``epoch_N.pth`` where a complete one may have stood, and
``last_checkpoint`` may point at it. :class:`HVPTAtomicLocalBackend` writes
to a temporary file in the same folder, flushes it to disk and renames it
over the target (``os.replace`` is atomic on POSIX and Windows), so a reader
sees either the previous file or the new one, never a part.

The default runtime points ``CheckpointHook`` at it::

    default_hooks = dict(checkpoint=dict(
        backend_args=dict(backend='hvpt_atomic_local')))

``CheckpointHook`` hands ``backend_args`` to ``runner.save_checkpoint`` (the
checkpoint file) and uses the same backend to delete outdated checkpoints.
It writes the ``last_checkpoint`` pointer with a plain ``open`` instead;
:class:`~hvpt_mm.engine.hooks.HVPTLastCheckpointHook` repairs that pointer
when a run resumes. Note that ``CheckpointHook`` deletes the oldest kept
checkpoint *before* it writes the new one: with ``max_keep_ckpts=1`` a kill
during the write leaves no checkpoint at all; keep 2 or more.
"""
import os
import os.path as osp
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend
from mmengine.utils import mkdir_or_exist

__all__ = ['HVPTAtomicLocalBackend', 'atomic_write', 'temp_path_for']


def temp_path_for(filepath: Union[str, Path]) -> str:
    """The temporary file that :func:`atomic_write` renames onto a target.

    The name is fixed per target (hidden, same folder, so that the rename
    never crosses file systems): a temporary left by a killed job is
    overwritten by the next write of the same target instead of piling up.
    Two processes writing one target at once are not supported (they never
    were with mmengine's backend either).
    """
    filepath = str(filepath)
    return osp.join(osp.dirname(filepath), f'.{osp.basename(filepath)}.tmp')


def _fsync_dir(dirname: str) -> None:
    """Persist a rename in ``dirname`` (POSIX; a no-op where unsupported)."""
    try:
        fd = os.open(dirname or '.', os.O_RDONLY)
    except OSError:  # Windows cannot open folders; its rename is durable.
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(filepath: Union[str, Path], data: bytes) -> None:
    """Write ``data`` to ``filepath`` so that no reader sees a partial file.

    Args:
        filepath (str | Path): Target path; its folder is created if needed.
        data (bytes): The whole content.
    """
    filepath = str(filepath)
    dirname = osp.dirname(filepath)
    if dirname:
        mkdir_or_exist(dirname)
    tmp = temp_path_for(filepath)
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            # Without fsync a crash of the machine (not only of the job)
            # could leave the renamed file empty on some file systems.
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        # Failed or interrupted (KeyboardInterrupt included): the target is
        # untouched; do not leave the partial temporary behind.
        if osp.lexists(tmp):
            os.remove(tmp)
        raise
    _fsync_dir(dirname)


@register_backend('hvpt_atomic_local', force=True)
class HVPTAtomicLocalBackend(LocalBackend):
    """:class:`mmengine.fileio.LocalBackend` whose writes are atomic.

    ``put`` and ``put_text`` go through :func:`atomic_write`; everything
    else (reads, ``remove``, ``join_path``...) is the local backend's.
    Select it with ``backend_args=dict(backend='hvpt_atomic_local')``; it
    does not take over plain local paths elsewhere.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes to ``filepath`` atomically.

        Args:
            obj (bytes): Data to be written.
            filepath (str | Path): Path to write data.
        """
        atomic_write(filepath, obj)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically.

        Args:
            obj (str): Text to be written.
            filepath (str | Path): Path to write text.
            encoding (str): The encoding format used to encode ``obj``.
                Defaults to 'utf-8'.
        """
        atomic_write(filepath, obj.encode(encoding))
