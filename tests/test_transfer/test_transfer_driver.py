# Copyright (c) hvpt_mm authors. All rights reserved.
"""tools/transfer.py and the checks that keep a transfer on its backbone."""
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.model import initialize
from mmengine.registry import DefaultScope

from test_transfer.hvpt_transfer_utils import (  # noqa: I001
    CLASSIFICATION, assert_backbone_loaded, backbone_state, load_tool)
from _helpers.tiny import (REPO, TINY_ARCH, TINY_OUT, epoch_options,
                           run_tool, tiny_pretrain_options)

ABLATION = ('configs/pretrain/hvpt_swin-base-w6_mim-only_8xb256-amp-'
            'coslr-100e_in1k-192px.py')
LINEAR = CLASSIFICATION['linear']
LINEAR_NAME = osp.splitext(osp.basename(LINEAR))[0]


def linear_options(data_root: str) -> list:
    """The linear probe shrunk to the tiny data: window and size of the
    pre-training (so every tensor loads unchanged), one epoch."""
    loader = dict(num_workers=0, persistent_workers=False, batch_size=4)
    opts = [
        'model.backbone.img_size=64', 'model.backbone.window_size=2',
        f'train_dataloader.dataset.data_root={data_root}',
        'train_dataloader.dataset.pipeline.1.scale=64',
        f'val_dataloader.dataset.data_root={data_root}',
        'val_dataloader.dataset.split=train',
        'val_dataloader.dataset.pipeline.1.scale=73',
        'val_dataloader.dataset.pipeline.2.crop_size=64',
        'train_cfg.max_epochs=1', 'param_scheduler.0.T_max=1',
        'param_scheduler.0.end=1', 'default_hooks.checkpoint.interval=1',
    ]
    for name in ('train_dataloader', 'val_dataloader'):
        opts += [f'{name}.{k}={v}' for k, v in loader.items()]
    return opts


@pytest.fixture(scope='module')
def ablation_dir(tmp_path_factory, imagenet_root) -> str:
    """A tiny masked-image-modeling-only pre-training (one epoch)."""
    work = str(tmp_path_factory.mktemp('ablation') / 'mim-only')
    run_tool(['tools/train.py', ABLATION, '--work-dir', work,
              '--cfg-options'] + tiny_pretrain_options(imagenet_root) +
             epoch_options(1) + ['randomness.seed=7'])
    return work


def test_ablation_transfer_loads_the_ablation(ablation_dir, hvp_ckpt,
                                              imagenet_root):
    """The driver extracts the ablation's last checkpoint and the linear
    probe (frozen backbone) holds exactly those weights, not the main
    pre-training's. Catches: a transfer falling back to the default /
    main backbone, a stale backbone.pth, a work dir shared between
    pre-trainings."""
    proc = run_tool(['tools/transfer.py', ablation_dir, '--tasks', 'linear',
                     '--task-options', 'linear',
                     *linear_options(imagenet_root)])
    backbone = osp.join(ablation_dir, 'backbone.pth')
    assert 'model.backbone.init_cfg.checkpoint=' + backbone in proc.stdout
    extracted = torch.load(backbone, map_location='cpu', weights_only=True)
    assert extracted['meta']['source'] == 'epoch_1.pth'
    ablation = backbone_state(osp.join(ablation_dir, 'epoch_1.pth'))
    main = backbone_state(hvp_ckpt)

    # The probe's own work dir, inside the ablation's.
    probe = osp.join(ablation_dir, LINEAR_NAME, 'epoch_1.pth')
    trained = backbone_state(probe)
    # The pre-training's mask token has no place in the classifier.
    pretrained = {k: v for k, v in ablation.items() if k != 'mask_token'}
    assert_backbone_loaded(trained, pretrained)
    differs = [k for k, v in main.items()
               if k in trained and v.is_floating_point()
               and not torch.equal(v, trained[k])]
    assert len(differs) > 10, 'the probe holds the main backbone'


def _dry_run(capsys, *args) -> str:
    """tools/transfer.py --dry-run in this process; its printed output."""
    load_tool('tools/transfer.py').main([*map(str, args), '--dry-run'])
    return capsys.readouterr().out


def test_driver_reextracts_a_newer_checkpoint(tmp_path, hvp_ckpt, capsys):
    """A backbone.pth older than the pre-training's last checkpoint (a
    resumed pre-training) is extracted again; an up-to-date one is kept."""
    import shutil
    work = tmp_path / 'pre'
    work.mkdir()
    shutil.copy(hvp_ckpt, work / 'epoch_1.pth')
    (work / 'last_checkpoint').write_text(str(work / 'epoch_1.pth'))
    args = [work, '--tasks', 'linear']
    assert 'extract_backbone.py' in _dry_run(capsys, *args)
    assert 'up to date' in _dry_run(capsys, *args)
    shutil.copy(hvp_ckpt, work / 'epoch_2.pth')
    (work / 'last_checkpoint').write_text(str(work / 'epoch_2.pth'))
    again = _dry_run(capsys, *args)
    assert 'epoch_2.pth' in again and 'extract_backbone.py' in again
    meta = torch.load(work / 'backbone.pth', weights_only=True)['meta']
    assert meta['source'] == 'epoch_2.pth'


def test_driver_commands_per_launcher(tmp_path, hvp_ckpt, capsys):
    """dist_train.sh with N processes, Slurm with GPUS=N, each task in
    <pre-training>/<config name>, the arch overrides of a non-Swin-B
    backbone before the user's options."""
    import shutil
    work = tmp_path / 'pre'
    work.mkdir()
    shutil.copy(hvp_ckpt, work / 'epoch_1.pth')
    out = _dry_run(capsys, work, '--launcher', 'pytorch', '--gpus', '4',
                   '--cfg-options', 'train_cfg.max_epochs=1')
    lines = [line for line in out.splitlines() if line.startswith('[')]
    assert [line.split(']')[0][1:] for line in lines] == [
        'finetune', 'linear', 'detection', 'segmentation']
    det = next(line for line in lines if line.startswith('[detection]'))
    assert 'dist_train.sh' in det and ' 4 --work-dir ' in det
    assert str(work / 'mask-rcnn_swin-b-p4-w7-hvpt-pre_fpn_1x_coco') in det
    dims = [TINY_ARCH['embed_dims'] * 2**i for i in range(4)]
    assert "'model.neck.in_channels=[{}]'".format(
        ','.join(map(str, dims))) in det
    assert det.index('model.neck.in_channels') < det.index(
        'train_cfg.max_epochs=1')
    seg = next(line for line in lines if line.startswith('[segmentation]'))
    assert f'model.auxiliary_head.in_channels={dims[2]}' in seg
    lin = next(line for line in lines if line.startswith('[linear]'))
    assert f'model.head.in_channels={TINY_OUT}' in lin

    slurm = _dry_run(capsys, work, '--tasks', 'linear', '--launcher',
                     'slurm', '--partition', 'gpu')
    assert 'slurm_train.sh gpu pre_linear' in slurm


def test_arch_options_of_named_sizes():
    """Swin-B needs nothing; Swin-T / Swin-L get the configs/README.md
    overrides (arch name and widths)."""
    tool = load_tool('tools/transfer.py')
    assert tool.arch_options('finetune', tool.SWIN_ARCHS['base']) == []
    assert tool.arch_options('detection', tool.SWIN_ARCHS['tiny']) == [
        'model.backbone.arch=tiny', 'model.neck.in_channels=[96,192,384,768]'
    ]
    assert tool.arch_options('segmentation', tool.SWIN_ARCHS['large']) == [
        'model.backbone.arch=large',
        'model.decode_head.in_channels=[192,384,768,1536]',
        'model.auxiliary_head.in_channels=768'
    ]
    assert tool.arch_options('linear', tool.SWIN_ARCHS['large'])[-1] == \
        'model.head.in_channels=1536'


def test_driver_without_checkpoint_says_how_to_pretrain(tmp_path):
    proc = subprocess.run(
        [sys.executable, 'tools/transfer.py', str(tmp_path)], cwd=REPO,
        capture_output=True, text=True)
    assert proc.returncode != 0
    assert f'{tmp_path}: no pre-training checkpoint' in proc.stderr
    assert 'tools/dist_train.sh configs/pretrain/' in proc.stderr


@pytest.mark.parametrize('checkpoint', [None, 'missing'])
def test_missing_backbone_stops_before_training(tmp_path, checkpoint):
    """tools/train.py stops before building anything, naming the file and
    the commands that make it (or how to name one)."""
    opts = []
    if checkpoint:
        path = tmp_path / 'hvpt_swin-b' / 'backbone.pth'
        opts = ['--cfg-options',
                f'model.backbone.init_cfg.checkpoint={path}']
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', LINEAR, *opts], cwd=REPO,
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    err = proc.stderr
    assert 'Traceback' not in err
    if checkpoint:
        work = tmp_path / 'hvpt_swin-b'
        assert f'{path} does not exist' in err
        assert f'python tools/transfer.py {work}' in err
        assert f'extract_backbone.py {work}/epoch_100.pth {path}' in err
        assert not work.exists(), 'nothing may be built or written'
    else:
        assert 'no pre-trained backbone is named' in err
        assert '--cfg-options model.backbone.init_cfg.checkpoint=' in err


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet', 'mmseg'])
def test_host_scripts_get_the_message(tmp_path, scope):
    """The weight init itself (mmdet's / mmseg's train scripts build it
    under their scope) names a missing backbone and how to make it."""
    import importlib
    importlib.import_module(f'{scope}.registry')
    missing = tmp_path / 'ablation' / 'backbone.pth'
    with DefaultScope.overwrite_default_scope(scope), pytest.raises(
            FileNotFoundError, match='python tools/transfer.py'):
        initialize(torch.nn.Linear(2, 2),
                   dict(type='Pretrained', checkpoint=str(missing)))


def test_work_dir_follows_the_backbone(tmp_path):
    """Without --work-dir, a transfer writes inside its backbone's folder,
    so fine-tunes of two pre-trainings never share one (and --resume
    never finds the other's checkpoint)."""
    from mmengine.config import Config
    tool = load_tool('tools/train.py')
    dirs = []
    for name in ('hvpt_swin-b', 'mim-only'):
        cfg = Config.fromfile(osp.join(REPO, LINEAR))
        backbone = tmp_path / name / 'backbone.pth'
        backbone.parent.mkdir()
        cfg.merge_from_dict(
            {'model.backbone.init_cfg.checkpoint': str(backbone)})
        dirs.append(tool.default_work_dir(cfg, LINEAR))
    assert dirs == [str(tmp_path / n / LINEAR_NAME)
                    for n in ('hvpt_swin-b', 'mim-only')]
    cfg = Config.fromfile(osp.join(REPO, LINEAR))
    cfg.merge_from_dict({'model.backbone.init_cfg': None})
    assert tool.default_work_dir(cfg, LINEAR) == osp.join(
        './work_dirs', LINEAR_NAME)
