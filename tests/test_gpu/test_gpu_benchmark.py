# Copyright (c) hvpt_mm authors. All rights reserved.
"""tools/analysis/benchmark_step.py --device cuda with the tiny preset."""
import json
import math

import pytest

from _helpers.tiny import TINY_DIMS, run_tool
from test_gpu.hvpt_gpu_utils import GPU, NEEDS_BF16

pytestmark = GPU

VARIANTS = {'hvp', 'simmim', 'mocov3', 'naive_sum'}


@pytest.mark.parametrize('dtype', [
    'fp16',
    pytest.param('bf16', marks=NEEDS_BF16),
])
def test_benchmark_step_cuda(tmp_path, dtype):
    out = tmp_path / 'step.json'
    proc = run_tool([
        'tools/analysis/benchmark_step.py', '--arch',
        f'embed_dims={TINY_DIMS},depths=1,1,1,1', '--img-size', '64',
        '--window-size', '2', '--batch', '4', '--num-classes', '5',
        '--iters', '3', '--warmup', '1', '--dtype', dtype, '--device',
        'cuda', '--out', str(out)
    ], timeout=300)
    assert '| HVP: mim + con + mlc, one pass |' in proc.stdout
    record = json.loads(out.read_text())
    assert record['device'].startswith('cuda')
    assert record['machine']['gpu']
    assert record['args']['dtype'] == dtype
    assert set(record['variants']) == VARIANTS
    for name, row in record['variants'].items():
        # GPU memory is torch.cuda.max_memory_allocated; no RSS figure.
        assert row['peak_mb'] > 0 and row['rss_mb'] is None, (name, row)
        assert all(math.isfinite(t) and t > 0 for t in row['ms_steps'])
        assert len(row['ms_steps']) == 3
    v = record['variants']
    assert v['naive_sum']['peak_mb'] > v['simmim']['peak_mb']
