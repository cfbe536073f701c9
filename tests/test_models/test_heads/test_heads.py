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


def test_contrastive_head_is_scaled_infonce():
    """The loss is MoCo v3's InfoNCE, computed here by hand.

    Catches a wrong temperature, un-normalised predictions or keys, the
    positive off the diagonal, or a missing ``2 * temperature`` factor.
    """
    tau = 0.2
    head = MODELS.build(dict(
        type='HVPTContrastiveHead', temperature=tau,
        predictor=dict(type='NonLinearNeck', in_channels=16, hid_channels=32,
                       out_channels=16, num_layers=2, with_avg_pool=False)))
    q, k = torch.randn(6, 16), torch.randn(6, 16)
    out = head.loss(q, k)
    pred = head.predictor([q])[0]
    pred = pred / pred.norm(dim=1, keepdim=True)
    key = k / k.norm(dim=1, keepdim=True)
    log_p = torch.log_softmax(pred @ key.t() / tau, dim=1)
    ref = -log_p.diagonal().mean() * 2 * tau
    assert torch.allclose(out['loss'], ref, atol=1e-6)
    acc = (log_p.argmax(1) == torch.arange(6)).float().mean() * 100
    assert out['acc'].item() == pytest.approx(acc.item())


def _mim_head():
    return MODELS.build(dict(
        type='HVPTSimMIMHead', patch_size=4,
        loss=dict(type='PixelReconstructionLoss', criterion='L1',
                  channel=3)))


def _mim_batch():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(2, 3, 8, 8, generator=g, requires_grad=True)
    target = torch.randn(2, 3, 8, 8, generator=g)
    mask = torch.tensor([[[1, 0], [0, 0]], [[0, 1], [1, 0]]])  # 3 cells
    return pred, target, mask


def test_mim_head_matches_hand_computation():
    """Mean L1 over the masked pixels and channels of the batch.

    Catches a mask expanded to the wrong pixels, unmasked pixels counted,
    or a normaliser other than masked pixels x channels.
    """
    pred, target, mask = _mim_batch()
    loss = _mim_head().loss(pred, target, mask)
    err = (pred - target).abs().detach()
    # Cells of 4 x 4 pixels: (0, 0) of image 0, (0, 1), (1, 0) of image 1.
    total = (err[0, :, :4, :4].sum() + err[1, :, :4, 4:].sum() +
             err[1, :, 4:, :4].sum())
    assert torch.allclose(loss, total / (3 * 16 * 3), atol=1e-6)
    # One process: the same as mmpretrain's SimMIMHead.
    ref = MODELS.build(dict(
        type='SimMIMHead', patch_size=4,
        loss=dict(type='PixelReconstructionLoss', criterion='L1',
                  channel=3))).loss(pred, target, mask)
    assert torch.allclose(loss, ref, atol=1e-6)


def test_mim_head_without_masked_pixels_is_zero_in_graph():
    """Nothing masked: 0 with a zero gradient, not 0 / 0 = NaN."""
    pred, target, mask = _mim_batch()
    loss = _mim_head().loss(pred, target, torch.zeros_like(mask))
    assert loss.item() == 0
    loss.backward()
    assert pred.grad is not None and pred.grad.abs().sum() == 0


def test_mim_head_divides_by_the_mean_count_of_all_processes(monkeypatch):
    """The normaliser is the masked count averaged over processes.

    Another process holding 5 masked cells when this one holds 3: the mean
    is 4 cells, whatever this process holds, and the count is reduced even
    by a process without a masked cell (else the others would hang). Catches
    the local count (mmpretrain's SimMIMHead) and a skipped collective.
    """
    from hvpt_mm.models.heads import simmim_head
    calls = []

    def all_reduce(count, op):
        calls.append((count.item(), op))
        count.copy_((count + 5 * 16) / 2)  # the other process: 5 cells

    monkeypatch.setattr(simmim_head, 'get_world_size', lambda: 2)
    monkeypatch.setattr(simmim_head, 'all_reduce', all_reduce)
    pred, target, mask = _mim_batch()
    loss = _mim_head().loss(pred, target, mask)
    masked = (pred - target).abs().detach() * mask.repeat_interleave(
        4, 1).repeat_interleave(4, 2)[:, None]
    assert torch.allclose(loss, masked.sum() / (4 * 16 * 3), atol=1e-6)
    assert calls == [(3 * 16, 'mean')]
    # A process without a masked cell joins the reduction; its loss is 0.
    empty = _mim_head().loss(pred, target, torch.zeros_like(mask))
    assert len(calls) == 2 and calls[1][0] == 0
    assert empty.item() == 0 and empty.requires_grad


def test_mim_head_needs_a_pixel_loss():
    with pytest.raises(TypeError, match='penalty'):
        MODELS.build(dict(type='HVPTSimMIMHead', patch_size=4,
                          loss=dict(type='CrossEntropyLoss')))
