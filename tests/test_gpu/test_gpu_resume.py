# Copyright (c) hvpt_mm authors. All rights reserved.
"""The AMP loss scaler through a checkpoint and ``tools/train.py --resume``.

The main pre-training config (``AmpOptimWrapper``) shrunk by
``--cfg-options``; the scaler grows every step (``growth_interval=1``), so
its scale says how many steps it has seen.
"""
import os.path as osp

import torch

from _helpers.tiny import (epoch_options, run_tool, tiny_pretrain_options,
                           write_config)
from test_gpu.hvpt_gpu_utils import GPU, gpu_state

pytestmark = GPU

INIT_SCALE = 16.
# 3 iterations per epoch; a scale that doubles each of them stays far
# below fp16 overflow in 6 steps.
SCALER = [f'optim_wrapper.loss_scale.init_scale={INIT_SCALE}',
          'optim_wrapper.loss_scale.growth_interval=1']


def _saved_scaler(path: str) -> dict:
    ckpt = torch.load(path, map_location='cpu', weights_only=False)
    return ckpt['optimizer']['loss_scaler']


def test_grad_scaler_state_through_resume(tmp_path, imagenet_root):
    config = write_config(str(tmp_path / 'amp.py'),
                          [dict(type='RecordGPUStateHook')])
    work = str(tmp_path / 'work')
    train = ['tools/train.py', config, '--work-dir', work]
    opts = ['--cfg-options'] + tiny_pretrain_options(imagenet_root) + \
        SCALER + epoch_options(2)

    # Epoch 1 of 2, then --resume for epoch 2.
    run_tool(train + opts + ['train_cfg.max_epochs=1'])
    start = gpu_state(work)[0]
    assert start['optim_wrapper'] == 'AmpOptimWrapper'
    assert start['device'].startswith('cuda')
    assert start['loss_scaler']['scale'] == INIT_SCALE
    saved = _saved_scaler(osp.join(work, 'epoch_1.pth'))
    # Every step went through and doubled the scale.
    assert saved['scale'] == INIT_SCALE * 2**3
    assert saved['growth_interval'] == 1

    run_tool(train + ['--resume'] + opts)
    starts = [s for s in gpu_state(work) if s['event'] == 'before_train']
    assert len(starts) == 2 and starts[1]['iter'] == 3
    # The resumed scaler starts where epoch 1 saved it, not from scratch.
    assert starts[1]['loss_scaler'] == saved
    assert _saved_scaler(osp.join(work, 'epoch_2.pth'))['scale'] == \
        INIT_SCALE * 2**6
