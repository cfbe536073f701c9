# Copyright (c) hvpt_mm authors. All rights reserved.
"""Shared pieces of the reliability tests: configs, jobs, loss records."""
import glob
import json
import os
import os.path as osp
import socket
import subprocess
import sys
import time
from typing import Dict, List, Optional

# Re-exported for the reliability tests.
from _helpers.tiny import PRETRAIN_CONFIG as CONFIG  # noqa: F401
from _helpers.tiny import REPO, epoch_options, write_config  # noqa: F401


def tool_env(extra: Optional[dict] = None) -> dict:
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [osp.join(REPO, 'tests'), env.get('PYTHONPATH', '')])
    env.setdefault('PYTHON', sys.executable)
    env['OMP_NUM_THREADS'] = '1'
    env.update(extra or {})
    return env


def start_tool(args: List[str], log: str,
               env: Optional[dict] = None) -> subprocess.Popen:
    """Start a repo tool in the background; output goes to ``log``."""
    cmd = args if args[0].endswith('.sh') else [sys.executable] + args
    with open(log, 'w') as out:
        return subprocess.Popen(cmd, cwd=REPO, env=tool_env(env),
                                stdout=out, stderr=subprocess.STDOUT)


def finish(proc: subprocess.Popen, log: str, timeout: float = 300,
           expect_ok: bool = True) -> str:
    """Wait for ``proc``; return its output, failing with it if needed."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    with open(log) as f:
        text = f.read()
    if expect_ok and proc.returncode != 0:
        raise AssertionError(
            f'{proc.args} exited {proc.returncode}\n{text[-8000:]}')
    return text


def wait_for_file(path: str, proc: subprocess.Popen, log: str,
                  timeout: float = 300) -> None:
    """Poll for ``path``; fail early if ``proc`` ends first."""
    deadline = time.monotonic() + timeout
    while not osp.exists(path):
        if proc.poll() is not None:
            raise AssertionError(
                f'job ended ({proc.returncode}) before {path} appeared\n' +
                finish(proc, log, expect_ok=False)[-8000:])
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f'{path} did not appear in {timeout} s')
        time.sleep(0.1)


def losses_by_iter(work_dir: str, rank: int = 0) -> Dict[int, dict]:
    """RecordLossHook's records; a resumed run's later ones win."""
    paths = glob.glob(osp.join(work_dir, '**', f'losses_rank{rank}.jsonl'),
                      recursive=True)
    assert paths, f'no losses_rank{rank}.jsonl under {work_dir}'
    out = {}
    with open(paths[0]) as f:
        for line in f:
            rec = json.loads(line)
            out[rec['iter']] = rec
    return out


def scalars(work_dir: str) -> List[dict]:
    """The rows of the run's ``vis_data/scalars.json``."""
    paths = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    assert paths, f'no scalars.json under {work_dir}'
    with open(paths[-1]) as f:
        return [json.loads(line) for line in f]


def free_port() -> int:
    """A TCP port nobody listens on now (for a distributed rendezvous)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def assert_one_step_skipped(checkpoint: str) -> None:
    """A 3-iteration epoch whose second step was skipped as non-finite.

    Two optimizer steps were made, every weight is finite, and the skip is
    counted in the message hub the checkpoint carries for a resume.
    """
    import torch
    ckpt = torch.load(checkpoint, map_location='cpu', weights_only=False)
    steps = {int(s['step']) for s in ckpt['optimizer']['state'].values()}
    assert steps == {2}
    assert all(torch.isfinite(v).all()
               for v in ckpt['state_dict'].values() if v.is_floating_point())
    assert ckpt['message_hub']['runtime_info']['nonfinite_skips'] == 1
