# Copyright (c) hvpt_mm authors. All rights reserved.
"""docs/custom_dataset.md: its config trains, a class-count mismatch stops
before the first step."""
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from _helpers.tiny import REPO, random_image, run_tool, tiny_pretrain_options

DOC = osp.join(REPO, 'docs', 'custom_dataset.md')
CONFIG_NAME = 'my_project/hvpt_swin-b_my-data.py'
# Labels of the tiny labelled images: indices, a name, none.
LABELS = [[0, 2], ['dog'], [], [1], [2], [0]]
NUM_UNLABELLED = 2


def doc_config() -> str:
    """The config block of the doc, as a user copies it."""
    with open(DOC) as f:
        blocks = re.findall(r'```python\n(.*?)```', f.read(), re.S)
    found = [b for b in blocks if b.startswith(f'# {CONFIG_NAME}\n')]
    assert len(found) == 1, 'the doc shows one config'
    return found[0]


def doc_text_block() -> str:
    with open(DOC) as f:
        blocks = re.findall(r'```text\n(.*?)```', f.read(), re.S)
    return blocks[0]


@pytest.fixture(scope='module')
def project(tmp_path_factory):
    """The doc's config file and data layout, with tiny images."""
    base = tmp_path_factory.mktemp('custom')
    config = base / CONFIG_NAME
    config.parent.mkdir(parents=True)
    config.write_text(doc_config())
    classes = list(Config.fromfile(str(config)).classes)
    root = base / 'data' / 'my_data'
    rng = np.random.default_rng(0)
    data_list = []
    for i, label in enumerate(LABELS):
        rel = f'images/sub/{i:04d}.jpg'
        os.makedirs(osp.dirname(root / rel), exist_ok=True)
        Image.fromarray(random_image(rng)).save(root / rel)
        data_list.append(dict(img_path=rel, gt_label=label))
    (root / 'annotations').mkdir()
    with open(root / 'annotations' / 'train.json', 'w') as f:
        json.dump(dict(metainfo=dict(classes=classes), data_list=data_list),
                  f)
    for i in range(NUM_UNLABELLED):
        path = root / 'unlabelled' / 'crawl' / f'u{i}.png'
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(random_image(rng)).save(path)
    return dict(config=str(config), root=str(root) + '/', classes=classes)


def tiny_options(root: str) -> list:
    """The tiny Swin at 64 px, the doc's data root, 2 iterations of 4."""
    opts = [o for o in tiny_pretrain_options(root)
            if not o.startswith('train_dataloader.dataset.')
            and not o.startswith('model.mlc_head.num_classes')]
    for i in range(2):
        opts += [f'train_dataloader.dataset.datasets.{i}.data_root={root}',
                 f'train_dataloader.dataset.datasets.{i}.pipeline.1.'
                 'input_size=64']
    return opts + [
        'train_cfg.max_epochs=1', 'param_scheduler.0.end=1',
        'param_scheduler.1.begin=0', 'param_scheduler.1.end=1',
        'param_scheduler.1.T_max=1', 'default_hooks.checkpoint.interval=1',
        'randomness.seed=0'
    ]


def test_doc_config_trains_two_iterations(project, tmp_path):
    """The config of the doc, unchanged but for the tiny model and data
    root, trains 2 iterations on labelled and unlabelled images, with the
    multi-label loss on the 3 classes of its list. Catches: a doc config
    that no longer builds (a renamed base, a key the recipe lost), a class
    count that does not follow the list."""
    work = str(tmp_path / 'work')
    proc = run_tool(['tools/train.py', project['config'], '--work-dir', work,
                     '--cfg-options'] + tiny_options(project['root']))
    assert ('HVPTMixedDataset: 2 datasets, 3 shared classes, '
            f'{len(LABELS)} labelled + {NUM_UNLABELLED} unlabelled') in \
        proc.stdout + proc.stderr
    scalars = glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))
    with open(scalars[0]) as f:
        rows = [json.loads(line) for line in f]
    assert [r['iter'] for r in rows] == [1, 2]
    for r in rows:
        assert {'loss_mim', 'loss_con', 'loss_mlc'} <= set(r)
    ckpt = torch.load(osp.join(work, 'epoch_1.pth'), map_location='cpu',
                      weights_only=False)
    assert ckpt['state_dict']['mlc_head.fc.weight'].shape[0] == 3
    # The head starts at the prior the config sets: 1.5 labels of 3.
    cfg = Config.fromfile(project['config'])
    assert cfg.model.mlc_head.init_prior == pytest.approx(0.5)


def test_class_count_mismatch_stops_before_the_first_step(project,
                                                          tmp_path):
    """A head of 5 classes on a list of 3 stops at build time with every
    number and where it is set, as the doc shows; no iteration runs.
    Catches: a mismatch found only by the loss at the first step."""
    work = tmp_path / 'work'
    cmd = [sys.executable, 'tools/train.py', project['config'],
           '--work-dir', str(work), '--cfg-options',
           *tiny_options(project['root']), 'model.mlc_head.num_classes=5']
    env = dict(os.environ, PYTHONPATH=osp.join(REPO, 'tests'))
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert 'Epoch(train)' not in out
    assert not glob.glob(str(work / '*.pth'))
    # Every line of the doc's example is in the message (the doc elides
    # the dataset's paths as "(...)").
    for line in doc_text_block().strip().splitlines():
        pattern = re.escape(line.strip()).replace(
            re.escape('HVPTMultiLabelDataset(...)'),
            r'HVPTMultiLabelDataset\([^)]*\)')
        assert re.search(pattern, out), line


def test_imagenet_class_list_counts(imagenet_root):
    """HVPTImageNet keeps ImageNet's 1000 names unless given `classes`: a
    3-class head on it is a mismatch, named before training."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS

    from hvpt_mm.datasets import check_num_classes
    init_default_scope('mmpretrain')
    pipeline = [dict(type='HVPTMixedSignals', num_classes=3, input_size=32)]
    dataset = DATASETS.build(
        dict(type='HVPTImageNet', data_root=imagenet_root, split='train',
             pipeline=pipeline))
    head = torch.nn.Module()
    head.num_classes = 3
    model = torch.nn.Module()
    model.mlc_head = head
    with pytest.raises(ValueError, match=r'1000  train_dataloader\.dataset'):
        check_num_classes(model, dataset)
    named = DATASETS.build(
        dict(type='HVPTImageNet', data_root=imagenet_root, split='train',
             classes=[f'n{c:08d}' for c in range(3)], pipeline=pipeline))
    check_num_classes(model, named)
    # Without a multi-label head (its weight 0) the pipeline still counts.
    with pytest.raises(ValueError, match='HVPTMixedSignals'):
        check_num_classes(torch.nn.Module(), dataset)
