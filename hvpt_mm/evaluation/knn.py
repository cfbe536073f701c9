# Copyright (c) hvpt_mm authors. All rights reserved.
"""Weighted k-NN classification of frozen features, as in DINO.

`DINO <https://arxiv.org/abs/2104.14294>`_ (``eval_knn.py``) classifies
each query by its ``k`` most cosine-similar training features, each
neighbour voting for its label with weight ``exp(similarity / T)``.
"""
from typing import Dict, Sequence

import torch
import torch.nn.functional as F


@torch.no_grad()
def knn_scores(train_feats: torch.Tensor,
               train_labels: torch.Tensor,
               query_feats: torch.Tensor,
               num_classes: int,
               k: int = 20,
               temperature: float = 0.07,
               chunk_size: int = 256) -> torch.Tensor:
    """Class scores of queries by temperature-weighted k-NN voting.

    Args:
        train_feats (Tensor): ``[N, C]`` features of the training set; they
            are L2-normalised here.
        train_labels (Tensor): ``[N]`` integer labels.
        query_feats (Tensor): ``[Q, C]`` features to classify; L2-normalised
            here.
        num_classes (int): Number of classes.
        k (int): Number of neighbours; clipped to ``N``. Defaults to 20.
        temperature (float): Temperature of the vote weights
            ``exp(cos / T)``. Defaults to 0.07.
        chunk_size (int): Queries per similarity matrix, to bound memory.
            Defaults to 256.

    Returns:
        Tensor: ``[Q, num_classes]`` summed vote weights.
    """
    if train_feats.size(0) != train_labels.numel():
        raise ValueError(f'{train_feats.size(0)} training features but '
                         f'{train_labels.numel()} labels')
    if train_labels.numel() == 0:
        raise ValueError('k-NN needs at least one training feature')
    k = min(k, train_feats.size(0))
    train_feats = F.normalize(train_feats.float(), dim=1)
    query_feats = F.normalize(query_feats.float(), dim=1)
    train_labels = train_labels.long().to(train_feats.device)
    scores = []
    for start in range(0, query_feats.size(0), chunk_size):
        query = query_feats[start:start + chunk_size]  # [q, C]
        sim = query @ train_feats.t()  # [q, N]
        top_sim, top_idx = sim.topk(k, dim=1)  # [q, k]
        neighbours = train_labels[top_idx]  # [q, k]
        weights = (top_sim / temperature).exp()  # [q, k]
        votes = torch.zeros(query.size(0), num_classes, device=query.device)
        votes.scatter_add_(1, neighbours, weights)  # [q, num_classes]
        scores.append(votes)
    if not scores:
        return query_feats.new_zeros(0, num_classes)
    return torch.cat(scores)


@torch.no_grad()
def knn_accuracy(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    val_feats: torch.Tensor,
    val_labels: torch.Tensor,
    num_classes: int,
    ks: Sequence[int] = (10, 20, 100, 200),
    temperature: float = 0.07,
    topk: Sequence[int] = (1, 5)
) -> Dict[str, Dict[str, float]]:
    """Top-k accuracy (%) of weighted k-NN for several ``k``.

    Args:
        train_feats (Tensor): ``[N, C]`` training features.
        train_labels (Tensor): ``[N]`` training labels.
        val_feats (Tensor): ``[Q, C]`` validation features.
        val_labels (Tensor): ``[Q]`` validation labels.
        num_classes (int): Number of classes.
        ks (Sequence[int]): Neighbour counts to evaluate.
            Defaults to ``(10, 20, 100, 200)`` as DINO.
        temperature (float): Vote temperature. Defaults to 0.07.
        topk (Sequence[int]): Accuracies to report; a ``k`` above
            ``num_classes`` is clipped. Defaults to ``(1, 5)``.

    Returns:
        dict[str, dict[str, float]]: e.g. ``{'k=20': {'top1': 71.2,
        'top5': 89.0}}``.
    """
    val_labels = val_labels.long().to(val_feats.device)
    if val_labels.numel() == 0:
        raise ValueError('k-NN accuracy needs at least one validation sample')
    results = {}
    for k in ks:
        scores = knn_scores(
            train_feats,
            train_labels,
            val_feats,
            num_classes,
            k=k,
            temperature=temperature)
        ranked = scores.argsort(dim=1, descending=True)  # [Q, num_classes]
        hits = ranked == val_labels[:, None]
        results[f'k={k}'] = {
            f'top{t}':
            hits[:, :min(t, num_classes)].any(1).float().mean().item() * 100.
            for t in topk
        }
    return results
