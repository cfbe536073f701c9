# Copyright (c) hvpt_mm authors. All rights reserved.
"""One number of classes for the multi-label head, the pipeline and the data.

A pre-training config states the number of classes in three places: the
class list of the dataset (``classes``, or the annotation file's
``metainfo.classes``), ``num_classes`` of ``HVPTMixedSignals`` (the length
of the multi-hot target) and ``model.mlc_head.num_classes``. A mismatch
would surface only at the first step, as a shape error deep in the loss;
:func:`check_num_classes` compares them once the dataset is built and names
each number and where it comes from.
"""
from typing import Any, Iterator, List, Tuple

from mmengine.dataset import ConcatDataset
from mmengine.model import is_model_wrapper
from torch import nn

from .validation import describe_dataset

ROOT = 'train_dataloader.dataset'


def _pipeline_counts(dataset: Any, where: str) -> Iterator[Tuple[int, str]]:
    """``(num_classes, where)`` of every ``HVPTMixedSignals`` it runs."""
    transforms = getattr(getattr(dataset, 'pipeline', None), 'transforms',
                         None) or []
    for i, t in enumerate(transforms):
        if type(t).__name__ == 'HVPTMixedSignals':
            yield t.num_classes, (f'{where}.pipeline[{i}] HVPTMixedSignals'
                                  '(num_classes=...)')


def _dataset_counts(dataset: Any,
                    where: str = ROOT) -> Iterator[Tuple[int, str]]:
    """``(number, where)`` of every class list and pipeline in ``dataset``.

    Walks mmengine's wrappers (``ConcatDataset`` and its subclasses such as
    ``HVPTMixedDataset``, ``RepeatDataset``, ``ClassBalancedDataset``).
    Sub-datasets without a class list (unlabelled images) add none.
    """
    classes = getattr(dataset, 'metainfo', {}).get('classes')
    if isinstance(dataset, ConcatDataset):
        if classes is not None and hasattr(dataset, 'classes'):
            yield len(classes), (f'{where}: the {len(classes)} classes of '
                                 f'{type(dataset).__name__}(classes=...)')
        for i, sub in enumerate(dataset.datasets):
            yield from _dataset_counts(sub, f'{where}.datasets[{i}]')
        return
    inner = getattr(dataset, 'dataset', None)
    if inner is not None and hasattr(inner, 'metainfo'):
        yield from _dataset_counts(inner, f'{where}.dataset')
        return
    if classes is not None:
        yield len(classes), (f'{where}: the class list of '
                             f'{describe_dataset(dataset)} (`classes`, or '
                             'metainfo.classes of its annotation file)')
    yield from _pipeline_counts(dataset, where)


def class_counts(model: nn.Module, dataset: Any) -> List[Tuple[int, str]]:
    """Every number of classes a pre-training uses, and where it is set.

    Args:
        model (nn.Module): The model (a DDP wrapper is unwrapped). Its
            ``mlc_head``, when it has one, counts.
        dataset (Any): The built train dataset.

    Returns:
        list[tuple[int, str]]: ``(number, where)`` pairs; empty when neither
        the model has a multi-label head nor a pipeline runs
        ``HVPTMixedSignals`` (nothing to compare, e.g. a detection config).
    """
    if is_model_wrapper(model):
        model = model.module
    counts = []
    head = getattr(model, 'mlc_head', None)
    if head is not None and hasattr(head, 'num_classes'):
        counts.append((int(head.num_classes), 'model.mlc_head.num_classes'))
    data = list(_dataset_counts(dataset))
    if not counts and not any('HVPTMixedSignals' in w for _, w in data):
        return []
    return counts + [(int(n), w) for n, w in data]


def check_num_classes(model: nn.Module, dataset: Any) -> None:
    """Stop when the head, the pipeline and the data count classes apart.

    Args:
        model (nn.Module): The built model.
        dataset (Any): The built train dataset.

    Raises:
        ValueError: Two numbers differ; the message lists each number and
            where it is set.
    """
    counts = class_counts(model, dataset)
    if len({n for n, _ in counts}) <= 1:
        return
    width = max(len(str(n)) for n, _ in counts)
    lines = '\n'.join(f'  {n:>{width}}  {where}' for n, where in counts)
    raise ValueError(
        'the number of classes differs between the multi-label head, the '
        f'data pipeline and the dataset:\n{lines}\nSet it once: a '
        '`num_classes` variable that the pipeline (HVPTMixedSignals) and '
        'model.mlc_head use, equal to the length of the class list '
        '(docs/custom_dataset.md).')
