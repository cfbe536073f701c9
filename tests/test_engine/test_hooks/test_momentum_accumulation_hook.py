# Copyright (c) hvpt_mm authors. All rights reserved.
"""The momentum encoder steps once per optimizer step under accumulation."""
import argparse
import math

import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from _helpers.tiny import PRETRAIN_CONFIG, epoch_options, tiny_pretrain_options

EPOCHS = 3
ITERS = 3 * EPOCHS  # 12 images, batch 4: 3 micro-batches per epoch


def _runner(work_dir, data_root, counts):
    # The same --cfg-options parsing as tools/train.py.
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(['--cfg-options'] + tiny_pretrain_options(
        data_root) + epoch_options(EPOCHS) + [
            f'optim_wrapper.accumulative_counts={counts}',
            'optim_wrapper.type=OptimWrapper',
        ])
    cfg = Config.fromfile(PRETRAIN_CONFIG)
    cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = str(work_dir)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1)
    # A constant lr large enough that each step moves the online weights
    # far from their average: the EMA formula is then checked to 1e-6
    # against moves of about 1e-2.
    cfg.optim_wrapper.optimizer.lr = 1e-2
    cfg.auto_scale_lr = dict(enable=False)
    cfg.param_scheduler = []
    return Runner.from_cfg(cfg)


def _params(named) -> dict:
    return {k: p.detach().clone() for k, p in named}


@pytest.mark.parametrize('counts', [1, 3])
def test_one_average_per_optimizer_step(tmp_path, imagenet_root, counts):
    """Each forward updates the momentum encoder through
    ``update_parameters``; recorded around every call, its weights must
    change exactly on the first micro-batch after each optimizer step (the
    first forward that sees new online weights), by the EMA formula applied
    once with CosineEMA's momentum at that iteration, and stay put on the
    other micro-batches. The bugs: averaging every micro-batch (the
    encoder moves ``counts`` times too fast, on stale weights), averaging
    on the last micro-batch of a window (before the step), or a momentum
    off the per-iteration cosine schedule."""
    runner = _runner(tmp_path / f'acc{counts}', imagenet_root, counts)
    ema = runner.model.momentum_encoder
    calls = []
    update = ema.update_parameters

    def recording(model):
        steps, src = int(ema.steps), _params(model.named_parameters())
        before = _params(ema.avg_parameters.items())
        update(model)
        calls.append((steps, src, before,
                      _params(ema.avg_parameters.items())))

    ema.update_parameters = recording
    runner.train()
    assert runner.max_iters == len(calls) == ITERS

    def same(a, b):
        return all(torch.equal(a[k], b[k]) for k in a)

    # The optimizer steps after micro-batches counts-1, 2*counts-1, ...:
    # the online weights are new on micro-batches counts, 2*counts, ...
    expected = list(range(counts, ITERS, counts))
    new_online = [s for s in range(1, ITERS)
                  if not same(calls[s][1], calls[s - 1][1])]
    moved = [s for s in range(1, ITERS)
             if not same(calls[s][2], calls[s][3])]
    assert new_online == expected
    assert moved == expected
    assert ema.interval == counts
    steps, src, _, after = calls[0]
    assert same(after, src)  # the first call copies the online weights
    for s in expected:
        _, src, before, after = calls[s]
        assert max((src[k] - before[k]).abs().max() for k in src) > 1e-3
        # CosineEMA: momentum 0.01 at iteration 0, cosine to 0 at the end.
        m = 0.01 * (math.cos(math.pi * s / ITERS) + 1) / 2
        for k in before:
            want = (1 - m) * before[k].double() + m * src[k].double()
            torch.testing.assert_close(after[k].double(), want, rtol=0,
                                       atol=1e-6)
