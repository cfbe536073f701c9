# Copyright (c) hvpt_mm authors. All rights reserved.
"""tools/analysis/benchmark_{step,pipeline}.py in tiny settings."""
import importlib.util
import json
import math
import os.path as osp

import pytest

from _helpers.tiny import TINY_DIMS, run_tool

STEP = 'tools/analysis/benchmark_step.py'
PIPELINE = 'tools/analysis/benchmark_pipeline.py'
VARIANTS = ('hvp', 'simmim', 'mocov3', 'naive_sum')
ROW_TITLES = ('HVP: mim + con + mlc, one pass', 'SimMIM (mmpretrain)',
              'MoCo v3-style, 2 views', 'naive sum: SimMIM + MoCo v3')
# One thread: the suite may run beside other jobs on 2 cores.
ENV = dict(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def test_benchmark_step_tiny(tmp_path):
    out = tmp_path / 'step.json'
    proc = run_tool([
        STEP, '--arch', f'embed_dims={TINY_DIMS},depths=1,1,1,1',
        '--img-size', '64', '--window-size', '2', '--batch', '2',
        '--num-classes', '5', '--iters', '2', '--warmup', '1',
        '--mem-iters', '1', '--with-cp', '--device', 'cpu', '--out',
        str(out)
    ], env=ENV, timeout=120)
    table = [line for line in proc.stdout.splitlines()
             if line.startswith('| ')]
    assert table[0].startswith('| variant | ms/step | images/s | peak MB')
    for title in ROW_TITLES:
        rows = [line for line in table if line.startswith(f'| {title} |')]
        assert len(rows) == 1, (title, proc.stdout)
        cells = [c.strip() for c in rows[0].strip('|').split('|')]
        assert len(cells) == 7 and all(cells), rows[0]
    assert '| SimMIM (mmpretrain) |' in proc.stdout
    assert '1.00x | 1.00x |' in [r for r in table if 'SimMIM (mm' in r][0]

    record = json.loads(out.read_text())
    assert set(record['variants']) == set(VARIANTS)
    for name, row in record['variants'].items():
        for key in ('ms_per_step', 'images_per_s', 'peak_mb', 'rss_mb',
                    'time_ratio', 'memory_ratio'):
            assert _finite(row[key]) and row[key] > 0, (name, key, row)
        assert len(row['ms_steps']) == 2
    assert record['variants']['simmim']['time_ratio'] == pytest.approx(1.)
    # Every model is counted whole: the naive sum holds both models.
    v = record['variants']
    assert v['naive_sum']['peak_mb'] > v['simmim']['peak_mb']
    assert v['naive_sum']['peak_mb'] > v['mocov3']['peak_mb']
    assert record['args']['with_cp'] is True
    assert record['machine']['torch']


def _load_tool(repo_root: str, path: str):
    spec = importlib.util.spec_from_file_location(
        osp.splitext(osp.basename(path))[0], osp.join(repo_root, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_step_arch_option(repo_root, capsys):
    tool = _load_tool(repo_root, STEP)
    assert tool.parse_args(['--arch', 'base']).arch == 'base'
    args = tool.parse_args(['--arch', 'embed_dims=32,depths=1,1,1,1'])
    assert args.arch == dict(embed_dims=32, depths=[1, 1, 1, 1],
                             num_heads=[1, 2, 4, 8])
    assert args.proj_dims == (64, 32)  # the test preset's projector
    args = tool.parse_args(
        ['--arch', 'embed_dims=32,depths=1,1,1,1,num_heads=1,2,2,4'])
    assert args.arch['num_heads'] == [1, 2, 2, 4]
    assert tool.parse_args([]).proj_dims == (None, None)  # the config's
    for bad in (['--arch', 'embed_dims=32'], ['--arch', 'huge'],
                ['--mem-iters', '0']):
        with pytest.raises(SystemExit):
            tool.parse_args(bad)
    assert 'custom arch needs' in capsys.readouterr().err


def test_benchmark_pipeline_tiny(tmp_path):
    out = tmp_path / 'pipeline.json'
    proc = run_tool([
        PIPELINE, '--input-size', '64', '--rounds', '1', '--warmup', '0',
        '--short-sides', '96', '--breakdown', '--out', str(out)
    ], env=ENV, timeout=120)
    for setting in ('decoded', 'jpeg'):
        for title in ('HVPTMixedSignals', 'MoCo v3 MultiView'):
            assert any(line.startswith(f'| {setting} | {title}')
                       for line in proc.stdout.splitlines()), proc.stdout
    record = json.loads(out.read_text())
    for setting in ('decoded', 'jpeg'):
        for name in ('hvp', 'mocov3'):
            res = record['results'][setting][name]
            assert _finite(res['images_per_s']) and res['images_per_s'] > 0
            assert _finite(res['ratio_to_mocov3'])
    # The breakdown reaches into both views of each pipeline.
    hvp = record['breakdown']['jpeg/hvp']
    assert any(k.startswith('HVPTMixedSignals/target/') for k in hvp)
    assert 'HVPTLoadImageFromFile' in hvp
    mocov3 = record['breakdown']['decoded/mocov3']
    assert any(k.startswith('MultiView/view2/') for k in mocov3)
    # The MoCo v3 crops follow --input-size.
    cfg = json.dumps(record['pipelines']['mocov3'])
    assert '"scale": 64' in cfg and '"scale": 224' not in cfg
