# Copyright (c) hvpt_mm authors. All rights reserved.
import os.path as osp
from unittest import mock

import cv2
import numpy as np
import pytest
from mmengine.registry import DefaultScope
from PIL import Image

from mmpretrain.registry import DATASETS, TRANSFORMS

from hvpt_mm.datasets.transforms.loading import (HVPTLoadImageFromFile,
                                                 UnreadableImageError,
                                                 jpeg_is_truncated)

RGB = (200, 40, 10)  # written as RGB, loaded as BGR


def _jpeg(path, size=(24, 20), color=RGB):
    Image.new('RGB', size, color).save(path, format='JPEG', quality=95)
    return str(path)


def _load(path, **kw):
    t = TRANSFORMS.build(dict(type='HVPTLoadImageFromFile', **kw))
    return t(dict(img_path=str(path)))


def test_rgb_jpeg_is_bgr(tmp_path):
    out = _load(_jpeg(tmp_path / 'a.jpg'))
    img = out['img']
    assert img.shape == (20, 24, 3) and img.dtype == np.uint8
    assert out['img_shape'] == out['ori_shape'] == (20, 24)
    np.testing.assert_allclose(img[10, 10], RGB[::-1], atol=3)


def test_to_float32(tmp_path):
    out = _load(_jpeg(tmp_path / 'a.jpg'), to_float32=True)
    assert out['img'].dtype == np.float32


def test_grayscale_becomes_three_channels(tmp_path):
    path = tmp_path / 'g.png'
    Image.new('L', (12, 10), 77).save(path)
    img = _load(path)['img']
    assert img.shape == (10, 12, 3)
    assert (img == 77).all()


def test_rgba_composited_over_background(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3] = (10, 20, 30)  # RGB
    rgba[:, :4, 3] = 255  # left half opaque, right half transparent
    path = tmp_path / 'rgba.png'
    Image.fromarray(rgba, 'RGBA').save(path)
    img = _load(path)['img']
    assert img.shape == (8, 8, 3)
    np.testing.assert_array_equal(img[0, 0], (30, 20, 10))  # BGR
    np.testing.assert_array_equal(img[0, 7], (255, 255, 255))
    img = _load(path, alpha_background=(0, 0, 255))['img']
    np.testing.assert_array_equal(img[0, 7], (255, 0, 0))  # blue in BGR
    img = _load(path, alpha_background=None)['img']  # mmcv: drop alpha
    np.testing.assert_array_equal(img[0, 7], (30, 20, 10))


def test_gray_alpha(tmp_path):
    la = np.zeros((6, 6, 2), np.uint8)
    la[..., 0] = 50
    la[:3, :, 1] = 255
    path = tmp_path / 'la.png'
    Image.fromarray(la, 'LA').save(path)
    img = _load(path)['img']
    assert img.shape == (6, 6, 3)
    np.testing.assert_array_equal(img[0, 0], (50, 50, 50))
    np.testing.assert_array_equal(img[5, 0], (255, 255, 255))


@pytest.mark.parametrize('channels', [1, 3])
def test_16bit_is_scaled_not_truncated(tmp_path, channels):
    shape = (6, 5) if channels == 1 else (6, 5, 3)
    arr = np.full(shape, 0x1234, np.uint16)  # 4660 -> 18; truncated: 52
    arr[0, 0] = 65535
    path = str(tmp_path / f'd{channels}.png')
    assert cv2.imwrite(path, arr)
    img = _load(path)['img']
    assert img.shape == (6, 5, 3) and img.dtype == np.uint8
    assert (img[1:, 1:] == round(0x1234 / 257)).all()
    assert (img[0, 0] == 255).all()


def test_small_image_through_mixed_signals(tmp_path):
    path = tmp_path / 'tiny.png'
    Image.new('RGB', (10, 10), RGB).save(path)
    res = _load(path)
    res['gt_label'] = 1
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        out = TRANSFORMS.build(dict(type='HVPTMixedSignals', num_classes=3,
                                    input_size=32))(res)
    assert [v.shape for v in out['img']] == [(32, 32, 3)] * 2


def test_pillow_fallback_gif(tmp_path):
    path = tmp_path / 'p.gif'
    Image.new('RGB', (9, 7), (0, 0, 255)).convert('P').save(path)
    img = _load(path)['img']
    assert img.shape == (7, 9, 3)
    np.testing.assert_allclose(img[3, 3], (255, 0, 0), atol=3)


def test_zero_byte_file(tmp_path):
    path = tmp_path / 'empty.jpg'
    path.write_bytes(b'')
    with pytest.raises(UnreadableImageError, match='empty.jpg: empty file'):
        _load(path)


def test_truncated_jpeg(tmp_path):
    path = tmp_path / 'cut.jpg'
    data = open(_jpeg(tmp_path / 'full.jpg', size=(64, 64)), 'rb').read()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(UnreadableImageError, match='cut.jpg: truncated JPEG'):
        _load(path)


def test_jpeg_without_end_marker_only(tmp_path):
    data = open(_jpeg(tmp_path / 'full.jpg'), 'rb').read()
    (tmp_path / 'noeoi.jpg').write_bytes(data[:-2])
    img = _load(tmp_path / 'noeoi.jpg')['img']
    np.testing.assert_allclose(img[10, 10], RGB[::-1], atol=3)


def test_jpeg_check_accepts_valid_and_appended_data(tmp_path):
    data = open(_jpeg(tmp_path / 'ok.jpg'), 'rb').read()
    assert not jpeg_is_truncated(data)
    assert not jpeg_is_truncated(data + b'\xff\xda trailing video')
    assert jpeg_is_truncated(data[:-2])
    assert jpeg_is_truncated(data[:20])


def test_truncated_png(tmp_path):
    path = tmp_path / 'cut.png'
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), np.uint8)).save(
        tmp_path / 'full.png')
    data = (tmp_path / 'full.png').read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(UnreadableImageError, match='cut.png: cannot decode'):
        _load(path)


def test_not_an_image(tmp_path):
    path = tmp_path / 'text.png'
    path.write_text('hello, not a picture')
    with pytest.raises(UnreadableImageError, match='text.png: cannot decode'):
        _load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.jpg: image file not'):
        _load(tmp_path / 'nope.jpg')


def test_skip_unreadable_counts_and_warns(tmp_path):
    bad = tmp_path / 'bad.jpg'
    bad.write_bytes(b'')
    t = HVPTLoadImageFromFile(skip_unreadable=True)
    target = 'hvpt_mm.datasets.transforms.loading.print_log'
    with mock.patch(target) as log:
        assert t(dict(img_path=str(bad))) is None
        assert t(dict(img_path=str(tmp_path / 'gone.jpg'))) is None
    assert t.num_skipped == 2
    first, second = (c.args[0] for c in log.call_args_list)
    assert 'bad.jpg' in first and 'empty file' in first and '1 unreadable' \
        in first
    assert 'gone.jpg' in second and '2 unreadable' in second


def test_skip_unreadable_refetches_in_dataset(tmp_path):
    root = tmp_path / 'imgs'
    root.mkdir()
    _jpeg(root / 'good.jpg')
    (root / 'bad.jpg').write_bytes(b'\xff\xd8\xff\xe0 broken')
    ds = DATASETS.build(dict(
        type='HVPTUnlabelledDataset', data_prefix=str(root),
        pipeline=[dict(type='HVPTLoadImageFromFile', skip_unreadable=True)]))
    names = [osp.basename(ds.get_data_info(i)['img_path'])
             for i in range(len(ds))]
    bad_idx = names.index('bad.jpg')
    with mock.patch('hvpt_mm.datasets.transforms.loading.print_log'):
        out = ds[bad_idx]
    assert osp.basename(out['img_path']) == 'good.jpg'


def test_bad_alpha_background():
    with pytest.raises(ValueError, match='alpha_background'):
        HVPTLoadImageFromFile(alpha_background=(0, 0))


def test_repr():
    t = HVPTLoadImageFromFile(skip_unreadable=True)
    assert repr(t) == ('HVPTLoadImageFromFile(to_float32=False, '
                       'skip_unreadable=True, '
                       'alpha_background=(255, 255, 255), '
                       'backend_args=None)')
