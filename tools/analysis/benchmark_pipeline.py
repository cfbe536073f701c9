# Copyright (c) hvpt_mm authors. All rights reserved.
"""Images per second per data worker: HVP's pipeline against MoCo v3's.

Both pipelines make two views of every image:

- ``hvp``: the training pipeline of
  ``configs/_base_/datasets/imagenet_bs128_hvpt_192.py``,
  ``HVPTLoadImageFromFile`` -> ``HVPTMixedSignals`` (online view + SimMIM
  mask, target view, multi-hot target) -> ``HVPTPackInputs``;
- ``mocov3``: mmpretrain's MoCo v3 pipeline (``configs/_base_/datasets/
  imagenet_bs512_mocov3.py`` of the installed mmpretrain, used by
  ``configs/mocov3/mocov3_resnet50_*``): ``LoadImageFromFile`` ->
  ``MultiView`` of two view pipelines (RandomResizedCrop, ColorJitter,
  RandomGrayscale, GaussianBlur, Solarize, RandomFlip) -> ``PackInputs``;
  its crop size is set to ``--input-size`` so both make the same views.

The images are the colour photos shipped with scikit-image (``skimage.data``:
astronaut, chelsea, coffee, ...; the grayscale camera as RGB), resized to a
short side of 256-400 px. Two settings are timed:

- ``decoded``: the transforms after loading, on images decoded once and held
  in memory;
- ``jpeg``: the whole pipeline from JPEG files (quality 90) written to a
  temporary directory, so decoding counts (the realistic number; the OS
  page cache holds the files).

One process stands for one data worker: OpenCV and torch run on one thread,
as mmengine sets them up in dataloader workers. The pipelines run in
alternating rounds over all images; the figure is the median of the rounds.
``--breakdown`` adds the time spent in every transform, views included.

Example::

    python tools/analysis/benchmark_pipeline.py --rounds 5 \\
        --out work_dirs/bench_pipeline.json
"""
import argparse
import copy
import json
import os
import os.path as osp
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import nullcontext
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import print_log
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HVP_DATA_CONFIG = osp.join(REPO, 'configs', '_base_', 'datasets',
                           'imagenet_bs128_hvpt_192.py')
MOCOV3_DATA_CONFIG = osp.join('_base_', 'datasets',
                              'imagenet_bs512_mocov3.py')
PHOTOS = ('astronaut.png', 'chelsea.png', 'coffee.png',
          'hubble_deep_field.jpg', 'ihc.png', 'motorcycle_left.png',
          'motorcycle_right.png', 'retina.jpg', 'rocket.jpg', 'camera.png')
SHORT_SIDES = (256, 304, 352, 400)
PIPELINES = ('hvp', 'mocov3')
TITLES = dict(hvp='HVPTMixedSignals (2 views + mask + target)',
              mocov3='MoCo v3 MultiView (2 views)')


# ----------------------------------------------------------------- images
def load_photos(short_sides: Sequence[int] = SHORT_SIDES
                ) -> List[np.ndarray]:
    """scikit-image's photos as BGR uint8 arrays, one per short side.

    Read from the files installed with scikit-image (no download).
    """
    from skimage import data as skdata
    root = osp.dirname(skdata.__file__)
    images = []
    for name in PHOTOS:
        path = osp.join(root, name)
        if not osp.exists(path):
            continue
        photo = Image.open(path).convert('RGB')
        w, h = photo.size
        for side in short_sides:
            scale = side / min(w, h)
            size = (max(side, round(w * scale)), max(side, round(h * scale)))
            rgb = np.asarray(photo.resize(size, Image.BICUBIC))
            images.append(np.ascontiguousarray(rgb[..., ::-1]))
    if not images:
        raise RuntimeError(f'no scikit-image photos found under {root}')
    return images


def write_jpegs(images: Sequence[np.ndarray], root: str) -> List[str]:
    """Write BGR images as JPEG (quality 90); returns the paths."""
    paths = []
    for i, img in enumerate(images):
        path = osp.join(root, f'photo_{i:03d}.jpg')
        Image.fromarray(img[..., ::-1]).save(path, quality=90)
        paths.append(path)
    return paths


# -------------------------------------------------------------- pipelines
def mocov3_config_path() -> str:
    """The MoCo v3 dataset config shipped with mmpretrain."""
    import mmpretrain
    path = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs',
                    MOCOV3_DATA_CONFIG)
    if not osp.exists(path):
        raise FileNotFoundError(
            f'{path} not found: mmpretrain was installed without its '
            'configs')
    return path


def _set_crop_size(pipeline: list, size: int) -> list:
    """Set every ``RandomResizedCrop`` of a (nested) pipeline to ``size``."""
    for t in pipeline:
        if t.get('type') == 'RandomResizedCrop':
            t['scale'] = size
        for nested in t.get('transforms', []):
            _set_crop_size(nested if isinstance(nested, list) else [nested],
                           size)
    return pipeline


def pipeline_configs(input_size: int, num_classes: int
                     ) -> Dict[str, List[dict]]:
    """The two training pipelines, loading included."""
    hvp = copy.deepcopy(
        Config.fromfile(HVP_DATA_CONFIG).to_dict()['train_pipeline'])
    for t in hvp:
        if t['type'] == 'HVPTMixedSignals':
            t.update(num_classes=num_classes, input_size=input_size)
    mocov3 = copy.deepcopy(
        Config.fromfile(mocov3_config_path()).to_dict()['train_pipeline'])
    return dict(hvp=hvp, mocov3=_set_crop_size(mocov3, input_size))


def build_pipeline(cfg: List[dict], with_loading: bool):
    """Compose of the pipeline, with or without its loading transform."""
    from mmcv.transforms import Compose

    from mmpretrain.registry import TRANSFORMS
    cfg = [t for t in cfg if with_loading or 'Load' not in t['type']]
    return Compose([TRANSFORMS.build(t) for t in cfg])


def make_inputs(images: Sequence[np.ndarray], paths: Optional[List[str]],
                num_classes: int) -> List[dict]:
    """The results dicts a dataset hands the pipeline."""
    rng = np.random.default_rng(0)
    out = []
    for i, img in enumerate(images):
        labels = rng.choice(num_classes, size=1 + i % 3, replace=False)
        res = dict(gt_label=labels.astype(np.int64), sample_idx=i)
        if paths is None:
            res.update(img=img, img_shape=img.shape[:2],
                       ori_shape=img.shape[:2])
        else:
            res.update(img_path=paths[i])
        out.append(res)
    return out


# ----------------------------------------------------------------- timing
class _Timed:
    """Wrap a transform; add its wall time to ``totals[name]``."""

    def __init__(self, transform, name: str, totals: Dict[str, float]):
        self.transform = transform
        self.name = name
        self.totals = totals

    def __call__(self, results):
        t0 = time.perf_counter()
        out = self.transform(results)
        self.totals[self.name] += time.perf_counter() - t0
        return out

    def __repr__(self) -> str:
        return repr(self.transform)


def instrument(pipeline, totals: Dict[str, float], prefix: str = '') -> None:
    """Time every transform of a Compose, inside view pipelines too."""
    for i, t in enumerate(pipeline.transforms):
        name = f'{prefix}{type(t).__name__}'
        totals.setdefault(name, 0.)  # report parents before their parts
        if type(t).__name__ == 'HVPTMixedSignals':
            instrument(t.online_pipeline, totals, f'{name}/online/')
            instrument(t.target_pipeline, totals, f'{name}/target/')
            if t.mask_generator is not None:
                t.mask_generator = _Timed(
                    t.mask_generator,
                    f'{name}/{type(t.mask_generator).__name__}', totals)
        elif type(t).__name__ == 'MultiView':
            for v, view in enumerate(t.pipelines):
                instrument(view, totals, f'{name}/view{v + 1}/')
        elif type(t).__name__ == 'RandomApply':
            instrument(t.transforms, totals, f'{name}/')
        pipeline.transforms[i] = _Timed(t, name, totals)


def run_round(pipeline, inputs: Sequence[dict]) -> float:
    """Seconds for one pass over ``inputs``."""
    t0 = time.perf_counter()
    for res in inputs:
        out = pipeline(copy.copy(res))
        if out is None:
            raise RuntimeError(f'the pipeline dropped {res.get("img_path")}')
    return time.perf_counter() - t0


def time_pipelines(pipelines: Dict[str, object], inputs: Dict[str, list],
                   rounds: int, warmup: int) -> Dict[str, List[float]]:
    """Images per second of each pipeline, one figure per round."""
    rates: Dict[str, List[float]] = {name: [] for name in pipelines}
    for r in range(warmup + rounds):
        for name, pipe in pipelines.items():
            seconds = run_round(pipe, inputs[name])
            if r >= warmup:
                rates[name].append(len(inputs[name]) / seconds)
    return rates


# -------------------------------------------------------------------- main
def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Images per second per data worker of HVP\'s '
        'HVPTMixedSignals pipeline against mmpretrain\'s MoCo v3 two-view '
        'pipeline, on scikit-image photos, decoded and from JPEG files')
    parser.add_argument('--input-size', type=int, default=192,
                        help='view side (default: 192)')
    parser.add_argument('--num-classes', type=int, default=1000,
                        help='multi-label classes (default: 1000)')
    parser.add_argument('--rounds', type=int, default=5,
                        help='timed passes over the images (default: 5)')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed passes (default: 1)')
    parser.add_argument(
        '--short-sides', type=lambda s: [int(v) for v in s.split(',')],
        default=list(SHORT_SIDES),
        help='short sides the photos are resized to, one copy each '
        '(default: 256,304,352,400)')
    parser.add_argument('--settings', nargs='+', default=['decoded', 'jpeg'],
                        choices=['decoded', 'jpeg'],
                        help='what to time (default: both)')
    parser.add_argument('--breakdown', action='store_true',
                        help='also time every transform (adds overhead)')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--out', default=None, help='write a json here')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    import hvpt_mm  # noqa: F401  (registers our modules)
    from hvpt_mm.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    # One data worker: mmengine runs OpenCV and torch single-threaded there.
    cv2.setNumThreads(0)
    torch.set_num_threads(1)
    np.random.seed(args.seed)

    images = load_photos(args.short_sides)
    cfgs = pipeline_configs(args.input_size, args.num_classes)
    sizes = [img.shape[:2] for img in images]
    print_log(f'{len(images)} photos, short sides {args.short_sides}, '
              f'{min(min(s) for s in sizes)}-{max(max(s) for s in sizes)} px',
              logger='current')
    results: Dict[str, dict] = {}
    breakdowns: Dict[str, Dict[str, float]] = {}
    tmp = tempfile.TemporaryDirectory() if 'jpeg' in args.settings \
        else nullcontext(None)
    with tmp as root:
        paths = write_jpegs(images, root) if root else None
        for setting in args.settings:
            from_files = setting == 'jpeg'
            pipes, inputs = {}, {}
            for name in PIPELINES:
                pipes[name] = build_pipeline(cfgs[name], from_files)
                inputs[name] = make_inputs(images, paths if from_files
                                           else None, args.num_classes)
            print_log(f'timing {setting}: {args.warmup} + {args.rounds} '
                      f'rounds of {len(images)} images', logger='current')
            rates = time_pipelines(pipes, inputs, args.rounds, args.warmup)
            results[setting] = {
                name: dict(images_per_s=statistics.median(r), rounds=r)
                for name, r in rates.items()
            }
            if args.breakdown:
                for name, pipe in pipes.items():
                    totals: Dict[str, float] = defaultdict(float)
                    instrument(pipe, totals)
                    run_round(pipe, inputs[name])
                    breakdowns[f'{setting}/{name}'] = {
                        k: v * 1e3 / len(images) for k, v in totals.items()
                    }

    print(f'\n{args.input_size} px views, one worker (1 thread), median of '
          f'{args.rounds} rounds over {len(images)} photos\n')
    print('| setting | pipeline | images/s per worker | ms/image '
          '| HVP / MoCo v3 |')
    print('| --- | --- | ---: | ---: | ---: |')
    for setting, res in results.items():
        base = res['mocov3']['images_per_s']
        for name in PIPELINES:
            rate = res[name]['images_per_s']
            res[name]['ratio_to_mocov3'] = rate / base
            print(f'| {setting} | {TITLES[name]} | {rate:.1f} | '
                  f'{1e3 / rate:.2f} | {rate / base:.2f}x |')
    for key, totals in breakdowns.items():
        print(f'\n{key}: ms per image in each transform (nested times are '
              'included in their parent)\n')
        for k, v in totals.items():
            print(f'  {k:<60} {v:7.3f}')
    sys.stdout.flush()
    record = dict(
        args=vars(args), images=len(images),
        pipelines={k: v for k, v in cfgs.items()}, results=results,
        breakdown=breakdowns)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(record, f, indent=2, default=str)
        print_log(f'wrote {args.out}', logger='current')
    return record


if __name__ == '__main__':
    main()
