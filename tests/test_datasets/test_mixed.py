# Copyright (c) hvpt_mm authors. All rights reserved.
"""HVPTMixedDataset: labelled + unlabelled sets in one class space."""
import json
import os
import os.path as osp
from unittest import mock

import numpy as np
import pytest
import torch
from PIL import Image

from mmengine.registry import DefaultScope

from mmpretrain.registry import DATASETS

import hvpt_mm  # noqa: F401  (registers the datasets)

CLASSES = ['car', 'cat', 'dog', 'person']
SIZE = 32


@pytest.fixture(autouse=True)
def _mmpretrain_scope():
    # As under the runner (default_scope='mmpretrain'): the view pipelines
    # of HVPTMixedSignals are built through mmcv's Compose.
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def _img(path, size=20):
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    Image.new('RGB', (size, size), (9, 99, 199)).save(str(path))


@pytest.fixture
def data(tmp_path):
    """COCO (3 images), multi-label json (2), unlabelled folder (2)."""
    for name in ('a.jpg', 'b.jpg', 'c.jpg'):
        _img(tmp_path / 'coco' / 'train' / name)
    coco = dict(
        images=[dict(id=i, file_name=n)
                for i, n in enumerate(['a.jpg', 'b.jpg', 'c.jpg'])],
        categories=[dict(id=1, name='person'), dict(id=18, name='dog')],
        annotations=[dict(image_id=0, category_id=18),
                     dict(image_id=0, category_id=1),
                     dict(image_id=1, category_id=1)])
    (tmp_path / 'coco' / 'ann.json').write_text(json.dumps(coco))
    _img(tmp_path / 'ml' / 'x.png')
    _img(tmp_path / 'ml' / 'y.png', size=10)  # smaller than the crop
    ml = dict(metainfo=dict(classes=CLASSES),
              data_list=[dict(img_path='x.png', gt_label=[0, 1]),
                         dict(img_path='y.png', gt_label=[3])])
    (tmp_path / 'ml' / 'ann.json').write_text(json.dumps(ml))
    _img(tmp_path / 'raw' / 'u1.jpg')
    _img(tmp_path / 'raw' / 'deeper' / 'u2.png')
    (tmp_path / 'classes.txt').write_text('\n'.join(CLASSES) + '\n')
    return tmp_path


def _pipeline():
    return [
        dict(type='HVPTLoadImageFromFile'),
        dict(type='HVPTMixedSignals', num_classes=len(CLASSES),
             input_size=SIZE),
        dict(type='HVPTPackInputs'),
    ]


def _cfgs(root, classes, ml_type='MultiLabelDataset'):
    return [
        dict(type='HVPTCocoMultiLabelDataset', data_root=f'{root}/coco',
             ann_file='ann.json', data_prefix='train', classes=classes,
             pipeline=_pipeline()),
        dict(type=ml_type, data_root=f'{root}/ml', ann_file='ann.json',
             pipeline=_pipeline()),
        dict(type='HVPTUnlabelledDataset', data_root=f'{root}/raw',
             pipeline=_pipeline()),
    ]


def _build(root, classes=None, **kw):
    classes = classes or f'{root}/classes.txt'
    cfg = dict(type='HVPTMixedDataset', classes=classes,
               datasets=_cfgs(root, classes))
    cfg.update(kw)
    return DATASETS.build(cfg)


def test_mixture_flags_and_multi_hots(data):
    with mock.patch('hvpt_mm.datasets.mixed.print_log') as log:
        ds = _build(data)
    assert ds.metainfo['classes'] == tuple(CLASSES)
    assert len(ds) == 7 and ds.labelled_counts == [3, 2, 0]
    summary = log.call_args.args[0]
    assert '5 labelled + 2 unlabelled' in summary
    assert 'HVPTUnlabelledDataset' in summary and '0 labelled, 2' in summary

    expected = [
        ([0, 0, 1, 1], True),  # coco a.jpg: dog + person
        ([0, 0, 0, 1], True),  # coco b.jpg: person
        ([0, 0, 0, 0], True),  # coco c.jpg: no annotation, no positive
        ([1, 1, 0, 0], True),  # multi-label json
        ([0, 0, 0, 1], True),  # 10 px image, upscaled by the crop
        ([0, 0, 0, 0], False),  # unlabelled
        ([0, 0, 0, 0], False),
    ]
    for i, (score, has_label) in enumerate(expected):
        out = ds[i]
        sample = out['data_samples']
        assert [tuple(v.shape) for v in out['inputs']] == \
            [(3, SIZE, SIZE)] * 2
        np.testing.assert_array_equal(sample.gt_score.numpy(), score)
        assert sample.has_label is has_label, i
        assert sample.mask.dtype == torch.bool
    assert ds.get_cat_ids(0) == [2, 3] and ds.get_cat_ids(6) == []


def test_class_list_argument(data):
    with mock.patch('hvpt_mm.datasets.mixed.print_log'):
        ds = _build(data, classes=CLASSES)
    assert ds.metainfo['classes'] == tuple(CLASSES)
    assert 'Number of categories: \t4' in repr(ds)


def test_mismatched_class_space(data):
    classes = ['car', 'cat', 'dog', 'person']
    cfgs = _cfgs(data, classes)
    cfgs[0]['classes'] = ['car', 'cow', 'dog', 'person']
    with pytest.raises(ValueError) as e:
        DATASETS.build(dict(type='HVPTMixedDataset', classes=classes,
                            datasets=cfgs))
    msg = str(e.value)
    assert 'datasets[0] HVPTCocoMultiLabelDataset' in msg
    assert f"ann_file='{data}/coco/ann.json'" in msg
    assert "class 1 is 'cow' there but 'cat' in the shared list" in msg


def test_coco_with_own_categories_is_rejected(data):
    cfgs = _cfgs(data, None)
    with pytest.raises(ValueError) as e:
        DATASETS.build(dict(type='HVPTMixedDataset', classes=CLASSES,
                            datasets=cfgs))
    assert "class 0 is 'person' there but 'car'" in str(e.value)
    assert 'Give it classes=<the shared list>' in str(e.value)


def test_out_of_range_in_plain_mmpretrain_dataset(data):
    # mmpretrain's MultiLabelDataset accepts index 9 of 4 classes silently.
    ml = dict(metainfo=dict(classes=CLASSES),
              data_list=[dict(img_path='x.png', gt_label=[1]),
                         dict(img_path='y.png', gt_label=[9])])
    (data / 'ml' / 'ann.json').write_text(json.dumps(ml))
    plain = DATASETS.build(dict(type='MultiLabelDataset',
                                ann_file=f'{data}/ml/ann.json'))
    assert plain.get_data_info(1)['gt_label'] == [9]
    with pytest.raises(ValueError) as e:
        _build(data)
    msg = str(e.value)
    assert 'datasets[1] MultiLabelDataset' in msg
    assert 'sample 1 (img ' in msg and 'y.png): label 9 outside [0, 4)' \
        in msg


def test_unlabelled_only_and_instances(data):
    raw = DATASETS.build(dict(type='HVPTUnlabelledDataset',
                              data_root=f'{data}/raw'))
    plain = DATASETS.build(dict(type='CustomDataset', with_label=False,
                                data_prefix=f'{data}/raw'))
    with mock.patch('hvpt_mm.datasets.mixed.print_log'):
        ds = DATASETS.build(dict(type='HVPTMixedDataset', classes=CLASSES,
                                 datasets=[raw, plain]))
    assert ds.labelled_counts == [0, 0] and len(ds) == 4


def test_repeated_class_names(data):
    # Legal (ImageNet-1K has two 'crane' classes) until looked up by name.
    classes = ['car', 'dog', 'dog', 'person']
    with pytest.raises(ValueError, match="class name 'dog' is ambiguous"):
        DATASETS.build(dict(type='HVPTCocoMultiLabelDataset',
                            ann_file=f'{data}/coco/ann.json',
                            classes=classes))
    raw = dict(type='HVPTUnlabelledDataset', data_root=f'{data}/raw')
    with mock.patch('hvpt_mm.datasets.mixed.print_log'):
        ds = DATASETS.build(dict(type='HVPTMixedDataset', classes=classes,
                                 datasets=[raw]))
    assert ds.metainfo['classes'] == tuple(classes)


def test_bad_arguments(data):
    with pytest.raises(ValueError, match='`datasets` is empty'):
        DATASETS.build(dict(type='HVPTMixedDataset', classes=CLASSES,
                            datasets=[]))
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        DATASETS.build(dict(type='HVPTMixedDataset',
                            classes=f'{data}/nope.txt', datasets=[]))
