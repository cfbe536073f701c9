# Copyright (c) hvpt_mm authors. All rights reserved.
"""A tiny HVP checkpoint written once per session, and loading checks.

Import as ``test_transfer.hvpt_transfer_utils`` (``tests/`` is on the path)
from every test module, so that one module object serves them all; the
checkpoint is also cached on disk under the session's base temp dir.
"""
import copy
import importlib.util
import os.path as osp
import re
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Union

import torch
from mmengine.config import Config

from _helpers.tiny import (REPO, TINY_ARCH, TINY_DIMS, run_tool,
                           tiny_pretrain_options)

PRETRAIN_CONFIG = 'configs/pretrain/hvpt_swin-b.py'
PRETRAIN_WINDOW = 2  # the tiny preset: 64 px, window 2
# Downstream tiny settings: window 3 (table 3x3 -> 5x5) mirrors 6 -> 7.
DOWNSTREAM_WINDOW = 3
CLS_SIZE = 96  # stage maps 24, 12, 6, 3: whole windows of 3
DENSE_SIZE = 64  # detection / segmentation pad to whole windows
STAGE_DIMS = [TINY_DIMS * 2**i for i in range(4)]  # 32, 64, 128, 256

CLASSIFICATION = {
    'finetune':
    'configs/classification/'
    'swin-base-w7_hvpt-pre_8xb256-coslr-100e_in1k.py',
    'linear':
    'configs/classification/'
    'swin-base_hvpt-pre_8xb128-linear-coslr-90e_in1k.py',
}
DETECTION = {
    '1x':
    'configs/detection/mask-rcnn_swin-b-p4-w7-hvpt-pre_fpn_1x_coco.py',
    '3x':
    'configs/detection/'
    'mask-rcnn_swin-b-p4-w7-hvpt-pre_fpn_ms-crop-3x_coco.py',
}
SEGMENTATION = ('configs/segmentation/swin-base-patch4-window12-hvpt-pre_'
                'upernet_8xb2-160k_ade20k-512x512.py')
DOWNSTREAM = [*CLASSIFICATION.values(), *DETECTION.values(), SEGMENTATION]


def pretrain_tiny(tmp_path_factory, imagenet_root: str) -> str:
    """Pre-train the tiny HVP model for one epoch (3 iterations) once.

    Runs ``tools/train.py`` on ``configs/pretrain/hvpt_swin-b.py`` shrunk by
    :func:`tiny_pretrain_options`, so the checkpoint is a real runner
    checkpoint (message hub, optimizer, momentum encoder, ...).

    Returns:
        str: Path of ``epoch_1.pth``.
    """
    work_dir = osp.join(
        str(tmp_path_factory.getbasetemp()), 'hvpt_tiny_pretrain')
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    if not osp.isfile(ckpt):
        opts = tiny_pretrain_options(imagenet_root) + [
            'train_cfg.max_epochs=1', 'randomness.seed=1234'
        ]
        run_tool([
            'tools/train.py', PRETRAIN_CONFIG, '--work-dir', work_dir,
            '--cfg-options'
        ] + opts)
    assert osp.isfile(ckpt), ckpt
    return ckpt


def load_tool(relpath: str):
    """Import a script under ``tools/`` as a module."""
    path = osp.join(REPO, relpath)
    name = 'hvpt_tool_' + osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def runner_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """The model state dict of a checkpoint, loaded without restriction."""
    ckpt = torch.load(path, map_location='cpu', weights_only=False)
    return ckpt.get('state_dict', ckpt)


def backbone_state(path: str) -> Dict[str, torch.Tensor]:
    """``backbone.*`` tensors of a checkpoint, prefix stripped."""
    return {
        k[len('backbone.'):]: v
        for k, v in runner_state_dict(path).items()
        if k.startswith('backbone.')
    }


def extract(src: str, dst: str, to: str = 'mmpretrain') -> str:
    """Run the extractor's function (no subprocess) and save ``dst``."""
    if not osp.isfile(dst):
        tool = load_tool('tools/model_converters/extract_backbone.py')
        kept, _ = tool.extract_backbone(runner_state_dict(src), to=to)
        torch.save(dict(state_dict=kept, meta=dict(source=src)), dst)
    return dst


def tiny_backbone_options(checkpoint: str,
                          window: Optional[int] = DOWNSTREAM_WINDOW,
                          img_size: int = DENSE_SIZE,
                          window_key: str = 'window_size') -> dict:
    """Overrides shrinking ``model.backbone`` of a downstream config.

    Args:
        checkpoint (str): The pre-trained checkpoint to load.
        window (int, optional): Downstream window size. Defaults to 3.
        img_size (int): Backbone ``img_size``. Defaults to 64.
        window_key (str): Where the config sets the window:
            ``'window_size'`` or ``'stage_cfgs.block_cfgs.window_size'``.
    """
    return {
        # arch is 'base' in the configs: replace it with a dict.
        'model.backbone.arch': dict(_delete_=True, **copy.deepcopy(TINY_ARCH)),
        'model.backbone.img_size': img_size,
        f'model.backbone.{window_key}': window,
        'model.backbone.init_cfg.checkpoint': checkpoint,
    }


def load_config(relpath: str, options: dict) -> Config:
    """A repo config with ``--cfg-options``-style overrides."""
    cfg = Config.fromfile(osp.join(REPO, relpath))
    cfg.merge_from_dict(options)
    return cfg


def write_user_config(path: str, relpath: str, options: dict) -> str:
    """A config file inheriting a repo config, as a user would write one.

    Args:
        path (str): Where to write it.
        relpath (str): The repo config to inherit (its ``_base_``).
        options (dict): ``--cfg-options``-style overrides (dotted keys).

    Returns:
        str: ``path``.
    """
    nested: dict = {}
    for key, value in options.items():
        *parents, last = key.split('.')
        node = nested
        for name in parents:
            node = node.setdefault(name, {})
        node[last] = value
    lines = [f'_base_ = {osp.join(REPO, relpath)!r}']
    lines += [f'{name} = {value!r}' for name, value in nested.items()]
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path


class LoadLog:
    """What mmengine's ``load_state_dict`` reported (it only logs)."""

    def __init__(self) -> None:
        self.lines: List[str] = []

    MARKERS = dict(
        missing='missing keys in source state_dict: ',
        unexpected='unexpected key in source state_dict: ')

    def keys(self, kind: str) -> List[str]:
        """Keys listed after ``missing keys`` or ``unexpected key``."""
        marker = self.MARKERS[kind]
        out = []
        for text in self.lines:
            for line in text.splitlines():
                if line.startswith(marker):
                    out += [k.strip() for k in line[len(marker):].split(',')]
        return out

    def within(self, prefix: str) -> 'LoadLog':
        """The keys under ``prefix`` (a whole model's load, e.g. with
        ``'backbone.'``), prefix stripped, as another log."""
        out = LoadLog()
        for kind, marker in self.MARKERS.items():
            keys = [
                k[len(prefix):] for k in self.keys(kind)
                if k.startswith(prefix)
            ]
            if keys:
                out.lines.append(marker + ', '.join(keys))
        return out

    @property
    def missing(self) -> List[str]:
        return self.keys('missing')

    @property
    def unexpected(self) -> List[str]:
        return self.keys('unexpected')


@contextmanager
def record_load_log() -> Iterator[LoadLog]:
    """Record the messages of ``mmengine.runner.checkpoint`` loads."""
    import mmengine.runner.checkpoint as ckpt_module
    original = ckpt_module.print_log
    log = LoadLog()

    def recorder(msg, *args, **kwargs):
        log.lines.append(str(msg))
        return original(msg, *args, **kwargs)

    ckpt_module.print_log = recorder
    try:
        yield log
    finally:
        ckpt_module.print_log = original


def new_output_norms(state: Dict[str, torch.Tensor],
                     pretrained: Dict[str, torch.Tensor]) -> List[str]:
    """Keys of output norms the pre-training never had.

    The pre-trained Swin outputs its last stage only (``norm3``); detection
    and segmentation output all four, and ``norm0`` - ``norm2`` start from
    the LayerNorm init, as with mmdet's official Swin checkpoints.
    """
    return sorted(
        k for k in state
        if k not in pretrained and re.match(r'norm[0-9]+\.(weight|bias)$', k))


def assert_backbone_loaded(backbone: Union[torch.nn.Module,
                                           Dict[str, torch.Tensor]],
                           pretrained: Dict[str, torch.Tensor],
                           log: Optional[LoadLog] = None) -> None:
    """Every pre-trained tensor of the backbone loaded unchanged.

    Relative-position tables of another window size must equal the
    pre-trained table resized as mmpretrain does; their index buffers are
    rebuilt by the module. Output norms of stages the pre-training did not
    output are new (:func:`new_output_norms`) and must hold the LayerNorm
    init. These are the only keys the load may report missing.

    Args:
        backbone (nn.Module | dict[str, Tensor]): The initialised downstream
            backbone, or its state dict.
        pretrained (dict[str, Tensor]): Pre-trained backbone tensors,
            prefix stripped.
        log (LoadLog, optional): The recorded load messages.
    """
    from mmpretrain.models.utils import resize_relative_position_bias_table
    state = backbone if isinstance(backbone, dict) else backbone.state_dict()
    new_norms = new_output_norms(state, pretrained)
    missing = sorted(set(state) - set(pretrained) - set(new_norms))
    assert not missing, f'not in the checkpoint: {missing[:5]}'
    for key in new_norms:
        init = 1. if key.endswith('weight') else 0.
        assert torch.all(state[key] == init), key
    resized = 0
    for key, value in state.items():
        if key in new_norms:
            continue
        source = pretrained[key]
        if value.shape == source.shape:
            assert torch.equal(value, source), key
        elif key.endswith('relative_position_bias_table'):
            src, heads = int(source.shape[0]**0.5), source.shape[1]
            dst = int(value.shape[0]**0.5)
            expected = resize_relative_position_bias_table(
                src, dst, source, heads)
            torch.testing.assert_close(value, expected)
            resized += 1
        else:  # rebuilt by the module for its window size
            assert key.endswith('relative_position_index'), (key, value.shape,
                                                             source.shape)
    if log is not None:
        reported = [
            k for k in log.missing
            if k not in new_norms and not k.endswith('relative_position_index')
        ]
        assert not reported, f'missing keys logged: {reported[:5]}'
        if resized == 0:
            assert set(log.missing) <= set(new_norms), log.missing[:5]
