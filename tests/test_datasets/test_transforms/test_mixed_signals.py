# Copyright (c) hvpt_mm authors. All rights reserved.
import numpy as np
import pytest
import torch

from mmpretrain.registry import TRANSFORMS
from mmpretrain.structures import DataSample

SIZE = 64


def _results(label=3, shape=(80, 96, 3), seed=0):
    rng = np.random.default_rng(seed)
    res = dict(img=rng.integers(0, 256, shape, dtype=np.uint8),
               img_path='x.jpg', ori_shape=shape[:2], img_shape=shape[:2])
    if label is not None:
        res['gt_label'] = label
    return res


def _build(**kw):
    cfg = dict(type='HVPTMixedSignals', num_classes=5, input_size=SIZE)
    cfg.update(kw)
    return TRANSFORMS.build(cfg)


def test_key_contract():
    t = _build()
    out = t(_results(label=[1, 3]))
    assert isinstance(out['img'], list) and len(out['img']) == 2
    for v in out['img']:
        assert v.shape == (SIZE, SIZE, 3) and v.dtype == np.uint8
    assert out['mask'].shape == (SIZE // 4, SIZE // 4)
    assert set(np.unique(out['mask'])) <= {0, 1}
    # SimMIM's default 0.6 ratio over 32-px blocks.
    assert out['mask'].mean() == pytest.approx(0.75)  # ceil(4 * 0.6) / 4
    assert out['gt_score'].dtype == np.float32
    np.testing.assert_array_equal(out['gt_score'], [0, 1, 0, 1, 0])
    assert out['has_label'] is True
    assert 'gt_label' not in out
    assert out['img_shape'] == (SIZE, SIZE)


def test_each_view_is_its_pipeline_of_the_source():
    """Deterministic pipelines: the online view is the centre crop of the
    source flipped, the target view the same crop unflipped, and the source
    stays as decoded. The bugs: views swapped or both from one pipeline,
    the target made from the online view, a transform writing into the
    image the views share (e.g. mmcv's in-place ``imflip_`` for ``imflip``:
    the crop is a view of the source)."""
    crop = [dict(type='CenterCrop', crop_size=SIZE)]
    t = _build(online_pipeline=crop + [
                   dict(type='RandomFlip', prob=1., direction='horizontal')
               ],
               target_pipeline=crop,
               mask_generator=None)
    src = _results(shape=(80, 96, 3))
    decoded = src['img'].copy()
    online, target = t(dict(src))['img']
    # (80 - 64) / 2 = 8 rows and (96 - 64) / 2 = 16 columns off each side.
    centre = decoded[8:72, 16:80]
    np.testing.assert_array_equal(online, centre[:, ::-1])
    np.testing.assert_array_equal(target, centre)
    np.testing.assert_array_equal(src['img'], decoded)


def test_single_label_becomes_multi_hot():
    out = _build()(_results(label=np.int64(2)))
    np.testing.assert_array_equal(out['gt_score'], [0, 0, 1, 0, 0])


def test_unlabelled():
    out = _build()(_results(label=None))
    assert out['has_label'] is False and out['gt_score'].sum() == 0
    out = _build()(dict(_results(label=1), has_label=False))
    assert out['has_label'] is False and out['gt_score'].sum() == 0


@pytest.mark.parametrize('label', [5, -1, [0, 7], 1.5])
def test_bad_label_names_file(label):
    with pytest.raises(ValueError, match=r'x\.jpg.*outside the class range'):
        _build()(_results(label=label))


def test_fresh_randomness_each_call():
    t = _build()
    src = _results()
    a, b = t(dict(src)), t(dict(src))
    assert not (np.array_equal(a['mask'], b['mask'])
                and np.array_equal(a['img'][1], b['img'][1]))
    masks = {t(dict(src))['mask'].tobytes() for _ in range(8)}
    assert len(masks) > 1
    # Two views of one call differ too (different crops / colour).
    assert not np.array_equal(a['img'][0], a['img'][1])


def test_options_drop_what_is_unused():
    out = _build(mask_generator=None, with_target_view=False)(_results())
    assert len(out['img']) == 1 and 'mask' not in out


def test_repr():
    t = _build()
    r = repr(t)
    assert r.startswith('HVPTMixedSignals(num_classes=5, input_size=64, ')
    assert 'online_pipeline=Compose(' in r and 'target_pipeline=Compose(' in r
    assert 'SimMIMMaskGenerator(input_size=64, mask_patch_size=32, ' \
        'model_patch_size=4, mask_ratio=0.6)' in r
    assert r.endswith('with_target_view=True, labelled_mask_prob=1.0, '
                      'unlabelled_mask_prob=1.0)')
    assert 'Solarize' in r and 'GaussianBlur' in r


@pytest.mark.parametrize('labelled', [True, False])
def test_mask_prob_leaves_views_clean(labelled):
    """Labelled and unlabelled images are masked with their own odds."""
    label = [1] if labelled else None
    never = _build(labelled_mask_prob=0., unlabelled_mask_prob=1.)
    half = _build(labelled_mask_prob=0.5, unlabelled_mask_prob=0.5)
    np.random.seed(0)
    masked = [never(_results(label=label, seed=i))['mask'].any()
              for i in range(20)]
    assert all(masked) != labelled and any(masked) != labelled
    out = [half(_results(label=label, seed=i))['mask'] for i in range(40)]
    clean = [not m.any() for m in out]
    assert 5 < sum(clean) < 35
    assert all(m.shape == (16, 16) for m in out)
    with pytest.raises(ValueError, match='labelled_mask_prob'):
        _build(labelled_mask_prob=1.5)


def test_wrong_view_size_is_reported():
    t = _build(online_pipeline=[dict(type='RandomFlip', prob=0.5)])
    with pytest.raises(ValueError, match='x.jpg.*input_size=64'):
        t(_results())


def test_pack():
    pack = TRANSFORMS.build(dict(type='HVPTPackInputs'))
    out = pack(_build()(_results(label=[0])))
    assert [tuple(x.shape) for x in out['inputs']] == [(3, SIZE, SIZE)] * 2
    ds = out['data_samples']
    assert isinstance(ds, DataSample)
    assert ds.mask.dtype == torch.bool and ds.mask.shape == (16, 16)
    assert ds.gt_score.tolist() == [1., 0., 0., 0., 0.]
    assert ds.has_label is True
    assert ds.img_path == 'x.jpg'
    with pytest.raises(KeyError, match='x.jpg.*HVPTMixedSignals'):
        pack(_results())
    assert repr(pack).startswith('HVPTPackInputs(meta_keys=')


def test_collate_and_preprocess():
    """The packed samples go through mmpretrain's collate and preprocessor."""
    from mmengine.dataset import default_collate
    from mmpretrain.registry import MODELS
    t, pack = _build(), TRANSFORMS.build(dict(type='HVPTPackInputs'))
    batch = default_collate([pack(t(_results(seed=i))) for i in range(3)])
    pre = MODELS.build(dict(type='SelfSupDataPreprocessor',
                            mean=[123.675, 116.28, 103.53],
                            std=[58.395, 57.12, 57.375], to_rgb=True))
    data = pre(batch, training=True)
    assert len(data['inputs']) == 2
    assert data['inputs'][0].shape == (3, 3, SIZE, SIZE)
    assert data['inputs'][0].dtype == torch.float32
