# Copyright (c) hvpt_mm authors. All rights reserved.
"""Build the multi-task demo scenes dataset from real Fashion-MNIST photos.

Example::

    apt-get install dataset-fashion-mnist
    python tools/dataset_converters/make_demo_scenes.py data/hvpt_demo
"""
import argparse
import json
import time

from demo_scenes import build_demo_dataset  # beside this script


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Compose Fashion-MNIST photos into scenes with '
        'multi-labels, boxes, instance masks and semantic maps.')
    parser.add_argument(
        'out_dir', nargs='?', default='data/hvpt_demo',
        help='output folder, the data_root of the dataset configs')
    parser.add_argument('--num-train', type=int, default=32000)
    parser.add_argument('--num-val', type=int, default=500)
    parser.add_argument('--num-test', type=int, default=500)
    parser.add_argument(
        '--size', type=int, default=64, help='scene side, 32-128 px')
    parser.add_argument(
        '--unlabelled-fraction', type=float, default=0.25,
        help='share of train scenes listed as unlabelled for pre-training')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--fmnist-root', default=None,
        help='folder of the 4 Fashion-MNIST IDX files (default: '
        '$HVPT_FASHION_MNIST, else the Debian package location)')
    parser.add_argument(
        '--no-progress', action='store_true', help='hide the progress bar')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    start = time.time()
    summary = build_demo_dataset(
        args.out_dir,
        num_train=args.num_train,
        num_val=args.num_val,
        num_test=args.num_test,
        size=args.size,
        unlabelled_fraction=args.unlabelled_fraction,
        seed=args.seed,
        fmnist_root=args.fmnist_root,
        progress=not args.no_progress)
    summary['seconds'] = round(time.time() - start, 1)
    print(json.dumps(summary, indent=2))


if __name__ == '__main__':
    main()
