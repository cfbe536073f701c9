# Copyright (c) hvpt_mm authors. All rights reserved.
"""COCO instance annotations turned into image-level multi-labels."""
from typing import Dict, List, Optional, Sequence, Union

from mmengine.fileio import join_path

from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS
from .validation import (class_index, find_class, load_json_file,
                         require_path, resolve_classes)


@DATASETS.register_module()
class HVPTCocoMultiLabelDataset(BaseDataset):
    """Image-level multi-labels from a COCO instance file.

    An image is labelled with every category that has at least one
    instance on it. Only plain JSON is read (no pycocotools needed)::

        data/coco/
        ├── annotations/instances_train2017.json
        └── train2017/000000000009.jpg ...

    Class space: by default the file's categories sorted by ``id`` (class
    ``i`` is the ``i``-th category). With ``classes`` given (a list or a
    text file, e.g. the shared class space of :class:`HVPTMixedDataset`),
    categories are mapped into it **by name**; a category whose name is not
    in ``classes`` raises, unless ``skip_unknown_categories=True`` (its
    annotations are then ignored).

    Images without any (kept) annotation are **labelled with no positive
    class**: ``has_label=True`` and ``gt_label=[]`` (an all-zero multi-hot,
    i.e. "none of the classes is present"). Set ``filter_empty=True`` to
    drop them instead.

    Each data info holds ``img_path``, ``img_id``, ``gt_label`` (sorted
    class indices) and ``has_label=True``.

    Errors name the file and the problem: missing file or root (with the
    layout above), empty file, malformed JSON, missing ``images`` /
    ``annotations`` / ``categories``, duplicate category names or ids, an
    annotation whose ``image_id`` or ``category_id`` is not defined.

    Args:
        ann_file (str): The COCO instance file, relative to ``data_root``
            unless absolute.
        data_root (str): Root of ``ann_file`` and ``data_prefix``.
            Defaults to ''.
        data_prefix (str | dict): Image folder (``file_name`` is joined to
            it). Defaults to ''.
        classes (str | Sequence[str], optional): Class space to map the
            categories into, by name. None uses the file's categories.
            Defaults to None.
        with_crowd (bool): Count ``iscrowd=1`` annotations as present
            classes. Defaults to True.
        skip_unknown_categories (bool): With ``classes`` given, ignore
            categories not in it instead of raising. Defaults to False.
        filter_empty (bool): Drop images without a kept annotation instead
            of labelling them with no positive class. Defaults to False.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset`
            (``pipeline``, ``indices``, ``lazy_init``, ...).
    """

    def __init__(self,
                 ann_file: str,
                 data_root: str = '',
                 data_prefix: Union[str, dict] = '',
                 classes: Union[str, Sequence[str], None] = None,
                 with_crowd: bool = True,
                 skip_unknown_categories: bool = False,
                 filter_empty: bool = False,
                 **kwargs) -> None:
        self.with_crowd = with_crowd
        self.skip_unknown_categories = skip_unknown_categories
        self.filter_empty = filter_empty
        if classes is not None:
            classes = resolve_classes(classes, type(self).__name__)
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=data_prefix,
            classes=classes,
            **kwargs)

    def layout(self) -> str:
        """The expected data layout, shown when a path is missing."""
        prefix = (self.img_prefix or self.data_root).rstrip('/')
        return (f'  {self.ann_file or "<ann_file>"}   COCO instances json '
                'with "images", "annotations", "categories"\n'
                f'  {prefix or "<data_prefix>"}/<file_name>   the images '
                'named in "images"')

    def load_data_list(self) -> List[dict]:
        """Turn the instances of each image into a list of class indices."""
        name = type(self).__name__
        ann = self.ann_file
        if self.data_root:
            require_path(self.data_root, 'dir', 'data root', name,
                         self.layout())
        coco = load_json_file(ann, name, self.layout())
        if not isinstance(coco, dict):
            raise ValueError(f'{ann}: expected a COCO JSON object')
        for key in ('images', 'annotations', 'categories'):
            if not isinstance(coco.get(key), list):
                raise ValueError(f'{ann}: no "{key}" list (not a COCO '
                                 'instance file?)')
        cat_to_label = self._map_categories(coco['categories'], ann)

        images: Dict[int, dict] = {}
        for i, img in enumerate(coco['images']):
            if not isinstance(img, dict) or 'id' not in img \
                    or 'file_name' not in img:
                raise ValueError(f'{ann}: images[{i}] needs "id" and '
                                 '"file_name"')
            if img['id'] in images:
                raise ValueError(f'{ann}: images[{i}]: image id {img["id"]}'
                                 ' is defined twice')
            images[img['id']] = img

        labels: Dict[int, set] = {k: set() for k in images}
        for i, a in enumerate(coco['annotations']):
            where = f'{ann}: annotations[{i}]'
            image_id, cat_id = a.get('image_id'), a.get('category_id')
            if image_id not in images:
                raise ValueError(f'{where}: image_id {image_id!r} is not in '
                                 '"images"')
            if cat_id not in cat_to_label:
                raise ValueError(f'{where}: category_id {cat_id!r} is not in '
                                 '"categories"')
            if a.get('iscrowd', 0) and not self.with_crowd:
                continue
            label = cat_to_label[cat_id]
            if label is not None:
                labels[image_id].add(label)

        data_list = []
        for image_id, img in images.items():
            if self.filter_empty and not labels[image_id]:
                continue
            data_list.append(
                dict(img_path=join_path(self.img_prefix, img['file_name']),
                     img_id=image_id,
                     gt_label=sorted(labels[image_id]),
                     has_label=True))
        return data_list

    def _map_categories(self, categories: list,
                        ann: str) -> Dict[int, Optional[int]]:
        """Category id -> class index (None: skipped unknown category)."""
        by_id: Dict[int, str] = {}
        for i, cat in enumerate(categories):
            if not isinstance(cat, dict) or 'id' not in cat \
                    or 'name' not in cat:
                raise ValueError(f'{ann}: categories[{i}] needs "id" and '
                                 '"name"')
            if cat['id'] in by_id:
                raise ValueError(f'{ann}: categories[{i}]: category id '
                                 f'{cat["id"]} is defined twice')
            if cat['name'] in by_id.values():
                raise ValueError(f'{ann}: categories[{i}]: category name '
                                 f'{cat["name"]!r} is defined twice')
            by_id[cat['id']] = cat['name']
        if not by_id:
            raise ValueError(f'{ann}: "categories" is empty')

        classes = self._metainfo.get('classes')
        if classes is None:
            ids = sorted(by_id)
            self._metainfo['classes'] = tuple(by_id[k] for k in ids)
            return {k: i for i, k in enumerate(ids)}
        index = class_index(classes)
        mapping: Dict[int, Optional[int]] = {}
        for cat_id, cat_name in by_id.items():
            label = find_class(cat_name, index, f'{ann}: category id {cat_id}')
            if label is not None:
                mapping[cat_id] = label
            elif self.skip_unknown_categories:
                mapping[cat_id] = None
            else:
                raise ValueError(
                    f'{ann}: category {cat_name!r} (id {cat_id}) is not one '
                    f'of the {len(classes)} configured classes; add it to '
                    '`classes` or set skip_unknown_categories=True')
        return mapping

    def get_cat_ids(self, idx: int) -> List[int]:
        """Class indices of the ``idx``-th image."""
        return list(self.get_data_info(idx)['gt_label'])

    def extra_repr(self) -> List[str]:
        """The extra repr information of the dataset."""
        return [
            f'Annotation file: \t{self.ann_file}',
            f'Prefix of images: \t{self.img_prefix}',
            f'With crowd: \t{self.with_crowd}',
        ]
