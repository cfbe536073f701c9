# Copyright (c) hvpt_mm authors. All rights reserved.
"""HVPTCocoMultiLabelDataset: COCO instances -> image-level labels."""
import json

import pytest

from mmpretrain.registry import DATASETS

import hvpt_mm  # noqa: F401  (registers the datasets)


def _coco(**override):
    coco = dict(
        images=[dict(id=1, file_name='a.jpg'), dict(id=2, file_name='b.jpg'),
                dict(id=7, file_name='c.jpg')],
        categories=[dict(id=18, name='dog'), dict(id=1, name='person'),
                    dict(id=3, name='car')],
        annotations=[
            dict(id=1, image_id=1, category_id=18, iscrowd=0),
            dict(id=2, image_id=1, category_id=18, iscrowd=0),
            dict(id=3, image_id=1, category_id=1, iscrowd=0),
            dict(id=4, image_id=2, category_id=3, iscrowd=1),
        ])
    coco.update(override)
    return coco


def _write(tmp_path, coco, name='instances.json'):
    path = tmp_path / name
    path.write_text(coco if isinstance(coco, str) else json.dumps(coco))
    return str(path)


def _build(ann, **kw):
    return DATASETS.build(dict(type='HVPTCocoMultiLabelDataset',
                               ann_file=ann, **kw))


def _labels(ds):
    return {ds.get_data_info(i)['img_id']: ds.get_data_info(i)['gt_label']
            for i in range(len(ds))}


def test_file_categories(tmp_path):
    ds = _build(_write(tmp_path, _coco()), data_prefix='train2017')
    # Sorted by category id: person (1), car (3), dog (18).
    assert ds.CLASSES == ('person', 'car', 'dog')
    assert _labels(ds) == {1: [0, 2], 2: [1], 7: []}
    info = ds.get_data_info(2)
    assert info['has_label'] is True  # no annotation: no positive class
    assert info['img_path'].endswith('train2017/c.jpg')
    assert ds.get_cat_ids(0) == [0, 2]


def test_without_crowd_and_filter_empty(tmp_path):
    ann = _write(tmp_path, _coco())
    no_crowd = _build(ann, with_crowd=False)
    assert _labels(no_crowd) == {1: [0, 2], 2: [], 7: []}
    assert _labels(_build(ann, filter_empty=True)) == {1: [0, 2], 2: [1]}


def test_mapped_by_name_into_shared_classes(tmp_path):
    ds = _build(_write(tmp_path, _coco()),
                classes=['car', 'cat', 'dog', 'person'])
    assert ds.CLASSES == ('car', 'cat', 'dog', 'person')
    assert _labels(ds) == {1: [2, 3], 2: [0], 7: []}


def test_classes_from_text_file(tmp_path):
    (tmp_path / 'classes.txt').write_text('dog\nperson\ncar\n')
    ds = _build(_write(tmp_path, _coco()),
                classes=str(tmp_path / 'classes.txt'))
    assert _labels(ds) == {1: [0, 1], 2: [2], 7: []}


def test_unknown_category(tmp_path):
    ann = _write(tmp_path, _coco())
    with pytest.raises(ValueError) as e:
        _build(ann, classes=['dog', 'person'])
    assert f"{ann}: category 'car' (id 3) is not one of the 2" in str(e.value)
    ds = _build(ann, classes=['dog', 'person'], skip_unknown_categories=True)
    assert _labels(ds) == {1: [0, 1], 2: [], 7: []}


@pytest.mark.parametrize('override,problem', [
    (dict(annotations=[dict(image_id=1, category_id=99)]),
     r'annotations\[0\]: category_id 99 is not in "categories"'),
    (dict(annotations=[dict(image_id=5, category_id=1)]),
     r'annotations\[0\]: image_id 5 is not in "images"'),
    (dict(categories=[dict(id=1, name='a'), dict(id=2, name='a')]),
     r"categories\[1\]: category name 'a' is defined twice"),
    (dict(images=[dict(id=1)]), r'images\[0\] needs "id" and "file_name"'),
    (dict(categories=None), 'no "categories" list'),
])
def test_bad_annotations(tmp_path, override, problem):
    ann = _write(tmp_path, _coco(**override))
    with pytest.raises(ValueError, match=f'instances.json: {problem}'):
        _build(ann)


def test_empty_and_malformed(tmp_path):
    with pytest.raises(ValueError, match='e.json: annotation file is empty'):
        _build(_write(tmp_path, '', 'e.json'))
    with pytest.raises(ValueError, match='m.json: malformed JSON at line 1'):
        _build(_write(tmp_path, '{"images": [', 'm.json'))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        _build('annotations/instances_train2017.json',
               data_root=str(tmp_path))
    assert 'annotations/instances_train2017.json' in str(e.value)
    assert 'Expected layout' in str(e.value)
