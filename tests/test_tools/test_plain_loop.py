# Copyright (c) hvpt_mm authors. All rights reserved.
"""tools/analysis/plain_loop.py: both subcommands, 3 steps on 16 scenes."""
import json
import math

import pytest

from _helpers.tiny import run_tool

TOOL = 'tools/analysis/plain_loop.py'
# One thread: the suite may run beside other jobs on 2 cores.
ENV = dict(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
COMMON = ['--num-train', '16', '--num-val', '16', '--max-items', '2',
          '--steps', '3', '--batch-size', '8', '--warmup', '1',
          '--log-interval', '2', '--threads', '1']
# The demo config's HVP model at 16 dims, one block per stage.
TINY_HVP = [
    '--cfg-options', 'model.backbone.arch.embed_dims=16',
    'model.backbone.arch.depths=[1,1,1,1]',
    'model.backbone.arch.num_heads=[1,1,2,4]', 'model.neck.in_channels=128',
    'model.con_neck.in_channels=128', 'model.con_neck.hid_channels=32',
    'model.con_neck.out_channels=16',
    'model.con_head.predictor.in_channels=16',
    'model.con_head.predictor.hid_channels=32',
    'model.con_head.predictor.out_channels=16',
    'model.mlc_head.in_channels=128'
]


@pytest.fixture(scope='module')
def cache_dir(tmp_path_factory):
    from test_transfer.hvpt_transfer_utils import load_tool
    demo_scenes = load_tool('tools/dataset_converters/demo_scenes.py')
    try:
        demo_scenes.find_fashion_mnist()
    except FileNotFoundError as e:
        pytest.skip(f'demo photos not installed: {e}')
    return tmp_path_factory.mktemp('scenes')


def _run(args: list, cache_dir, tmp_path) -> dict:
    out = tmp_path / 'results.jsonl'
    run_tool([TOOL, *args, *COMMON, '--cache-dir', str(cache_dir), '--out',
              str(out)], env=ENV, timeout=120)
    lines = out.read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record['args']['command'] == args[0]
    assert record['args']['num_train'] == 16
    # 3 steps logged every 2: two windows per curve.
    for key, value in record.items():
        if key.startswith(('first_loss', 'last_loss')):
            assert math.isfinite(value), (key, record)
        if key.startswith('curve_loss'):
            assert len(value) == 2 and all(map(math.isfinite, value)), key
    assert list(cache_dir.iterdir()), 'scenes were not cached'
    return record


@pytest.mark.parametrize('arch', [
    ['--embed-dims', '16', '--depths', '1,1,1,1', '--init', 'trunc_normal'],
    ['--arch', 'resnet18']
])
def test_supervised(arch, cache_dir, tmp_path):
    record = _run(['supervised', *arch], cache_dir, tmp_path)
    assert math.isfinite(record['first_loss'])
    assert math.isfinite(record['val_loss'])
    assert 0 <= record['val_map'] <= 100


def test_hvp(cache_dir, tmp_path):
    record = _run([
        'hvp', *TINY_HVP, '--loss-weights', '1,1,1', '--labelled-fraction',
        '0.5', '--labelled-mask-prob', '0.5', '--pool-visible',
        '--grad-norm-interval', '2'
    ], cache_dir, tmp_path)
    for signal in ('mim', 'con', 'mlc'):
        assert math.isfinite(record[f'last_loss_{signal}'])
        # Measured at step 2 of 3 only: in the first window, not the last.
        norms = record[f'curve_grad_norm_{signal}']
        assert math.isfinite(norms[0]) and norms[1] is None, norms
    args = record['args']
    # Mask settings not given come from the config's HVPTMixedSignals.
    assert args['mask_patch_size'] == 16 and args['mask_ratio'] == 0.6
    assert args['labelled_mask_prob'] == 0.5 and args['pool_visible']
    assert 2 <= record['probe_scenes'] <= 16
    assert 0 <= record['probe_map'] <= 100
