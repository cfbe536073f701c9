# Copyright (c) hvpt_mm authors. All rights reserved.
import os
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.runner.checkpoint import find_latest_checkpoint

from hvpt_mm.engine.hooks import HVPTLastCheckpointHook
from hvpt_mm.engine.hooks.last_checkpoint_hook import complete_checkpoints


def _runner(work_dir, resume=True, load_from=None):
    return SimpleNamespace(work_dir=str(work_dir),
                           cfg=dict(resume=resume, load_from=load_from))


def _save(folder, name, mtime):
    path = osp.join(folder, name)
    torch.save(dict(meta=dict(name=name)), path)
    os.utime(path, ns=(mtime, mtime))
    return path


@pytest.fixture
def work(tmp_path):
    """epoch_1, epoch_2 complete; epoch_3 cut short by a kill."""
    _save(tmp_path, 'epoch_1.pth', 10**18)
    latest = _save(tmp_path, 'epoch_2.pth', 2 * 10**18)
    with open(latest, 'rb') as f:
        half = f.read()[:100]
    with open(tmp_path / 'epoch_3.pth', 'wb') as f:
        f.write(half)
    os.utime(tmp_path / 'epoch_3.pth', ns=(3 * 10**18, 3 * 10**18))
    _save(tmp_path, 'best_acc_epoch_3.pth', 4 * 10**18)  # not a resume point
    (tmp_path / '.epoch_4.pth.tmp').write_bytes(b'partial')
    return tmp_path


def test_complete_checkpoints(work):
    assert [osp.basename(p) for p in complete_checkpoints(str(work))] == [
        'epoch_2.pth', 'epoch_1.pth']


@pytest.mark.parametrize('pointer', [
    None,  # killed before the pointer's first write
    '',  # killed inside CheckpointHook's open(..., 'w')
    'epoch_3.pth',  # names a truncated file (a non-atomic backend)
    'epoch_9.pth',  # names a file that is gone
])
def test_broken_pointer_repaired(work, pointer):
    if pointer is not None:
        (work / 'last_checkpoint').write_text(
            str(work / pointer) if pointer else '')
    HVPTLastCheckpointHook().before_run(_runner(work))
    assert find_latest_checkpoint(str(work)) == str(work / 'epoch_2.pth')


def test_good_pointer_and_other_runs_untouched(work):
    # A valid pointer is kept, even if not the newest file.
    (work / 'last_checkpoint').write_text(str(work / 'epoch_1.pth'))
    HVPTLastCheckpointHook().before_run(_runner(work))
    assert find_latest_checkpoint(str(work)) == str(work / 'epoch_1.pth')
    # Not resuming, or resuming a named file: nothing is read or written.
    (work / 'last_checkpoint').write_text('')
    HVPTLastCheckpointHook().before_run(_runner(work, resume=False))
    HVPTLastCheckpointHook().before_run(
        _runner(work, load_from=str(work / 'epoch_1.pth')))
    assert (work / 'last_checkpoint').read_text() == ''


def test_fresh_work_dir_and_nothing_to_resume(tmp_path):
    HVPTLastCheckpointHook().before_run(_runner(tmp_path))  # from scratch
    assert not osp.exists(tmp_path / 'last_checkpoint')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_1.pth'))
    with pytest.raises(FileNotFoundError, match='no complete checkpoint'):
        HVPTLastCheckpointHook().before_run(_runner(tmp_path))
