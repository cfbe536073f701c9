# Copyright (c) hvpt_mm authors. All rights reserved.
"""Two CPU processes (gloo DDP) on B images each equal one process on 2B.

Losses (mean over ranks), gradients (DDP's average) and the contrastive
logits are compared with one process on the whole batch; see
``hvpt_ddp_check`` for the conditions (GroupNorm instead of BN in the
projector / predictor). Two cases: every online view masked alike, and
views left clean so that the processes hold different masked counts (1
masked view on rank 0, 3 on rank 1).
"""
import os.path as osp

import pytest
import torch
import torch.multiprocessing as mp

from mmpretrain.registry import MODELS
from test_reliability import hvpt_ddp_check as check  # noqa: I001

WORLD = 2


@pytest.fixture(scope='module')
def spawned(tmp_path_factory):
    """Both processes run one step of every case; the saved state."""
    tmp = tmp_path_factory.mktemp('ddp')
    state_path = str(tmp / 'state.pth')
    torch.manual_seed(0)
    model = MODELS.build(check.model_cfg())
    model.init_weights()
    torch.save(model.state_dict(), state_path)
    # A file rendezvous: no port to pick.
    mp.spawn(check.rank_main, nprocs=WORLD, join=True,
             args=(WORLD, str(tmp / 'rendezvous'), state_path, str(tmp)))
    return tmp, state_path


@pytest.fixture(scope='module', params=list(check.MASKED))
def results(request, spawned):
    case, (tmp, state_path) = request.param, spawned
    ranks = [torch.load(osp.join(tmp, f'rank{r}_{case}.pth'),
                        weights_only=False) for r in range(WORLD)]
    # The reference: this process (not distributed) on all 2B images.
    model = check.build(state_path)
    ref = check.forward_backward(model, model, *check.double_batch(case))
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


def test_unequal_masked_counts_discriminate(spawned):
    """The 'unequal' batch tells a global from a per-process normaliser.

    The mean of the two halves' loss_mim, each averaged over its own masked
    pixels (what mmpretrain's SimMIMHead gives under DDP), is not the loss
    of the whole batch, so the equivalence above fails with that head.
    """
    views, samples = check.double_batch('unequal')
    b = check.PER_RANK
    masked = [sum(int(ds.mask.any()) for ds in samples[r * b:(r + 1) * b])
              for r in range(WORLD)]
    assert masked == [1, 3]
    model = check.build(spawned[1])
    whole = model(views, samples, mode='loss')['loss_mim']
    halves = [model([v[r * b:(r + 1) * b] for v in views],
                    samples[r * b:(r + 1) * b], mode='loss')['loss_mim']
              for r in range(WORLD)]
    assert not torch.allclose(sum(halves) / WORLD, whole, rtol=1e-3)


def test_mim_decoder_gradients_match(results):
    """Only loss_mim reaches the decoder: its gradient is DDP-exact, also
    with different masked counts per process."""
    ref, ranks = results
    names = [n for n in ref['grads'] if n.startswith('neck.')]
    assert names and any(ref['grads'][n].abs().sum() > 0 for n in names)
    for name in names:
        for r in ranks:
            torch.testing.assert_close(r['grads'][name], ref['grads'][name],
                                       rtol=1e-5, atol=1e-7, msg=name)
