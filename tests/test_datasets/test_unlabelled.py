# Copyright (c) hvpt_mm authors. All rights reserved.
"""HVPTUnlabelledDataset: image folders and path lists without labels."""
import os
import os.path as osp

import pytest
from PIL import Image

from mmpretrain.registry import DATASETS

import hvpt_mm  # noqa: F401  (registers the datasets)


def _img(path):
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    Image.new('RGB', (8, 8)).save(str(path))


def _tree(root):
    _img(root / 'a.jpg')
    _img(root / 'sub' / 'deep' / 'b.PNG')
    _img(root / 'c.webp')
    (root / 'notes.txt').write_text('not an image')


def test_folder_recursive(tmp_path):
    _tree(tmp_path)
    ds = DATASETS.build(dict(type='HVPTUnlabelledDataset',
                             data_root=str(tmp_path)))
    names = sorted(osp.relpath(ds.get_data_info(i)['img_path'],
                               str(tmp_path)) for i in range(len(ds)))
    assert names == ['a.jpg', 'c.webp', 'sub/deep/b.PNG']
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        assert info['has_label'] is False and 'gt_label' not in info
    assert ds.CLASSES is None and ds.get_cat_ids(0) == []


def test_list_file_skips_blank_lines(tmp_path):
    _tree(tmp_path / 'images')
    (tmp_path / 'list.txt').write_text('a.jpg\n\nsub/deep/b.PNG\n')
    ds = DATASETS.build(dict(type='HVPTUnlabelledDataset',
                             data_root=str(tmp_path), data_prefix='images',
                             ann_file='list.txt', classes=['x', 'y']))
    assert len(ds) == 2 and ds.CLASSES == ('x', 'y')
    assert ds.get_data_info(1)['img_path'].endswith('images/sub/deep/b.PNG')


def test_missing_root_shows_layout(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        DATASETS.build(dict(type='HVPTUnlabelledDataset',
                            data_root=str(tmp_path / 'raw')))
    assert f"data root '{tmp_path / 'raw'}' does not exist" in str(e.value)
    assert '**/*.jpg' in str(e.value)


def test_empty_folder(tmp_path):
    (tmp_path / 'x.txt').write_text('')
    with pytest.raises(FileNotFoundError, match='found no image under'):
        DATASETS.build(dict(type='HVPTUnlabelledDataset',
                            data_prefix=str(tmp_path)))


def test_rejects_with_label():
    with pytest.raises(ValueError, match='with_label must be False'):
        DATASETS.build(dict(type='HVPTUnlabelledDataset', data_root='x',
                            with_label=True))
