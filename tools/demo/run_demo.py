# Copyright (c) hvpt_mm authors. All rights reserved.
"""The main job on its embedded default: the CPU demo, end to end.

1. builds the Fashion-MNIST scenes (real photos; ``data/hvpt_demo``),
2. HVP pre-training of a small Swin (``configs/demo/hvpt_swin-demo_*``),
3. three transfers of its backbone: multi-label linear probe, Mask R-CNN,
   UperNet (``configs/demo/``),
4. a report folder: ``summary.md`` (the table), ``metrics.json``,
   ``loss_curves.png`` (one panel per signal), ``reconstruction.png``.

    python tools/demo/run_demo.py            # or: make demo
"""
import warnings

# mmengine 0.10.7 imports pkg_resources, which setuptools deprecates; the
# warning says nothing to our users.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')

import argparse
import json
import os
import os.path as osp
import time

# The demo's harness: pipeline.py and report.py beside this script.
from pipeline import (PRETRAIN_CONFIGS, REPO, Budget, console, run_pipeline,
                      run_stage)
from report import plot_loss_curves, summary_markdown, val_images


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='HVP CPU demo: scenes -> pre-training -> linear probe, '
        'Mask R-CNN and UperNet -> report')
    parser.add_argument('--data-root', default='data/hvpt_demo',
                        help='where the scenes are (built if missing)')
    parser.add_argument('--work-dir', default='work_dirs/demo',
                        help='work dirs of the runs')
    parser.add_argument('--report-dir', default='reports/demo',
                        help='where the report is written')
    parser.add_argument('--pretrain', default='hvp',
                        choices=sorted(PRETRAIN_CONFIGS) + ['random'],
                        help='pre-training variant (random: none)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--quick', action='store_true',
        help='smoke test: tiny model, one short epoch per stage, few scenes')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    # Relative paths are taken from the repository root.
    os.chdir(REPO)
    start = time.time()
    # The demo configs read their data root from this variable.
    os.environ['HVPT_DEMO_DATA'] = osp.abspath(args.data_root) + '/'
    console.rule('[bold]hvpt_mm CPU demo')
    sizes = (['--num-train', '48', '--num-val', '16', '--num-test', '16']
             if args.quick else [])
    run_stage('scenes', [
        'tools/dataset_converters/make_demo_scenes.py', args.data_root,
        '--no-progress'
    ] + sizes, osp.join(args.work_dir, 'scenes.log'))

    budget = Budget.quick() if args.quick else Budget()
    result = run_pipeline(
        args.work_dir, variant=args.pretrain, seed=args.seed, budget=budget)

    os.makedirs(args.report_dir, exist_ok=True)
    if result['pretrain_dir']:
        pre = result['pretrain_dir']
        plot_loss_curves({args.pretrain: pre},
                         osp.join(args.report_dir, 'loss_curves.png'))
        with open(osp.join(pre, 'last_checkpoint')) as f:
            ckpt = f.read().strip()
        # The config as the run used it (tools/train.py dumps it there).
        config = osp.join(pre, PRETRAIN_CONFIGS[args.pretrain])
        run_stage('reconstructions', [
            'tools/analysis/visualize_reconstruction.py', config, ckpt
        ] + val_images(args.data_root) + [
            '--seed', str(args.seed), '--device', 'cpu', '--out',
            osp.join(args.report_dir, 'reconstruction.png')
        ], osp.join(args.work_dir, 'reconstruction.log'))
    result['seconds']['total'] = time.time() - start
    with open(osp.join(args.report_dir, 'metrics.json'), 'w') as f:
        json.dump(result, f, indent=2)
    table = summary_markdown(result, args.report_dir)
    console.rule('[bold]results (val scenes)')
    print(table)
    console.print(f'report: {osp.abspath(args.report_dir)}/summary.md '
                  f'({result["seconds"]["total"] / 60:.1f} min)')


if __name__ == '__main__':
    main()
