# Copyright (c) hvpt_mm authors. All rights reserved.
"""The pre-training recipe is written in the configs, the same in all."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

from mmpretrain.registry import DATASETS, TRANSFORMS

from hvpt_mm.datasets.transforms.mixed_signals import (
    default_mask_generator, online_view_pipeline, target_view_pipeline)
from _helpers.coco import write_coco
from _helpers.tiny import REPO, random_image

MAIN = osp.join(REPO, 'configs/pretrain/hvpt_swin-b.py')
PRETRAIN = sorted(glob.glob(osp.join(REPO, 'configs/pretrain/*.py')))
MIXED = osp.join(
    REPO, 'configs/pretrain/hvpt_swin-base-w6_8xb256-amp-coslr-100e_'
    'in1k-coco-unlabelled-192px.py')


def _id(path):
    return osp.basename(path)


def _to_plain(obj):
    """Config values as plain lists / dicts (tuples become lists)."""
    return json.loads(json.dumps(obj))


def _pipelines(dataset: dict):
    """Every sub-dataset pipeline of a (mixed) dataset config."""
    if 'datasets' in dataset:
        return [p for d in dataset['datasets'] for p in _pipelines(d)]
    return [dataset['pipeline']]


def test_print_config_shows_the_recipe():
    """mmpretrain's print_config shows the views, the mask ratio and the
    block size of the main config."""
    import mmpretrain
    tool = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'tools',
                    'misc', 'print_config.py')
    proc = subprocess.run([sys.executable, tool, MAIN], cwd=REPO,
                          env=dict(os.environ, COLUMNS='200'),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout
    for needed in ('mask_ratio=0.3', 'mask_patch_size=32',
                   "type='SimMIMMaskGenerator'", 'online_pipeline=',
                   'target_pipeline=', "type='HVPTLoadImageFromFile'"):
        assert needed in text, needed
    for view in (online_view_pipeline(), target_view_pipeline()):
        for t in view:
            assert f"type='{t['type']}'" in text, t['type']
    for nested in ("type='ColorJitter'", 'hue=0.1', 'crop_ratio_range=(',
                   "type='Solarize'", "type='GaussianBlur'",
                   "type='RandomGrayscale'"):
        assert nested in text, nested


def test_written_recipe_is_the_transform_default():
    """The config spells out what HVPTMixedSignals defaults to, but for
    the one deliberate change: mask ratio 0.3 instead of SimMIM's 0.6.
    Catches: a view or a mask setting that drifts from the documented
    default, or a ratio lost when a config is edited."""
    mixed = Config.fromfile(MAIN).train_dataloader.dataset.pipeline[1]
    assert _to_plain(mixed.online_pipeline) == _to_plain(
        online_view_pipeline())
    assert _to_plain(mixed.target_pipeline) == _to_plain(
        target_view_pipeline())
    assert (mixed.labelled_mask_prob, mixed.unlabelled_mask_prob) == (1, 1)
    assert _to_plain(mixed.mask_generator) == dict(
        _to_plain(default_mask_generator()), mask_ratio=0.3)
    written = TRANSFORMS.build(mixed.to_dict())
    default = TRANSFORMS.build(
        dict(type='HVPTMixedSignals', num_classes=mixed.num_classes,
             input_size=mixed.input_size,
             mask_generator=dict(default_mask_generator(), mask_ratio=0.3)))
    assert repr(written) == repr(default)
    # 11 of the 36 32-px blocks of a 192-px view: ceil(0.3 * 36).
    np.random.seed(0)
    mask = TRANSFORMS.build(
        dict(mixed.mask_generator, input_size=mixed.input_size))({})['mask']
    blocks = mask[::8, ::8]
    assert mask.shape == (48, 48) and int(blocks.sum()) == 11
    assert np.array_equal(mask, blocks.repeat(8, 0).repeat(8, 1))


def test_input_size_sizes_views_and_mask():
    """Changing input_size alone (as --cfg-options does) resizes all."""
    mixed = Config.fromfile(MAIN).train_dataloader.dataset.pipeline[1]
    mixed.update(input_size=64, num_classes=3)
    t = TRANSFORMS.build(mixed.to_dict())
    img = random_image(np.random.default_rng(0), 80)
    out = t(dict(img=img, gt_label=1, img_path='x.jpg'))
    assert [v.shape[:2] for v in out['img']] == [(64, 64), (64, 64)]
    assert out['mask'].shape == (16, 16)


@pytest.mark.parametrize('path', PRETRAIN, ids=_id)
def test_pretrain_config_uses_the_main_recipe(path):
    """Every pre-training config loads with HVPTLoadImageFromFile and the
    main config's views; only the signal switches differ, and they follow
    the loss weights (no mask without MIM, no target view without the
    contrastive signal, SimMIM's mask ratio for MIM alone). Catches: an
    ablation that runs another recipe than the one it ablates."""
    main = Config.fromfile(MAIN).train_dataloader.dataset.pipeline[1]
    cfg = Config.fromfile(path)
    weights = dict(mim=1., con=1., mlc=1.)
    weights.update(cfg.model.get('loss_weights', {}))
    for pipeline in _pipelines(cfg.train_dataloader.dataset):
        types = [t['type'] for t in pipeline]
        assert types == ['HVPTLoadImageFromFile', 'HVPTMixedSignals',
                         'HVPTPackInputs'], types
        mixed = pipeline[1]
        assert mixed.num_classes == cfg.model.mlc_head.num_classes
        assert _to_plain(mixed.online_pipeline) == _to_plain(
            main.online_pipeline)
        assert _to_plain(mixed.target_pipeline) == _to_plain(
            main.target_pipeline)
        if weights['mim'] and not (weights['con'] or weights['mlc']):
            # MIM alone: SimMIM's ratio, as the single-signal baselines.
            assert _to_plain(mixed.mask_generator) == dict(
                _to_plain(main.mask_generator), mask_ratio=0.6)
        elif weights['mim']:
            assert _to_plain(mixed.mask_generator) == _to_plain(
                main.mask_generator)
        else:
            assert mixed.mask_generator is None
        assert mixed.get('with_target_view', True) == bool(weights['con'])


def test_imagenet_coco_unlabelled_builds_from_tiny_files(tmp_path,
                                                         imagenet_root):
    """Three sets in one 1080-class space: ImageNet labels 0-999, COCO
    categories by name at 1000-1079, unlabelled images without labels."""
    coco = tmp_path / 'coco'
    # person (id 1) and car on image 1, car (id 3) on image 2, none on 3.
    assert write_coco(str(coco), num_images=3, size=80) == {
        1: [1, 3], 2: [3], 3: []}
    unlabelled = tmp_path / 'unlabelled' / 'deep' / 'er'
    unlabelled.mkdir(parents=True)
    rng = np.random.default_rng(2)
    for i in range(2):
        Image.fromarray(random_image(rng)).save(unlabelled / f'u{i}.png')

    cfg = Config.fromfile(MIXED)
    dataset_cfg = cfg.train_dataloader.dataset
    sets = dataset_cfg.datasets
    sets[0].data_root = imagenet_root
    sets[1].data_root = str(coco) + '/'
    sets[2].data_root = str(tmp_path / 'unlabelled') + '/'
    dataset = DATASETS.build(dataset_cfg.to_dict())

    classes = dataset.metainfo['classes']
    assert len(classes) == 1080 == cfg.model.mlc_head.num_classes
    assert classes[1000] == 'person' and classes[1002] == 'car'
    assert dataset.labelled_counts == [12, 3, 0]
    assert len(dataset) == 17
    labels = [dataset.get_data_info(i).get('gt_label') for i in range(15)]
    assert {int(np.ravel(x)[0]) for x in labels[:12]} == {0, 1, 2}
    assert [list(np.ravel(x)) for x in labels[12:]] == [[1000, 1002],
                                                         [1002], []]
    # One sample of each set through the written recipe.
    for index in (0, 12, 16):
        sample = dataset[index]
        score = sample['data_samples'].gt_score
        assert score.shape == (1080, )
        assert sample['data_samples'].has_label == (index < 15)
        assert len(sample['inputs']) == 2
    assert dataset[12]['data_samples'].gt_score[[1000, 1002]].tolist() == [
        1., 1.
    ]
