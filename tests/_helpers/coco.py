# Copyright (c) hvpt_mm authors. All rights reserved.
"""A tiny COCO 2017 folder written by the tests."""
import json
import os
import os.path as osp
from typing import Dict, Sequence, Tuple

import numpy as np
from PIL import Image

from _helpers.tiny import random_image

# (image index, category id) of every instance: image 0 holds both
# categories, image 1 the second one, the others alternate.
CATEGORIES = ((1, 'person'), (3, 'car'))


def write_coco(root: str,
               num_images: int = 3,
               size: int = 64,
               categories: Sequence[Tuple[int, str]] = CATEGORIES,
               empty_last: bool = True,
               seed: int = 1) -> Dict[int, list]:
    """COCO's layout under ``root``: ``train2017/*.jpg`` and
    ``annotations/instances_train2017.json`` (boxes and polygon masks).

    Args:
        root (str): The data root.
        num_images (int): Number of images. Defaults to 3.
        size (int): Image side in pixels. Defaults to 64.
        categories (Sequence[tuple[int, str]]): ``(id, name)`` pairs.
            Defaults to person (1) and car (3).
        empty_last (bool): Leave the last image without an instance.
            Defaults to True.
        seed (int): Seed of the images. Defaults to 1.

    Returns:
        dict[int, list]: Category ids present on each image id.
    """
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(root, 'train2017'), exist_ok=True)
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    cat_ids = [c for c, _ in categories]
    images, anns, present = [], [], {}
    for i in range(num_images):
        name = f'{i + 1:012d}.jpg'
        Image.fromarray(random_image(rng, size)).save(
            osp.join(root, 'train2017', name))
        images.append(dict(id=i + 1, file_name=name, width=size,
                           height=size))
        if empty_last and i == num_images - 1:
            cats = []
        elif i == 0:
            cats = cat_ids
        else:
            cats = [cat_ids[i % len(cat_ids)]]
        present[i + 1] = list(cats)
        for k, cat in enumerate(cats):
            x, y, w = 4 + 24 * k, 6 + 20 * k, size // 3
            anns.append(dict(
                id=len(anns) + 1, image_id=i + 1, category_id=cat,
                bbox=[x, y, w, w], area=w * w, iscrowd=0,
                segmentation=[[x, y, x + w, y, x + w, y + w, x, y + w]]))
    with open(osp.join(root, 'annotations', 'instances_train2017.json'),
              'w') as f:
        json.dump(dict(images=images, annotations=anns,
                       categories=[dict(id=c, name=n)
                                   for c, n in categories]), f)
    return present
