# Copyright (c) hvpt_mm authors. All rights reserved.
"""Make hvpt_mm's configs reachable as ``hvpt_mm::path/to/config.py``."""
import os.path as osp

from mmengine.config import utils as cfg_utils

PACKAGE = 'hvpt_mm'


def register_config_package() -> None:
    """Let mmengine resolve ``hvpt_mm::`` in ``_base_``.

    mmengine resolves ``pkg::`` only for packages listed in its
    ``MODULE2PACKAGE`` table; this adds ours. It runs on ``import hvpt_mm``,
    which our tools do before they parse a config.
    """
    # mmengine locates the package through pkg_resources, which places an
    # editable (PEP 660) install in site-packages where no file is. Naming
    # a module of the package instead makes it fall back to importlib,
    # which finds the real folder (and its .mim/configs) in every install
    # mode: dirname('hvpt_mm/version.py').
    cfg_utils.MODULE2PACKAGE.setdefault(PACKAGE, f'{PACKAGE}.version')


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
