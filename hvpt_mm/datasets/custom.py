# Copyright (c) hvpt_mm authors. All rights reserved.
"""mmpretrain's folder / list-file datasets with load-time checks."""
import logging
from typing import Dict, List, Optional

from mmengine.fileio import get_file_backend
from mmengine.logging import print_log

from mmpretrain.datasets import CustomDataset, ImageNet
from mmpretrain.datasets.custom import find_folders, get_samples
from mmpretrain.registry import DATASETS
from .validation import (class_index, find_class, label_to_indices,
                         read_lines, require_path)


class _CheckedListMixin:
    """Checked ``load_data_list`` for :class:`CustomDataset` subclasses.

    Compared with mmpretrain's :class:`CustomDataset`, it adds:

    - a missing data root, image folder or list file raises
      :class:`FileNotFoundError` naming the path and showing
      :meth:`layout`;
    - list-file lines are parsed with their line numbers: a line without a
      label, a label that is not an integer (or a known class name), or an
      index outside ``[0, len(classes))`` raises :class:`ValueError`
      naming the file and the line;
    - in folder mode with given ``classes``, sub-folders named after
      classes are mapped **by name** (mmpretrain maps sorted folders by
      position and only compares the counts); folders sharing no name with
      ``classes`` keep mmpretrain's positional mapping (e.g. ImageNet wnids
      onto readable names), logged with the first pairs; a mix raises,
      naming the unknown folder.
    """

    # Positional folder mapping is expected for ImageNet, suspicious else.
    _positional_log_level = logging.WARNING

    def layout(self) -> str:
        """The expected data layout, shown when a path is missing."""
        prefix = (self.img_prefix or '<data_prefix>').rstrip('/')
        ann = self.ann_file or '<ann_file>'
        return (f'  {prefix}/<class_a>/*.jpg   folder mode: one sub-folder '
                'per class\n'
                f'  {prefix}/<class_b>/*.jpg\n'
                f'  {ann}   or list mode: "<image path relative to '
                f'{prefix}> <label index>" per line')

    def _check_paths(self) -> None:
        """Fail early, with the layout, on a missing root / file / folder."""
        name = type(self).__name__
        if self.data_root:
            require_path(self.data_root, 'dir', 'data root', name,
                         self.layout())
        if self.ann_file:
            require_path(self.ann_file, 'file', 'list file (ann_file)', name,
                         self.layout())
        if self.img_prefix or not self.ann_file:
            require_path(self.img_prefix, 'dir', 'image folder', name,
                         self.layout())

    def _class_to_idx(self) -> Optional[Dict[str, Optional[int]]]:
        classes = self.CLASSES
        return None if classes is None else class_index(classes)

    def load_data_list(self) -> List[dict]:
        """Load image paths and labels, checking every line / folder."""
        self._check_paths()
        if not self.ann_file:
            return self._load_folders()
        backend = get_file_backend(self.img_prefix or '.',
                                   enable_singleton=True)
        classes = self.CLASSES
        num_classes = None if classes is None else len(classes)
        class_to_idx = self._class_to_idx()
        data_list = []
        for lineno, line in read_lines(self.ann_file, type(self).__name__):
            where = f'{self.ann_file}: line {lineno}'
            if self.with_label:
                parts = line.rsplit(' ', 1)
                if len(parts) != 2:
                    raise ValueError(f'{where}: expected "<image path> '
                                     f'<label>", got {line!r}')
                filename, token = parts
                label = label_to_indices(token, f'{where} (img {filename})',
                                         num_classes, class_to_idx)[0]
                data_list.append(
                    dict(img_path=backend.join_path(self.img_prefix,
                                                    filename.strip()),
                         gt_label=label))
            else:
                data_list.append(
                    dict(img_path=backend.join_path(self.img_prefix, line),
                         has_label=False))
        return data_list

    def _load_folders(self) -> List[dict]:
        """Folder mode: walk ``img_prefix`` (class sub-folders if labelled)."""
        prefix = self.img_prefix
        backend = get_file_backend(prefix, enable_singleton=True)
        if not self.with_label:
            samples, _ = get_samples(prefix, None, self.is_valid_file)
            self._require_samples(samples)
            return [
                dict(img_path=backend.join_path(prefix, s), has_label=False)
                for s in samples
            ]
        folders, _ = find_folders(prefix)
        folder_to_idx = self._map_folders(folders)
        self.folder_to_idx = folder_to_idx
        samples, empty = get_samples(prefix, folder_to_idx,
                                     self.is_valid_file)
        self._require_samples(samples)
        if empty:
            print_log(
                f'{type(self).__name__}: no image in the folders '
                f'{", ".join(sorted(empty))} of {prefix}; supported '
                f'extensions: {", ".join(sorted(self.extensions))}',
                logger='current', level=logging.WARNING)
        return [
            dict(img_path=backend.join_path(prefix, path), gt_label=label)
            for path, label in samples
        ]

    def _map_folders(self, folders: List[str]) -> Dict[str, int]:
        """Class index of each sub-folder, by name where names match."""
        name = type(self).__name__
        if not folders:
            raise FileNotFoundError(
                f'{name}: image folder {self.img_prefix!r} has no class '
                f'sub-folder.\nExpected layout:\n{self.layout()}')
        classes = self.CLASSES
        if classes is None:
            self._metainfo['classes'] = tuple(folders)
            return {f: i for i, f in enumerate(folders)}
        class_to_idx = self._class_to_idx()
        known = [f for f in folders if f in class_to_idx]
        if len(known) == len(folders):
            return {
                f: find_class(f, class_to_idx, f'{name}: {self.img_prefix}')
                for f in folders
            }
        if not known and len(folders) == len(classes):
            pairs = ', '.join(f'{f!r} -> {c!r}'
                              for f, c in list(zip(folders, classes))[:2])
            print_log(
                f'{name}: {self.img_prefix}: no sub-folder is named after a '
                f'class; mapping the {len(folders)} sorted folders onto the '
                f'classes by position ({pairs}, ...)',
                logger='current', level=self._positional_log_level)
            return {f: i for i, f in enumerate(folders)}
        unknown = next(f for f in folders if f not in class_to_idx)
        raise ValueError(
            f'{name}: {self.img_prefix}: sub-folder {unknown!r} is not one '
            f'of the {len(classes)} classes (found {len(folders)} '
            'sub-folders); name the folders after the classes, or give '
            'exactly one folder per class')

    def _require_samples(self, samples: list) -> None:
        if not samples:
            raise FileNotFoundError(
                f'{type(self).__name__}: found no image under '
                f'{self.img_prefix!r} (extensions: '
                f'{", ".join(sorted(self.extensions))}).\nExpected layout:\n'
                f'{self.layout()}')


@DATASETS.register_module()
class HVPTCustomDataset(_CheckedListMixin, CustomDataset):
    """mmpretrain's :class:`CustomDataset` with load-time checks.

    Same arguments and data layout as
    :class:`mmpretrain.datasets.CustomDataset` (a folder of class
    sub-folders, or a list file of ``<image path> <label>`` lines); see
    :class:`_CheckedListMixin` for what is checked. A list-file label may
    also be a class name when ``classes`` is given.

    Example:
        >>> dataset = dict(type='HVPTCustomDataset', data_root='data/set',
        ...                data_prefix='images', ann_file='meta/train.txt',
        ...                classes='data/classes.txt')
    """


@DATASETS.register_module()
class HVPTImageNet(_CheckedListMixin, ImageNet):
    """mmpretrain's :class:`ImageNet` with load-time checks.

    Same arguments as :class:`mmpretrain.datasets.ImageNet`. A missing
    ``data_root``, image folder or list file stops with a
    :class:`FileNotFoundError` that names the path and shows the expected
    layout; list-file labels are checked against the 1000 classes (or the
    given ``classes``). See :class:`_CheckedListMixin`.

    Example:
        >>> dataset = dict(type='HVPTImageNet', data_root='data/imagenet/',
        ...                split='train')
    """

    _positional_log_level = logging.INFO

    def layout(self) -> str:
        """ImageNet's layout: class folders plus an optional list file."""
        root = (self.data_root or '<data_root>').rstrip('/')
        prefix = self.img_prefix or f'{root}/train'
        split = prefix.rstrip('/').rsplit('/', 1)[-1]
        return (f'  {root}/\n'
                f'  ├── {split}/\n'
                '  │   ├── n01440764/            one folder per class '
                '(wnid)\n'
                '  │   │   ├── n01440764_10026.JPEG\n'
                '  │   │   └── ...\n'
                '  │   └── ...\n'
                '  └── meta/\n'
                f'      └── {split}.txt           optional: '
                f'"n01440764/n01440764_10026.JPEG 0" per line\n'
                f'  i.e. {root}/{split}/<wnid>/*.JPEG + meta/{split}.txt')
