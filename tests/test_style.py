# Copyright (c) hvpt_mm authors. All rights reserved.
"""The code passes the project's linter (ruff, flake8 rules, 79 columns),
as ``make lint`` runs it."""
import os.path as osp
import shutil
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_ruff_clean():
    ruff = shutil.which('ruff') or osp.join(osp.dirname(sys.executable),
                                             'ruff')
    if not osp.exists(ruff):
        pytest.skip('ruff is not installed (requirements/tests.txt)')
    proc = subprocess.run(
        [ruff, 'check', '--output-format', 'concise', '.'],
        cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_make_lint_runs_ruff():
    if shutil.which('make') is None:
        pytest.skip('make is not installed')
    proc = subprocess.run(['make', '-n', 'lint', f'PYTHON={sys.executable}'],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f'{sys.executable} -m ruff check .' in proc.stdout
