# Copyright (c) hvpt_mm authors. All rights reserved.
"""The longer benchmark: HVP vs each single signal vs random init.

Each pre-training variant runs at the demo's budget, then the same three
transfers (multi-label linear probe, Mask R-CNN, UperNet), for every seed.
Finished runs (``result.json``) are reused, so an interrupted benchmark
continues where it stopped. Each transfer's final checkpoint is also
evaluated on the test scenes, which no choice of the demo was made on (a
finished run without them gets them on the next invocation). The tables
(mean ± std over seeds, test and validation scenes) are written to
``<report-dir>/benchmark.md`` and, with ``--update-doc``, into
``docs/benchmarks.md`` between the setting's markers (and, for a setting
with a ``summary_doc``, a compact test table into that doc).

    python tools/demo/run_benchmark.py                # or: make benchmark
    python tools/demo/run_benchmark.py --variants hvp random --seeds 0
    python tools/demo/run_benchmark.py --jobs 2   # 2 runs at once

With ``--jobs N`` the pending runs are shared by N worker processes, each
with ``cores // N`` OpenMP threads: the demo's small model uses two cores
poorly, so on a 2-core machine two one-thread runs get through the
benchmark about 1.4x faster than one two-thread run at a time (measured:
the three transfers took 16 min per run with two workers, 11 min alone).
Thread count changes only the float summation order of a run.
"""
import warnings

# mmengine 0.10.7 imports pkg_resources, which setuptools deprecates; the
# warning says nothing to our users.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')

import argparse
import concurrent.futures as futures
import json
import os
import os.path as osp
import platform
import statistics
import time
from typing import Optional

# The demo's harness: pipeline.py and report.py beside this script.
from pipeline import (DEMO, REPO, SETTINGS, Setting, add_test_metrics,
                      console, run_pipeline, run_stage)
from report import (COLUMNS, GRAD_NORMS, SIGNALS, markdown_table, mean_spread,
                    plot_loss_curves, signal_summary)

# The variants of the demo setting (see --setting for the others).
VARIANTS = DEMO.variants


def markers(setting: Setting, part: str = 'benchmark') -> tuple:
    """The doc markers between which a setting's ``part`` is written.

    ``benchmark``: the full tables in ``docs/benchmarks.md``; ``summary``:
    the compact test table in the setting's ``summary_doc``.
    """
    return (f'<!-- {setting.name}-{part}:begin -->',
            f'<!-- {setting.name}-{part}:end -->')


BEGIN, END = markers(DEMO)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='HVP vs single-signal pre-training vs random init on '
        'the demo scenes, same budget, several seeds')
    parser.add_argument(
        '--setting', default='demo', choices=sorted(SETTINGS),
        help='demo: the demo\'s 64-px scenes, a quarter unlabelled; '
        'labelled-96px: the ImageNet-like setting (every scene labelled, '
        '96 px, a 6 x 6 grid of mask blocks)')
    parser.add_argument(
        '--variants', nargs='+', default=None,
        help='pre-training variants (default: all of the setting: '
        + '; '.join(f'{s.name}: {" ".join(s.variants)}'
                    for s in SETTINGS.values()) + ')')
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument(
        '--data-root', default=None,
        help='scenes (default: data/hvpt_demo, data/hvpt_scenes_96px)')
    parser.add_argument(
        '--work-dir', default=None,
        help='default: work_dirs/benchmark[_SETTING]')
    parser.add_argument(
        '--report-dir', default=None,
        help='default: reports/benchmark[_SETTING]')
    parser.add_argument(
        '--record-dir', default=None,
        help='where each finished run\'s figures are kept and looked for '
        'first (default: docs/benchmark_records/SETTING, committed, so that '
        'a fresh checkout resumes and tabulates the finished runs)')
    parser.add_argument(
        '--update-doc', action='store_true',
        help='write the tables into docs/benchmarks.md (and the compact '
        'test table into the setting\'s summary doc, for labelled-96px '
        'configs/hvpt/README.md)')
    parser.add_argument(
        '--jobs', type=int, default=1,
        help='runs at once, each with cores // jobs threads (default 1)')
    parser.add_argument(
        '--report-only', action='store_true',
        help='tabulate the finished runs only, evaluating nothing (e.g. '
        'while the benchmark still runs elsewhere)')
    args = parser.parse_args()
    setting = SETTINGS[args.setting]
    suffix = '' if setting is DEMO else f'_{setting.name}'
    args.variants = args.variants or setting.variants
    unknown = set(args.variants) - set(setting.variants)
    if unknown:
        parser.error(f'--variants {sorted(unknown)} are not variants of the '
                     f'{setting.name} setting: {setting.variants}')
    args.data_root = args.data_root or setting.data_root
    args.work_dir = args.work_dir or f'work_dirs/benchmark{suffix}'
    args.report_dir = args.report_dir or f'reports/benchmark{suffix}'
    args.record_dir = args.record_dir or osp.join(
        'docs', 'benchmark_records', setting.name)
    return args


def run_dir(work_dir: str, variant: str, seed: int) -> str:
    """Where one (variant, seed) run keeps its stages and ``result.json``."""
    return osp.join(work_dir, variant, f'seed{seed}')


def record_path(record_dir: str, variant: str, seed: int) -> str:
    """The committed record of one finished (variant, seed) run."""
    return osp.join(record_dir, f'{variant}_seed{seed}.json')


def save_record(result: dict, record_dir: str) -> dict:
    """Keep a finished run's figures in ``record_dir`` and return them.

    The record holds the metrics, the stage times and the pre-training's
    per-signal summary (``signals``), so that the tables can be made again,
    and the benchmark resumed, on a machine without the work dirs.
    """
    if result.get('pretrain_dir') and 'signals' not in result:
        result['signals'] = signal_summary(result['pretrain_dir'])
    os.makedirs(record_dir, exist_ok=True)
    path = record_path(record_dir, result['variant'], result['seed'])
    with open(path, 'w') as f:
        json.dump(result, f, indent=2)
        f.write('\n')
    return result


def aggregate(results: list, setting: Setting = DEMO,
              labels: Optional[dict] = None) -> list:
    """One row per variant: mean ± std of each column over seeds.

    ``labels`` maps a variant to the name its row shows (default: the
    variant's own name).
    """
    rows = []
    for variant in setting.variants:
        runs = [r for r in results if r['variant'] == variant]
        if not runs:
            continue
        row = {'pre-training': (labels or {}).get(variant, variant),
               'seeds': len(runs)}
        for col in COLUMNS:
            row[col] = mean_spread([r['metrics'][col] for r in runs])
        rows.append(row)
    return rows


def verdict(results: list, setting: Setting = DEMO) -> str:
    """Where each HVP recipe stands against the best single signal.


    A gap smaller than the larger of the two seed spreads (std) is flagged:
    such a ranking is not something the seeds can separate. With random
    initialisation in the results, a line per metric says whether HVP
    beats it by more than twice the larger seed spread.
    """
    values = {}
    for r in results:
        for col in COLUMNS:
            values.setdefault(r['variant'], {}).setdefault(col, []).append(
                r['metrics'][col])
    lines = []
    for name in setting.hvp_variants:
        if name in values:
            lines += _verdict_lines(values, name, setting)
    return '\n'.join(lines) + '\n' if lines else ''


def _label(variant: str) -> str:
    """How a verdict line names a variant (the demo's plain HVP: 'HVP')."""
    return 'HVP' if variant == 'hvp' else variant


def _verdict_lines(values: dict, name: str, setting: Setting) -> list:
    """One HVP recipe against random init and the best single signal."""
    lines = []
    if 'random' in values:
        lines += [_against_random(values, col, name) for col in COLUMNS]
    singles = [v for v in setting.single_signals if v in values]
    for col in COLUMNS if singles else ():
        hvp = values[name][col]
        best = max(singles, key=lambda v: statistics.fmean(values[v][col]))
        other = values[best][col]
        gap = statistics.fmean(hvp) - statistics.fmean(other)
        mark = 'at or above' if gap >= 0 else 'BELOW'
        line = (f'- {col}: {_label(name)} {statistics.fmean(hvp):.2f} is '
                f'{mark} the '
                f'best single signal ({best}, '
                f'{statistics.fmean(other):.2f})')
        spreads = [statistics.stdev(v) for v in (hvp, other) if len(v) > 1]
        if spreads and abs(gap) < max(spreads):
            line += (f'; the gap ({abs(gap):.2f}) is within the seed spread '
                     f'({max(spreads):.2f})')
        lines.append(line + '.')
    return lines


def _against_random(values: dict, col: str, name: str = 'hvp') -> str:
    """An HVP recipe against random initialisation on one metric."""
    hvp, rnd = values[name][col], values['random'][col]
    gap = statistics.fmean(hvp) - statistics.fmean(rnd)
    spreads = [statistics.stdev(v) for v in (hvp, rnd) if len(v) > 1]
    line = (f'- {col}: {_label(name)} {statistics.fmean(hvp):.2f} vs random '
            f'initialisation {statistics.fmean(rnd):.2f} (gap {gap:+.2f}')
    if spreads:
        twice = 2 * max(spreads)
        word = 'more' if gap > twice else 'not more'
        line += f'; {word} than twice the seed spread, {twice:.2f}'
    return line + ').'


def signals_table(results: list, setting: Setting = DEMO) -> str:
    """Per-signal losses at the end of pre-training and mean gradient norms.

    One row per pre-trained variant, each figure averaged over its seeds
    (see :func:`report.signal_summary`); ``-`` for a signal that is
    off. The shares say how the gradient on the last backbone stage splits
    between the signals that are on.
    """
    rows = []
    for variant in setting.variants:
        runs = [
            r.get('signals') or signal_summary(r['pretrain_dir'])
            for r in results if r['variant'] == variant and r['pretrain_dir']
        ]
        if not runs:
            continue
        row = {'pre-training': variant, 'seeds': len(runs)}
        for key in SIGNALS + GRAD_NORMS:
            vals = [run[key] for run in runs if key in run]
            row[key] = statistics.fmean(vals) if vals else None
        norms = [row[k] or 0. for k in GRAD_NORMS]
        if sum(norms) > 0:
            row['grad share mim / con / mlc'] = ' / '.join(
                f'{100 * n / sum(norms):.0f} %' for n in norms)
        rows.append(row)
    if not rows:
        return ''
    return markdown_table(rows, ['pre-training', 'seeds', *SIGNALS,
                                 *GRAD_NORMS, 'grad share mim / con / mlc'])


def results_section(results: list, setting: Setting = DEMO) -> str:
    """The mean ± std table of ``results['metrics']`` and its verdict."""
    table = markdown_table(aggregate(results, setting),
                           ['pre-training', 'seeds'] + COLUMNS)
    return f'{table}\n{verdict(results, setting)}'


def signals_section(results: list, setting: Setting = DEMO) -> str:
    """The signals table with its caption, or nothing."""
    table = signals_table(results, setting)
    if not table:
        return ''
    return ('Pre-training signals (losses: mean of the last 50 iterations; '
            'gradient norms on the last backbone stage, mean over the run; '
            'mean over seeds):\n\n' + table + '\n')


def summary_table(tested: list, setting: Setting) -> str:
    """The test scenes' mean ± std, each variant named by its label."""
    return markdown_table(aggregate(tested, setting, setting.labels),
                          ['pre-training', 'seeds'] + COLUMNS)


def per_run_table(results: list) -> str:
    """Every finished run: its metrics and its stage times in minutes."""
    rows = [
        dict({
            'pre-training': r['variant'],
            'seed': r['seed'],
            'minutes': sum(r['seconds'].values()) / 60
        }, **r['metrics']) for r in results
    ]
    return markdown_table(rows, ['pre-training', 'seed'] + COLUMNS +
                          ['minutes'])


def main() -> None:
    args = parse_args()
    setting = SETTINGS[args.setting]
    os.chdir(REPO)
    os.environ['HVPT_DEMO_DATA'] = osp.abspath(args.data_root) + '/'
    start = time.time()
    if not args.report_only:
        run_stage('scenes', [
            'tools/dataset_converters/make_demo_scenes.py', args.data_root,
            '--no-progress', *setting.scene_args
        ], osp.join(args.work_dir, 'scenes.log'))
    results, pending = [], []
    for seed in args.seeds:
        for variant in args.variants:
            work = run_dir(args.work_dir, variant, seed)
            found = [p for p in (record_path(args.record_dir, variant, seed),
                                 osp.join(work, 'result.json'))
                     if osp.isfile(p)]
            if found:
                with open(found[0]) as f:
                    results.append(json.load(f))
                console.print(f'[green]reusing[/] {found[0]}')
            else:
                pending.append((work, variant, seed))
    if pending and not args.report_only:
        if args.jobs > 1:
            results += run_parallel(pending, args.jobs, setting,
                                    args.record_dir)
        else:
            for work, variant, seed in pending:
                console.rule(f'{variant}, seed {seed}')
                results.append(save_record(
                    run_pipeline(work, variant=variant, seed=seed,
                                 test_split=True, setting=setting),
                    args.record_dir))
    if not args.report_only:
        # Runs finished before the test split was evaluated get it now.
        for r in results:
            if not r.get('test_metrics'):
                console.rule(f'{r["variant"]}, seed {r["seed"]}: test scenes')
                save_record(add_test_metrics(
                    r, run_dir(args.work_dir, r['variant'], r['seed']),
                    setting=setting), args.record_dir)
    order = {v: i for i, v in enumerate(setting.variants)}
    results.sort(key=lambda r: (r['seed'], order[r['variant']]))
    if not results:
        raise SystemExit(f'{args.work_dir}: no finished run to tabulate')

    os.makedirs(args.report_dir, exist_ok=True)
    curves = {
        r['variant']: r['pretrain_dir']
        for r in results
        if r['seed'] == results[0]['seed'] and r['pretrain_dir']
        and osp.isdir(r['pretrain_dir'])
    }
    if curves:
        plot_loss_curves(curves,
                         osp.join(args.report_dir, 'loss_curves.png'))
    cmd = ('python tools/demo/run_benchmark.py ' +
           ('' if setting is DEMO else f'--setting {setting.name} ') +
           '--variants ' +
           ' '.join(args.variants) + ' --seeds ' +
           ' '.join(map(str, args.seeds)) +
           (f' --jobs {args.jobs}' if args.jobs > 1 else ''))
    seeds = sorted({r['seed'] for r in results})
    run_hours = sum(sum(r['seconds'].values()) for r in results) / 3600
    timing = f'{run_hours:.1f} h of runs in all'
    if not args.report_only:
        timing += (f', this invocation {(time.time() - start) / 3600:.1f} h '
                   'wall')
    tested = [
        dict(r, metrics=r['test_metrics']) for r in results
        if r.get('test_metrics')
    ]
    held_out = ''
    if tested:
        held_out = ('**Test scenes** (held out: nothing was chosen on '
                    f'them):\n\n{results_section(tested, setting)}\n')
    body = (f'{held_out}**Validation scenes:**\n\n'
            f'{results_section(results, setting)}\nCommand: `{cmd}` '
            f'({platform.processor() or platform.machine()}, '
            f'{os.cpu_count()} cores; {timing}; seeds done: {seeds}). '
            'COCO AP in percent; mean ± std over seeds.\n\n'
            f'{signals_section(results, setting)}'
            '<details><summary>Every run (validation scenes)</summary>\n\n'
            f'{per_run_table(results)}\n</details>\n')
    with open(osp.join(args.report_dir, 'benchmark.md'), 'w') as f:
        f.write(body)
    with open(osp.join(args.report_dir, 'results.json'), 'w') as f:
        json.dump(results, f, indent=2)
    if args.update_doc:
        update_doc(osp.join(REPO, 'docs', 'benchmarks.md'), body, setting)
        if setting.summary_doc and tested:
            update_doc(osp.join(REPO, setting.summary_doc),
                       summary_table(tested, setting), setting, 'summary')
    print(body)


def _init_worker(threads: int) -> None:
    """Give a worker's stages ``threads`` OpenMP threads; no live bars."""
    for var in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ[var] = str(threads)
    # Interleaved progress bars of several workers are unreadable; each
    # stage's log file still has every line.
    console.quiet = True


def run_parallel(pending: list, jobs: int, setting: Setting = DEMO,
                 record_dir: Optional[str] = None) -> list:
    """Run ``(work_dir, variant, seed)`` items on ``jobs`` processes.

    A failed run is reported and the others go on; the benchmark then
    stops with every failure listed (finished runs are kept for a rerun).
    """
    threads = max(1, (os.cpu_count() or 1) // jobs)
    print(f'{len(pending)} runs on {jobs} workers, {threads} thread(s) '
          'each; per-stage logs in each run\'s work dir', flush=True)
    results, failures = [], []
    with futures.ProcessPoolExecutor(
            jobs, initializer=_init_worker, initargs=(threads, )) as pool:
        running = {
            pool.submit(run_pipeline, work, variant=variant, seed=seed,
                        test_split=True, setting=setting):
            (work, variant, seed, time.time())
            for work, variant, seed in pending
        }
        for fut in futures.as_completed(running):
            work, variant, seed, start = running[fut]
            minutes = (time.time() - start) / 60
            try:
                result = fut.result()
                if record_dir:
                    save_record(result, record_dir)
                results.append(result)
            except Exception as e:  # noqa: BLE001 - reported below
                failures.append(f'{variant}, seed {seed} ({work}): {e}')
                print(f'FAILED {variant}, seed {seed}: {e}', flush=True)
                continue
            print(f'done {variant}, seed {seed} ({len(results)}/'
                  f'{len(pending)}, {minutes:.0f} min since queued): '
                  f'{results[-1]["metrics"]}', flush=True)
    if failures:
        raise SystemExit('benchmark runs failed:\n' + '\n'.join(failures))
    return results


def update_doc(path: str, body: str, setting: Setting = DEMO,
               part: str = 'benchmark') -> None:
    """Replace the text between the setting's ``part`` markers in ``path``."""
    begin, end = markers(setting, part)
    with open(path) as f:
        text = f.read()
    if begin not in text or end not in text:
        raise ValueError(f'{path}: no {begin} ... {end} markers')
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(path, 'w') as f:
        f.write(head + begin + '\n' + body + end + tail)


if __name__ == '__main__':
    main()
