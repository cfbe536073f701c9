# Copyright (c) hvpt_mm authors. All rights reserved.
"""The package as a user installs it: a wheel of the checkout."""
import os
import os.path as osp
import shutil
import subprocess
import sys
from typing import Dict, List, Optional

from _helpers.tiny import REPO

# What a wheel is not built from.
NOT_SOURCES = ('.venv', '.git', 'work_dirs', 'data', 'reports', '.mim',
               '*.egg-info', '__pycache__', 'build', 'dist', '.pytest_cache')


def install_wheel(base_dir: str) -> str:
    """Build a wheel of the checkout and install it into a folder.

    ``pip install --target`` unpacks the wheel as a regular (non-editable)
    install would: ``hvpt_mm/`` with its ``.mim`` copies,
    ``_hvpt_mm_hook.py`` and ``_hvpt_mm_hook.pth`` at the top. Done once
    per ``base_dir``.

    Args:
        base_dir (str): Where to build and install (a session temp dir).

    Returns:
        str: The install folder (a site dir for :func:`site.addsitedir`, or
        a ``PYTHONPATH`` entry).
    """
    target = osp.join(base_dir, 'site')
    if osp.isfile(osp.join(target, '_hvpt_mm_hook.pth')):
        return target
    src, dist = osp.join(base_dir, 'src'), osp.join(base_dir, 'dist')
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(*NOT_SOURCES),
                    dirs_exist_ok=True)
    pip = [sys.executable, '-m', 'pip', '--disable-pip-version-check']
    _run([*pip, 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w',
          dist, src])
    wheels = [osp.join(dist, f) for f in os.listdir(dist)
              if f.endswith('.whl')]
    assert len(wheels) == 1, wheels
    _run([*pip, 'install', '--no-deps', '-q', '--target', target, *wheels])
    return target


def _run(cmd: List[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f'{" ".join(cmd)} failed:\n'
                             f'{proc.stdout[-3000:]}{proc.stderr[-3000:]}')


def outside_checkout_env(pythonpath: Optional[str] = None) -> Dict[str, str]:
    """Environment of a user's shell: no checkout or tests on the path.

    Args:
        pythonpath (str, optional): The only ``PYTHONPATH`` entry.
    """
    env = dict(os.environ)
    env.pop('PYTHONPATH', None)
    if pythonpath:
        env['PYTHONPATH'] = pythonpath
    env['PATH'] = os.pathsep.join(
        [osp.dirname(sys.executable), env.get('PATH', '')])
    return env
