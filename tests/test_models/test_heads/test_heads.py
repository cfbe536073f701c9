# Copyright (c) hvpt_mm authors. All rights reserved.
import math

import pytest
import torch

from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


def _samples(scores, flags):
    out = []
    for s, f in zip(scores, flags):
        ds = DataSample().set_gt_score(torch.tensor(s, dtype=torch.float))
        ds.set_field(f, 'has_label')
        out.append(ds)
    return out


def _mlc(**kw):
    return MODELS.build(dict(type='HVPTMultiLabelHead', num_classes=3,
                             in_channels=8, **kw))


def test_mlc_averages_over_labelled_only():
    head = _mlc()
    feats = (torch.randn(4, 8), )
    scores = [[1, 0, 0], [0, 1, 1], [0, 0, 0], [1, 1, 0]]
    out = head.loss(feats, _samples(scores, [True, False, True, False]))
    logits = head(feats)[[0, 2]]
    target = torch.tensor([scores[0], scores[2]], dtype=torch.float)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, target, reduction='sum') / 2
    assert torch.allclose(out['loss'], ref, atol=1e-6)
    assert out['labelled'].item() == 2
    assert 0 <= out['map'].item() <= 100


def test_mlc_no_labels_is_zero_not_nan():
    head = _mlc()
    feats = (torch.randn(2, 8, requires_grad=True), )
    out = head.loss(feats, _samples([[0, 0, 0]] * 2, [False, False]))
    assert out['loss'].item() == 0 and not torch.isnan(out['loss'])
    out['loss'].backward()  # still in the graph (DDP needs every param)
    assert head.fc.weight.grad is not None


def test_mlc_asymmetric_loss():
    head = _mlc(loss=dict(type='AsymmetricLoss', gamma_pos=0., gamma_neg=4.,
                          clip=0.05))
    out = head.loss((torch.randn(3, 8), ),
                    _samples([[1, 0, 0], [0, 1, 0], [0, 0, 1]], [True] * 3))
    assert torch.isfinite(out['loss']) and out['loss'] > 0


def test_mlc_wrong_class_count_names_sample():
    head = _mlc()
    ds = DataSample(metainfo=dict(img_path='a.png')).set_gt_score(
        torch.ones(5))
    ds.set_field(True, 'has_label')
    with pytest.raises(ValueError, match='a.png.*5 classes.*3'):
        head.loss((torch.randn(1, 8), ), [ds])


def test_contrastive_head():
    head = MODELS.build(dict(
        type='HVPTContrastiveHead', temperature=0.2,
        predictor=dict(type='NonLinearNeck', in_channels=16, hid_channels=32,
                       out_channels=16, num_layers=2, with_avg_pool=False)))
    q = torch.randn(6, 16, requires_grad=True)
    k = torch.randn(6, 16)
    out = head.loss(q, k)
    assert torch.isfinite(out['loss']) and 0 <= out['acc'] <= 100
    out['loss'].backward()
    assert q.grad.abs().sum() > 0
    # MoCo v3 scaling: CE * 2 * temperature by default.
    assert head.loss_module.loss_weight == pytest.approx(0.4)


def test_mlc_prior_init_brings_the_loss_to_the_prior_entropy():
    """With 1000 classes a zero bias starts the summed BCE at 1000 ln 2."""
    torch.manual_seed(0)
    k, p = 1000, 1e-3
    feats = (torch.randn(8, 8), )
    targets = torch.zeros(8, k)
    targets[torch.arange(8), torch.arange(8)] = 1
    samples = _samples(targets.tolist(), [True] * 8)
    plain = MODELS.build(dict(type='HVPTMultiLabelHead', num_classes=k,
                              in_channels=8))
    plain.init_weights()
    prior = MODELS.build(dict(type='HVPTMultiLabelHead', num_classes=k,
                              in_channels=8, init_prior=p))
    prior.init_weights()
    assert plain.loss(feats, samples)['loss'].item() > 600
    entropy = -k * (p * math.log(p) + (1 - p) * math.log(1 - p))
    loss = prior.loss(feats, samples)['loss'].item()
    assert abs(loss - entropy) < 0.1 * entropy
    assert torch.allclose(torch.sigmoid(prior.fc.bias), torch.tensor(p))


@pytest.mark.parametrize('bad', [0., 1., -0.1, 1.5])
def test_mlc_prior_out_of_range(bad):
    with pytest.raises(ValueError, match='init_prior'):
        _mlc(init_prior=bad)
