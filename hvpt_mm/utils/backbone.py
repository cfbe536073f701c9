# Copyright (c) hvpt_mm authors. All rights reserved.
"""Which pre-trained backbone a downstream run loads, and what makes it.

Every downstream config of this project (fine-tuning, linear probe,
Mask R-CNN, UperNet) names its pre-trained backbone in one place,
``model.backbone.init_cfg.checkpoint``, and ships without one: a run names
it on the command line (``--cfg-options
model.backbone.init_cfg.checkpoint=work_dirs/<pre-training>/backbone.pth``)
or through ``tools/transfer.py``, which extracts it from a pre-training's
work dir. A run whose backbone is unnamed or missing stops before training
with :func:`backbone_problem`'s message, which gives the commands that make
the file.
"""
import os.path as osp
from typing import Any, List, Optional, Tuple

# Where a downstream config names its pre-trained backbone.
BACKBONE_KEY = 'model.backbone.init_cfg.checkpoint'
# File name of the extracted backbone in a pre-training's work dir.
BACKBONE_FILE = 'backbone.pth'
MAIN_WORK_DIR = 'work_dirs/hvpt_swin-b'


def is_local_path(checkpoint: Any) -> bool:
    """A path on this machine, not a URL (``https://``, ``torchvision://``,
    ``s3://``, ...) that mmengine's loaders fetch."""
    return isinstance(checkpoint, str) and '://' not in checkpoint


def _commands(work_dir: str) -> str:
    """How to make ``work_dir/backbone.pth`` from a pre-training."""
    name = osp.basename(osp.normpath(work_dir)) or 'hvpt_swin-b'
    config = f'configs/pretrain/{name}.py'
    if not osp.isfile(config):
        config = 'configs/pretrain/<the pre-training config>.py'
    backbone = osp.join(work_dir, BACKBONE_FILE)
    return (
        f'Make it from the pre-training in {work_dir}:\n'
        f'    python tools/transfer.py {work_dir}\n'
        '  extracts the backbone of its last checkpoint into '
        f'{backbone} and runs the transfers with it; or by hand:\n'
        f'    tools/dist_train.sh {config} 8 --work-dir {work_dir}\n'
        '    python tools/model_converters/extract_backbone.py '
        f'{work_dir}/epoch_100.pth {backbone}\n'
        '  (the first line only if the pre-training has not run; any '
        'epoch_*.pth of it will do)')


def backbone_problem(checkpoint: Any,
                     key: str = BACKBONE_KEY) -> Optional[str]:
    """Why a pre-trained backbone cannot load, or None if it can.

    Only local paths are checked (a URL is left to mmengine's loaders).

    Args:
        checkpoint (Any): The ``checkpoint`` of a ``Pretrained`` init
            config.
        key (str): Where it is set, for the message. Defaults to
            ``'model.backbone.init_cfg.checkpoint'``.

    Returns:
        str | None: A message naming the file (or its absence) and the
        commands that make it.
    """
    if checkpoint is None or checkpoint == '':
        example = osp.join(MAIN_WORK_DIR, BACKBONE_FILE)
        return (
            f'no pre-trained backbone is named ({key} is not set). Name '
            'the backbone extracted from a pre-training:\n'
            f'    --cfg-options {key}={example}\n'
            'or let tools/transfer.py extract it and run the transfers:\n'
            f'    python tools/transfer.py {MAIN_WORK_DIR}\n'
            f'({key.rsplit(".", 1)[0]}=None trains from random '
            'initialisation.)')
    if not is_local_path(checkpoint):
        return None
    path = osp.expanduser(checkpoint)
    if osp.isfile(path):
        return None
    work_dir = osp.dirname(path) or '.'
    return (f'{key}: {checkpoint} does not exist. '
            f'{_commands(work_dir)}')


def pretrained_checkpoints(cfg: Any) -> List[Tuple[str, Any]]:
    """``(key, checkpoint)`` of every ``Pretrained`` init of the backbone.

    Args:
        cfg (Config | dict): A config.

    Returns:
        list[tuple[str, Any]]: E.g.
        ``[('model.backbone.init_cfg.checkpoint', 'x.pth')]``; empty when
        the backbone has no ``Pretrained`` init (random initialisation).
    """
    backbone = (cfg.get('model') or {}).get('backbone') or {}
    init = backbone.get('init_cfg') if hasattr(backbone, 'get') else None
    found = []
    inits = init if isinstance(init, (list, tuple)) else [init]
    for i, item in enumerate(inits):
        if hasattr(item, 'get') and item.get('type') == 'Pretrained':
            key = 'model.backbone.init_cfg'
            if isinstance(init, (list, tuple)):
                key += f'[{i}]'
            found.append((f'{key}.checkpoint', item.get('checkpoint')))
    return found
