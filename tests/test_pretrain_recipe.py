# Copyright (c) hvpt_mm authors. All rights reserved.
"""What every pre-training config must carry for the signals to train."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRETRAIN = sorted(
    glob.glob(osp.join(REPO, 'configs', 'pretrain', '*.py')) +
    glob.glob(osp.join(REPO, 'configs', 'demo', 'hvpt_*.py')))


def _id(path):
    return osp.relpath(path, osp.join(REPO, 'configs'))


@pytest.mark.parametrize('path', PRETRAIN, ids=_id)
def test_pretrain_config_recipe(path):
    cfg = Config.fromfile(path)
    # A short last batch: few negatives, BatchNorm on one sample.
    assert cfg.train_dataloader.get('drop_last') is True
    hooks = [h['type'] for h in cfg.custom_hooks]
    assert 'HVPTMomentumAccumulationHook' in hooks
    weights = dict(mim=1., con=1., mlc=1.)
    weights.update(cfg.model.get('loss_weights', {}))
    if weights['mlc']:
        # Without it the summed BCE starts at num_classes * ln 2.
        assert 0 < cfg.model.mlc_head.init_prior < 1
    assert cfg.model.grad_norm_interval > 0


def test_loader_drops_short_last_batch(imagenet_root):
    """12 images in batches of 5: two full batches, no batch of 2."""
    cfg = Config.fromfile(osp.join(REPO, 'configs/pretrain/hvpt_swin-b.py'))
    loader_cfg = cfg.train_dataloader
    loader_cfg.update(batch_size=5, num_workers=0, persistent_workers=False,
                      pin_memory=False)
    loader_cfg.dataset.data_root = imagenet_root
    loader_cfg.dataset.pipeline[1].num_classes = 3
    loader_cfg.dataset.pipeline[1].input_size = 32
    loader_cfg.dataset.pipeline[1].mask_generator = None
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    loader = Runner.build_dataloader(loader_cfg.to_dict(), seed=0)
    sizes = [len(batch['data_samples']) for batch in loader]
    assert sizes == [5, 5]
