# Copyright (c) hvpt_mm authors. All rights reserved.
import logging
import os
import os.path as osp
import re
import zipfile
from typing import List, Optional

from mmengine.dist import barrier, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmpretrain.registry import HOOKS
from hvpt_mm.engine.fileio import atomic_write

# What CheckpointHook writes by default (filename_tmpl 'epoch_{}.pth' /
# 'iter_{}.pth'); best_*.pth are not resume points.
_CKPT_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a whole ``torch.save`` file.

    ``torch.save`` writes a zip archive whose central directory comes last,
    so a file cut short by a killed write fails this check without being
    read in full.
    """
    return osp.isfile(path) and zipfile.is_zipfile(path)


def complete_checkpoints(folder: str) -> List[str]:
    """Complete ``epoch_N.pth`` / ``iter_N.pth`` of ``folder``, newest first.

    Args:
        folder (str): A work dir (or CheckpointHook ``out_dir``).

    Returns:
        list[str]: Paths ordered by modification time, then by ``N``.
    """
    if not osp.isdir(folder):
        return []
    found = []
    for name in os.listdir(folder):
        match = _CKPT_NAME.match(name)
        path = osp.join(folder, name)
        if match and is_complete_checkpoint(path):
            found.append((os.stat(path).st_mtime_ns, int(match.group(2)),
                          path))
    return [path for _, _, path in sorted(found, reverse=True)]


@HOOKS.register_module()
class HVPTLastCheckpointHook(Hook):
    """Point an auto-resume at the newest complete checkpoint.

    ``CheckpointHook`` records the latest checkpoint in
    ``{work_dir}/last_checkpoint`` with a plain ``open(..., 'w')`` after the
    checkpoint itself is written. A job killed between the two, or during
    that short write, leaves the pointer missing (mmengine then silently
    trains from scratch), empty (mmengine fails to resume from ``''``) or
    naming a file that is not there or incomplete. With ``resume=True`` and
    no ``load_from`` (``tools/train.py --resume``), this hook checks the
    pointer before the runner reads it and, if it does not name a complete
    checkpoint, rewrites it atomically to the newest complete
    ``epoch_N.pth`` / ``iter_N.pth`` (logging what it did); with none at
    all, a broken pointer stops the run with the reason.

    It runs in ``before_run`` at the highest priority, before the runner
    loads anything.
    """

    priority = 'HIGHEST'

    def before_run(self, runner) -> None:
        cfg = runner.cfg
        if not cfg.get('resume') or cfg.get('load_from'):
            return
        if is_main_process():
            self._repair(runner.work_dir)
        # Every rank reads the pointer itself in runner.load_or_resume.
        barrier()

    @staticmethod
    def _read_pointer(pointer: str) -> Optional[str]:
        if not osp.isfile(pointer):
            return None
        with open(pointer) as f:
            return f.read().strip()

    def _repair(self, work_dir: str) -> None:
        pointer = osp.join(work_dir, 'last_checkpoint')
        named = self._read_pointer(pointer)
        if named and is_complete_checkpoint(named):
            return
        # The pointer may name a CheckpointHook out_dir other than work_dir.
        folders = [work_dir]
        if named and osp.isdir(osp.dirname(named)):
            folders.insert(0, osp.dirname(named))
        candidates = [c for folder in folders
                      for c in complete_checkpoints(folder)]
        if named is None and not candidates:
            return  # a fresh work dir: mmengine starts from scratch
        if not candidates:
            raise FileNotFoundError(
                f'{pointer} names {named!r}, which is missing or incomplete, '
                f'and {work_dir} holds no complete checkpoint to resume '
                'from. Name one with --resume PATH, or start without '
                '--resume.')
        latest = candidates[0]
        state = ('missing' if named is None else
                 'empty' if not named else f'naming {named}, which is '
                 'missing or incomplete,')
        print_log(
            f'{pointer} was {state}; resuming from {latest}, the newest '
            'complete checkpoint', logger='current', level=logging.WARNING)
        atomic_write(pointer, latest.encode())
