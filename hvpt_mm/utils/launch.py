# Copyright (c) hvpt_mm authors. All rights reserved.
"""Config adjustments shared by ``tools/train.py`` and ``tools/test.py``."""
import logging
import os

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log

def ensure_hvpt_imported(cfg: Config) -> None:
    """Add ``hvpt_mm`` to ``custom_imports`` when a config lacks it.

    Configs of other projects (plain mmpretrain / mmdet / mmseg ones) do not
    import it; the runner then lacks the atomic checkpoint backend, the hooks
    and the safe loading of runner checkpoints on torch >= 2.6 that every
    process building the runner gets from the import.
    """
    imports = cfg.get('custom_imports', None) or dict(imports=[])
    names = imports.get('imports', [])
    names = [names] if isinstance(names, str) else list(names)
    if 'hvpt_mm' not in names:
        imports['imports'] = names + ['hvpt_mm']
        imports.setdefault('allow_failed_imports', False)
        cfg.custom_imports = imports


def setup_cpu_distributed(cfg: Config) -> None:
    """Run a distributed launch on the CPU with gloo when there is no GPU.

    mmengine defaults to nccl, wraps the model with ``device_ids=[rank]``
    and calls ``torch.cuda.set_device``, and GPU configs use SyncBN; none of
    that works without a GPU (see :class:`HVPTCPUDistributedDataParallel`).
    With a GPU the config is left unchanged.
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', {})
    env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg', None) or {}
    if wrapper.get('type', 'MMDistributedDataParallel') not in (
            'MMDistributedDataParallel', 'HVPTCPUDistributedDataParallel'):
        raise ValueError(f'model_wrapper_cfg {wrapper["type"]} cannot run '
                         'on a machine without a GPU')
    wrapper['type'] = 'HVPTCPUDistributedDataParallel'
    cfg.model_wrapper_cfg = wrapper
    if cfg.launcher == 'pytorch' and not dist.is_initialized():
        # mmengine skips its own init_dist (and its cuda.set_device) when
        # the process group already exists.
        dist.init_process_group(backend='gloo')
    print_log(
        f'no GPU: distributed run on the CPU with gloo '
        f'(rank {os.environ.get("RANK")} of {os.environ.get("WORLD_SIZE")})',
        logger='current')


def fall_back_from_amp_on_cpu(cfg: Config) -> None:
    """Train in fp32 where ``AmpOptimWrapper`` cannot run (no GPU).

    mmengine's ``AmpOptimWrapper`` asserts a CUDA / NPU / MLU device; the
    GPU configs use it, so a CPU run of them would stop at start-up.
    """
    wrapper = cfg.get('optim_wrapper', None)
    if not wrapper or wrapper.get('type') != 'AmpOptimWrapper' or \
            torch.cuda.is_available():
        return
    wrapper.type = 'OptimWrapper'
    for key in ('loss_scale', 'dtype', 'use_fsdp'):
        wrapper.pop(key, None)
    print_log('no GPU: AmpOptimWrapper replaced by OptimWrapper (fp32)',
              logger='current', level=logging.WARNING)


def drop_collate_scope(cfg: Config) -> None:
    """Remove ``_scope_`` from the dataloaders' ``collate_fn`` dicts.

    mmengine tags every dict of a ``pkg::`` base with ``_scope_``, and its
    runner then passes that key on to the collate function as an argument
    (``TypeError: ... unexpected keyword argument '_scope_'``).
    """
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name, None)
        collate = loader.get('collate_fn', None) if loader else None
        if isinstance(collate, dict):
            collate.pop('_scope_', None)


def prepare_cfg_for_launch(cfg: Config) -> None:
    """All adjustments our tools make before building the runner."""
    ensure_hvpt_imported(cfg)
    drop_collate_scope(cfg)
    fall_back_from_amp_on_cpu(cfg)
    setup_cpu_distributed(cfg)
