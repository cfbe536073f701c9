# Copyright (c) hvpt_mm authors. All rights reserved.
"""The CPU demo: scenes -> HVP pre-training -> three transfers -> report.

Every stage is a real ``tools/train.py`` run of a config in
``configs/demo/`` (a subprocess, so each runner has its own registries and
scope); this module only sequences them, shows progress and collects the
metrics that the runners write to ``vis_data/scalars.json``.
"""
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from rich.console import Console
from rich.progress import (BarColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

from report import newest_log, read_scalars

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(REPO, 'configs', 'demo')
PRETRAIN_CONFIGS = {
    'hvp': 'hvpt_swin-demo_1xb64-3e_scenes-64px.py',
    'mim-only': 'hvpt_swin-demo_mim-only_1xb64-3e_scenes-64px.py',
    'con-only': 'hvpt_swin-demo_con-only_1xb64-3e_scenes-64px.py',
    'mlc-only': 'hvpt_swin-demo_mlc-only_1xb64-3e_scenes-64px.py',
}
# name -> (config, {metric key in scalars.json: column name})
TRANSFERS = {
    'linear': ('swin-demo_hvpt-pre_linear-8e_scenes-64px.py',
               {'multi-label/mAP': 'linear mAP'}),
    'detection': ('mask-rcnn_swin-demo-hvpt-pre_fpn_2e_scenes-64px.py', {
        'coco/bbox_mAP': 'box AP',
        'coco/segm_mAP': 'mask AP'
    }),
    'segmentation': ('upernet_swin-demo-hvpt-pre_1000i_scenes-64px.py',
                     {'mIoU': 'mIoU'}),
}


@dataclass(frozen=True)
class Setting:
    """Scenes, pre-training variants and transfers of one comparison.

    Attributes:
        name (str): Name on the command line and in the doc markers.
        data_root (str): Default folder of the scenes.
        scene_args (tuple[str]): Extra arguments of
            ``tools/dataset_converters/make_demo_scenes.py``.
        pretrain_configs (dict[str, str]): Variant -> config in
            ``configs/demo``; the variants other than ``single_signals``
            are HVP recipes.
        single_signals (tuple[str]): Variants that train one signal alone.
        transfers (dict): Transfer -> (config, {logged key: column}).
        summary_doc (str, optional): A doc (relative to the repository)
            that also gets a compact table of the test scenes, between
            ``<!-- NAME-summary:begin -->`` and ``...:end -->``.
        labels (dict[str, str]): Variant -> how the compact table names it.
    """
    name: str
    data_root: str
    scene_args: Tuple[str, ...]
    pretrain_configs: Dict[str, str]
    single_signals: Tuple[str, ...]
    transfers: Dict[str, Tuple[str, Dict[str, str]]]
    summary_doc: Optional[str] = None
    labels: Dict[str, str] = field(default_factory=dict)

    @property
    def variants(self) -> List[str]:
        """Every variant, ``random`` (no pre-training) last."""
        return list(self.pretrain_configs) + ['random']

    @property
    def hvp_variants(self) -> List[str]:
        """The variants that train all three signals."""
        return [v for v in self.pretrain_configs
                if v not in self.single_signals]


DEMO = Setting(
    name='demo',
    data_root='data/hvpt_demo',
    scene_args=(),
    pretrain_configs=PRETRAIN_CONFIGS,
    single_signals=('mim-only', 'con-only', 'mlc-only'),
    transfers=TRANSFERS)
# ImageNet-like: every scene labelled, 96 px, a 6 x 6 grid of mask blocks
# (configs/demo/_base_/labelled_scenes_96px.py).
LABELLED_96PX = Setting(
    name='labelled-96px',
    data_root='data/hvpt_scenes_96px',
    scene_args=('--size', '96', '--unlabelled-fraction', '0'),
    pretrain_configs={
        'hvp-mask-all': 'hvpt_swin-demo_1xb64-3e_labelled-scenes-96px.py',
        'hvp-mask-half':
        'hvpt_swin-demo_mask-half_1xb64-3e_labelled-scenes-96px.py',
        'hvp-mask-0.3':
        'hvpt_swin-demo_mask-0.3_1xb64-3e_labelled-scenes-96px.py',
        'mim-only': 'hvpt_swin-demo_mim-only_1xb64-3e_labelled-scenes-96px.py',
    },
    single_signals=('mim-only', ),
    transfers={
        name: (config.replace('scenes-64px', 'scenes-96px'), keys)
        for name, (config, keys) in TRANSFERS.items()
    },
    # The method README shows the test scenes, in words; the configs in
    # configs/_base_/datasets/imagenet_bs128_hvpt_192.py run the 0.3 recipe.
    summary_doc='configs/hvpt/README.md',
    labels={
        'hvp-mask-all': 'HVP, every view masked at 0.6',
        'hvp-mask-half': 'HVP, half of the views masked at 0.6',
        'hvp-mask-0.3': 'HVP, every view masked at 0.3 (shipped)',
        'mim-only': 'masked image modeling only (0.6)',
        'random': 'none (random initialisation)',
    })
SETTINGS = {s.name: s for s in (DEMO, LABELLED_96PX)}
# COCO AP is a fraction in mmdet, mAP / mIoU are percentages.
_SCALE = {'coco/bbox_mAP': 100., 'coco/segm_mAP': 100.}
# mmengine's log lines: "Epoch(train)  [3][20/63]" or "Iter(train) [20/1500]"
_EPOCH = re.compile(r'Epoch\(train\)\s*\[(\d+)\]\[\s*(\d+)/(\d+)\]')
_ITER = re.compile(r'Iter\(train\)\s*\[\s*(\d+)/(\d+)\]')

console = Console(stderr=True)


@dataclass
class Budget:
    """Schedule lengths of the demo runs (the configs' values by default).

    ``quick`` shrinks models and data to a smoke test of the pipeline.
    """
    pretrain_epochs: Optional[int] = None
    extra: Dict[str, List[str]] = field(default_factory=dict)

    @classmethod
    def quick(cls) -> 'Budget':
        tiny = [
            'model.backbone.arch.embed_dims=32',
            'model.backbone.arch.depths=[1,1,1,1]',
            'model.backbone.arch.num_heads=[1,2,2,4]',
        ]
        dims = '[32,64,128,256]'
        return cls(
            pretrain_epochs=1,
            extra=dict(
                pretrain=tiny + [
                    'train_cfg.max_epochs=1', 'param_scheduler.0.end=1',
                    'param_scheduler.1.begin=0', 'param_scheduler.1.end=1',
                    'param_scheduler.1.T_max=1', 'model.neck.in_channels=256',
                    'model.con_neck.in_channels=256',
                    'model.mlc_head.in_channels=256',
                    'train_dataloader.batch_size=16',
                    'default_hooks.logger.interval=1',
                    'default_hooks.checkpoint.interval=1'
                ],
                linear=tiny + [
                    'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                    'param_scheduler.0.T_max=1', 'param_scheduler.0.end=1',
                    'model.head.in_channels=256',
                    'default_hooks.checkpoint.interval=1'
                ],
                detection=tiny + [
                    'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                    'param_scheduler.1.end=1',
                    'param_scheduler.1.milestones=[1]',
                    f'model.neck.in_channels={dims}',
                    'train_dataloader.dataset.indices=16',
                    'val_dataloader.dataset.indices=8',
                    'default_hooks.checkpoint.interval=1'
                ],
                segmentation=tiny + [
                    'train_cfg.max_iters=4', 'train_cfg.val_interval=4',
                    'param_scheduler.0.end=2', 'param_scheduler.1.begin=2',
                    'param_scheduler.1.end=4',
                    f'model.decode_head.in_channels={dims}',
                    'model.auxiliary_head.in_channels=128',
                    'val_dataloader.dataset.indices=8',
                    'default_hooks.checkpoint.interval=4'
                ]))


def _arch_options(stage: str, options: Sequence[str]) -> List[str]:
    """`arch` is a dict in the demo configs: replace it whole when shrunk."""
    if any(o.startswith('model.backbone.arch.') for o in options):
        return ['model.backbone.arch._delete_=True'] + list(options)
    return list(options)


def run_stage(name: str, args: List[str], log_file: str,
              total: Optional[int] = None) -> None:
    """Run one tool as a subprocess with a live progress bar.

    The full output goes to ``log_file``; the bar follows mmengine's
    ``Epoch(train) [e][i/n]`` / ``Iter(train) [i/n]`` lines.

    Args:
        name (str): Stage name shown on the bar.
        args (list[str]): Tool path (relative to the repo) and arguments.
        log_file (str): Where the tool's output is written.
        total (int, optional): Epochs of the run, to turn ``[e][i/n]`` into
            overall progress. Defaults to None (one epoch).
    """
    os.makedirs(osp.dirname(log_file), exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    cmd = [sys.executable] + args
    with open(log_file, 'w') as log, Progress(
            TextColumn('[bold blue]{task.description}'), BarColumn(),
            TextColumn('{task.percentage:>3.0f}%'), TimeElapsedColumn(),
            TimeRemainingColumn(), console=console,
            transient=False) as progress:
        task = progress.add_task(name, total=1.0)
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1)
        for line in proc.stdout:
            log.write(line)
            m = _EPOCH.search(line)
            if m:
                epoch, i, n = (int(g) for g in m.groups())
                done = ((epoch - 1) * n + i) / (n * (total or 1))
                progress.update(task, completed=min(done, 1.0))
                continue
            m = _ITER.search(line)
            if m:
                i, n = (int(g) for g in m.groups())
                progress.update(task, completed=i / n)
        code = proc.wait()
        if code == 0:
            progress.update(task, completed=1.0)
    if code != 0:
        with open(log_file) as f:
            tail = ''.join(f.readlines()[-30:])
        raise RuntimeError(f'stage "{name}" failed (exit {code}); full log: '
                           f'{log_file}\n{tail}')


def last_metrics(work_dir: str, keys: Sequence[str]) -> Dict[str, float]:
    """The latest values of ``keys`` in a run's ``vis_data/scalars.json``."""
    found: Dict[str, float] = {}
    for rec in read_scalars(work_dir):
        found.update({k: rec[k] for k in keys if k in rec})
    missing = [k for k in keys if k not in found]
    if missing:
        raise KeyError(f'{work_dir}: no {missing} in its training log '
                       '(did validation run?)')
    return found


def _train_cmd(config: str, work_dir: str, options: Sequence[str],
               seed: int) -> List[str]:
    opts = list(options) + [f'randomness.seed={seed}']
    return ['tools/train.py', osp.join(CONFIGS, config), '--work-dir',
            work_dir, '--cfg-options'] + opts


def pretrain(variant: str, work_dir: str, seed: int, budget: Budget,
             setting: Setting = DEMO) -> str:
    """Pre-train, then extract the backbone; returns its path."""
    from mmengine.config import Config
    config = setting.pretrain_configs[variant]
    opts = _arch_options('pretrain', budget.extra.get('pretrain', []))
    epochs = budget.pretrain_epochs or Config.fromfile(
        osp.join(CONFIGS, config)).train_cfg.max_epochs
    run_stage(f'pre-train ({variant})',
              _train_cmd(config, work_dir, opts, seed),
              osp.join(work_dir, 'train.log'), total=epochs)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    backbone = osp.join(work_dir, 'backbone.pth')
    run_stage('extract backbone', [
        'tools/model_converters/extract_backbone.py', ckpt, backbone
    ], osp.join(work_dir, 'extract.log'))
    return backbone


def transfer(name: str, backbone: Optional[str], work_dir: str, seed: int,
             budget: Budget, setting: Setting = DEMO) -> Dict[str, float]:
    """Train and validate one transfer; ``backbone=None``: random init."""
    from mmengine.config import Config
    config, keys = setting.transfers[name]
    opts = _arch_options(name, budget.extra.get(name, []))
    if backbone is None:
        opts.append('model.backbone.init_cfg=None')
    else:
        opts.append(f'model.backbone.init_cfg.checkpoint={backbone}')
    cfg = Config.fromfile(osp.join(CONFIGS, config))
    total = cfg.train_cfg.get('max_epochs', 1)
    run_stage(name, _train_cmd(config, work_dir, opts, seed),
              osp.join(work_dir, 'train.log'), total=total)
    metrics = last_metrics(work_dir, list(keys))
    return {col: metrics[k] * _SCALE.get(k, 1.) for k, col in keys.items()}


def read_test_metrics(work_dir: str,
                      keys: Sequence[str]) -> Dict[str, float]:
    """The metrics a ``tools/test.py`` run logged (``<stamp>/<stamp>.json``).
    """
    path = newest_log(work_dir, '*', '*.json')
    with open(path) as f:
        logged = json.load(f)
    missing = [k for k in keys if k not in logged]
    if missing:
        raise KeyError(f'{path}: no {missing}')
    return {k: logged[k] for k in keys}


def evaluate_test_split(name: str, work_dir: str,
                        budget: Optional[Budget] = None,
                        setting: Setting = DEMO) -> Dict[str, float]:
    """Evaluate a finished transfer's last checkpoint on the test scenes.

    The test split is used for nothing else (no schedule, lr or recipe was
    chosen on it), so these are the held-out numbers.

    Args:
        name (str): A key of ``setting.transfers``.
        work_dir (str): The transfer's work dir (holds ``last_checkpoint``).
        budget (Budget, optional): The budget the transfer ran with.
        setting (Setting): The comparison the run belongs to. Defaults to
            :data:`DEMO`.

    Returns:
        dict[str, float]: Column -> value, as :func:`transfer` returns.
    """
    budget = budget or Budget()
    config, keys = setting.transfers[name]
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    test_dir = osp.join(work_dir, 'test')
    # The checkpoint holds the whole model: no backbone init to load.
    opts = _arch_options(name, budget.extra.get(name, [])) + [
        'model.backbone.init_cfg=None'
    ]
    run_stage(f'{name} (test scenes)', [
        'tools/test.py',
        osp.join(CONFIGS, config), ckpt, '--work-dir', test_dir,
        '--cfg-options'
    ] + opts, osp.join(test_dir, 'test.log'))
    metrics = read_test_metrics(test_dir, list(keys))
    return {col: metrics[k] * _SCALE.get(k, 1.) for k, col in keys.items()}


def add_test_metrics(result: dict, work_dir: str,
                     budget: Optional[Budget] = None,
                     setting: Setting = DEMO) -> dict:
    """Fill ``result['test_metrics']`` of a finished run, and save it.

    Runs that already have them are returned as they are.
    """
    if result.get('test_metrics'):
        return result
    result['test_metrics'] = {}
    for name in setting.transfers:
        result['test_metrics'].update(
            evaluate_test_split(name, osp.join(work_dir, name), budget,
                                setting))
    with open(osp.join(work_dir, 'result.json'), 'w') as f:
        json.dump(result, f, indent=2)
    return result


def run_pipeline(work_dir: str,
                 variant: str = 'hvp',
                 seed: int = 0,
                 budget: Optional[Budget] = None,
                 transfers: Sequence[str] = tuple(TRANSFERS),
                 test_split: bool = False,
                 setting: Setting = DEMO) -> dict:
    """Pre-train one variant (or none) and run the transfers.

    Args:
        work_dir (str): Root of this run's work dirs.
        variant (str): A key of ``setting.pretrain_configs``, or
            ``'random'`` for no pre-training.
        seed (int): Seed of every run. Defaults to 0.
        budget (Budget, optional): Shorter schedules (tests).
        transfers (Sequence[str]): Which transfers to run.
        test_split (bool): Also evaluate every transfer on the test scenes
            (``test_metrics``; all three transfers must run). Defaults to
            False.
        setting (Setting): Configs of the variants and transfers.
            Defaults to :data:`DEMO`.

    Returns:
        dict: ``variant``, ``seed``, ``metrics`` (column -> value, on the
        validation scenes), ``seconds`` (per stage), ``pretrain_dir`` and,
        with ``test_split``, ``test_metrics``.
    """
    budget = budget or Budget()
    result = dict(variant=variant, seed=seed, metrics={}, seconds={},
                  pretrain_dir=None)
    backbone = None
    if variant != 'random':
        start = time.time()
        pre_dir = osp.join(work_dir, 'pretrain')
        backbone = pretrain(variant, pre_dir, seed, budget, setting)
        result['pretrain_dir'] = pre_dir
        result['seconds']['pretrain'] = time.time() - start
    for name in transfers:
        start = time.time()
        result['metrics'].update(
            transfer(name, backbone, osp.join(work_dir, name), seed, budget,
                     setting))
        result['seconds'][name] = time.time() - start
    with open(osp.join(work_dir, 'result.json'), 'w') as f:
        json.dump(result, f, indent=2)
    if test_split:
        add_test_metrics(result, work_dir, budget, setting)
    return result
