# Copyright (c) hvpt_mm authors. All rights reserved.
import gzip
import importlib.util
import json
import os
import os.path as osp
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# The scene builder of make_demo_scenes.py (numpy and Pillow only).
_path = Path(__file__).parents[2] / 'tools/dataset_converters/demo_scenes.py'
_spec = importlib.util.spec_from_file_location('demo_scenes', _path)
ds = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ds)

SPLITS = ('train', 'val', 'test')


def write_idx(path, array, gz=False):
    array = np.ascontiguousarray(array, np.uint8)
    header = bytes([0, 0, 0x08, array.ndim])
    header += np.array(array.shape, '>u4').tobytes()
    data = header + array.tobytes()
    with open(path, 'wb') as f:
        f.write(gzip.compress(data, mtime=0) if gz else data)


def fake_photos(rng, n):
    """Filled ellipses of random size and brightness on a black ground."""
    yy, xx = np.mgrid[:28, :28]
    photos = np.zeros((n, 28, 28), np.uint8)
    for p in photos:
        cy, cx = rng.uniform(11, 17, 2)
        ry, rx = rng.uniform(6, 12, 2)
        inside = ((yy - cy) / ry)**2 + ((xx - cx) / rx)**2 <= 1
        p[inside] = rng.integers(120, 256, inside.sum())
    return photos


@pytest.fixture(scope='module')
def fmnist_root(tmp_path_factory):
    """Tiny fake set: train photos are classes 0-4, test photos 5-9."""
    root = tmp_path_factory.mktemp('fmnist')
    rng = np.random.default_rng(0)
    write_idx(root / 'train-images-idx3-ubyte.gz', fake_photos(rng, 40), True)
    write_idx(root / 'train-labels-idx1-ubyte', rng.integers(0, 5, 40))
    write_idx(root / 't10k-images-idx3-ubyte', fake_photos(rng, 20))
    write_idx(root / 't10k-labels-idx1-ubyte.gz', rng.integers(5, 10, 20),
              True)
    return str(root)


def build(out_dir, fmnist_root, seed=0, size=48, **kwargs):
    kwargs = dict(dict(num_train=10, num_val=4, num_test=4), **kwargs)
    return ds.build_demo_dataset(
        str(out_dir), size=size, seed=seed, fmnist_root=fmnist_root,
        progress=False, **kwargs)


@pytest.fixture(scope='module')
def built(tmp_path_factory, fmnist_root):
    out = tmp_path_factory.mktemp('scenes')
    build(out, fmnist_root)
    return str(out)


def load_json(root, name):
    with open(osp.join(root, 'annotations', name)) as f:
        return json.load(f)


def rle_decode(rle):
    h, w = rle['size']
    flat = np.zeros(h * w, bool)
    pos = np.cumsum([0] + rle['counts'])
    for start, stop in zip(pos[1::2], pos[2::2]):
        flat[start:stop] = True
    return flat.reshape((w, h)).T


def check_split(root, split, size):
    """Labels, masks, boxes and semantic maps agree with each other."""
    coco = load_json(root, f'instances_{split}.json')
    ml = load_json(root, f'multilabel_{split}.json')
    assert ml['metainfo']['classes'] == list(ds.CLASSES)
    assert [c['id'] for c in coco['categories']] == list(range(1, 11))
    assert len(coco['images']) == len(ml['data_list']) > 0
    for img_info, item in zip(coco['images'], ml['data_list']):
        assert img_info['file_name'] == item['img_path']
        img = Image.open(osp.join(root, item['img_path']))
        seg_path = item['img_path'].replace('images/', 'seg/', 1)
        seg = Image.open(osp.join(root, seg_path))
        assert img.mode == 'RGB' and seg.mode == 'L'
        assert img.size == seg.size == (size, size)
        seg = np.asarray(seg)
        assert seg.max() <= 10
        # The background is never black: silhouettes are meaningful.
        assert np.asarray(img)[seg == 0].min() > 0
        anns = [a for a in coco['annotations']
                if a['image_id'] == img_info['id']]
        union = np.zeros(seg.shape, int)
        for a in anns:
            mask = rle_decode(a['segmentation'])
            assert a['area'] == mask.sum() >= ds.MIN_VISIBLE_AREA
            assert np.all(seg[mask] == a['category_id'])
            x, y, w, h = (int(v) for v in a['bbox'])
            box = np.zeros_like(mask)
            box[y:y + h, x:x + w] = True
            assert not (mask & ~box).any()
            # tight: every border row and column of the box is touched
            assert mask[y].any() and mask[y + h - 1].any()
            assert mask[:, x].any() and mask[:, x + w - 1].any()
            union += mask
        assert union.max() <= 1
        assert np.array_equal(union > 0, seg > 0)
        cats = sorted({a['category_id'] - 1 for a in anns})
        assert item['gt_label'] == cats
        for c in cats:
            assert (seg == c + 1).sum() >= ds.MIN_VISIBLE_AREA
    return coco, ml


def test_consistency_and_layout(built):
    for split in SPLITS:
        check_split(built, split, 48)
    meta = load_json(built, 'meta.json')
    assert meta['seg_classes'][0] == 'background'
    assert len(meta['palette']) == 11
    assert meta['counts']['images'] == dict(train=10, val=4, test=4)


def test_train_val_test_source_separation(built):
    cocos = {s: load_json(built, f'instances_{s}.json') for s in SPLITS}
    for split, coco in cocos.items():
        anns = coco['annotations']
        part = 'train' if split == 'train' else 'test'
        assert {a['fmnist_part'] for a in anns} == {part}
        cats = {a['category_id'] - 1 for a in anns}
        # fake train photos are classes 0-4, test photos 5-9
        assert cats <= (set(range(5)) if split == 'train' else
                        set(range(5, 10)))
    assert max(a['fmnist_index'] for a in cocos['val']['annotations']) < 10
    assert min(a['fmnist_index'] for a in cocos['test']['annotations']) >= 10


def test_pretrain_split(built):
    train = load_json(built, 'multilabel_train.json')['data_list']
    lab = load_json(built, 'pretrain_labelled.json')
    with open(osp.join(built, 'annotations/pretrain_unlabelled.txt')) as f:
        unl = f.read().split()
    lab_paths = [d['img_path'] for d in lab['data_list']]
    # the default quarter of the train scenes is unlabelled
    assert len(unl) == 2 and len(lab_paths) == 8
    assert sorted(lab_paths + unl) == [d['img_path'] for d in train]
    assert all(osp.isfile(osp.join(built, p)) for p in unl)


def tree(root):
    return {
        osp.relpath(osp.join(d, n), root): open(osp.join(d, n), 'rb').read()
        for d, _, names in os.walk(root) for n in names
    }


def test_determinism_and_idempotence(tmp_path, built, fmnist_root):
    res = build(tmp_path / 'a', fmnist_root)
    assert res['built'] and res['counts']['train'] == 10
    assert tree(built) == tree(tmp_path / 'a')
    assert not build(tmp_path / 'a', fmnist_root)['built']
    other = tree(built)
    # different seed -> different scenes; a smaller rebuild leaves no stale
    # scenes behind
    assert build(tmp_path / 'a', fmnist_root, seed=1, num_train=6)['built']
    new = tree(tmp_path / 'a')
    assert sum(k.startswith('images/train/') for k in new) == 6
    assert new['images/val/000000.png'] != other['images/val/000000.png']


def test_generate_scene_matches_rng():
    photos = fake_photos(np.random.default_rng(1), 8)
    labels = np.arange(8) % 10
    a = ds.generate_scene(photos, labels, np.random.default_rng(5), 32)
    b = ds.generate_scene(photos, labels, np.random.default_rng(5), 32)
    assert np.array_equal(a['image'], b['image'])
    assert np.array_equal(a['semantic'], b['semantic'])
    assert 1 <= len(a['instances']) <= 4
    with pytest.raises(ValueError, match='size'):
        ds.build_demo_dataset('unused', size=16)


def test_pycocotools_reads_masks(built):
    coco_mod = pytest.importorskip('pycocotools.coco')
    for split in SPLITS:
        path = osp.join(built, 'annotations', f'instances_{split}.json')
        coco = coco_mod.COCO(path)
        assert len(coco.getCatIds()) == 10
        for ann in coco.loadAnns(coco.getAnnIds()):
            mask = coco.annToMask(ann).astype(bool)
            assert np.array_equal(mask, rle_decode(ann['segmentation']))
            assert mask.sum() == ann['area']


def test_missing_package_message(tmp_path, monkeypatch):
    monkeypatch.delenv(ds.ENV_VAR, raising=False)
    monkeypatch.setattr(ds, 'SEARCH_DIRS', (str(tmp_path / 'nowhere'), ))
    with pytest.raises(FileNotFoundError) as e:
        ds.find_fashion_mnist()
    msg = str(e.value)
    assert 'apt-get install dataset-fashion-mnist' in msg
    assert str(tmp_path / 'nowhere') in msg and ds.ENV_VAR in msg
    monkeypatch.setenv(ds.ENV_VAR, str(tmp_path / 'env'))
    with pytest.raises(FileNotFoundError, match='env'):
        ds.find_fashion_mnist()


def test_env_var_and_corrupt_idx(tmp_path, monkeypatch, fmnist_root):
    monkeypatch.setenv(ds.ENV_VAR, fmnist_root)
    files = ds.find_fashion_mnist()
    assert files['train_images'].endswith('.gz')
    assert ds.read_idx(files['train_images']).shape == (40, 28, 28)
    bad = tmp_path / 'bad-idx3-ubyte'
    bad.write_bytes(b'\x12\x34\x08\x03' + bytes(20))
    with pytest.raises(ValueError, match='bad-idx3-ubyte.*magic'):
        ds.read_idx(str(bad))
    write_idx(bad, np.zeros((3, 28, 28)))
    bad.write_bytes(bad.read_bytes()[:-5])
    with pytest.raises(ValueError, match='bad-idx3-ubyte.*size mismatch'):
        ds.read_idx(str(bad))
    bad.write_bytes(gzip.compress(bytes(range(256)) * 8)[:60])
    with pytest.raises(ValueError, match='bad-idx3-ubyte.*gzip'):
        ds.read_idx(str(bad))


def test_real_fashion_mnist(tmp_path):
    try:
        files = ds.find_fashion_mnist()
    except FileNotFoundError:
        pytest.skip('Fashion-MNIST is not installed')
    ds.build_demo_dataset(str(tmp_path), num_train=4, num_val=2, num_test=2,
                          progress=False)
    for split in SPLITS:
        check_split(str(tmp_path), split, 64)
    meta = load_json(str(tmp_path), 'meta.json')
    assert meta['sources']['files'] == files


def test_make_demo_scenes_script(tmp_path, fmnist_root):
    """The converter script runs from any folder and prints its summary.

    Catches a script that no longer finds the scene builder beside it (it
    is not in the package), or that drops an option on the way.
    """
    import subprocess
    import sys
    script = Path(__file__).parents[2] / \
        'tools/dataset_converters/make_demo_scenes.py'
    out = tmp_path / 'scenes'
    proc = subprocess.run([
        sys.executable, str(script), str(out), '--num-train', '3',
        '--num-val', '1', '--num-test', '2', '--size', '32',
        '--unlabelled-fraction', '0', '--fmnist-root', fmnist_root,
        '--no-progress'
    ], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary['built'] is True and summary['out_dir'] == str(out)
    assert summary['counts'] == dict(train=3, val=1, test=2)
    assert load_json(str(out), 'meta.json')['size'] == [32, 32]
    assert len(load_json(str(out), 'pretrain_labelled.json')['data_list']) \
        == 3
