# Copyright (c) hvpt_mm authors. All rights reserved.
"""tools/analysis/gpu_report.py and gpu_check.sh, on whatever is here.

The report is built from a real pytest run of the GPU tier (skipped on a
machine without a GPU) and a real (tiny, CPU) step benchmark.
"""
import os.path as osp
import subprocess
import sys

import pytest
import torch

from _helpers.tiny import REPO, TINY_DIMS, run_tool
from test_transfer.hvpt_transfer_utils import load_tool

TIER = 16  # tests in tests/test_gpu


@pytest.fixture(scope='module')
def report_tool():
    return load_tool('tools/analysis/gpu_report.py')


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('gpu_report')
    junit, bench = str(tmp / 'tests.xml'), str(tmp / 'bench.json')
    subprocess.run([sys.executable, '-m', 'pytest', '-m', 'gpu',
                    'tests/test_gpu', '-q', '-p', 'no:cacheprovider',
                    '--junitxml', junit], cwd=REPO, capture_output=True,
                   timeout=300)
    run_tool(['tools/analysis/benchmark_step.py', '--arch',
              f'embed_dims={TINY_DIMS},depths=1,1,1,1', '--img-size', '64',
              '--window-size', '2', '--batch', '2', '--num-classes', '5',
              '--iters', '1', '--warmup', '0', '--variants', 'hvp',
              'simmim', '--device', 'cpu', '--out', bench],
             env=dict(OMP_NUM_THREADS='1'), timeout=300)
    ops = tmp / 'ops.txt'
    ops.write_text('mmcv 2.1.0 ops on cuda:0: RoIAlign (forward, backward) '
                   'and nms correct; compiled with CUDA 13.0\n')
    return junit, bench, str(ops)


def test_read_junit(report_tool, inputs):
    cases = report_tool.read_junit(inputs[0])
    assert len(cases) == TIER
    assert all(c['test'].startswith('test_gpu_') for c in cases)
    want = 'skipped' if not torch.cuda.is_available() else 'passed'
    assert {c['outcome'] for c in cases} == {want}
    if want == 'skipped':
        assert all('needs a CUDA GPU' in c['message'] for c in cases)


def test_report(report_tool, inputs, tmp_path):
    out = str(tmp_path / 'report.md')
    report = report_tool.main(
        ['--junit', inputs[0], '--benchmark', inputs[1], '--ops-check',
         inputs[2], '--seconds', 'tests=90', 'benchmark=30', '--out', out])
    with open(out) as f:
        assert f.read() == report
    lines = report.splitlines()
    assert lines[0].startswith('# GPU check, ')
    assert f'- torch {torch.__version__}' in report
    assert '- ops check: mmcv 2.1.0 ops on cuda:0' in report
    assert '- time: 2.0 min (tests 1.5, benchmark 0.5)' in report
    assert '## GPU test tier (`pytest -m gpu`): ' in report
    rows = [line for line in lines if line.startswith('| `test_gpu_')]
    assert len(rows) == TIER
    assert f'## Training step: Swin embed_dims={TINY_DIMS}' in report
    assert '| HVP: mim + con + mlc, one pass |' in report
    assert '| SimMIM (mmpretrain) |' in report


def test_report_names_missing_inputs(report_tool, tmp_path):
    report = report_tool.build_report(str(tmp_path / 'none.xml'),
                                      str(tmp_path / 'none.json'))
    assert 'no results (pytest did not run)' in report
    assert 'benchmark: no results' in report


@pytest.mark.skipif(torch.cuda.is_available(), reason='a GPU is visible')
def test_gpu_check_refuses_without_gpu(tmp_path):
    proc = subprocess.run(
        ['bash', osp.join(REPO, 'tools/analysis/gpu_check.sh'),
         str(tmp_path / 'out')], env=dict(PYTHON=sys.executable,
                                          PATH='/usr/bin:/bin'),
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert 'torch sees no CUDA GPU' in proc.stderr
    assert not osp.exists(tmp_path / 'out' / 'report.md')
