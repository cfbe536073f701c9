# Copyright (c) hvpt_mm authors. All rights reserved.
"""Labelled and unlabelled pre-training sets in one class space."""
import logging
from typing import List, Sequence, Union

from mmengine.dataset import BaseDataset, ConcatDataset
from mmengine.logging import print_log

from mmpretrain.registry import DATASETS
from .validation import (class_difference, describe_dataset, is_labelled,
                         label_to_indices, resolve_classes)


@DATASETS.register_module()
class HVPTMixedDataset(ConcatDataset):
    """A concatenation of labelled and unlabelled sets sharing one class
    space.

    Built on mmengine's :class:`~mmengine.dataset.ConcatDataset` (an index
    falls into one sub-dataset, which loads it and re-fetches within itself
    if its pipeline drops the sample). At :meth:`full_init` every
    sub-dataset is loaded and scanned once, before training starts:

    - a sub-dataset with at least one labelled sample (``gt_label`` present
      and ``has_label`` not False) is *labelled* and must use exactly the
      shared class names, in order (``metainfo['classes']``); otherwise a
      :class:`ValueError` names it (type, ``ann_file``, ``data_root``) and
      the first differing class. Give it ``classes=<the shared list>``
      (COCO categories and class folders are then mapped by name);
    - every label of a labelled sample must be an integer index in
      ``[0, len(classes))``; a :class:`ValueError` names the sub-dataset,
      the sample and the label;
    - sub-datasets without labelled samples are *unlabelled* and may have
      any (or no) class list; their samples reach
      :class:`HVPTMixedSignals` with ``has_label=False``.

    A summary (labelled / unlabelled samples per sub-dataset) is logged
    with mmengine's current logger. ``metainfo['classes']`` is the shared
    list.

    Args:
        classes (str | Sequence[str]): The shared class names, or a text
            file with one name a line.
        datasets (Sequence[dict | BaseDataset]): Sub-dataset configs (built
            from mmpretrain's ``DATASETS``) or instances.
        lazy_init (bool): Defer loading and checking to :meth:`full_init`.
            Defaults to False.

    Example:
        >>> classes = 'data/classes.txt'  # one class name a line
        >>> dataset = dict(
        ...     type='HVPTMixedDataset', classes=classes, datasets=[
        ...         dict(type='HVPTCocoMultiLabelDataset',
        ...              data_root='data/coco/', classes=classes,
        ...              ann_file='annotations/instances_train2017.json',
        ...              data_prefix='train2017/', pipeline=train_pipeline),
        ...         dict(type='HVPTUnlabelledDataset',
        ...              data_root='data/unlabelled/',
        ...              pipeline=train_pipeline),
        ...     ])
    """

    def __init__(self,
                 classes: Union[str, Sequence[str]],
                 datasets: Sequence[Union[dict, BaseDataset]],
                 lazy_init: bool = False) -> None:
        name = type(self).__name__
        self.classes = resolve_classes(classes, name)
        if not datasets:
            raise ValueError(f'{name}: `datasets` is empty')
        self.datasets = []
        for i, dataset in enumerate(datasets):
            if isinstance(dataset, dict):
                dataset = DATASETS.build(dataset)
            elif not hasattr(dataset, 'get_data_info'):
                raise TypeError(f'{name}: datasets[{i}] must be a config or '
                                'a dataset, got '
                                f'{type(dataset).__name__}')
            self.datasets.append(dataset)
        self.ignore_keys: List[str] = []
        self._metainfo = dict(classes=self.classes)
        self.labelled_counts: List[int] = []
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    def full_init(self) -> None:
        """Load every sub-dataset, check it, concatenate, log a summary."""
        if self._fully_initialized:
            return
        for dataset in self.datasets:
            dataset.full_init()
        self.labelled_counts = [
            self._check(i, dataset) for i, dataset in enumerate(self.datasets)
        ]
        super().full_init()
        self._log_summary()

    def _check(self, index: int, dataset: BaseDataset) -> int:
        """Check one sub-dataset; return its number of labelled samples."""
        where = f'{type(self).__name__}: datasets[{index}] ' \
                f'{describe_dataset(dataset)}'
        num_classes = len(self.classes)
        labelled = 0
        for j in range(len(dataset)):
            info = dataset.get_data_info(j)
            if not is_labelled(info):
                continue
            if not labelled:
                diff = class_difference(
                    dataset.metainfo.get('classes'), self.classes)
                if diff is not None:
                    raise ValueError(
                        f'{where} is labelled but does not use the shared '
                        f'class space: {diff}. Give it classes=<the shared '
                        'list>.')
            labelled += 1
            label = info.get('gt_label')
            if label is None:
                raise ValueError(f'{where}: sample {j} (img '
                                 f'{info.get("img_path")}): has_label is '
                                 'True but gt_label is missing')
            label_to_indices(
                label, f'{where}: sample {j} (img {info.get("img_path")})',
                num_classes)
        return labelled

    def _log_summary(self) -> None:
        total_lab = sum(self.labelled_counts)
        total = len(self)
        lines = [
            f'{type(self).__name__}: {len(self.datasets)} datasets, '
            f'{len(self.classes)} shared classes, {total_lab} labelled + '
            f'{total - total_lab} unlabelled samples'
        ]
        for i, (dataset, lab) in enumerate(
                zip(self.datasets, self.labelled_counts)):
            lines.append(f'  datasets[{i}] {describe_dataset(dataset)}: '
                         f'{lab} labelled, {len(dataset) - lab} unlabelled')
        print_log('\n'.join(lines), logger='current', level=logging.INFO)

    def get_cat_ids(self, idx: int) -> List[int]:
        """Class indices of the ``idx``-th sample ([] if unlabelled)."""
        info = self.get_data_info(idx)
        if not is_labelled(info):
            return []
        return label_to_indices(info['gt_label'], f'sample {idx}')

    def __repr__(self) -> str:
        head = f'Dataset {type(self).__name__}'
        body = [f'Number of categories: \t{len(self.classes)}']
        if self._fully_initialized:
            lab = sum(self.labelled_counts)
            body.append(f'Number of samples: \t{len(self)} ({lab} labelled)')
        else:
            body.append("Haven't been initialized")
        for i, dataset in enumerate(self.datasets):
            body.append(f'datasets[{i}]: {describe_dataset(dataset)}')
        return '\n'.join([head] + ['    ' + line for line in body])
