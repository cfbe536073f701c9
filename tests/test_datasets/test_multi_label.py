# Copyright (c) hvpt_mm authors. All rights reserved.
"""HVPTMultiLabelDataset: OpenMMLab 2.0 multi-label json, checked."""
import json

import pytest

from mmpretrain.registry import DATASETS

import hvpt_mm  # noqa: F401  (registers the datasets)

CLASSES = ['cat', 'dog', 'car']


def _write(tmp_path, data_list, classes=CLASSES, name='ann.json'):
    meta = {} if classes is None else {'classes': classes}
    path = tmp_path / name
    path.write_text(json.dumps(dict(metainfo=meta, data_list=data_list)))
    return str(path)


def _build(ann, **kw):
    return DATASETS.build(dict(type='HVPTMultiLabelDataset', ann_file=ann,
                               **kw))


def test_loads(tmp_path):
    ann = _write(tmp_path, [dict(img_path='a.png', gt_label=[0, 2]),
                            dict(img_path='b.png', gt_label=['dog']),
                            dict(img_path='c.png', gt_label=[])])
    ds = _build(ann, data_prefix='imgs')
    assert ds.CLASSES == tuple(CLASSES) and len(ds) == 3
    assert [ds.get_data_info(i)['gt_label'] for i in range(3)] == \
        [[0, 2], [1], []]
    assert ds.get_data_info(0)['img_path'].endswith('imgs/a.png')
    assert ds.get_cat_ids(0) == [0, 2]


def test_out_of_range(tmp_path):
    ann = _write(tmp_path, [dict(img_path='a.png', gt_label=[0])] * 3 +
                 [dict(img_path='d.png', gt_label=[1, 12])])
    with pytest.raises(ValueError) as e:
        _build(ann)
    assert str(e.value) == (f'{ann}: data_list[3] (img d.png): label 12 '
                            'outside [0, 3)')


def test_unknown_class_name(tmp_path):
    ann = _write(tmp_path, [dict(img_path='a.png', gt_label=['cow'])])
    with pytest.raises(ValueError, match=r"data_list\[0\] \(img a.png\): "
                       "unknown class 'cow'"):
        _build(ann)


def test_float_label(tmp_path):
    ann = _write(tmp_path, [dict(img_path='a.png', gt_label=[1.5])])
    with pytest.raises(ValueError, match='label 1.5 is not an integer'):
        _build(ann)


def test_missing_label_and_path(tmp_path):
    ann = _write(tmp_path, [dict(img_path='a.png')])
    with pytest.raises(ValueError, match=r'ann.json: data_list\[0\] .*no '
                       '"gt_label"'):
        _build(ann)
    ann = _write(tmp_path, [dict(gt_label=[0])], name='p.json')
    with pytest.raises(ValueError, match=r'p.json: data_list\[0\] has no '
                       '"img_path"'):
        _build(ann)


def test_empty_file(tmp_path):
    (tmp_path / 'e.json').write_text('')
    with pytest.raises(ValueError, match='e.json: annotation file is empty'):
        _build(str(tmp_path / 'e.json'))


def test_malformed_json(tmp_path):
    (tmp_path / 'm.json').write_text('{"metainfo": {}, "data_list": [\n{,}')
    with pytest.raises(ValueError, match='m.json: malformed JSON at line 2'):
        _build(str(tmp_path / 'm.json'))


def test_not_a_data_list(tmp_path):
    (tmp_path / 'x.json').write_text('[1, 2]')
    with pytest.raises(ValueError, match='x.json: expected a JSON object'):
        _build(str(tmp_path / 'x.json'))


def test_no_classes(tmp_path):
    ann = _write(tmp_path, [dict(img_path='a.png', gt_label=[0])],
                 classes=None)
    with pytest.raises(ValueError, match='ann.json: no class list'):
        _build(ann)
    ds = _build(ann, classes=['only'])
    assert ds.CLASSES == ('only', )


def test_file_classes_differ_from_config(tmp_path):
    ann = _write(tmp_path, [dict(img_path='a.png', gt_label=[0])])
    with pytest.raises(ValueError) as e:
        _build(ann, classes=['cat', 'cow', 'car'])
    assert "ann.json: metainfo.classes differs" in str(e.value)
    assert "class 1 is 'dog' there but 'cow'" in str(e.value)


def test_missing_file_and_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="annotation file .*nope.json"
                       "' does not exist"):
        _build(str(tmp_path / 'nope.json'))
    with pytest.raises(FileNotFoundError, match='data root .*missing'):
        _build('ann.json', data_root=str(tmp_path / 'missing'))
