# Copyright (c) hvpt_mm authors. All rights reserved.
"""``mim train hvpt_mm CONFIG`` and ``mim test hvpt_mm CONFIG``.

mim finds the package through its installed location and the config by
its basename under ``hvpt_mm/.mim/configs``, then runs the package's own
``.mim/tools/train.py`` / ``test.py``. Two installs: the project's own
(``make setup``: editable from this checkout, configs resolved to the
checkout's files) and a wheel of the checkout, as a user installs it.
"""
import json
import os.path as osp
import shutil
import subprocess
import sys
from importlib import metadata
from typing import List, Optional

import pytest
import torch
from mmengine.config import Config

from _helpers.install import install_wheel, outside_checkout_env
from _helpers.tiny import REPO, TINY_ARCH, TINY_OUT, tiny_pretrain_options

FINETUNE = 'swin-base-w7_hvpt-pre_8xb256-coslr-100e_in1k.py'


def editable_from_checkout() -> bool:
    """Whether this interpreter has hvpt_mm installed editable from REPO."""
    for dist in metadata.distributions(name='hvpt_mm'):
        direct = json.loads(dist.read_text('direct_url.json') or '{}')
        url = direct.get('url', '')
        if direct.get('dir_info', {}).get('editable') and \
                url.startswith('file://') and \
                osp.realpath(url[len('file://'):]) == osp.realpath(REPO):
            return True
    return False


@pytest.fixture(scope='module', params=['editable', 'wheel'])
def install(request, tmp_path_factory) -> dict:
    """``pythonpath`` for mim's environment and where configs resolve."""
    if shutil.which('mim', path=osp.dirname(sys.executable)) is None:
        pytest.skip('openmim is not installed (requirements/tests.txt)')
    if request.param == 'editable':
        if not editable_from_checkout():
            pytest.skip('hvpt_mm is not installed editable from this '
                        'checkout (make setup)')
        return dict(pythonpath=None, configs=osp.join(REPO, 'configs'))
    site_dir = install_wheel(str(tmp_path_factory.getbasetemp() / 'wheel'))
    return dict(pythonpath=site_dir,
                configs=osp.join(site_dir, 'hvpt_mm', '.mim', 'configs'))


def mim(args: List[str], pythonpath: Optional[str], cwd: str) -> str:
    """Run ``mim ARGS`` outside the checkout, ``pythonpath`` first."""
    cmd = [osp.join(osp.dirname(sys.executable), 'mim'), *args]
    proc = subprocess.run(cmd, cwd=cwd, env=outside_checkout_env(pythonpath),
                          capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(cmd)}:\n{out[-6000:]}'
    return out


def test_mim_train_pretrain_config(install, imagenet_root, tmp_path):
    work = tmp_path / 'work'
    out = mim(['train', 'hvpt_mm', 'hvpt_swin-b.py', '--work-dir',
               str(work), '--cfg-options',
               *tiny_pretrain_options(imagenet_root),
               'train_cfg.max_epochs=1'], install['pythonpath'],
              str(tmp_path))
    found = osp.join(install['configs'], 'pretrain', 'hvpt_swin-b.py')
    assert f'will use {found} instead' in out
    assert 'loss_mim' in out and 'loss_con' in out and 'loss_mlc' in out
    assert (work / 'epoch_1.pth').is_file()


def test_mim_test_downstream_config(install, imagenet_root, tmp_path):
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
               'test_evaluator.topk=[1]'], install['pythonpath'],
              str(tmp_path))
    found = osp.join(install['configs'], 'classification', FINETUNE)
    assert f'will use {found} instead' in out
    assert 'accuracy/top1' in out
