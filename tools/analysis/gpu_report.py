# Copyright (c) hvpt_mm authors. All rights reserved.
"""The markdown report of ``tools/analysis/gpu_check.sh``.

Reads what the check wrote: pytest's JUnit XML of the GPU test tier, the
json of ``benchmark_step.py`` and the mmcv ops check's line, and writes
one page with the machine, each test's outcome and time, and the step
benchmark's table.

Example::

    python tools/analysis/gpu_report.py --junit OUT/gpu_tests.xml \\
        --benchmark OUT/benchmark.json --ops-check OUT/ops_check.txt \\
        --seconds tests=170 benchmark=95 --out OUT/report.md
"""
import argparse
import importlib.util
import os.path as osp
import time
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Sequence

HERE = osp.dirname(osp.abspath(__file__))


def _benchmark_tool():
    """``benchmark_step.py`` as a module (its table format and titles)."""
    spec = importlib.util.spec_from_file_location(
        'hvpt_benchmark_step', osp.join(HERE, 'benchmark_step.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_junit(path: str) -> List[dict]:
    """``{'test', 'outcome', 'seconds', 'message'}`` per test case."""
    cases = []
    for case in ET.parse(path).getroot().iter('testcase'):
        outcome, message = 'passed', ''
        for tag in ('failure', 'error', 'skipped'):
            found = case.find(tag)
            if found is not None:
                outcome = dict(failure='failed', error='error',
                               skipped='skipped')[tag]
                message = (found.get('message') or '').splitlines()[0] \
                    if found.get('message') else ''
                break
        module = case.get('classname', '').rsplit('.', 1)[-1]
        cases.append(dict(test=f'{module}::{case.get("name")}',
                          outcome=outcome,
                          seconds=float(case.get('time') or 0.),
                          message=message))
    return cases


def tests_section(cases: Sequence[dict]) -> List[str]:
    """Counts, then one row per test."""
    counts: Dict[str, int] = {}
    for c in cases:
        counts[c['outcome']] = counts.get(c['outcome'], 0) + 1
    summary = ', '.join(f'{n} {k}' for k, n in sorted(counts.items()))
    lines = [f'## GPU test tier (`pytest -m gpu`): {summary or "no tests"}',
             '', '| test | outcome | s | note |', '| --- | --- | ---: | --- |']
    for c in cases:
        note = c['message'].replace('|', '/')[:120]
        lines.append(f'| `{c["test"]}` | {c["outcome"]} | '
                     f'{c["seconds"]:.1f} | {note} |')
    return lines


def benchmark_section(record: dict) -> List[str]:
    """The step benchmark's settings and table."""
    tool = _benchmark_tool()
    args = record['args']
    machine = record['machine']
    arch = args['arch'] if isinstance(args['arch'], str) else ','.join(
        f'{k}={v}' for k, v in args['arch'].items())
    return [
        f'## Training step: Swin {arch}, {args["dtype"]}, batch '
        f'{args["batch"]}, {args["img_size"]} px',
        '',
        f'`benchmark_step.py` on {record["device"]} '
        f'({machine.get("gpu", machine["cpu"])}): median of '
        f'{args["iters"]} steps after {args["warmup"]} warm-up; memory is '
        'the peak allocated during a step with the optimizer state in '
        'place.',
        '',
        tool.format_table(record['variants']),
    ]


def machine_lines() -> List[str]:
    """GPU, torch and CUDA of this interpreter."""
    import torch
    lines = [f'- torch {torch.__version__} (CUDA {torch.version.cuda})']
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        lines.insert(0, f'- GPU: {props.name}, compute capability '
                     f'{props.major}.{props.minor}, '
                     f'{props.total_memory / 2**30:.0f} GiB '
                     f'({torch.cuda.device_count()} visible)')
    try:
        import mmcv
        from mmcv.ops import get_compiling_cuda_version
        lines.append(f'- mmcv {mmcv.__version__}, ops compiled with CUDA '
                     f'{get_compiling_cuda_version()}')
    except ImportError as e:
        lines.append(f'- mmcv ops not importable: {e}')
    return lines


def build_report(junit: Optional[str] = None,
                 benchmark: Optional[str] = None,
                 ops_check: Optional[str] = None,
                 seconds: Optional[Dict[str, float]] = None) -> str:
    """The whole page; a missing input is named, not fatal."""
    import json
    seconds = seconds or {}
    lines = [f'# GPU check, {time.strftime("%Y-%m-%d %H:%M")}', '']
    lines += machine_lines()
    if ops_check:
        text = open(ops_check).read().strip() if osp.isfile(ops_check) \
            else ''
        lines.append(f'- ops check: {text or "no result (see the log)"}')
    if seconds:
        total = sum(seconds.values())
        parts = ', '.join(f'{k} {v / 60:.1f}' for k, v in seconds.items())
        lines.append(f'- time: {total / 60:.1f} min ({parts})')
    lines.append('')
    if junit and osp.isfile(junit):
        lines += tests_section(read_junit(junit))
    else:
        lines.append('## GPU test tier: no results (pytest did not run)')
    lines.append('')
    if benchmark and osp.isfile(benchmark):
        with open(benchmark) as f:
            lines += benchmark_section(json.load(f))
    else:
        lines.append('## Training step benchmark: no results (see the log)')
    return '\n'.join(lines) + '\n'


def main(argv: Optional[Sequence[str]] = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--junit', help="pytest's --junitxml file")
    parser.add_argument('--benchmark', help="benchmark_step.py's --out")
    parser.add_argument('--ops-check', help='file with the ops check line')
    parser.add_argument('--seconds', nargs='*', default=[],
                        metavar='PHASE=S', help='wall time per phase')
    parser.add_argument('--out', required=True, help='markdown to write')
    args = parser.parse_args(argv)
    seconds = {k: float(v) for k, v in
               (item.split('=', 1) for item in args.seconds)}
    report = build_report(args.junit, args.benchmark, args.ops_check,
                          seconds)
    with open(args.out, 'w') as f:
        f.write(report)
    print(report)
    return report


if __name__ == '__main__':
    main()
