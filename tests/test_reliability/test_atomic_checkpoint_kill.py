# Copyright (c) hvpt_mm authors. All rights reserved.
"""A process killed while writing a checkpoint keeps the previous one."""
import os
import os.path as osp
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from test_reliability.hvpt_reliability_utils import (  # noqa: I001
    tool_env, wait_for_file)

# Saves a new checkpoint over ``target`` through mmengine's save_checkpoint
# with the given backend; the file write stops half-way (the process then
# waits to be killed), as a job killed during a large write would.
WRITER = textwrap.dedent('''
    import os.path as osp, sys
    import torch
    import hvpt_mm  # registers the backend
    from mmengine.runner.checkpoint import save_checkpoint
    from _helpers.half_write import install_half_write

    target, marker, backend = sys.argv[1:4]
    install_half_write(osp.basename(target), marker)
    save_checkpoint(dict(state_dict=dict(w=torch.full((256, 256), 2.))),
                    target, backend_args=dict(backend=backend))
''')


@pytest.mark.parametrize('backend,survives', [
    ('hvpt_atomic_local', True),
    # mmengine's own backend writes in place: the same kill destroys the
    # previous checkpoint. Shows that the kill lands inside the write.
    ('local', False),
])
def test_sigkill_during_checkpoint_write(tmp_path, backend, survives):
    target = str(tmp_path / 'epoch_1.pth')
    torch.save(dict(state_dict=dict(w=torch.ones(256, 256))), target)
    marker, log = str(tmp_path / 'writing'), str(tmp_path / 'writer.log')
    with open(log, 'w') as out:
        proc = subprocess.Popen(
            [sys.executable, '-c', WRITER, target, marker, backend],
            env=tool_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_file(marker, proc, log, timeout=120)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    if survives:
        ckpt = torch.load(target)
        assert torch.equal(ckpt['state_dict']['w'], torch.ones(256, 256))
        # The half-written data sits in a hidden temporary beside it,
        # overwritten by the next save of the same checkpoint.
        assert osp.isfile(osp.join(tmp_path, '.epoch_1.pth.tmp'))
    else:
        with pytest.raises(Exception):
            torch.load(target)
