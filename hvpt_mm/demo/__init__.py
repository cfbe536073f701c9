# Copyright (c) hvpt_mm authors. All rights reserved.
"""The CPU demo and its benchmark (not imported by ``import hvpt_mm``)."""
from .pipeline import (COLUMNS, PRETRAIN_CONFIGS, TRANSFERS, Budget,
                       add_test_metrics, evaluate_test_split, run_pipeline,
                       run_stage)
from .report import (markdown_table, mean_spread, plot_loss_curves,
                     signal_summary, summary_markdown, val_images)

__all__ = [
    'COLUMNS', 'PRETRAIN_CONFIGS', 'TRANSFERS', 'Budget', 'add_test_metrics',
    'evaluate_test_split', 'run_pipeline', 'run_stage', 'markdown_table',
    'mean_spread', 'plot_loss_curves', 'signal_summary', 'summary_markdown',
    'val_images'
]
