# Copyright (c) hvpt_mm authors. All rights reserved.
"""Report pieces of the demo: tables, loss curves, reconstruction grid."""
import glob
import json
import os.path as osp
import statistics
from typing import Dict, List, Optional, Sequence

# The transfers' metrics (the column names of ``pipeline.TRANSFERS``).
COLUMNS = ['linear mAP', 'box AP', 'mask AP', 'mIoU']
SIGNALS = ('loss_mim', 'loss_con', 'loss_mlc')
GRAD_NORMS = ('grad_norm_mim', 'grad_norm_con', 'grad_norm_mlc')


def markdown_table(rows: Sequence[Dict[str, object]],
                   columns: Sequence[str]) -> str:
    """A Markdown table; floats with 2 decimals, missing cells as '-'."""

    def cell(v: object) -> str:
        if isinstance(v, float):
            return f'{v:.2f}'
        return '-' if v is None else str(v)

    lines = ['| ' + ' | '.join(columns) + ' |',
             '|' + '|'.join(' --- ' for _ in columns) + '|']
    for row in rows:
        lines.append('| ' + ' | '.join(cell(row.get(c)) for c in columns) +
                     ' |')
    return '\n'.join(lines) + '\n'


def mean_spread(values: Sequence[float]) -> str:
    """``mean ± std`` over seeds; a single value is shown alone."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f'{mean:.2f}'
    return f'{mean:.2f} ± {statistics.stdev(values):.2f}'


def newest_log(work_dir: str, *pattern: str) -> str:
    """The newest file matching ``work_dir/<pattern...>`` (by timestamp).

    mmengine names each run's log folder by its start time, so the last
    match in sorted order belongs to the latest run in ``work_dir``.
    """
    files = sorted(glob.glob(osp.join(work_dir, *pattern)))
    if not files:
        raise FileNotFoundError(f'{work_dir}: no {"/".join(pattern)}')
    return files[-1]


def read_scalars(work_dir: str) -> List[dict]:
    """Training log records of a run (mmengine's ``scalars.json``)."""
    with open(newest_log(work_dir, '*', 'vis_data', 'scalars.json')) as f:
        return [json.loads(line) for line in f]


def signal_summary(work_dir: str, last_iters: int = 50) -> Dict[str, float]:
    """Per-signal figures of a pre-training run, from its training log.

    Args:
        work_dir (str): The run's work dir (holds ``*/vis_data``).
        last_iters (int): Each loss is averaged over the records of the
            last ``last_iters`` iterations. Defaults to 50.

    Returns:
        dict[str, float]: ``loss_*`` at the end of the run and
        ``grad_norm_*`` averaged over the whole run (each signal's gradient
        norm on the last backbone stage), for the signals the run logged.
    """
    records = [r for r in read_scalars(work_dir) if 'step' in r]
    if not records:
        raise ValueError(f'{work_dir}: the training log has no iteration')
    end = max(r['step'] for r in records)
    summary = {}
    for key in SIGNALS:
        vals = [r[key] for r in records
                if key in r and r['step'] > end - last_iters]
        if vals:
            summary[key] = statistics.fmean(vals)
    for key in GRAD_NORMS:
        vals = [r[key] for r in records if key in r]
        if vals:
            summary[key] = statistics.fmean(vals)
    return summary


def plot_loss_curves(runs: Dict[str, str], out_file: str) -> str:
    """One panel per signal, one line per pre-training run.

    Args:
        runs (dict[str, str]): Label -> pre-training work dir.
        out_file (str): PNG to write.

    Returns:
        str: ``out_file``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(SIGNALS), figsize=(4 * len(SIGNALS), 3))
    for label, work_dir in runs.items():
        records = [r for r in read_scalars(work_dir) if 'step' in r]
        for ax, key in zip(axes, SIGNALS):
            pts = [(r['step'], r[key]) for r in records if key in r]
            if pts:
                ax.plot(*zip(*pts), marker='.', label=label)
    for ax, key in zip(axes, SIGNALS):
        ax.set_title(key)
        ax.set_xlabel('iteration')
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, 'signal off', ha='center', va='center',
                    transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(out_file, dpi=120)
    plt.close(fig)
    return out_file


def val_images(data_root: str, num: int = 6) -> List[str]:
    """The first ``num`` val scenes."""
    files = sorted(glob.glob(osp.join(data_root, 'images', 'val', '*.png')))
    if not files:
        raise FileNotFoundError(f'{data_root}/images/val: no scenes')
    return files[:num]


def summary_markdown(result: dict, report_dir: str,
                     extra: Optional[str] = None) -> str:
    """The demo's report page."""
    row = dict(result['metrics'])
    row['pre-training'] = result['variant']
    table = markdown_table([row], ['pre-training'] + COLUMNS)
    secs = ', '.join(f'{k} {v / 60:.1f} min'
                     for k, v in result['seconds'].items())
    text = ('# hvpt_mm CPU demo\n\n'
            'HVP pre-training of a small Swin on Fashion-MNIST scenes, then '
            'a multi-label linear probe (val mAP), Mask R-CNN (val box / '
            'mask AP, COCO AP in percent) and UperNet (val mIoU).\n\n' +
            table + f'\nStage times: {secs}.\n\n'
            '![loss curves](loss_curves.png)\n\n'
            'Reconstructions (original | masked | reconstruction | '
            'prediction):\n\n![reconstructions](reconstruction.png)\n')
    if extra:
        text += '\n' + extra
    with open(osp.join(report_dir, 'summary.md'), 'w') as f:
        f.write(text)
    return table
