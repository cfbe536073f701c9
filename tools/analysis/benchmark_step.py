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
import json
import logging
import os
import os.path as osp
import statistics
import sys
from typing import Dict, List, Optional, Sequence

os.environ.setdefault('KINETO_LOG_LEVEL', '6')  # quiet profiler start/stop

import torch  # noqa: E402
from mmengine.logging import MessageHub, print_log  # noqa: E402

# The variants and the measurement sit beside this script, which
# gpu_report.py and the tests also load by path.
HERE = osp.dirname(osp.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
from step_measure import machine_info, measure_memory, time_variants
from step_variants import (DTYPES, TITLES, VARIANTS, Trainer, build_variant,
                           make_batches, model_configs, parse_arch)

REPO = osp.dirname(osp.dirname(HERE))
DEFAULT_CONFIG = osp.join(REPO, 'configs', '_base_', 'models',
                          'hvpt_swin-base-w6.py')


# ------------------------------------------------------------------ report
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
