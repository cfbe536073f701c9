# Copyright (c) hvpt_mm authors. All rights reserved.
"""The momentum encoder steps once per optimizer step under accumulation."""
import argparse
import os.path as osp

import pytest
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from _helpers.tiny import PRETRAIN_CONFIG, epoch_options, tiny_pretrain_options


def _runner(work_dir, data_root, counts):
    # The same --cfg-options parsing as tools/train.py.
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(['--cfg-options'] + tiny_pretrain_options(
        data_root) + epoch_options(1) + [
            f'optim_wrapper.accumulative_counts={counts}',
            'optim_wrapper.type=OptimWrapper',
        ])
    cfg = Config.fromfile(PRETRAIN_CONFIG)
    cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = str(work_dir)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1)
    return Runner.from_cfg(cfg)


@pytest.mark.parametrize('counts', [1, 3])
def test_one_average_per_optimizer_step(tmp_path, imagenet_root, counts):
    runner = _runner(tmp_path / f'acc{counts}', imagenet_root, counts)
    ema = runner.model.momentum_encoder
    averaged = []
    avg_func = ema.avg_func

    def counting(avg, src, steps):
        averaged.append(int(steps))
        avg_func(avg, src, steps)

    ema.avg_func = counting
    runner.train()  # 3 micro-batches (12 images, batch 4)
    assert int(ema.steps) == 3
    # The first call copies the weights; after it, one average per
    # optimizer step: every micro-batch without accumulation, none of the
    # 3 micro-batches of one accumulation window after the first.
    params = len(ema.avg_parameters)
    expected = [1, 2] if counts == 1 else []
    assert sorted(set(averaged)) == expected
    assert len(averaged) == params * len(expected)
    assert ema.interval == counts
    assert osp.isdir(tmp_path / f'acc{counts}')
