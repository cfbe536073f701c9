# Copyright (c) hvpt_mm authors. All rights reserved.
"""HVPTNonFiniteLossHook on one process with a toy model.

The multi-process decision is tested in
tests/test_reliability/test_nonfinite_ddp.py.
"""
import copy
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from torch import nn

from hvpt_mm.engine.hooks import HVPTNonFiniteLossHook


class Toy(BaseModel):
    """Two loss terms, each scaled by a factor carried by the batch."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(2, 1)
        self.b = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode != 'loss':
            return self.a(inputs)
        return dict(
            loss_a=self.a(inputs).pow(2).mean() * data_samples['scale_a'],
            loss_b=[self.b(inputs).abs().mean() * data_samples['scale_b']],
            acc=torch.tensor(float('nan')))  # not a loss: never checked


def _batch(scale_a=1., scale_b=1.):
    return dict(inputs=torch.ones(4, 2),
                data_samples=dict(scale_a=torch.tensor(scale_a),
                                  scale_b=torch.tensor(scale_b)))


def _train(policy, batches, device='cpu', wrapper=OptimWrapper, **kwargs):
    """Run the hook through a minimal loop; snapshots after each step."""
    torch.manual_seed(0)
    model = Toy().to(device)
    optim = wrapper(optimizer=torch.optim.AdamW(model.parameters(), lr=0.1,
                                                weight_decay=0.05), **kwargs)
    hub = MessageHub.get_instance(f'nonfinite-{policy}-{id(model)}')
    runner = SimpleNamespace(model=model, optim_wrapper=optim,
                             message_hub=hub, iter=0, epoch=0)
    hook = HVPTNonFiniteLossHook(policy)
    hook.before_train(runner)
    states = []
    try:
        for i, batch in enumerate(batches):
            runner.iter = i
            batch = {k: (v.to(device) if torch.is_tensor(v) else
                         {n: t.to(device) for n, t in v.items()})
                     for k, v in batch.items()}
            hook.before_train_iter(runner, i)
            out = model.train_step(batch, optim)
            hook.after_train_iter(runner, i, outputs=out)
            states.append((copy.deepcopy(model.state_dict()),
                           copy.deepcopy(optim.optimizer.state_dict())))
    finally:
        hook.after_train(runner)
    return model, hook, hub, states


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _same_optim(a, b):
    return a['state'].keys() == b['state'].keys() and all(
        _same(a['state'][k], b['state'][k]) for k in a['state'])


@pytest.mark.parametrize('value', ['nan', 'inf'])
def test_raise_names_iteration_and_term(value):
    batches = [_batch(), _batch(scale_b=float(value)), _batch()]
    with pytest.raises(FloatingPointError) as e:
        _train('raise', batches)
    msg = str(e.value)
    assert 'iteration 2 (epoch 1)' in msg
    assert f'loss_b={float(value)} (rank 0)' in msg
    assert 'loss_a' not in msg and "policy='skip'" in msg


def test_raise_before_any_update():
    model, *_ = _train('raise', [_batch()])
    before = copy.deepcopy(model.state_dict())
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=1.))
    hook = HVPTNonFiniteLossHook('raise')
    runner = SimpleNamespace(model=model, optim_wrapper=optim, iter=0,
                             epoch=0, message_hub=None)
    hook.before_train(runner)
    with pytest.raises(FloatingPointError):
        model.train_step(_batch(scale_a=float('nan')), optim)
    assert _same(model.state_dict(), before)
    assert all(p.grad is None for p in model.parameters())


def check_skipped_steps(model, hook, hub, states) -> None:
    """Steps 2 and 4 of :func:`skip_batches` skipped, steps 1 and 3 made."""
    # Iterations 2 and 4 changed nothing: weights, AdamW moments, steps.
    for skipped in (1, 3):
        assert _same(states[skipped][0], states[skipped - 1][0])
        assert _same_optim(states[skipped][1], states[skipped - 1][1])
    assert not _same(states[2][0], states[1][0])
    steps = [s['step'] for s in states[-1][1]['state'].values()]
    assert all(int(s) == 2 for s in steps)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    # Counted in the log scalars and kept for a resume.
    assert list(hub.get_scalar('train/nonfinite_skips').data[0]) == [
        0, 1, 1, 2]
    assert hub.get_info('nonfinite_skips') == 2 and hook.skips == 2
    # The hooks are gone after training.
    assert not model._forward_hooks


def skip_batches():
    """A NaN term at iteration 2, an infinite one at iteration 4."""
    return [_batch(), _batch(scale_a=float('nan')), _batch(),
            _batch(scale_b=float('inf'))]


def test_skip_leaves_weights_and_optimizer_state():
    # The same under AMP on a GPU: tests/test_gpu/test_gpu_nonfinite.py.
    check_skipped_steps(*_train('skip', skip_batches()))


def test_skip_with_gradient_accumulation():
    """A bad micro-step drops the whole accumulated step."""
    batches = [_batch(), _batch(scale_b=float('nan')), _batch(), _batch()]
    _, _, hub, states = _train('skip', batches, accumulative_counts=2)
    assert _same(states[1][0], states[0][0])  # accumulating, no step yet
    steps = [s['step'] for s in states[-1][1]['state'].values()]
    assert all(int(s) == 1 for s in steps)  # step 1 dropped, step 2 made
    assert list(hub.get_scalar('train/nonfinite_skips').data[0]) == [
        0, 1, 1, 1]


def test_skip_count_survives_resume():
    _, hook, hub, _ = _train('skip', [_batch(scale_a=float('nan'))])
    resumed = HVPTNonFiniteLossHook('skip')
    model = Toy()
    resumed.before_train(SimpleNamespace(
        model=model, message_hub=hub,
        optim_wrapper=OptimWrapper(torch.optim.SGD(model.parameters(), 1.))))
    assert resumed.skips == 1


def test_bad_policy():
    with pytest.raises(ValueError, match='policy'):
        HVPTNonFiniteLossHook('ignore')
