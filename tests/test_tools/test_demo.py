# Copyright (c) hvpt_mm authors. All rights reserved.
"""A tiny end-to-end run of the demo pipeline (tools/demo/run_demo.py)."""
import json
import math
import os.path as osp
import subprocess
import sys

import pytest

from _helpers.tiny import REPO, run_tool
from test_transfer.hvpt_transfer_utils import load_tool

# The demo's harness (pipeline.py, report.py), importable as its scripts
# import it when they run.
sys.path.insert(0, osp.join(REPO, 'tools', 'demo'))


@pytest.fixture(scope='module')
def fashion_mnist():
    find_fashion_mnist = load_tool(
        'tools/dataset_converters/demo_scenes.py').find_fashion_mnist
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

    # The held-out test scenes: each transfer's final checkpoint evaluated
    # by tools/test.py, saved with the run.
    import os
    from pipeline import Budget, add_test_metrics
    os.environ['HVPT_DEMO_DATA'] = str(tmp_path / 'data') + '/'
    try:
        add_test_metrics(result, str(tmp_path / 'work'), Budget.quick())
    finally:
        del os.environ['HVPT_DEMO_DATA']
    assert sorted(result['test_metrics']) == sorted(result['metrics'])
    assert all(math.isfinite(v) for v in result['test_metrics'].values())
    with open(tmp_path / 'work' / 'result.json') as f:
        assert json.load(f)['test_metrics'] == result['test_metrics']
    log = (tmp_path / 'work' / 'detection' / 'test' / 'test.log').read_text()
    assert 'instances_test.json' in log


def _load_benchmark():
    return load_tool('tools/demo/run_benchmark.py')


def test_benchmark_table_and_verdict(tmp_path):
    bench = _load_benchmark()
    metrics = {
        'hvp': [50., 10., 8., 40.],
        'mim-only': [45., 11., 7., 39.],
        'random': [30., 5., 4., 30.],
    }
    results = [
        dict(variant=v, seed=s,
             metrics=dict(zip(('linear mAP', 'box AP', 'mask AP', 'mIoU'),
                              [m + s for m in vals])))
        for v, vals in metrics.items() for s in (0, 2)
    ]
    rows = bench.aggregate(results)
    assert [r['pre-training'] for r in rows] == ['hvp', 'mim-only', 'random']
    assert rows[0]['linear mAP'] == '51.00 ± 1.41'
    verdict = bench.verdict(results)
    assert 'linear mAP: HVP 51.00 is at or above' in verdict
    assert 'box AP: HVP 11.00 is BELOW the best single signal ' \
        '(mim-only, 12.00); the gap (1.00) is within the seed spread ' \
        '(1.41).' in verdict
    # A gap the seeds separate is not flagged.
    assert 'linear mAP: HVP 51.00 is at or above the best single signal ' \
        '(mim-only, 46.00).' in verdict
    assert bench.aggregate(results[:1])[0]['linear mAP'] == '50.00'
    # HVP against random initialisation: gap against twice the spread.
    assert '- linear mAP: HVP 51.00 vs random initialisation 31.00 (gap ' \
        '+20.00; more than twice the seed spread, 2.83).' in verdict
    narrow = [
        dict(r, metrics=dict(r['metrics'], **{
            'box AP': 6. + r['seed'] * (r['variant'] == 'hvp')}))
        for r in results
    ]
    assert 'box AP: HVP 7.00 vs random initialisation 6.00 (gap +1.00; ' \
        'not more than twice the seed spread, 2.83).' in bench.verdict(narrow)
    for r in results:
        r['seconds'] = dict(pretrain=60., linear=30.)
    per_run = bench.per_run_table(results)
    assert '| hvp | 2 | 52.00 | 12.00 | 10.00 | 42.00 | 1.50 |' in per_run
    doc = tmp_path / 'b.md'
    doc.write_text(f'# x\n{bench.BEGIN}\nold\n{bench.END}\ntail\n')
    bench.update_doc(str(doc), 'new table\n')
    assert doc.read_text() == \
        f'# x\n{bench.BEGIN}\nnew table\n{bench.END}\ntail\n'


def test_benchmark_summary_in_method_readme(tmp_path):
    # The compact table of the ImageNet-like setting is written from the
    # records, under each variant's label; catches a summary of the wrong
    # split, an unlabelled row or a write between the wrong markers.
    bench = _load_benchmark()
    setting = bench.SETTINGS['labelled-96px']
    tested = [
        dict(variant=v, seed=s,
             metrics=dict(zip(('linear mAP', 'box AP', 'mask AP', 'mIoU'),
                              (40. + 2 * s - 10 * (v == 'random'), 9., 4.,
                               26. + s))))
        for v in ('random', 'hvp-mask-0.3') for s in (0, 1)
    ]
    table = bench.summary_table(tested, setting)
    assert table.splitlines()[2:] == [
        '| HVP, every view masked at 0.3 (shipped) | 2 | 41.00 ± 1.41 | '
        '9.00 ± 0.00 | 4.00 ± 0.00 | 26.50 ± 0.71 |',
        '| none (random initialisation) | 2 | 31.00 ± 1.41 | 9.00 ± 0.00 | '
        '4.00 ± 0.00 | 26.50 ± 0.71 |',
    ]
    begin, end = bench.markers(setting, 'summary')
    assert begin == '<!-- labelled-96px-summary:begin -->'
    readme = open(bench.REPO + '/' + setting.summary_doc).read()
    assert begin in readme and end in readme
    doc = tmp_path / 'README.md'
    benchmark = '\n'.join(bench.markers(setting))
    doc.write_text(f'{benchmark}\n{begin}\nold\n{end}\n')
    bench.update_doc(str(doc), table, setting, 'summary')
    assert doc.read_text() == f'{benchmark}\n{begin}\n{table}{end}\n'


def _write_scalars(work_dir, records):
    vis = work_dir / '20260101_000000' / 'vis_data'
    vis.mkdir(parents=True)
    with open(vis / 'scalars.json', 'w') as f:
        for r in records:
            f.write(json.dumps(r) + '\n')


def test_benchmark_signals_table(tmp_path):
    bench = _load_benchmark()
    results = []
    for seed, mlc in ((0, 5.), (1, 4.)):
        work = tmp_path / f'hvp{seed}'
        # losses every 10 iterations; the last 50 are iterations 60-100
        _write_scalars(work, [
            dict(step=i, loss_mim=1. if i > 50 else 9., loss_con=2.,
                 loss_mlc=mlc, **({'grad_norm_mim': 1., 'grad_norm_con': 1.,
                                   'grad_norm_mlc': 2.} if i % 20 == 0
                                  else {}))
            for i in range(10, 101, 10)
        ] + [{'coco/bbox_mAP': 1.}])
        results.append(dict(variant='hvp', seed=seed, pretrain_dir=str(work)))
    work = tmp_path / 'mim'
    _write_scalars(work, [dict(step=10, loss_mim=3., grad_norm_mim=0.5)])
    results.append(dict(variant='mim-only', seed=0, pretrain_dir=str(work)))
    results.append(dict(variant='random', seed=0, pretrain_dir=None))
    table = bench.signals_table(results)
    lines = table.splitlines()
    assert lines[0] == ('| pre-training | seeds | loss_mim | loss_con | '
                        'loss_mlc | grad_norm_mim | grad_norm_con | '
                        'grad_norm_mlc | grad share mim / con / mlc |')
    assert lines[2] == ('| hvp | 2 | 1.00 | 2.00 | 4.50 | 1.00 | 1.00 | '
                        '2.00 | 25 % / 25 % / 50 % |')
    assert lines[3] == ('| mim-only | 1 | 3.00 | - | - | 0.50 | - | - | '
                        '100 % / 0 % / 0 % |')
    assert len(lines) == 4  # random initialisation has no pre-training
    assert bench.signals_table(results[-1:]) == ''


def _fake_run(work_dir, variant='hvp', seed=0, test_split=False,
              setting=None):
    """Stands in for run_pipeline in a worker: reports what it was given."""
    import os

    from pipeline import console
    if variant == 'con-only':
        raise RuntimeError(f'stage "pretrain" failed; full log: {work_dir}')
    return dict(variant=variant, seed=seed, work=work_dir, metrics={},
                threads=os.environ['OMP_NUM_THREADS'], quiet=console.quiet,
                pid=os.getpid(), test_split=test_split,
                setting=setting.name, pretrain_dir=None)


def test_benchmark_parallel_workers(tmp_path, monkeypatch):
    import os
    bench = _load_benchmark()
    monkeypatch.setattr(bench, 'run_pipeline', _fake_run)
    pending = [(str(tmp_path / v), v, s)
               for v, s in (('hvp', 0), ('random', 0), ('mim-only', 1))]
    results = bench.run_parallel(pending, jobs=2)
    assert sorted((r['variant'], r['seed'], r['work']) for r in results) == \
        sorted((v, s, w) for w, v, s in pending)
    threads = str(max(1, (os.cpu_count() or 1) // 2))
    assert all(r['threads'] == threads and r['quiet'] for r in results)
    assert all(r['test_split'] and r['setting'] == 'demo' for r in results)
    assert os.getpid() not in {r['pid'] for r in results}
    # One failed run does not stop the others; all failures are listed.
    pending.append((str(tmp_path / 'con'), 'con-only', 2))
    with pytest.raises(SystemExit, match=r'con-only, seed 2 .*full log'):
        bench.run_parallel(pending, jobs=2)


def test_benchmark_settings_verdict_per_hvp_recipe():
    """Each HVP recipe of a setting gets its own verdict lines.

    Catches a verdict that only looks for the demo's variant named 'hvp'
    (silently empty for the ImageNet-like setting) or that compares a
    recipe with a variant of another setting.
    """
    bench = _load_benchmark()
    setting = bench.SETTINGS['labelled-96px']
    assert setting.hvp_variants == [
        'hvp-mask-all', 'hvp-mask-half', 'hvp-mask-0.3']
    assert setting.variants[-1] == 'random'
    results = [
        dict(variant=v, seed=s,
             metrics=dict.fromkeys(('linear mAP', 'box AP', 'mask AP',
                                    'mIoU'), base + s))
        for v, base in (('hvp-mask-all', 30.), ('hvp-mask-half', 40.),
                        ('mim-only', 35.), ('random', 20.))
        for s in (0, 1)
    ]
    verdict = bench.verdict(results, setting)
    assert ('- mIoU: hvp-mask-half 40.50 is at or above the best single '
            'signal (mim-only, 35.50).') in verdict
    assert ('- box AP: hvp-mask-all 30.50 is BELOW the best single signal '
            '(mim-only, 35.50).') in verdict
    assert ('- linear mAP: hvp-mask-all 30.50 vs random initialisation '
            '20.50 (gap +10.00; more than twice the seed spread, 1.41).'
            ) in verdict
    # No line for the recipe that did not run.
    assert 'hvp-mask-0.3' not in verdict
    rows = bench.aggregate(results, setting)
    assert [r['pre-training'] for r in rows] == [
        'hvp-mask-all', 'hvp-mask-half', 'mim-only', 'random']


def test_benchmark_records_resume_without_work_dirs(tmp_path, monkeypatch):
    """A finished run is kept in the record dir and reused from it alone.

    Catches records that lose the test metrics or the per-signal summary
    (tables could not be made again on a fresh checkout) and a resume that
    looks only in the work dirs (every run would be trained again).
    """
    bench = _load_benchmark()
    pre = tmp_path / 'work' / 'hvp' / 'seed0' / 'pretrain'
    _write_scalars(pre, [dict(step=i, loss_mim=2., loss_con=1., loss_mlc=4.,
                              grad_norm_mim=1., grad_norm_con=1.,
                              grad_norm_mlc=2.) for i in (10, 20)])
    cols = ('linear mAP', 'box AP', 'mask AP', 'mIoU')
    result = dict(variant='hvp', seed=0, pretrain_dir=str(pre),
                  metrics=dict.fromkeys(cols, 1.),
                  test_metrics=dict.fromkeys(cols, 2.),
                  seconds=dict(pretrain=60.))
    records = tmp_path / 'records'
    bench.save_record(dict(result), str(records))
    path = bench.record_path(str(records), 'hvp', 0)
    with open(path) as f:
        kept = json.load(f)
    assert kept['test_metrics'] == result['test_metrics']
    assert kept['signals'] == dict(loss_mim=2., loss_con=1., loss_mlc=4.,
                                   grad_norm_mim=1., grad_norm_con=1.,
                                   grad_norm_mlc=2.)
    # The work dirs are gone (another machine): the report comes from the
    # record, and nothing is trained or evaluated again.
    import shutil
    shutil.rmtree(tmp_path / 'work')

    def must_not_run(*args, **kwargs):
        raise AssertionError('a finished run was started again')

    monkeypatch.setattr(bench, 'run_pipeline', must_not_run)
    monkeypatch.setattr(bench, 'run_stage', lambda *a, **k: None)
    monkeypatch.setattr(bench, 'add_test_metrics', must_not_run)
    monkeypatch.setattr(sys, 'argv', [
        'run_benchmark.py', '--variants', 'hvp', '--seeds', '0',
        '--work-dir', str(tmp_path / 'work'), '--record-dir', str(records),
        '--report-dir', str(tmp_path / 'report')])
    bench.main()
    report = (tmp_path / 'report' / 'benchmark.md').read_text()
    assert '| hvp | 1 | 2.00 | 2.00 | 2.00 | 2.00 |' in report  # test scenes
    assert '| hvp | 1 | 2.00 | 1.00 | 4.00 | 1.00 | 1.00 | 2.00 |' in report


# The demo's harness and scene builder, by module name as the tools import
# them, and their former places inside the package.
HARNESS = ('pipeline', 'report', 'run_demo', 'run_benchmark', 'demo_scenes',
           'make_demo_scenes', 'hvpt_mm.demo', 'hvpt_mm.datasets.demo_scenes')


def test_import_hvpt_mm_loads_no_demo_harness():
    """``import hvpt_mm`` (a fresh interpreter) loads nothing from tools/.

    Catches the demo harness or the scene builder imported by the library
    again, e.g. a ``datasets/__init__.py`` that imports the scene builder or
    a package module that puts ``tools/`` on ``sys.path``.
    """
    code = ('import json, sys, hvpt_mm\n'
            'print(json.dumps({n: getattr(m, "__file__", None) '
            'for n, m in list(sys.modules.items())}))')
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    modules = json.loads(proc.stdout.splitlines()[-1])
    assert 'hvpt_mm.models' in modules  # the import itself did happen
    tools = osp.join(REPO, 'tools') + osp.sep
    from_tools = sorted(n for n, f in modules.items()
                        if f and osp.realpath(f).startswith(tools))
    assert from_tools == []
    assert sorted(set(HARNESS) & set(modules)) == []


def test_package_modules_do_not_refer_to_the_harness():
    """No module of ``hvpt_mm`` imports from tools/ or names the harness.

    Catches a library module that imports the moved demo code (by its old
    package path or from tools/, which an installed hvpt_mm does not have
    on its path) or points its readers at ``hvpt_mm.demo``.
    """
    import ast
    import glob
    import re

    files = glob.glob(osp.join(REPO, 'hvpt_mm', '**', '*.py'),
                      recursive=True)  # skips .mim, the link to tools/
    assert len(files) > 20
    names = re.compile(r'hvpt_mm[./]demo|demo_scenes|tools[./]demo\b|'
                       r'run_benchmark|run_demo')
    bad = []
    for path in files:
        with open(path) as f:
            text = f.read()
        for node in ast.walk(ast.parse(text, path)):
            if isinstance(node, ast.Import):
                roots = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                roots = [node.module or '']
            else:
                continue
            bad += [f'{path}:{node.lineno} imports {r}' for r in roots
                    if r.split('.')[0] in ('tools', *HARNESS)]
        bad += [f'{path}: names {m}' for m in names.findall(text)]
    assert bad == []


def test_report_columns_are_the_transfer_metrics():
    """The report's columns are the transfers' metric columns, in order.

    Catches a metric added to or renamed in ``pipeline.TRANSFERS`` but not
    in ``report.COLUMNS`` (its column would be missing from every table).
    """
    import pipeline
    import report
    assert report.COLUMNS == [
        col for _, keys in pipeline.TRANSFERS.values()
        for col in keys.values()
    ] == ['linear mAP', 'box AP', 'mask AP', 'mIoU']
    for setting in pipeline.SETTINGS.values():
        assert [col for _, keys in setting.transfers.values()
                for col in keys.values()] == report.COLUMNS
