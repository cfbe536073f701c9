# Copyright (c) hvpt_mm authors. All rights reserved.
"""``mim train hvpt_mm CONFIG`` and ``mim test hvpt_mm CONFIG``.

mim finds the package through its installed location and the config by
its basename under ``hvpt_mm/.mim/configs``, then runs the package's own
``.mim/tools/train.py`` / ``test.py``. The package is installed here from
a wheel of the checkout, as a user installs it.
"""
import os.path as osp
import shutil
import subprocess
import sys
from typing import List

import pytest
import torch
from mmengine.config import Config

from _helpers.install import install_wheel, outside_checkout_env
from _helpers.tiny import REPO, TINY_ARCH, TINY_OUT, tiny_pretrain_options

FINETUNE = 'swin-base-w7_hvpt-pre_8xb256-coslr-100e_in1k.py'


@pytest.fixture(scope='module')
def site_dir(tmp_path_factory) -> str:
    if shutil.which('mim', path=osp.dirname(sys.executable)) is None:
        pytest.skip('openmim is not installed (requirements/tests.txt)')
    return install_wheel(str(tmp_path_factory.getbasetemp() / 'wheel'))


def mim(args: List[str], site_dir: str, cwd: str) -> str:
    """Run ``mim ARGS`` with the wheel install first on the path."""
    cmd = [osp.join(osp.dirname(sys.executable), 'mim'), *args]
    proc = subprocess.run(cmd, cwd=cwd, env=outside_checkout_env(site_dir),
                          capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(cmd)}:\n{out[-6000:]}'
    return out


def test_mim_train_pretrain_config(site_dir, imagenet_root, tmp_path):
    work = tmp_path / 'work'
    out = mim(['train', 'hvpt_mm', 'hvpt_swin-b.py', '--work-dir',
               str(work), '--cfg-options',
               *tiny_pretrain_options(imagenet_root),
               'train_cfg.max_epochs=1'], site_dir, str(tmp_path))
    found = osp.join(site_dir, 'hvpt_mm', '.mim', 'configs', 'pretrain',
                     'hvpt_swin-b.py')
    assert f'will use {found} instead' in out
    assert 'loss_mim' in out and 'loss_con' in out and 'loss_mlc' in out
    assert (work / 'epoch_1.pth').is_file()


def test_mim_test_downstream_config(site_dir, imagenet_root, tmp_path):
    """A tiny fine-tuned classifier evaluated through ``mim test``."""
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'classification', FINETUNE))
    cfg.merge_from_dict({
        'model.backbone.arch': dict(_delete_=True, **TINY_ARCH),
        'model.backbone.init_cfg': None,
        'model.head.in_channels': TINY_OUT,
        'model.head.num_classes': 3,
        'data_preprocessor.num_classes': 3,
    })
    model = MODELS.build(cfg.model)
    ckpt = tmp_path / 'tiny_classifier.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)

    out = mim(['test', 'hvpt_mm', FINETUNE, '--checkpoint', str(ckpt),
               '--work-dir', str(tmp_path / 'work'), '--cfg-options',
               'model.backbone.arch._delete_=True',
               'model.backbone.arch.embed_dims=32',
               'model.backbone.arch.depths=[1,1,1,1]',
               'model.backbone.arch.num_heads=[1,2,2,4]',
               'model.backbone.init_cfg=None',
               f'model.head.in_channels={TINY_OUT}',
               'model.head.num_classes=3', 'data_preprocessor.num_classes=3',
               f'test_dataloader.dataset.data_root={imagenet_root}',
               'test_dataloader.dataset.split=train',
               'test_dataloader.batch_size=4',
               'test_dataloader.num_workers=0',
               'test_dataloader.persistent_workers=False',
               'test_evaluator.topk=[1]'], site_dir, str(tmp_path))
    assert 'accuracy/top1' in out
