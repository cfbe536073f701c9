# Copyright (c) hvpt_mm authors. All rights reserved.
"""Time one training step of HVP against SimMIM and a MoCo v3-style step.

In one process, on the same Swin, input size and batch, this measures the
training step (data preprocessor, forward, backward, gradient clipping,
AdamW step) and the peak memory of four variants:

- ``hvp``: :class:`HeuristicMultiTaskPretrainer` with all three signals,
  built from ``configs/_base_/models/hvpt_swin-base-w6.py`` with the chosen
  arch;
- ``simmim``: mmpretrain's registered ``SimMIM`` (``SimMIMSwinTransformer``
  + ``SimMIMLinearDecoder`` + ``SimMIMHead``), the same backbone / neck /
  head configs;
- ``mocov3``: a MoCo v3-style step on the same Swin (mmpretrain's
  ``MoCoV3`` supports ViT and ResNet only): both views go through backbone
  + projector + predictor with gradient, a ``CosineEMA`` momentum encoder
  gives the keys of both views under ``no_grad``, symmetric InfoNCE
  (``HVPTContrastiveHead``), as in mmpretrain's ``MoCoV3.loss``;
- ``naive_sum``: a SimMIM step and a MoCo v3-style step run back to back on
  the same batch, each with its own model and optimizer, i.e. the two
  methods trained side by side.

Timing. Every variant is built first; then warm-up and timed steps run in
interleaved rounds (one step of each variant per round), so that load from
other processes hits all variants alike. ``ms/step`` is the median over the
timed rounds, ``time / SimMIM`` the median of the per-round ratios (paired,
so a round slowed by other processes cancels out); on a GPU each step is
timed with CUDA events.

Memory. Each variant is built and run on its own before the timing rounds
start: one step (with fp16, as many as the loss scaler needs to let an
update through) creates the AdamW state, then ``--mem-iters`` steps run
with it. The peak is taken over that whole window and counts everything
the variant allocates: weights, momentum encoder, gradients, optimizer
state, activations and temporaries.

- GPU: ``torch.cuda.max_memory_allocated`` after
  ``reset_peak_memory_stats``, minus ``memory_allocated`` before the build.
- CPU (``peak MB``): the allocation events of ``torch.profiler`` with
  ``profile_memory=True``: every CPU tensor allocation and free from the
  build on is recorded with its size and time; the peak of their running
  sum is the variant's peak of live tensor bytes, exact and independent of
  the other variants (the CPU analogue of ``max_memory_allocated``). Frees
  of blocks allocated before the window are not reported by the profiler,
  so earlier variants cannot lower the figure.
- CPU cross-check (``RSS MB``): a thread reads the process RSS
  (``/proc/self/statm``) every 0.5 ms during the same window, after
  ``gc.collect()`` and glibc ``malloc_trim(0)``; the figure is the peak
  minus the RSS before the build. It also counts allocator caching, the
  profiler's own buffers and non-tensor memory, so it is an upper bound.

Examples::

    # the comparison of docs/benchmarks.md (CPU)
    python tools/analysis/benchmark_step.py --arch tiny --img-size 192 \\
        --batch 16 --iters 10 --warmup 2 --out work_dirs/bench_step.json
    # GPU, bf16 autocast
    python tools/analysis/benchmark_step.py --arch base --batch 128 \\
        --dtype bf16 --device cuda
    # the test preset, seconds
    python tools/analysis/benchmark_step.py \\
        --arch embed_dims=32,depths=1,1,1,1 --img-size 64 --batch 4 \\
        --iters 2 --warmup 1 --window-size 2
"""
import argparse
import copy
import ctypes
import gc
import json
import logging
import math
import os
import os.path as osp
import platform
import statistics
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

os.environ.setdefault('KINETO_LOG_LEVEL', '6')  # quiet profiler start/stop

import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.logging import MessageHub, print_log  # noqa: E402
from torch import nn  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(REPO, 'configs', '_base_', 'models',
                          'hvpt_swin-base-w6.py')
VARIANTS = ('hvp', 'simmim', 'mocov3', 'naive_sum')
TITLES = dict(
    hvp='HVP: mim + con + mlc, one pass',
    simmim='SimMIM (mmpretrain)',
    mocov3='MoCo v3-style, 2 views',
    naive_sum='naive sum: SimMIM + MoCo v3')
DTYPES = dict(fp32=None, bf16=torch.bfloat16, fp16=torch.float16)
MB = 2.**20


# ----------------------------------------------------------------- models
def parse_arch(text: str) -> Union[str, dict]:
    """``tiny`` / ``small`` / ``base`` / ``large``, or ``key=v,...``.

    A custom arch such as ``embed_dims=32,depths=1,1,1,1`` takes
    ``embed_dims``, ``depths`` and optionally ``num_heads`` (default: one
    head per 32 channels, as Swin-T/S/B).
    """
    from mmpretrain.models import SwinTransformer
    if text in SwinTransformer.arch_zoo:
        return text
    arch: Dict[str, list] = {}
    key = None
    for token in text.split(','):
        if '=' in token:
            key, token = token.split('=', 1)
            arch[key.strip()] = []
        if key is None:
            raise argparse.ArgumentTypeError(
                f'--arch {text!r}: expected a name from '
                f'{sorted(SwinTransformer.arch_zoo)} or key=value pairs')
        arch[key.strip()].append(int(token))
    if 'embed_dims' not in arch or 'depths' not in arch:
        raise argparse.ArgumentTypeError(
            f'--arch {text!r}: a custom arch needs embed_dims and depths')
    dims = arch['embed_dims'][0]
    depths = arch['depths']
    heads = arch.get('num_heads') or [
        max(1, dims * 2**i // 32) for i in range(len(depths))
    ]
    return dict(embed_dims=dims, depths=depths, num_heads=heads)


def arch_embed_dims(arch: Union[str, dict]) -> int:
    """Channels of the first stage."""
    if isinstance(arch, dict):
        return arch['embed_dims']
    from mmpretrain.models import SwinTransformer
    return SwinTransformer.arch_zoo[arch]['embed_dims']


def model_configs(args: argparse.Namespace) -> Dict[str, dict]:
    """Configs of the HVP, SimMIM and MoCo v3-style models.

    All three share the backbone, MIM decoder / head and contrastive
    projector / predictor configs of ``args.config``.
    """
    hvp = Config.fromfile(args.config).model.to_dict()
    out_channels = arch_embed_dims(args.arch) * 8
    backbone = hvp['backbone']
    backbone.update(arch=copy.deepcopy(args.arch), img_size=args.img_size,
                    with_cp=args.with_cp)
    backbone.setdefault('stage_cfgs', {}).setdefault(
        'block_cfgs', {})['window_size'] = args.window_size
    hvp['neck']['in_channels'] = out_channels
    hvp['con_neck']['in_channels'] = out_channels
    hvp['mlc_head'].update(in_channels=out_channels,
                           num_classes=args.num_classes)
    hid, out = args.proj_dims
    if hid:
        hvp['con_neck']['hid_channels'] = hid
        hvp['con_head']['predictor']['hid_channels'] = hid
    if out:
        hvp['con_neck']['out_channels'] = out
        hvp['con_head']['predictor'].update(in_channels=out,
                                            out_channels=out)
    simmim = dict(
        type='SimMIM', backbone=copy.deepcopy(backbone),
        neck=copy.deepcopy(hvp['neck']), head=copy.deepcopy(hvp['head']),
        data_preprocessor=copy.deepcopy(hvp['data_preprocessor']))
    mocov3 = dict(
        backbone=copy.deepcopy(backbone),
        neck=copy.deepcopy(hvp['con_neck']),
        head=copy.deepcopy(hvp['con_head']),
        base_momentum=hvp.get('base_momentum', 0.01),
        data_preprocessor=copy.deepcopy(hvp['data_preprocessor']))
    return dict(hvp=hvp, simmim=simmim, mocov3=mocov3)


def build_mocov3(cfg: dict) -> nn.Module:
    """A MoCo v3 step on a Swin, as mmpretrain's ``MoCoV3.loss``."""
    from mmpretrain.models.necks import GlobalAveragePooling
    from mmpretrain.models.selfsup import BaseSelfSupervisor
    from mmpretrain.models.utils import CosineEMA

    from hvpt_mm.models.pretrainers.hvp import _KeyEncoder

    class SwinMoCoV3(BaseSelfSupervisor):
        """Query: backbone + projector + predictor of both views, with
        gradient; keys: momentum backbone + projector of both views."""

        def __init__(self, backbone: dict, neck: dict, head: dict,
                     base_momentum: float = 0.01,
                     data_preprocessor: Optional[dict] = None) -> None:
            super().__init__(backbone=backbone, neck=neck, head=head,
                             data_preprocessor=data_preprocessor)
            self.backbone.mask_token.requires_grad_(False)  # unused
            self.pool = GlobalAveragePooling()
            self.momentum_encoder = CosineEMA(
                _KeyEncoder(self.backbone, self.neck),
                momentum=base_momentum)

        def loss(self, inputs: List[torch.Tensor], data_samples: list,
                 **kwargs) -> Dict[str, torch.Tensor]:
            view_1, view_2 = inputs
            q1 = self.neck(self.pool(self.backbone(view_1, None)))[0]
            q2 = self.neck(self.pool(self.backbone(view_2, None)))[0]
            with torch.no_grad():
                self.momentum_encoder.update_parameters(
                    _KeyEncoder(self.backbone, self.neck))
                k1 = self.momentum_encoder(view_1)
                k2 = self.momentum_encoder(view_2)
            loss = (self.head.loss(q1, k2)['loss'] +
                    self.head.loss(q2, k1)['loss'])
            return dict(loss=loss)

    return SwinMoCoV3(**cfg)


# ------------------------------------------------------------------ batch
def make_batches(args: argparse.Namespace, device: torch.device
                 ) -> Dict[str, dict]:
    """The batch of each model, as ``default_collate`` gives it.

    Two uint8 views (random pixels), a SimMIM mask per image (60 % of the
    32-px blocks, at 4-px model patches) and a multi-hot target with one
    to three classes. The tensors sit on ``device`` already.
    """
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(0)
    size, batch = args.img_size, args.batch
    if size % 32:
        raise ValueError(f'--img-size {size} must be a multiple of 32 '
                         '(the SimMIM mask patch)')
    views = [
        torch.randint(0, 256, (batch, 3, size, size), generator=g,
                      dtype=torch.uint8).to(device) for _ in range(2)
    ]
    blocks = (size // 32)**2
    n_masked = math.ceil(blocks * 0.6)  # as SimMIMMaskGenerator
    samples = []
    for _ in range(batch):
        mask = torch.zeros(blocks, dtype=torch.bool)
        mask[torch.randperm(blocks, generator=g)[:n_masked]] = True
        mask = mask.view(size // 32, size // 32).repeat_interleave(
            8, 0).repeat_interleave(8, 1)  # [h, w] at 4-px patches
        score = torch.zeros(args.num_classes)
        n_pos = int(torch.randint(1, 4, (1, ), generator=g))
        score[torch.randint(0, args.num_classes, (n_pos, ), generator=g)] = 1
        ds = DataSample()
        ds.set_mask(mask.to(device))
        ds.set_gt_score(score.to(device))
        ds.set_field(True, 'has_label')
        samples.append(ds)
    return dict(
        hvp=dict(inputs=views, data_samples=samples),
        simmim=dict(inputs=views[0], data_samples=samples),
        mocov3=dict(inputs=views, data_samples=samples))


# ------------------------------------------------------------------- step
@dataclass
class Trainer:
    """One model with its optimizer; :meth:`step` is one training step."""

    model: nn.Module
    data: dict
    dtype: Optional[torch.dtype]
    device: torch.device
    params: List[nn.Parameter] = field(init=False)
    optimizer: torch.optim.Optimizer = field(init=False)
    scaler: Optional[torch.amp.GradScaler] = field(init=False)

    def __post_init__(self) -> None:
        self.model.to(self.device).train()
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        # The configs' optimizer: AdamW, gradient clipping at 5.
        self.optimizer = torch.optim.AdamW(
            self.params, lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05)
        self.scaler = (
            torch.amp.GradScaler(self.device.type)
            if self.dtype == torch.float16 else None)

    def autocast(self):
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def step(self) -> None:
        """Preprocess, forward, backward, clip, AdamW step."""
        with self.autocast():
            data = self.model.data_preprocessor(self.data, True)
            losses = self.model(**data, mode='loss')
        loss, _ = self.model.parse_losses(losses)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, max_norm=5.0)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def build_variant(name: str, cfgs: Dict[str, dict],
                  batches: Dict[str, dict], args: argparse.Namespace,
                  device: torch.device) -> List[Trainer]:
    """The trainers whose steps make up one step of ``name``."""
    from mmpretrain.registry import MODELS
    dtype = DTYPES[args.dtype]
    parts = dict(hvp=['hvp'], simmim=['simmim'], mocov3=['mocov3'],
                 naive_sum=['simmim', 'mocov3'])[name]
    trainers = []
    for part in parts:
        torch.manual_seed(0)
        cfg = copy.deepcopy(cfgs[part])
        model = build_mocov3(cfg) if part == 'mocov3' else MODELS.build(cfg)
        trainers.append(Trainer(model, batches[part], dtype, device))
    return trainers


def run_step(trainers: Sequence[Trainer]) -> None:
    for t in trainers:
        t.step()


# ----------------------------------------------------------------- memory
def _malloc_trim() -> None:
    """Give freed heap pages back to the OS (glibc only)."""
    gc.collect()
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


class RssSampler:
    """Peak resident set size of this process, read in a thread.

    Reads ``/proc/self/statm`` every ``interval`` seconds (Linux); elsewhere
    the figure is None.
    """

    def __init__(self, interval: float = 5e-4) -> None:
        self.interval = interval
        self.page = os.sysconf('SC_PAGE_SIZE') if hasattr(os, 'sysconf') \
            else 4096
        self.fd = None
        if osp.exists('/proc/self/statm'):
            self.fd = os.open('/proc/self/statm', os.O_RDONLY)
        self.peak = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def rss(self) -> int:
        return int(os.pread(self.fd, 128, 0).split()[1]) * self.page

    def __enter__(self) -> 'RssSampler':
        if self.fd is None:
            return self
        self.start = self.peak = self.rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, self.rss())
            os.close(self.fd)

    @property
    def delta_mb(self) -> Optional[float]:
        return None if self._thread is None \
            else (self.peak - self.start) / MB


def _profiler_peak(prof) -> float:
    """Peak of the running sum of the profiler's CPU allocation events."""
    events = [(e.start_ns(), e.nbytes())
              for e in prof.profiler.kineto_results.events()
              if e.name() == '[memory]' and e.device_type() ==
              torch.autograd.DeviceType.CPU]
    events.sort()
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak / MB


def _memory_window(build: Callable[[], List[Trainer]],
                   iters: int) -> List[Trainer]:
    """Build, step until AdamW holds its state, then ``iters`` more steps.

    The state is created by the first update, after that step's peak, so
    the steady-state peak comes from the steps that follow. An fp16
    ``GradScaler`` skips the updates of its first steps (gradient overflow
    at the initial scale): the window waits for a real update, at most 20
    steps.
    """
    trainers = build()
    for _ in range(20):
        run_step(trainers)
        if all(t.optimizer.state for t in trainers):
            break
    for _ in range(iters):
        run_step(trainers)
    return trainers


def measure_memory(build: Callable[[], List[Trainer]], iters: int,
                   device: torch.device) -> Tuple[List[Trainer], dict]:
    """Build a variant and run ``iters`` steps, recording its peak."""
    _malloc_trim()
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        trainers = _memory_window(build, iters)
        torch.cuda.synchronize(device)
        peak = (torch.cuda.max_memory_allocated(device) - before) / MB
        return trainers, dict(peak_mb=peak, rss_mb=None)
    from torch.profiler import ProfilerActivity, profile
    with RssSampler() as rss:
        with profile(activities=[ProfilerActivity.CPU],
                     profile_memory=True) as prof:
            trainers = _memory_window(build, iters)
    peak = _profiler_peak(prof)
    del prof
    return trainers, dict(peak_mb=peak, rss_mb=rss.delta_mb)


# ----------------------------------------------------------------- timing
def time_variants(variants: Dict[str, List[Trainer]], warmup: int,
                  iters: int, device: torch.device) -> Dict[str, List[float]]:
    """Milliseconds per step of every variant, in interleaved rounds."""
    times: Dict[str, List[float]] = {name: [] for name in variants}
    cuda = device.type == 'cuda'
    rounds = warmup + iters
    progress = _progress(rounds * len(variants))
    with progress as bar:
        task = bar.add_task('steps', total=rounds * len(variants)) \
            if bar else None
        for r in range(rounds):
            for name, trainers in variants.items():
                if cuda:
                    start = torch.cuda.Event(enable_timing=True)
                    end = torch.cuda.Event(enable_timing=True)
                    start.record()
                    run_step(trainers)
                    end.record()
                    end.synchronize()
                    ms = start.elapsed_time(end)
                else:
                    t0 = time.perf_counter()
                    run_step(trainers)
                    ms = (time.perf_counter() - t0) * 1e3
                if r >= warmup:
                    times[name].append(ms)
                if bar:
                    bar.update(task, advance=1,
                               description=f'round {r + 1}/{rounds} {name}')
    return times


def _progress(total: int):
    """A transient rich progress bar on a terminal, else nothing."""
    if not sys.stderr.isatty():
        return nullcontext(None)
    try:
        from rich.progress import Progress
    except ImportError:
        return nullcontext(None)
    return Progress(transient=True)


# ------------------------------------------------------------------ report
def machine_info(device: torch.device) -> dict:
    """CPU model, cores, torch version and the GPU if any."""
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    info = dict(cpu=cpu, cores=os.cpu_count(),
                torch_threads=torch.get_num_threads(),
                torch=torch.__version__, python=platform.python_version())
    if device.type == 'cuda':
        info['gpu'] = torch.cuda.get_device_name(device)
    return info


def summarise(times: Dict[str, List[float]], memory: Dict[str, dict],
              batch: int) -> Dict[str, dict]:
    """Median ms/step, images/s, peak memory and ratios to SimMIM.

    The time ratio is the median over the rounds of each round's ratio.
    """
    rows = {}
    for name, ms in times.items():
        med = statistics.median(ms)
        rows[name] = dict(ms_per_step=med, ms_steps=ms,
                          images_per_s=batch * 1e3 / med, **memory[name])
    base = rows.get('simmim')
    for row in rows.values():
        # Paired by round: load that slows one round slows every variant
        # in it, and cancels from the ratio.
        row['time_ratio'] = statistics.median(
            a / b for a, b in zip(row['ms_steps'], base['ms_steps'])) \
            if base else None
        row['memory_ratio'] = row['peak_mb'] / base['peak_mb'] \
            if base else None
    return rows


def format_table(rows: Dict[str, dict]) -> str:
    """Markdown table, one row per variant."""

    def num(v, fmt):
        return '-' if v is None else format(v, fmt)

    lines = [
        '| variant | ms/step | images/s | peak MB | RSS MB '
        '| time / SimMIM | memory / SimMIM |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: |'
    ]
    for name, r in rows.items():
        lines.append(
            f'| {TITLES[name]} | {r["ms_per_step"]:.1f} | '
            f'{r["images_per_s"]:.2f} | {r["peak_mb"]:.1f} | '
            f'{num(r["rss_mb"], ".1f")} | {num(r["time_ratio"], ".2f")}x | '
            f'{num(r["memory_ratio"], ".2f")}x |')
    return '\n'.join(lines)


# -------------------------------------------------------------------- main
def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Training-step time and peak memory of HVP (three '
        'signals) against SimMIM, a MoCo v3-style step and their naive sum, '
        'on the same Swin, input size and batch, in one process')
    parser.add_argument(
        '--arch', type=parse_arch, default='tiny',
        help='Swin arch: tiny, small, base, large, or a custom one such as '
        'embed_dims=32,depths=1,1,1,1 (default: tiny)')
    parser.add_argument('--img-size', type=int, default=192,
                        help='input side, a multiple of 32 (default: 192)')
    parser.add_argument('--window-size', type=int, default=6,
                        help='Swin window (default: 6, as the configs)')
    parser.add_argument('--batch', type=int, default=16,
                        help='images per step (default: 16)')
    parser.add_argument('--num-classes', type=int, default=1000,
                        help='multi-label classes (default: 1000)')
    parser.add_argument(
        '--proj-dims', type=lambda s: tuple(int(v) for v in s.split(',')),
        default=None, metavar='HID,OUT',
        help='hidden and output channels of the contrastive projector and '
        'predictor (default: the config\'s 2048,256; 64,32 for a custom '
        'arch, as the test preset)')
    parser.add_argument('--dtype', choices=sorted(DTYPES), default='fp32',
                        help='autocast dtype (default: fp32, no autocast)')
    parser.add_argument('--with-cp', action='store_true',
                        help='gradient checkpointing of the Swin blocks')
    parser.add_argument('--iters', type=int, default=10,
                        help='timed steps per variant (default: 10)')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed steps per variant (default: 2)')
    parser.add_argument(
        '--mem-iters', type=int, default=1,
        help='steps of the memory window after the first weight update, '
        'i.e. with the optimizer state in place (default: 1)')
    parser.add_argument('--device', default=None,
                        help='cpu or cuda (default: cuda when available)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch\'s choice)')
    parser.add_argument('--variants', nargs='+', choices=VARIANTS,
                        default=list(VARIANTS),
                        help='variants to run (default: all)')
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help='HVP model config (default: %(default)s)')
    parser.add_argument('--out', default=None, help='write a json here')
    args = parser.parse_args(argv)
    if args.proj_dims is None:
        args.proj_dims = (64, 32) if isinstance(args.arch, dict) \
            else (None, None)
    if min(args.iters, args.mem_iters, args.warmup + 1) < 1:
        parser.error('--iters and --mem-iters must be >= 1, --warmup >= 0')
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, dict]:
    args = parse_args(argv)
    import hvpt_mm  # noqa: F401  (registers our modules)
    from hvpt_mm.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(
        args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    if args.dtype == 'fp16' and device.type == 'cpu':
        print_log('fp16 autocast on CPU is slow and for completeness only',
                  logger='current', level=logging.WARNING)
    # CosineEMA reads the schedule length from the message hub.
    MessageHub.get_current_instance().update_info('max_iters', 10**6)

    cfgs = model_configs(args)
    batches = make_batches(args, device)
    variants: Dict[str, List[Trainer]] = {}
    memory: Dict[str, dict] = {}
    for name in args.variants:
        print_log(f'building {name} and measuring its memory',
                  logger='current')
        variants[name], memory[name] = measure_memory(
            lambda: build_variant(name, cfgs, batches, args, device),
            args.mem_iters, device)
    print_log(f'timing {args.warmup} + {args.iters} interleaved rounds',
              logger='current')
    times = time_variants(variants, args.warmup, args.iters, device)
    rows = summarise(times, memory, args.batch)

    info = machine_info(device)
    arch = args.arch if isinstance(args.arch, str) else ','.join(
        f'{k}={",".join(map(str, v)) if isinstance(v, list) else v}'
        for k, v in args.arch.items())
    print(f'\ndevice {device} ({info.get("gpu", info["cpu"])}, '
          f'{info["cores"]} cores, {info["torch_threads"]} torch threads), '
          f'torch {info["torch"]}; Swin {arch}, {args.img_size} px, '
          f'window {args.window_size}, batch {args.batch}, {args.dtype}'
          f'{", with_cp" if args.with_cp else ""}; median of {args.iters} '
          f'steps after {args.warmup} warm-up\n')
    print(format_table(rows))
    sys.stdout.flush()
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        record = dict(
            machine=info, device=str(device),
            args={k: (list(v) if isinstance(v, tuple) else v)
                  for k, v in vars(args).items()},
            variants=rows)
        with open(args.out, 'w') as f:
            json.dump(record, f, indent=2)
        print_log(f'wrote {args.out}', logger='current')
    return rows


if __name__ == '__main__':
    main()
