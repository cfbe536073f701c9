# Copyright (c) hvpt_mm authors. All rights reserved.
"""tools/dist_test.sh picks its rendezvous port as dist_train.sh does."""
import os
import os.path as osp
import re
import subprocess
import sys

from test_reliability.hvpt_reliability_utils import free_port

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _launch_args(tmp_path, **env):
    """The arguments dist_test.sh hands to `python -m torch.distributed.run`.

    A stand-in interpreter records them (and runs the script's own
    `python -c` port probe with the real one), so nothing is launched.
    """
    fake = tmp_path / 'python'
    fake.write_text('#!/usr/bin/env bash\n'
                    f'if [ "$1" = -c ]; then exec {sys.executable} "$@"; fi\n'
                    'echo "$@"\n')
    fake.chmod(0o755)
    run_env = {k: v for k, v in os.environ.items()
               if k not in ('PORT', 'NNODES')}
    run_env.update(PYTHON=str(fake), **env)
    out = subprocess.run(
        ['bash', osp.join(REPO, 'tools', 'dist_test.sh'), 'CFG.py', 'CKPT',
         '2', '--work-dir', 'W'], env=run_env, capture_output=True,
        text=True, check=True).stdout
    return out.split()


def _port(args):
    return int(re.search(r'--master_port=(\d+)', ' '.join(args)).group(1))


def test_one_machine_takes_a_free_port(tmp_path):
    """Catches the fixed 29500, with which two evaluations on one machine
    (or one beside a training) fail to rendezvous."""
    args = _launch_args(tmp_path)
    assert _port(args) != 29500
    assert args[-6:] == ['CFG.py', 'CKPT', '--launcher', 'pytorch',
                         '--work-dir', 'W']


def test_port_from_the_environment_and_several_machines(tmp_path):
    """A set PORT is used as it is; several machines default to 29500
    (they must agree, so no machine may draw its own)."""
    port = free_port()
    assert _port(_launch_args(tmp_path, PORT=str(port))) == port
    assert _port(_launch_args(tmp_path, NNODES='2')) == 29500
