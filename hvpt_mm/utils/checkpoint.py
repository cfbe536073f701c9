# Copyright (c) hvpt_mm authors. All rights reserved.
"""Runner checkpoints that load with torch's safe (``weights_only``) loader.

From torch 2.6, ``torch.load`` defaults to ``weights_only=True``: it rebuilds
tensors and plain containers only and refuses every other pickled object.
The checkpoints mmengine's runner writes hold a few such objects, all of them
data, in the message hub and the meta (as found in a real checkpoint with
``torch.serialization.get_unsafe_globals_in_checkpoint``):

- ``mmengine.logging.HistoryBuffer``: the logged scalars. It pickles its
  statistics methods too, which pickle as ``getattr(HistoryBuffer, 'min')``
  (and ``max``, ``current``, ``mean``);
- numpy arrays (the buffers' histories), numpy scalars (e.g. the ``eta``
  entry) and the dtypes they carry.

Importing :mod:`hvpt_mm` (every config of this project does, through
``custom_imports``) adds exactly these to torch's allow-list with
``torch.serialization.add_safe_globals``. ``getattr`` is not allowed as
such: the name stands for :func:`history_buffer_method`, which returns the
four methods above and refuses anything else. Numpy's object dtype stays
refused, so no array can carry arbitrary objects. Runner checkpoints then
load with the safe loader everywhere in the process: ``load_from``,
``resume``, ``Pretrained`` init configs, mmpretrain's ``get_model``, mmdet's
``init_detector``, mmseg's ``init_model`` or a plain ``torch.load``.

mmengine's loader of local files is replaced by :func:`load_from_local_safe`,
which asks for the safe loader on torch >= 2.5 as well (where it is not yet
the default) and names the file and the refused objects when a checkpoint
holds anything else. On torch < 2.5 (no allow-list for ``getattr``) loading
is left as torch does it.
"""
import importlib
import os.path as osp
import pickle
from typing import Any, Callable, List, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader
from mmengine.utils import digit_version

# The statistics methods HistoryBuffer registers for itself.
HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')
# numpy dtypes of data (bool, integers, floats, complex); not object.
_NUMPY_DATA_DTYPES = '?bhilqBHILQefdgFDG'


def history_buffer_method(obj: Any, name: str) -> Callable:
    """``getattr`` as the safe loader may call it.

    ``HistoryBuffer`` pickles its statistics methods as
    ``getattr(HistoryBuffer, name)``; this function stands for ``getattr``
    in the safe loader's allow-list and resolves nothing else.

    Args:
        obj (Any): The object whose attribute is asked for.
        name (str): The attribute.

    Returns:
        Callable: ``HistoryBuffer.<name>``.

    Raises:
        pickle.UnpicklingError: For any other object or attribute.
    """
    if obj is HistoryBuffer and name in HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed: only the statistics '
        f'methods of HistoryBuffer ({", ".join(HISTORY_BUFFER_METHODS)})')


def _torch_reason(error: Exception) -> str:
    """The part of torch's refusal that says what was refused."""
    text = str(error)
    if 'WeightsUnpickler error:' in text:
        text = text.split('WeightsUnpickler error:', 1)[1]
        text = text.split('Check the documentation of torch.load', 1)[0]
    return ' '.join(text.split()) or type(error).__name__


def safe_checkpoint_globals(
) -> List[Union[Callable, Tuple[Callable, str]]]:
    """What runner checkpoints hold besides tensors and plain containers.

    Returns:
        list: Entries for ``torch.serialization.add_safe_globals``: objects,
        or ``(object, 'module.name')`` pairs for the names pickles use.
    """
    # numpy 2 moved numpy.core to numpy._core (numpy >= 1.26 has both).
    try:
        multiarray = importlib.import_module('numpy._core.multiarray')
    except ImportError:
        multiarray = importlib.import_module('numpy.core.multiarray')
    entries: List[Union[Callable, Tuple[Callable, str]]] = [
        HistoryBuffer,
        (history_buffer_method, 'builtins.getattr'),
        np.ndarray,
        np.dtype,
    ]
    # A checkpoint names them as the numpy that wrote it did.
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        for name in ('_reconstruct', 'scalar'):
            entries.append((getattr(multiarray, name), f'{module}.{name}'))
    # Rebuilt dtypes are completed with their state, which the safe loader
    # applies only to allowed types: those of numpy >= 1.25 are classes of
    # their own (numpy.dtypes.Float64DType...).
    for code in _NUMPY_DATA_DTYPES:
        dtype_cls = type(np.dtype(code))
        if dtype_cls is not np.dtype:
            entries.append(dtype_cls)
    return entries


def _supports_named_globals() -> bool:
    """``add_safe_globals`` takes ``(object, name)`` pairs (torch >= 2.5)."""
    return digit_version(torch.__version__) >= digit_version('2.5.0')


def register_safe_globals() -> bool:
    """Allow-list the objects of runner checkpoints for the safe loader.

    Called when :mod:`hvpt_mm` is imported; calling it again adds nothing.

    Returns:
        bool: Whether they were registered (torch >= 2.5).
    """
    if not _supports_named_globals():
        return False
    torch.serialization.add_safe_globals(safe_checkpoint_globals())
    return True


SAFE_LOADING = register_safe_globals()


def _unsafe_globals(filename: str) -> List[str]:
    """Globals of ``filename`` that the safe loader refuses (best effort)."""
    try:
        return list(
            torch.serialization.get_unsafe_globals_in_checkpoint(filename))
    except Exception:  # an old torch, or a file that is not a zip archive
        return []


def load_from_local_safe(filename: str, map_location=None) -> Any:
    """mmengine's loader of local files, with torch's safe loader.

    Args:
        filename (str): Path of a checkpoint file.
        map_location (optional): As for :func:`torch.load`.

    Returns:
        Any: The loaded checkpoint.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        pickle.UnpicklingError: It holds objects that are neither tensors,
            plain containers nor the allow-listed types; the message names
            the file and the objects.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    if not SAFE_LOADING:
        return torch.load(filename, map_location=map_location)
    try:
        return torch.load(
            filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        found = _unsafe_globals(filename)
        what = f' ({", ".join(found)})' if found else ''
        raise pickle.UnpicklingError(
            f'{filename}: holds pickled objects{what} that are not tensors, '
            'plain containers or the types of mmengine runner checkpoints, '
            'so the safe loader (torch.load(weights_only=True)) refuses it. '
            'Unpickling such objects can run any code. If you trust its '
            'source, load it with torch.load(path, weights_only=False) and '
            'save its tensors to a new file. '
            f'torch said: {_torch_reason(e)}') from e


# Replace mmengine's loader for plain local paths (same signature).
CheckpointLoader.register_scheme(
    prefixes='', loader=load_from_local_safe, force=True)
