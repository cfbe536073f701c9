# Copyright (c) hvpt_mm authors. All rights reserved.
"""Multi-task demo scenes composed from real Fashion-MNIST photos.

Each scene pastes 1-4 tinted product photos onto a smooth random background.
Image-level multi-labels, instance masks, boxes and a semantic map are all
derived from the final pixels, so one small dataset feeds pre-training
(labelled + unlabelled), classification, detection and segmentation.

Only numpy and Pillow are needed; ``rich`` is used for progress if present.
Photos: https://github.com/zalandoresearch/fashion-mnist (MIT licence),
Debian package ``dataset-fashion-mnist``.
"""
import colorsys
import gzip
import hashlib
import json
import os
import os.path as osp
import re
import sys
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

BUILDER_VERSION = 1
CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal',
           'Shirt', 'Sneaker', 'Bag', 'Ankle boot')
SEG_CLASSES = ('background', ) + CLASSES
PALETTE = [[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25],
           [0, 130, 200], [245, 130, 48], [145, 30, 180], [70, 240, 240],
           [240, 50, 230], [210, 245, 60], [250, 190, 212]]
ENV_VAR = 'HVPT_FASHION_MNIST'
SEARCH_DIRS = ('/usr/share/datasets/fashion-mnist', )
FILE_STEMS = {
    'train_images': 'train-images-idx3-ubyte',
    'train_labels': 'train-labels-idx1-ubyte',
    'test_images': 't10k-images-idx3-ubyte',
    'test_labels': 't10k-labels-idx1-ubyte',
}
SPLITS = ('train', 'val', 'test')
SILHOUETTE_THRESHOLD = 30  # photo intensity (0-255) after resize
MIN_VISIBLE_AREA = 20  # pixels; smaller (occluded) items are not drawn


def find_fashion_mnist(root: Optional[str] = None) -> Dict[str, str]:
    """Locate the four Fashion-MNIST IDX files (plain or ``.gz``).

    Args:
        root (str, optional): Folder holding the files. If None, the folder
            named by ``$HVPT_FASHION_MNIST`` is used, else the Debian install
            location. Defaults to None.

    Returns:
        dict: ``train_images``, ``train_labels``, ``test_images`` and
        ``test_labels`` mapped to file paths.
    """
    if root is not None:
        dirs = [str(root)]
    elif os.environ.get(ENV_VAR):
        dirs = [os.environ[ENV_VAR]]
    else:
        dirs = list(SEARCH_DIRS)
    for d in dirs:
        found = {}
        for key, stem in FILE_STEMS.items():
            names = [stem, stem.replace('-idx', '.idx')]
            cands = [osp.join(d, n + e) for n in names for e in ('', '.gz')]
            hits = [c for c in cands if osp.isfile(c)]
            if hits:
                found[key] = hits[0]
        if len(found) == len(FILE_STEMS):
            return found
    raise FileNotFoundError(
        f'Fashion-MNIST IDX files ({", ".join(FILE_STEMS.values())}, '
        f'optionally .gz) not found in: {", ".join(dirs)}. Install them with '
        '`apt-get install dataset-fashion-mnist`, or download the 4 files '
        'from https://github.com/zalandoresearch/fashion-mnist (data/fashion)'
        f' and point --fmnist-root or ${ENV_VAR} at their folder.')


def read_idx(path: str) -> np.ndarray:
    """Read an unsigned-byte IDX file (gzipped or plain) into numpy.

    Args:
        path (str): The file.

    Returns:
        np.ndarray: The array with the shape given in the file header.
    """
    with open(path, 'rb') as f:
        data = f.read()
    if data[:2] == b'\x1f\x8b':
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise ValueError(f'{path}: corrupt gzip stream ({e})') from e
    if len(data) < 4 or data[:3] != b'\0\0\x08' or data[3] == 0:
        raise ValueError(f'{path}: not a uint8 IDX file (bad magic number '
                         f'{data[:4].hex() or "<empty>"})')
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f'{path}: truncated IDX header')
    shape = tuple(int(s) for s in np.frombuffer(data, '>u4', ndim, 4))
    expected = 4 + 4 * ndim + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(f'{path}: IDX size mismatch, header shape {shape} '
                         f'needs {expected} bytes, file has {len(data)}')
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_fashion_mnist(files: Dict[str, str]) -> Dict[str, np.ndarray]:
    """Read and cross-check the files returned by :func:`find_fashion_mnist`.

    Args:
        files (dict): Paths keyed like :data:`FILE_STEMS`.

    Returns:
        dict: uint8 arrays ``{part}_images`` (N, H, W), ``{part}_labels``.
    """
    arrays = {k: read_idx(v) for k, v in files.items()}
    for part in ('train', 'test'):
        imgs, lbls = arrays[f'{part}_images'], arrays[f'{part}_labels']
        if imgs.ndim != 3 or lbls.ndim != 1 or len(imgs) != len(lbls):
            raise ValueError(
                f'{files[f"{part}_images"]} / {files[f"{part}_labels"]}: '
                f'shapes {imgs.shape} and {lbls.shape} do not pair up')
        if len(lbls) == 0 or lbls.max() >= len(CLASSES):
            raise ValueError(f'{files[f"{part}_labels"]}: expected labels '
                             f'0..{len(CLASSES) - 1}')
    return arrays


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth colour field (30-225) plus faint low-frequency noise."""
    k = int(rng.integers(2, 5))
    grid = rng.uniform(30, 225, (k, k, 3)).round().astype(np.uint8)
    bg = np.asarray(Image.fromarray(grid).resize(
        (size, size), Image.Resampling.BILINEAR), np.float32)
    noise = rng.uniform(-12, 12, (8, 8)).astype(np.float32)
    noise = np.asarray(Image.fromarray(noise, 'F').resize(
        (size, size), Image.Resampling.BILINEAR))
    return np.clip(bg + noise[..., None], 20, 235)


def _tint(rng: np.random.Generator, under: np.ndarray) -> np.ndarray:
    """A saturated random colour that stands out from ``under``."""
    best, best_gap = None, -1.0
    for _ in range(8):
        rgb = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.45, 1),
                                  rng.uniform(0.55, 1))
        tint = np.array(rgb, np.float32) * 255
        gap = float(np.abs(tint - under).sum())
        if gap > best_gap:
            best, best_gap = tint, gap
        if gap > 150:
            break
    return best


def generate_scene(photos: np.ndarray,
                   labels: np.ndarray,
                   rng: np.random.Generator,
                   size: int = 64,
                   max_items: int = 4,
                   min_area: int = MIN_VISIBLE_AREA) -> dict:
    """Compose one scene and derive its annotations from its pixels.

    Args:
        photos (np.ndarray): Source photos, uint8 (N, h, w).
        labels (np.ndarray): Their class ids (N, ).
        rng (np.random.Generator): The only source of randomness.
        size (int): Canvas side in pixels. Defaults to 64.
        max_items (int): Most items per scene. Defaults to 4.
        min_area (int): Least visible silhouette area (px) for an item to be
            drawn and labelled. Defaults to 20.

    Returns:
        dict: ``image`` (size, size, 3) uint8, ``semantic`` (size, size) uint8
        (0 background, class id + 1 items), ``labels`` (sorted class ids) and
        ``instances``: dicts with ``label``, ``mask`` (bool), ``bbox``
        [x, y, w, h], ``area`` and ``source_index`` (row in ``photos``),
        in draw order.
    """
    for _ in range(100):
        items = []
        for _ in range(int(rng.integers(1, max_items + 1))):
            idx = int(rng.integers(len(photos)))
            side = int(round(rng.uniform(0.35, 0.75) * size))
            x, y = (int(v) for v in rng.integers(0, size - side + 1, 2))
            g = np.asarray(Image.fromarray(photos[idx]).resize(
                (side, side), Image.Resampling.BILINEAR), np.float32)
            sil = np.zeros((size, size), bool)
            sil[y:y + side, x:x + side] = g > SILHOUETTE_THRESHOLD
            items.append(dict(idx=idx, x=x, y=y, g=g / 255, sil=sil))
        # Drop items whose visible part is too small, until none is; dropping
        # only uncovers others, so this settles.
        keep = list(range(len(items)))
        while True:
            vis, cover = {}, np.zeros((size, size), bool)
            for i in reversed(keep):
                vis[i] = items[i]['sil'] & ~cover
                cover |= items[i]['sil']
            small = [i for i in keep if vis[i].sum() < min_area]
            if not small:
                break
            keep = [i for i in keep if i not in small]
        if keep:
            break
    else:
        raise RuntimeError(f'no photo gives a silhouette >= {min_area} px')
    canvas = _background(rng, size)
    semantic = np.zeros((size, size), np.uint8)
    instances = []
    for i in keep:
        it = items[i]
        g, side = it['g'], it['g'].shape[0]
        win = (slice(it['y'], it['y'] + side), slice(it['x'], it['x'] + side))
        alpha = np.clip(g * 4, 0, 1) * it['sil'][win]
        tint = _tint(rng, canvas[win][alpha > 0].mean(0))
        color = tint * (0.35 + 0.65 * g / max(float(g.max()), 1e-6))[..., None]
        canvas[win] = canvas[win] * (1 - alpha[..., None]) + color * alpha[
            ..., None]
        label, mask = int(labels[it['idx']]), vis[i]
        semantic[mask] = label + 1
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        bbox = [float(cols[0]), float(rows[0]),
                float(cols[-1] - cols[0] + 1), float(rows[-1] - rows[0] + 1)]
        instances.append(dict(label=label, mask=mask, bbox=bbox,
                              area=int(mask.sum()), source_index=it['idx']))
    return dict(image=np.round(canvas).astype(np.uint8), semantic=semantic,
                labels=sorted({d['label'] for d in instances}),
                instances=instances)


def mask_to_rle(mask: np.ndarray) -> dict:
    """Encode a binary mask as uncompressed COCO RLE (column-major runs)."""
    flat = np.asarray(mask, np.uint8).ravel(order='F')
    edges = np.flatnonzero(np.diff(flat)) + 1
    counts = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return dict(size=list(mask.shape), counts=counts)


def _progress(items: Sequence, desc: str, enabled: bool) -> Iterable:
    """Iterate with a rich progress bar (or a plain counter) on stderr."""
    if not enabled:
        yield from items
        return
    try:
        from rich.console import Console
        from rich.progress import track
    except ImportError:
        for n, item in enumerate(items, 1):
            yield item
            print(f'\r{desc} {n}/{len(items)}', end='', file=sys.stderr)
        print(file=sys.stderr)
        return
    yield from track(items, desc, console=Console(stderr=True))


def _dump(obj: object, path: str) -> None:
    with open(path, 'w') as f:
        json.dump(obj, f, separators=(',', ':'))


def _write_split(out_dir: str, split: str, num: int, photos: np.ndarray,
                 labels: np.ndarray, pool: np.ndarray, part: str, size: int,
                 seed: int, progress: bool) -> Tuple[List[dict], int]:
    """Write one split's scenes, maps and annotation files."""
    for sub in ('images', 'seg'):
        d = osp.join(out_dir, sub, split)
        os.makedirs(d, exist_ok=True)
        for name in os.listdir(d):  # stale scenes of a bigger earlier build
            if re.fullmatch(r'\d{6}\.png', name):
                os.remove(osp.join(d, name))
    data_list, images, anns = [], [], []
    for i in _progress(range(num), f'{split} scenes', progress):
        rng = np.random.default_rng([seed, SPLITS.index(split), i])
        scene = generate_scene(photos, labels, rng, size)
        img_path = f'images/{split}/{i:06d}.png'
        Image.fromarray(scene['image']).save(osp.join(out_dir, img_path))
        Image.fromarray(scene['semantic'], 'L').save(
            osp.join(out_dir, 'seg', split, f'{i:06d}.png'))
        data_list.append(dict(img_path=img_path, gt_label=scene['labels']))
        images.append(
            dict(id=i + 1, file_name=img_path, width=size, height=size))
        for inst in scene['instances']:
            anns.append(dict(
                id=len(anns) + 1, image_id=i + 1,
                category_id=inst['label'] + 1, bbox=inst['bbox'],
                area=inst['area'], iscrowd=0,
                segmentation=mask_to_rle(inst['mask']), fmnist_part=part,
                fmnist_index=int(pool[inst['source_index']])))
    ann_dir = osp.join(out_dir, 'annotations')
    _dump(dict(metainfo=dict(classes=list(CLASSES)), data_list=data_list),
          osp.join(ann_dir, f'multilabel_{split}.json'))
    categories = [dict(id=c + 1, name=n, supercategory='fashion')
                  for c, n in enumerate(CLASSES)]
    _dump(dict(info=dict(description=f'hvpt_mm demo scenes, {split}'),
               images=images, annotations=anns, categories=categories),
          osp.join(ann_dir, f'instances_{split}.json'))
    return data_list, len(anns)


def build_demo_dataset(out_dir: str,
                       num_train: int = 32000,
                       num_val: int = 500,
                       num_test: int = 500,
                       size: int = 64,
                       unlabelled_fraction: float = 0.25,
                       seed: int = 0,
                       fmnist_root: Optional[str] = None,
                       progress: bool = True) -> dict:
    """Write the demo scenes dataset.

    Layout: ``images/{split}/{i:06d}.png`` (RGB), ``seg/{split}/...png``
    (semantic maps, 0 background, class id + 1 items) and ``annotations/``:
    ``multilabel_{split}.json`` (mmpretrain ``MultiLabelDataset``),
    ``instances_{split}.json`` (COCO, uncompressed RLE masks),
    ``pretrain_labelled.json`` / ``pretrain_unlabelled.txt`` (the train
    split cut in two) and ``meta.json`` (written last). Paths are relative
    to ``out_dir``. Train scenes use only the training photos; val uses the
    first half of the test photos, test the second half. Scene ``i`` of a
    split depends only on ``(seed, split, i)``.

    Args:
        out_dir (str): Output folder (a dataset config's ``data_root``).
        num_train (int): Train scenes. Defaults to 32000.
        num_val (int): Validation scenes. Defaults to 500.
        num_test (int): Test scenes. Defaults to 500.
        size (int): Scene side in pixels, 32-128. Defaults to 64.
        unlabelled_fraction (float): Share of train scenes listed as
            unlabelled for pre-training. Defaults to 0.25.
        seed (int): Seed of everything. Defaults to 0.
        fmnist_root (str, optional): Folder of the IDX files; see
            :func:`find_fashion_mnist`. Defaults to None.
        progress (bool): Show progress on stderr. Defaults to True.

    Returns:
        dict: ``out_dir``, ``built`` (False if it was up to date), ``meta``
        (path) and ``counts``.
    """
    counts = dict(train=int(num_train), val=int(num_val), test=int(num_test))
    if not 32 <= size <= 128:
        raise ValueError(f'size must be in 32..128, got {size}')
    if min(counts.values()) < 0 or not 0 <= unlabelled_fraction <= 1:
        raise ValueError('scene counts must be >= 0 and unlabelled_fraction '
                         'in [0, 1]')
    files = find_fashion_mnist(fmnist_root)
    sha = {}
    for key, path in files.items():
        with open(path, 'rb') as f:
            sha[key] = hashlib.sha256(f.read()).hexdigest()
    params = dict(builder_version=BUILDER_VERSION, counts=counts,
                  size=int(size), unlabelled_fraction=unlabelled_fraction,
                  seed=int(seed), min_visible_area=MIN_VISIBLE_AREA,
                  sources=sha)
    ann_dir = osp.join(out_dir, 'annotations')
    meta_path = osp.join(ann_dir, 'meta.json')
    summary = dict(out_dir=out_dir, meta=meta_path, counts=counts)
    if osp.isfile(meta_path):
        with open(meta_path) as f:
            if json.load(f).get('params') == params:
                print(f'{out_dir} is up to date, not rebuilding',
                      file=sys.stderr)
                return dict(summary, built=False)
        os.remove(meta_path)  # written last: its absence marks a partial set
    data = load_fashion_mnist(files)
    n_test = len(data['test_images'])
    pools = dict(train=('train', np.arange(len(data['train_images']))),
                 val=('test', np.arange(n_test // 2)),
                 test=('test', np.arange(n_test // 2, n_test)))
    os.makedirs(ann_dir, exist_ok=True)
    lists, n_inst = {}, {}
    for split, (part, pool) in pools.items():
        lists[split], n_inst[split] = _write_split(
            out_dir, split, counts[split], data[f'{part}_images'][pool],
            data[f'{part}_labels'][pool], pool, part, size, int(seed),
            progress)
    train = lists['train']
    n_unl = int(round(unlabelled_fraction * len(train)))
    order = np.random.default_rng([int(seed), 99]).permutation(len(train))
    unl = set(order[:n_unl].tolist())
    _dump(dict(metainfo=dict(classes=list(CLASSES)),
               data_list=[d for i, d in enumerate(train) if i not in unl]),
          osp.join(ann_dir, 'pretrain_labelled.json'))
    with open(osp.join(ann_dir, 'pretrain_unlabelled.txt'), 'w') as f:
        f.writelines(train[i]['img_path'] + '\n' for i in sorted(unl))
    _dump(dict(
        params=params, builder_version=BUILDER_VERSION,
        classes=list(CLASSES), seg_classes=list(SEG_CLASSES),
        palette=PALETTE, size=[size, size], seed=int(seed),
        counts=dict(images=counts, instances=n_inst,
                    pretrain_labelled=len(train) - n_unl,
                    pretrain_unlabelled=n_unl),
        sources=dict(files=files, train='train',
                     val=f'test[:{n_test // 2}]',
                     test=f'test[{n_test // 2}:]')), meta_path)
    return dict(summary, built=True)
