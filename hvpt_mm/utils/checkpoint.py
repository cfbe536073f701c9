# Copyright (c) hvpt_mm authors. All rights reserved.
"""Loading the runner's own checkpoints on torch >= 2.6.

From torch 2.6, ``torch.load`` defaults to ``weights_only=True``. mmengine
0.10.7 calls it without the argument, and the checkpoints its runner writes
hold non-tensor objects (``HistoryBuffer``, numpy scalars, config text), so
``resume`` and ``load_from`` fail with ``UnpicklingError``.

The fix here is scoped: only files the user named (``load_from``, ``resume``,
``Pretrained`` ``init_cfg`` entries, the latest checkpoint of the work dir
for auto-resume) are loaded with ``weights_only=False``. Every other file
goes through ``torch.load`` exactly as before. The paths are registered by
:class:`~hvpt_mm.engine.hooks.HVPTTrustCheckpointHook` (in ``before_run``,
which the runner calls before it loads anything) or by
:func:`trust_checkpoint`.
"""
import os
import os.path as osp
import pickle
from contextlib import contextmanager
from typing import Iterable, Iterator, List, Optional, Set, Union

import torch
from mmengine.runner.checkpoint import CheckpointLoader, find_latest_checkpoint

_TRUSTED: Set[str] = set()


def _key(path: str) -> str:
    return osp.realpath(osp.expanduser(path))


def trust_checkpoint(path: Union[str, os.PathLike]) -> None:
    """Allow the full unpickler for one local checkpoint file.

    Args:
        path (str | PathLike): A local checkpoint path the user named.
    """
    _TRUSTED.add(_key(str(path)))


def untrust_checkpoint(path: Union[str, os.PathLike]) -> None:
    """Undo :func:`trust_checkpoint` for ``path`` (no error if absent)."""
    _TRUSTED.discard(_key(str(path)))


def is_trusted(path: Union[str, os.PathLike]) -> bool:
    """Whether ``path`` was named by the user through a trusted entry."""
    return _key(str(path)) in _TRUSTED


@contextmanager
def trusted_checkpoints(paths: Iterable[str]) -> Iterator[None]:
    """Trust ``paths`` inside a ``with`` block only."""
    added = [p for p in paths if not is_trusted(p)]
    for p in added:
        trust_checkpoint(p)
    try:
        yield
    finally:
        for p in added:
            untrust_checkpoint(p)


def _iter_pretrained(cfg) -> Iterator[str]:
    """Yield every ``checkpoint`` of a ``Pretrained`` init_cfg in ``cfg``."""
    if isinstance(cfg, dict):
        if cfg.get('type') == 'Pretrained' and isinstance(
                cfg.get('checkpoint'), str):
            yield cfg['checkpoint']
        for value in cfg.values():
            yield from _iter_pretrained(value)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            yield from _iter_pretrained(value)


def checkpoints_named_in(cfg, work_dir: Optional[str] = None) -> List[str]:
    """Local checkpoint paths that a config names for loading.

    Args:
        cfg (dict | Config): A runner config.
        work_dir (str, optional): The run's work dir; with ``resume=True``
            and no ``load_from`` its latest checkpoint is included.
            Defaults to ``cfg.work_dir``.

    Returns:
        list[str]: Paths of local files (URLs and ``pkg://`` names are left
        to mmengine's own loaders).
    """
    names = list(_iter_pretrained(cfg.get('model', {})))
    load_from = cfg.get('load_from')
    if load_from:
        names.append(load_from)
    work_dir = work_dir or cfg.get('work_dir')
    if cfg.get('resume') and not load_from and work_dir:
        latest = find_latest_checkpoint(work_dir)
        if latest:
            names.append(latest)
    return [
        n for n in names
        if '://' not in n and osp.isfile(osp.expanduser(n))
    ]


def load_local_checkpoint(filename: str, map_location=None):
    """mmengine's local loader, with the scoped ``weights_only`` fix."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    if is_trusted(filename):
        return torch.load(
            filename, map_location=map_location, weights_only=False)
    try:
        return torch.load(filename, map_location=map_location)
    except pickle.UnpicklingError as e:
        raise pickle.UnpicklingError(
            f'{filename}: holds objects that torch.load(weights_only=True) '
            'refuses, and it was not named as load_from / resume / a '
            'Pretrained init_cfg of this run. If you trust it, name it there '
            '(or call hvpt_mm.utils.trust_checkpoint), or extract the '
            'weights with tools/model_converters/extract_backbone.py. '
            f'torch said: {str(e).splitlines()[0]}') from e


# Replace mmengine's loader for plain local paths. Untrusted files take the
# same torch.load call as before, so unrelated loads keep their behaviour.
CheckpointLoader.register_scheme(
    prefixes='', loader=load_local_checkpoint, force=True)
