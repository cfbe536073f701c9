# Copyright (c) hvpt_mm authors. All rights reserved.
"""Two CPU processes (gloo DDP) on B images each equal one process on 2B.

Losses (mean over ranks), gradients (DDP's average) and the contrastive
logits are compared with one process on the whole batch; see
``hvpt_ddp_check`` for the conditions (GroupNorm instead of BN in the
projector / predictor, a fixed masked count per image).
"""
import os.path as osp

import pytest
import torch
import torch.multiprocessing as mp

from mmpretrain.registry import MODELS
from test_reliability import hvpt_ddp_check as check  # noqa: I001

WORLD = 2


@pytest.fixture(scope='module')
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('ddp')
    state_path = str(tmp / 'state.pth')
    torch.manual_seed(0)
    model = MODELS.build(check.model_cfg())
    model.init_weights()
    torch.save(model.state_dict(), state_path)

    mp.spawn(check.rank_main, nprocs=WORLD, join=True,
             args=(WORLD, str(tmp / 'rendezvous'), state_path, str(tmp)))
    ranks = [torch.load(osp.join(tmp, f'rank{r}.pth'), weights_only=False)
             for r in range(WORLD)]
    # The reference: this process (not distributed) on all 2B images.
    model = check.build(state_path)
    ref = check.forward_backward(model, model, *check.double_batch())
    return ref, ranks


@pytest.mark.parametrize('key', check.LOSS_KEYS)
def test_losses_match_one_process(results, key):
    ref, ranks = results
    mean = sum(r['losses'][key] for r in ranks) / WORLD
    torch.testing.assert_close(mean, ref['losses'][key], rtol=1e-5,
                               atol=1e-6)


def test_gradients_match_one_process(results):
    ref, ranks = results
    assert ranks[0]['grads'].keys() == ref['grads'].keys()
    # DDP leaves the same averaged gradients on every rank.
    for name, grad in ref['grads'].items():
        for r in ranks:
            torch.testing.assert_close(r['grads'][name], grad, rtol=1e-4,
                                       atol=1e-6, msg=name)
    # Every signal reaches its modules (no gradient is trivially zero).
    for prefix in ('backbone.', 'neck.', 'con_neck.', 'con_head.',
                   'mlc_head.'):
        assert any(g.abs().sum() > 0 for n, g in ref['grads'].items()
                   if n.startswith(prefix)), prefix


def test_contrastive_negatives_from_both_processes(results):
    ref, ranks = results
    b = check.PER_RANK
    for rank, r in enumerate(ranks):
        # B queries against the keys of both processes: 2B columns, the
        # positive of query i at column i + rank * B.
        assert r['logits'].shape == (b, WORLD * b)
        assert torch.equal(r['labels'], torch.arange(b) + rank * b)
        torch.testing.assert_close(
            r['logits'], ref['logits'][rank * b:(rank + 1) * b],
            rtol=1e-5, atol=1e-5)
