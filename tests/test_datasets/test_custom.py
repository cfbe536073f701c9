# Copyright (c) hvpt_mm authors. All rights reserved.
"""HVPTImageNet / HVPTCustomDataset: folders and list files, checked."""
import logging
import os
import os.path as osp
from unittest import mock

import pytest
from PIL import Image

from mmpretrain.registry import DATASETS

import hvpt_mm  # noqa: F401  (registers the datasets)


def _img(path):
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    Image.new('RGB', (8, 8), (1, 2, 3)).save(str(path))


def _build(**cfg):
    return DATASETS.build(cfg)


def test_imagenet_list_file(imagenet_root):
    ds = _build(type='HVPTImageNet', data_root=imagenet_root, split='train',
                classes=['a', 'b', 'c'])
    assert len(ds) == 12 and ds.CLASSES == ('a', 'b', 'c')
    info = ds.get_data_info(5)
    assert info['gt_label'] == 1 and osp.isfile(info['img_path'])


def test_imagenet_folder_mode_by_position(imagenet_root):
    # No list file: wnid folders map onto the classes by position (logged).
    with mock.patch('hvpt_mm.datasets.custom.print_log') as log:
        ds = _build(type='HVPTImageNet', data_root=imagenet_root,
                    data_prefix='train', ann_file='',
                    classes=['x', 'y', 'z'])
    assert [ds.get_data_info(i)['gt_label'] for i in (0, 4, 8)] == [0, 1, 2]
    assert "'n00000000' -> 'x'" in log.call_args.args[0]
    assert log.call_args.kwargs['level'] == logging.INFO


def test_imagenet_default_classes_range(imagenet_root):
    ds = _build(type='HVPTImageNet', data_root=imagenet_root, split='train')
    assert len(ds.CLASSES) == 1000 and len(ds) == 12


def test_imagenet_missing_root_shows_layout(tmp_path):
    root = str(tmp_path / 'imagenet')
    with pytest.raises(FileNotFoundError) as e:
        _build(type='HVPTImageNet', data_root=root, split='train')
    msg = str(e.value)
    assert f"data root '{root}' does not exist" in msg
    assert 'Expected layout' in msg
    assert f'{root}/train/<wnid>/*.JPEG + meta/train.txt' in msg


def test_imagenet_missing_split_folder(tmp_path):
    (tmp_path / 'meta').mkdir()
    with pytest.raises(FileNotFoundError, match="image folder .*train'"):
        _build(type='HVPTImageNet', data_root=str(tmp_path), split='train')


def test_list_file_out_of_range(tmp_path):
    _img(tmp_path / 'img' / 'a.png')
    (tmp_path / 'train.txt').write_text('a.png 0\n\na.png 3\n')
    with pytest.raises(ValueError) as e:
        _build(type='HVPTCustomDataset', data_root=str(tmp_path),
               data_prefix='img', ann_file='train.txt', classes=['p', 'q'])
    assert 'train.txt: line 3 (img a.png): label 3 outside [0, 2)' \
        in str(e.value)


@pytest.mark.parametrize('line,problem', [
    ('a.png', 'expected "<image path> <label>"'),
    ('a.png cat', "unknown class 'cat'"),
    ('a.png -1', 'label -1 outside [0, 2)'),
])
def test_list_file_bad_lines(tmp_path, line, problem):
    _img(tmp_path / 'a.png')
    (tmp_path / 'l.txt').write_text(line + '\n')
    with pytest.raises(ValueError) as e:
        _build(type='HVPTCustomDataset', data_root=str(tmp_path),
               ann_file='l.txt', classes=['p', 'q'])
    assert 'l.txt: line 1' in str(e.value) and problem in str(e.value)


def test_list_file_class_names(tmp_path):
    _img(tmp_path / 'a.png')
    (tmp_path / 'l.txt').write_text('a.png q\na.png 0\n')
    ds = _build(type='HVPTCustomDataset', data_root=str(tmp_path),
                ann_file='l.txt', classes=['p', 'q'])
    assert [ds.get_data_info(i)['gt_label'] for i in range(2)] == [1, 0]


def test_empty_list_file(tmp_path):
    (tmp_path / 'l.txt').write_text('\n  \n')
    with pytest.raises(ValueError, match='l.txt: list file is empty'):
        _build(type='HVPTCustomDataset', data_root=str(tmp_path),
               ann_file='l.txt')


def test_missing_list_file(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        _build(type='HVPTCustomDataset', data_root=str(tmp_path),
               ann_file='meta/train.txt')
    assert 'meta/train.txt' in str(e.value)
    assert 'does not exist' in str(e.value) and 'list mode' in str(e.value)


def test_folders_map_by_name(tmp_path):
    for cls in ('dog', 'cat'):
        _img(tmp_path / cls / f'{cls}.png')
    ds = _build(type='HVPTCustomDataset', data_prefix=str(tmp_path),
                classes=['dog', 'bird', 'cat'])
    labels = {osp.basename(ds.get_data_info(i)['img_path']):
              ds.get_data_info(i)['gt_label'] for i in range(len(ds))}
    assert labels == {'dog.png': 0, 'cat.png': 2}


def test_folders_infer_classes(tmp_path):
    for cls in ('b', 'a'):
        _img(tmp_path / cls / 'x.png')
    ds = _build(type='HVPTCustomDataset', data_prefix=str(tmp_path))
    assert ds.CLASSES == ('a', 'b')


def test_folders_by_position_warn(tmp_path):
    for cls in ('b', 'a'):
        _img(tmp_path / cls / 'x.png')
    with mock.patch('hvpt_mm.datasets.custom.print_log') as log:
        ds = _build(type='HVPTCustomDataset', data_prefix=str(tmp_path),
                    classes=['dog', 'cat'])
    assert ds.get_data_info(0)['gt_label'] == 0  # a -> dog
    assert "'a' -> 'dog'" in log.call_args.args[0]
    assert log.call_args.kwargs['level'] == logging.WARNING


def test_unknown_class_folder(tmp_path):
    for cls in ('dog', 'cow'):
        _img(tmp_path / cls / 'x.png')
    with pytest.raises(ValueError, match="sub-folder 'cow' is not one of"):
        _build(type='HVPTCustomDataset', data_prefix=str(tmp_path),
               classes=['dog', 'cat'])


def test_folder_without_images(tmp_path):
    (tmp_path / 'dog').mkdir()
    (tmp_path / 'dog' / 'notes.txt').write_text('x')
    with pytest.raises(FileNotFoundError, match='found no image under'):
        _build(type='HVPTCustomDataset', data_prefix=str(tmp_path))
