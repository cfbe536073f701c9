# Copyright (c) hvpt_mm authors. All rights reserved.
"""Tiny presets for tests: Swin with embed_dims=32, depths (1, 1, 1, 1)."""
import copy
import os
import os.path as osp
import subprocess
import sys
from typing import List, Optional

from mmengine.config import Config

import numpy as np
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PRETRAIN_CONFIG = osp.join(REPO, 'configs/pretrain/hvpt_swin-b.py')
TINY_SIZE = 64
TINY_DIMS = 32
TINY_ARCH = dict(embed_dims=TINY_DIMS, depths=[1, 1, 1, 1],
                 num_heads=[1, 2, 2, 4])
TINY_OUT = TINY_DIMS * 8


def tiny_model_cfg(num_classes: int = 3, **weights) -> dict:
    """The HVP model of configs/_base_/models, shrunk for CPU tests."""
    loss_weights = dict(mim=1., con=1., mlc=1.)
    loss_weights.update(weights)
    return dict(
        type='HeuristicMultiTaskPretrainer',
        loss_weights=loss_weights,
        base_momentum=0.01,
        data_preprocessor=dict(
            type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375], to_rgb=True),
        backbone=dict(
            type='SimMIMSwinTransformer', arch=copy.deepcopy(TINY_ARCH),
            img_size=TINY_SIZE, drop_path_rate=0.,
            stage_cfgs=dict(block_cfgs=dict(window_size=2))),
        neck=dict(type='SimMIMLinearDecoder', in_channels=TINY_OUT,
                  encoder_stride=32),
        head=dict(type='HVPTSimMIMHead', patch_size=4,
                  loss=dict(type='PixelReconstructionLoss', criterion='L1',
                            channel=3)),
        con_neck=dict(type='NonLinearNeck', in_channels=TINY_OUT,
                      hid_channels=64, out_channels=32, num_layers=2,
                      with_avg_pool=False),
        con_head=dict(type='HVPTContrastiveHead', temperature=0.2,
                      predictor=dict(type='NonLinearNeck', in_channels=32,
                                     hid_channels=64, out_channels=32,
                                     num_layers=2, with_avg_pool=False)),
        mlc_head=dict(type='HVPTMultiLabelHead', num_classes=num_classes,
                      in_channels=TINY_OUT))


def random_image(rng: np.random.Generator, size: int = TINY_SIZE + 16):
    """A smooth random RGB image (uint8)."""
    low = rng.integers(0, 256, (4, 4, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(low).resize((size, size),
                                                  Image.BILINEAR))


def write_imagenet_folder(root: str, num_classes: int = 3,
                          per_class: int = 4, seed: int = 0) -> None:
    """mmpretrain's ImageNet layout: train/<cls>/<img>, meta/train.txt."""
    rng = np.random.default_rng(seed)
    lines = []
    for c in range(num_classes):
        os.makedirs(osp.join(root, 'train', f'n{c:08d}'), exist_ok=True)
        for i in range(per_class):
            rel = f'n{c:08d}/img_{i}.JPEG'
            Image.fromarray(random_image(rng)).save(
                osp.join(root, 'train', rel), format='JPEG')
            lines.append(f'{rel} {c}')
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    with open(osp.join(root, 'meta', 'train.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')


# cfg-options that shrink configs/pretrain/hvpt_swin-b.py for a CPU run.
def tiny_pretrain_options(data_root: str, num_classes: int = 3,
                          batch_size: int = 4) -> List[str]:
    out = TINY_OUT
    return [
        # arch is 'base' in the config: replace it with a dict.
        'model.backbone.arch._delete_=True',
        f'model.backbone.arch.embed_dims={TINY_DIMS}',
        'model.backbone.arch.depths=[1,1,1,1]',
        'model.backbone.arch.num_heads=[1,2,2,4]',
        f'model.backbone.img_size={TINY_SIZE}',
        'model.backbone.stage_cfgs.block_cfgs.window_size=2',
        f'model.neck.in_channels={out}',
        f'model.con_neck.in_channels={out}',
        'model.con_neck.hid_channels=64', 'model.con_neck.out_channels=32',
        'model.con_head.predictor.in_channels=32',
        'model.con_head.predictor.hid_channels=64',
        'model.con_head.predictor.out_channels=32',
        f'model.mlc_head.in_channels={out}',
        f'model.mlc_head.num_classes={num_classes}',
        f'train_dataloader.dataset.data_root={data_root}',
        # The class list of write_imagenet_folder (ImageNet's is 1000 long;
        # HVPTRunner checks head, pipeline and class list agree).
        'train_dataloader.dataset.classes=[' +
        ','.join(f'n{c:08d}' for c in range(num_classes)) + ']',
        f'train_dataloader.dataset.pipeline.1.num_classes={num_classes}',
        f'train_dataloader.dataset.pipeline.1.input_size={TINY_SIZE}',
        f'train_dataloader.batch_size={batch_size}',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_dataloader.pin_memory=False',
        'default_hooks.logger.interval=1',
    ]


def run_tool(args: List[str], env: Optional[dict] = None,
             timeout: int = 600) -> subprocess.CompletedProcess:
    """Run a repo tool with this interpreter; fail with its output."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env['PYTHONPATH'] = os.pathsep.join(
        [osp.join(REPO, 'tests'), full_env.get('PYTHONPATH', '')])
    full_env.setdefault('PYTHON', sys.executable)
    cmd = args if args[0].endswith('.sh') else [sys.executable] + args
    proc = subprocess.run(cmd, cwd=REPO, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(
            f'{" ".join(cmd)} exited {proc.returncode}\n'
            f'--- stdout ---\n{proc.stdout[-6000:]}\n'
            f'--- stderr ---\n{proc.stderr[-6000:]}')
    return proc


def write_config(path: str, extra_hooks: List[dict],
                 drop: tuple = (), base: str = PRETRAIN_CONFIG,
                 imports: tuple = ('hvpt_mm', '_helpers.record_hook')) -> str:
    """A repo config plus test hooks, keeping its own ``custom_hooks``.

    Lists are replaced whole when inherited, so the config's hooks are read
    from it and written out again with the extra ones.

    Args:
        path (str): Where to write the config.
        extra_hooks (list[dict]): Hooks to add.
        drop (tuple): Types of the config's hooks to leave out.
        base (str): The config to inherit. Defaults to the main pre-training
            config.
        imports (tuple): ``custom_imports`` of the new config.
    """
    hooks = [h for h in Config.fromfile(base).custom_hooks
             if h['type'] not in drop]
    with open(path, 'w') as f:
        f.write(f'_base_ = {base!r}\n'
                f'custom_imports = dict(imports={list(imports)!r}, '
                'allow_failed_imports=False)\n'
                f'custom_hooks = {hooks + list(extra_hooks)!r}\n')
    return str(path)


def epoch_options(max_epochs: int) -> List[str]:
    """3 iterations per epoch (12 images / 4), a checkpoint every epoch."""
    return [
        f'train_cfg.max_epochs={max_epochs}',
        'param_scheduler.0.end=1', 'param_scheduler.1.begin=0',
        f'param_scheduler.1.end={max_epochs}',
        f'param_scheduler.1.T_max={max_epochs}',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=-1',
        'randomness.seed=0',
    ]
