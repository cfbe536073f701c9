# Copyright (c) hvpt_mm authors. All rights reserved.
"""mmpretrain's multi-label json dataset with load-time checks."""
from typing import List

from mmengine.fileio import join_path

from mmpretrain.datasets import MultiLabelDataset
from mmpretrain.registry import DATASETS
from .validation import (class_difference, class_index, label_to_indices,
                         load_json_file, require_path)


@DATASETS.register_module()
class HVPTMultiLabelDataset(MultiLabelDataset):
    """mmpretrain's :class:`MultiLabelDataset` with load-time checks.

    Same arguments and file format as
    :class:`mmpretrain.datasets.MultiLabelDataset` (OpenMMLab 2.0 json)::

        {"metainfo": {"classes": ["cat", "dog", ...]},
         "data_list": [{"img_path": "a.jpg", "gt_label": [0, 2]}, ...]}

    Added checks, each raising an error that names the file (and the
    sample: ``ann.json: data_list[3] (img a.png): label 12 outside
    [0, 10)``):

    - a missing data root or annotation file (with the expected layout),
      an empty file, malformed JSON, missing ``metainfo`` / ``data_list``;
    - no class list (neither ``classes`` nor ``metainfo.classes``);
    - a ``metainfo.classes`` in the file that differs from the given
      ``classes`` (mmengine silently keeps the given ones, so every index in
      the file would point at a different class);
    - a sample without ``img_path``, a label that is not an integer index
      or lies outside ``[0, num_classes)``.

    Labels may also be written as class names (``"gt_label": ["cat"]``); an
    unknown name raises. An empty ``gt_label`` list is a labelled image with
    no positive class. Arguments: see
    :class:`mmpretrain.datasets.MultiLabelDataset`.
    """

    def layout(self) -> str:
        """The expected file format, shown when a path is missing."""
        prefix = (self.img_prefix or self.data_root).rstrip('/')
        ann = self.ann_file or '<ann_file>'
        return (f'  {ann}   {{"metainfo": {{"classes": [...]}}, '
                '"data_list": [{"img_path": "a.jpg", "gt_label": [0, 2]}, '
                '...]}\n'
                f'  {prefix or "<data_prefix>"}/a.jpg ...   the images')

    def load_data_list(self) -> List[dict]:
        """Load and check every sample of the annotation file."""
        name = type(self).__name__
        if self.data_root:
            require_path(self.data_root, 'dir', 'data root', name,
                         self.layout())
        ann = self.ann_file
        data = load_json_file(ann, name, self.layout())
        if not isinstance(data, dict) or not isinstance(
                data.get('data_list'), list):
            raise ValueError(f'{ann}: expected a JSON object with a '
                             '"data_list" list (and "metainfo")')
        meta = data.get('metainfo') or {}
        if not isinstance(meta, dict):
            raise ValueError(f'{ann}: "metainfo" must be an object')
        file_classes = meta.get('classes')
        given = self._metainfo.get('classes')
        if given is not None and file_classes is not None:
            diff = class_difference(file_classes, given)
            if diff is not None:
                raise ValueError(f'{ann}: metainfo.classes differs from the '
                                 f'configured classes: {diff}')
        for k, v in meta.items():
            self._metainfo.setdefault(k, v)
        classes = self._metainfo.get('classes')
        if classes is None:
            raise ValueError(f'{ann}: no class list; set "metainfo.classes" '
                             'in the file or `classes` in the config')
        self._metainfo['classes'] = tuple(classes)
        class_to_idx = class_index(classes)

        prefix = self.img_prefix
        data_list = []
        for i, raw in enumerate(data['data_list']):
            if not isinstance(raw, dict) or 'img_path' not in raw:
                raise ValueError(f'{ann}: data_list[{i}] has no "img_path"')
            where = f'{ann}: data_list[{i}] (img {raw["img_path"]})'
            info = dict(raw)
            if 'gt_label' not in info or info['gt_label'] is None:
                raise ValueError(f'{where}: no "gt_label"; write [] for an '
                                 'image without positive classes')
            info['gt_label'] = label_to_indices(info['gt_label'], where,
                                                len(classes), class_to_idx)
            info['img_path'] = join_path(prefix, info['img_path'])
            data_list.append(info)
        return data_list
