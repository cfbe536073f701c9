# Copyright (c) hvpt_mm authors. All rights reserved.
"""Transfer evaluation: k-NN accuracy of frozen features."""
from .knn import knn_accuracy, knn_scores

__all__ = ['knn_accuracy', 'knn_scores']
