# Copyright (c) hvpt_mm authors. All rights reserved.
"""The start-up hook of a real editable install, in a throwaway venv."""
import os
import os.path as osp
import subprocess

import pytest

from _helpers.tiny import REPO
from test_scripts.test_setup_checks import _editable_install

CHECKS = osp.join(REPO, 'scripts', 'setup_checks.py')
HOOK_ACTIVE = ('import sys; print("_hvpt_mm_hook" in sys.modules, '
               '[type(f).__name__ for f in sys.meta_path][0])')


@pytest.fixture(scope='module')
def editable(tmp_path_factory):
    """``(python, site-packages, checkout)`` of a compat editable install
    with its ``.mim`` link, as ``make setup`` leaves it."""
    python, site, checkout = _editable_install(
        tmp_path_factory.mktemp('editable'), compat=True)
    proc = subprocess.run([python, CHECKS, 'mim-folder', checkout],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return python, site, checkout


def _run(python, code):
    return subprocess.run([python, '-c', code], cwd='/',
                          capture_output=True, text=True)


def test_moved_checkout_is_silent(editable):
    """Every interpreter of the env runs our ``.pth``; once the checkout
    has moved it prints nothing and installs nothing (the bug: site's
    "Error processing line 1 of _hvpt_mm_hook.pth" traceback in every
    ``python`` of the env)."""
    python, _, checkout = editable
    proc = _run(python, HOOK_ACTIVE)
    assert (proc.stdout, proc.stderr) == ('True ConfigTableFinder\n', '')
    moved = checkout + '_moved'
    os.rename(checkout, moved)
    try:
        proc = _run(python, 'pass')
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, '', '')
        proc = _run(python, HOOK_ACTIVE)
        assert proc.stderr == ''
        assert proc.stdout.split()[0] == 'False'
    finally:
        os.rename(moved, checkout)


def test_check_finds_an_older_hook_line(editable):
    """``make setup`` skips work when ``mim-folder --check`` passes; an
    install made before the hook's line changed must fail it, or the env
    keeps the old line (the bug: an unguarded line surviving updates)."""
    python, site, checkout = editable
    check = [python, CHECKS, 'mim-folder', '--check', checkout]
    assert subprocess.run(check, capture_output=True).returncode == 0
    installed = osp.join(site, '_hvpt_mm_hook.pth')
    with open(installed) as f:
        current = f.read()
    with open(installed, 'w') as f:
        f.write('import _hvpt_mm_hook\n')  # the first version's line
    try:
        proc = subprocess.run(check, capture_output=True, text=True)
        assert proc.returncode == 1
        assert proc.stderr.startswith(
            f"{installed} differs from the checkout's "
            f'{osp.join(checkout, "_hvpt_mm_hook.pth")}; install again')
    finally:
        with open(installed, 'w') as f:
            f.write(current)
