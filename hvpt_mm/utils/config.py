# Copyright (c) hvpt_mm authors. All rights reserved.
"""Make hvpt_mm's configs reachable as ``hvpt_mm::path/to/config.py``."""
import os.path as osp

from mmengine.config import utils as cfg_utils


def register_config_package() -> None:
    """Let mmengine resolve ``hvpt_mm::`` in ``_base_`` (idempotent).

    mmengine resolves ``pkg::`` only for packages listed in its
    ``MODULE2PACKAGE`` table. An installed hvpt_mm adds itself in every
    interpreter through its start-up hook (:mod:`_hvpt_mm_hook`, run by
    ``_hvpt_mm_hook.pth``) as soon as mmengine's config module loads;
    ``import hvpt_mm`` does it too, for a checkout used without installing.
    """
    from _hvpt_mm_hook import register
    register(cfg_utils)


def get_config_path(rel_path: str) -> str:
    """Absolute path of a config shipped with the installed package.

    Args:
        rel_path (str): Path under ``configs/``, e.g.
            ``'pretrain/hvpt_swin-b.py'``.

    Returns:
        str: The file inside ``hvpt_mm/.mim/configs``.
    """
    path = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), '.mim',
                    'configs', rel_path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{rel_path}: no such config in {path}')
    return path
