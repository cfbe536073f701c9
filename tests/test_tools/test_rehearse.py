# Copyright (c) hvpt_mm authors. All rights reserved.
"""tools/rehearse.py: the documented GPU path, end to end, on the CPU."""
import glob
import re

import pytest

from test_transfer.hvpt_transfer_utils import (  # noqa: I001
    assert_backbone_loaded, backbone_state)
from _helpers.tiny import run_tool

# The three transfers of the brief (the linear probe, the fourth, is
# rehearsed by tools/rehearse.py's default and tested through the driver in
# tests/test_transfer/test_transfer_driver.py).
TASKS = ['finetune', 'detection', 'segmentation']
RUNS = {
    # task: (config name, checkpoint it leaves, images per update, base)
    'finetune': ('swin-base-w7_hvpt-pre_8xb256-coslr-100e_in1k',
                 'epoch_1.pth', 4, 2048),
    'linear': ('swin-base_hvpt-pre_8xb128-linear-coslr-90e_in1k',
               'epoch_1.pth', 4, 1024),
    'detection': ('mask-rcnn_swin-b-p4-w7-hvpt-pre_fpn_1x_coco',
                  'epoch_1.pth', 2, 16),
    'segmentation': ('swin-base-patch4-window12-hvpt-pre_upernet_'
                     '8xb2-160k_ade20k-512x512', 'iter_4.pth', 2, 16),
}


def _ratios(log: str):
    """The lr factors the runs logged (HVPTRunner.scale_lr)."""
    with open(log) as f:
        return [float(x) for x in re.findall(r'lr x ([0-9.e-]+)', f.read())]


def test_rehearsal(tmp_path):
    """Pre-training on 2 processes through dist_train.sh, extraction and
    the four transfers through tools/transfer.py, each a few iterations.

    Catches: any break along the documented path (a config key the
    --cfg-options no longer reach, a transfer that cannot load the
    backbone, a distributed launch that no longer starts on the CPU), a
    transfer trained from another backbone than the pre-training's, and
    an lr that does not follow the batch that runs.
    """
    work = tmp_path / 'rehearsal'
    proc = run_tool(['tools/rehearse.py', '--work-dir', str(work),
                     '--tasks', *TASKS], timeout=900)
    assert 'rehearsal passed' in proc.stdout
    pretrain = work / 'work_dirs' / 'hvpt_swin-b'
    logs = work / 'logs'
    # Two processes of 2 images: 4 of the recipe's 2048 per step.
    with open(logs / 'pretrain.log') as f:
        text = f.read()
    assert '2 process(es) x 2 images' in text
    assert _ratios(logs / 'pretrain.log') == pytest.approx([4 / 2048],
                                                         rel=1e-5)
    assert (pretrain / 'epoch_1.pth').is_file()
    assert (pretrain / 'backbone.pth').is_file()

    ratios = _ratios(logs / 'transfer.log')
    assert ratios == pytest.approx(
        [RUNS[t][2] / RUNS[t][3] for t in TASKS], rel=1e-5)
    with open(logs / 'transfer.log') as f:
        text = f.read()
    # Every transfer loads this pre-training's extracted backbone.
    loads = re.findall(r'load backbone\. in model from: (\S+)', text)
    assert loads == [str(pretrain / 'backbone.pth')] * len(TASKS)
    for task in TASKS:
        name, ckpt, _, _ = RUNS[task]
        assert (pretrain / name / ckpt).is_file(), task
        assert glob.glob(str(pretrain / name / '*' / '*.log')), task
    # The backbone file is this pre-training's (extracted, not stale).
    pretrained = backbone_state(str(pretrain / 'epoch_1.pth'))
    pretrained.pop('mask_token')
    assert_backbone_loaded(backbone_state(str(pretrain / 'backbone.pth')),
                           pretrained)
