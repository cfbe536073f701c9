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
    opts = tiny_pretrain_options(imagenet_root) + SCALER
    full, part = str(tmp_path / 'full'), str(tmp_path / 'part')
    train = ['tools/train.py', config, '--cfg-options']

    # Two epochs at once.
    run_tool(train + opts + epoch_options(2) + ['--work-dir', full])
    start = gpu_state(full)[0]
    assert start['optim_wrapper'] == 'AmpOptimWrapper'
    assert start['device'].startswith('cuda')
    assert start['loss_scaler']['scale'] == INIT_SCALE
    ends = [_saved_scaler(osp.join(full, f'epoch_{e}.pth')) for e in (1, 2)]
    # Every step went through and grew the scale.
    assert ends[0]['scale'] == INIT_SCALE * 2**3
    assert ends[1]['scale'] == INIT_SCALE * 2**6

    # Epoch 1 in another work dir, then --resume for epoch 2.
    run_tool(train + opts + epoch_options(2) + [
        'train_cfg.max_epochs=1', '--work-dir', part])
    assert _saved_scaler(osp.join(part, 'epoch_1.pth')) == ends[0]
    run_tool(train + opts + epoch_options(2) + ['--work-dir', part,
                                                '--resume'])
    resumed = [s for s in gpu_state(part) if s['event'] == 'before_train']
    assert len(resumed) == 2
    # The resumed scaler starts where epoch 1 saved it, not from scratch.
    assert resumed[1]['iter'] == 3
    assert resumed[1]['loss_scaler'] == ends[0]
    assert _saved_scaler(osp.join(part, 'epoch_2.pth')) == ends[1]
