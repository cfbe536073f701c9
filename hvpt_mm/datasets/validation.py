# Copyright (c) hvpt_mm authors. All rights reserved.
"""Load-time checks shared by the pre-training datasets.

Every helper raises an error whose message starts with the file (or
dataset) it is about, then says what is wrong, so that a bad annotation
stops the run before training starts instead of being used silently.
"""
import json
from typing import (Any, Dict, List, Mapping, Optional, Sequence, Tuple,
                    Union)

import numpy as np
from mmengine import fileio

__all__ = [
    'require_path', 'load_json_file', 'read_lines', 'resolve_classes',
    'class_index', 'find_class', 'label_to_indices', 'class_difference',
    'describe_dataset', 'is_labelled'
]

ClassIndex = Mapping[str, Optional[int]]


def require_path(path: str,
                 kind: str,
                 what: str,
                 owner: str,
                 layout: Optional[str] = None) -> None:
    """Raise :class:`FileNotFoundError` if ``path`` is missing.

    Args:
        path (str): The file or folder to check.
        kind (str): ``'file'`` or ``'dir'``.
        what (str): What the path is, e.g. ``'data root'``.
        owner (str): Who needs it, e.g. the dataset class name.
        layout (str, optional): The expected data layout, shown in the
            message. Defaults to None.

    Raises:
        FileNotFoundError: The path does not exist or is of the wrong kind.
    """
    if kind not in ('file', 'dir'):
        raise ValueError(f"kind must be 'file' or 'dir', got {kind!r}")
    check = fileio.isdir if kind == 'dir' else fileio.isfile
    if check(path):
        return
    if fileio.exists(path):
        problem = 'is not a folder' if kind == 'dir' else 'is not a file'
    else:
        problem = 'does not exist'
    msg = f'{owner}: {what} {path!r} {problem}.'
    if layout:
        msg += f'\nExpected layout:\n{layout.rstrip()}'
    raise FileNotFoundError(msg)


def load_json_file(path: str,
                   owner: str,
                   layout: Optional[str] = None,
                   backend_args: Optional[dict] = None) -> Any:
    """Read a JSON file, naming it in every error.

    Args:
        path (str): The JSON file.
        owner (str): Who reads it, e.g. the dataset class name.
        layout (str, optional): Expected layout, shown if the file is
            missing. Defaults to None.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.

    Returns:
        Any: The decoded JSON value.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is empty or is not valid JSON.
    """
    require_path(path, 'file', 'annotation file', owner, layout)
    text = fileio.get_text(path, backend_args=backend_args)
    if not text.strip():
        raise ValueError(f'{path}: annotation file is empty')
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f'{path}: malformed JSON at line {e.lineno} '
                         f'column {e.colno}: {e.msg}') from None


def read_lines(path: str,
               owner: str,
               layout: Optional[str] = None,
               backend_args: Optional[dict] = None,
               what: str = 'list file') -> List[Tuple[int, str]]:
    """Non-blank lines of a text file with their 1-based numbers.

    Args:
        path (str): The text file.
        owner (str): Who reads it, e.g. the dataset class name.
        layout (str, optional): Expected layout, shown if the file is
            missing. Defaults to None.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.
        what (str): What the file is, named in errors. Defaults to
            ``'list file'``.

    Returns:
        list[tuple[int, str]]: ``(line number, stripped line)`` pairs.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file holds no non-blank line.
    """
    require_path(path, 'file', what, owner, layout)
    text = fileio.get_text(path, backend_args=backend_args)
    lines = [(i, line.strip()) for i, line in enumerate(text.splitlines(), 1)
             if line.strip()]
    if not lines:
        raise ValueError(f'{path}: {what} is empty')
    return lines


def resolve_classes(classes: Union[str, Sequence[str]],
                    owner: str) -> Tuple[str, ...]:
    """Class names from a sequence or a text file (one name a line).

    Args:
        classes (str | Sequence[str]): The names, or a text file of them.
        owner (str): Who needs them, named in errors.

    Returns:
        tuple[str]: The class names.

    Raises:
        ValueError: The list is empty.
    """
    source = 'classes'
    if isinstance(classes, str):
        source = classes
        names = [
            line for _, line in read_lines(classes, owner, what='class file')
        ]
    elif isinstance(classes, (list, tuple)):
        names = [str(c) for c in classes]
    else:
        raise TypeError(f'{owner}: classes must be a list of names or a '
                        f'text file, got {type(classes).__name__}')
    if not names:
        raise ValueError(f'{owner}: {source}: the class list is empty')
    return tuple(names)


def class_index(classes: Sequence[str]) -> Dict[str, Optional[int]]:
    """Map class names to indices; a name listed twice maps to None.

    Repeated names are legal in a class list (ImageNet-1K has two
    ``'crane'`` classes) but cannot be looked up by name; :func:`find_class`
    raises for them.

    Args:
        classes (Sequence[str]): The class names.

    Returns:
        dict[str, int | None]: Name to index (None: ambiguous name).
    """
    out: Dict[str, Optional[int]] = {}
    for i, name in enumerate(classes):
        out[name] = None if name in out else i
    return out


def find_class(name: str, index: ClassIndex, where: str) -> Optional[int]:
    """Index of a class name; None if it is not a class.

    Args:
        name (str): The class name.
        index (Mapping[str, int | None]): From :func:`class_index`.
        where (str): Starts the error message.

    Returns:
        int | None: The index, or None for an unknown name.

    Raises:
        ValueError: The name is listed more than once in the classes.
    """
    if name not in index:
        return None
    if index[name] is None:
        raise ValueError(f'{where}: class name {name!r} is ambiguous: it is '
                         'listed more than once in the classes')
    return index[name]


def label_to_indices(label: Any,
                     where: str,
                     num_classes: Optional[int] = None,
                     class_to_idx: Optional[ClassIndex] = None) -> List[int]:
    """Validate one label (index, name, or a list of them).

    Args:
        label (Any): An ``int``, a digit string, a class name (when
            ``class_to_idx`` is given), or a list / array of those.
        where (str): The sample it belongs to, e.g.
            ``'ann.json: data_list[3] (img a.png)'``; starts every error.
        num_classes (int, optional): Size of the class space; indices must
            lie in ``[0, num_classes)``. None checks only ``>= 0``.
            Defaults to None.
        class_to_idx (Mapping[str, int | None], optional): From
            :func:`class_index`; None rejects names. Defaults to None.

    Returns:
        list[int]: The class indices.

    Raises:
        ValueError: A label is not an integer index, names an unknown
            class, or lies outside the class range.
    """
    if isinstance(label, (list, tuple, np.ndarray)):
        items = list(np.asarray(label, dtype=object).reshape(-1))
    else:
        items = [label]
    out = []
    for item in items:
        if isinstance(item, str):
            token = item.strip()
            found = (None if class_to_idx is None else find_class(
                token, class_to_idx, where))
            if found is not None:
                out.append(found)
                continue
            if token.lstrip('-').isdigit():
                item = int(token)
            else:
                known = ('' if class_to_idx is None else
                         f' (not one of the {len(class_to_idx)} classes)')
                raise ValueError(f'{where}: unknown class {token!r}{known}')
        if isinstance(item, (bool, np.bool_)) or not isinstance(
                item, (int, np.integer)):
            raise ValueError(f'{where}: label {item!r} is not an integer '
                             'class index')
        idx = int(item)
        if idx < 0 or (num_classes is not None and idx >= num_classes):
            bound = '' if num_classes is None else f', {num_classes}'
            raise ValueError(f'{where}: label {idx} outside [0{bound})')
        out.append(idx)
    return out


def class_difference(found: Optional[Sequence[str]],
                     expected: Sequence[str]) -> Optional[str]:
    """Describe the first difference between two class lists.

    Args:
        found (Sequence[str], optional): The classes a dataset uses.
        expected (Sequence[str]): The shared class space.

    Returns:
        str | None: None if both lists are equal, else a short sentence.
    """
    if found is None:
        return 'it has no class list (metainfo["classes"] is missing)'
    found, expected = list(found), list(expected)
    for i, (a, b) in enumerate(zip(found, expected)):
        if a != b:
            return (f'class {i} is {a!r} there but {b!r} in the shared '
                    f'list ({len(found)} vs {len(expected)} classes)')
    if len(found) != len(expected):
        i = min(len(found), len(expected))
        extra = (f'{found[i]!r} there' if len(found) > i else
                 f'{expected[i]!r} in the shared list')
        return (f'it has {len(found)} classes, the shared list '
                f'{len(expected)}; first difference at index {i}: {extra}')
    return None


def describe_dataset(dataset: Any) -> str:
    """A short name for a dataset in messages: type, ann_file, data_root.

    Args:
        dataset (Any): A dataset instance.

    Returns:
        str: e.g. ``"ImageNet(ann_file='...', data_root='...')"``.
    """
    parts = []
    for key in ('ann_file', 'data_root'):
        value = getattr(dataset, key, None)
        if value:
            parts.append(f'{key}={value!r}')
    if not parts and getattr(dataset, 'data_prefix', None):
        parts.append(f'data_prefix={dataset.data_prefix!r}')
    return f'{type(dataset).__name__}({", ".join(parts)})'


def is_labelled(info: Mapping) -> bool:
    """Whether a data info carries a label, as ``HVPTMixedSignals`` reads it.

    Args:
        info (Mapping): A data info.

    Returns:
        bool: ``info['has_label']`` if present, else whether ``gt_label``
        is present and not None.
    """
    return bool(info.get('has_label', info.get('gt_label') is not None))
