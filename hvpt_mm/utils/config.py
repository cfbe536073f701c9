# Copyright (c) hvpt_mm authors. All rights reserved.
"""Make hvpt_mm's configs reachable as ``hvpt_mm::path/to/config.py``."""
import os.path as osp

from mmengine.config import utils as cfg_utils


def register_config_package() -> None:
    """Let mmengine resolve ``hvpt_mm::`` in ``_base_`` (idempotent).

    mmengine resolves ``pkg::`` only for packages listed in its
    ``MODULE2PACKAGE`` table. An installed hvpt_mm adds itself in every
    interpreter through its start-up hook (``_hvpt_mm_hook.py``, run by
    ``_hvpt_mm_hook.pth``) as soon as mmengine's config module loads.
    ``import hvpt_mm`` does it too, for a checkout used without installing,
    a copy of the package vendored without the hook, or ``python -S``:
    then the table names :mod:`hvpt_mm.version`, which mmengine finds in
    ``sys.modules`` (no further import) and whose folder holds ``.mim``.
    An entry the hook made first is kept.
    """
    cfg_utils.MODULE2PACKAGE.setdefault('hvpt_mm', 'hvpt_mm.version')


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
