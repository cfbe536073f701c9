# Copyright (c) hvpt_mm authors. All rights reserved.
"""A tiny end-to-end run of the demo pipeline (tools/demo/run_demo.py)."""
import json
import math
import os.path as osp

import pytest

from _helpers.tiny import run_tool


@pytest.fixture(scope='module')
def fashion_mnist():
    from hvpt_mm.datasets.demo_scenes import find_fashion_mnist
    try:
        return find_fashion_mnist()
    except FileNotFoundError as e:
        pytest.skip(f'demo photos not installed: {e}')


def test_demo_quick_end_to_end(tmp_path, fashion_mnist):
    report = tmp_path / 'report'
    proc = run_tool([
        'tools/demo/run_demo.py', '--quick', '--data-root',
        str(tmp_path / 'data'), '--work-dir',
        str(tmp_path / 'work'), '--report-dir',
        str(report)
    ], timeout=1200)
    for name in ('summary.md', 'metrics.json', 'loss_curves.png',
                 'reconstruction.png'):
        assert (report / name).is_file(), name
    with open(report / 'metrics.json') as f:
        result = json.load(f)
    assert result['variant'] == 'hvp'
    for col in ('linear mAP', 'box AP', 'mask AP', 'mIoU'):
        assert math.isfinite(result['metrics'][col]), col
    assert '| pre-training | linear mAP | box AP | mask AP | mIoU |' in \
        proc.stdout
    # The PNGs are real images.
    from PIL import Image
    for name in ('loss_curves.png', 'reconstruction.png'):
        with Image.open(report / name) as im:
            assert min(im.size) > 50
    # The scenes were built where asked, and the runs read them there.
    assert osp.isfile(tmp_path / 'data' / 'annotations' / 'meta.json')
    cfg_dump = next((tmp_path / 'work' / 'linear').glob('*.py')).read_text()
    assert str(tmp_path / 'data') in cfg_dump
