# Copyright (c) hvpt_mm authors. All rights reserved.
"""Peak memory and step time of ``benchmark_step.py``'s variants.

:func:`measure_memory` builds a variant and records its peak memory over a
window of steps with the optimizer state in place; :func:`time_variants`
times the variants in interleaved rounds. The method and the meaning of
each figure are described in ``benchmark_step.py``.
"""
import ctypes
import gc
import os
import os.path as osp
import platform
import sys
import threading
import time
from contextlib import nullcontext
from typing import Callable, Dict, List, Optional, Tuple

import torch

from step_variants import Trainer, run_step

MB = 2.**20


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


# ---------------------------------------------------------------- machine
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

