# Copyright (c) hvpt_mm authors. All rights reserved.
"""Let mmengine resolve ``hvpt_mm::`` configs in every interpreter.

mmengine resolves ``_base_ = 'pkg::path'`` only for the packages of its
``MODULE2PACKAGE`` table (``mmengine.config.utils``). A script that parses
a config inheriting ``hvpt_mm::...`` before anything imported ``hvpt_mm``
(mmdet's, mmseg's or mmpretrain's own ``tools/train.py``, a bare
``Config.fromfile``) would stop with "mmengine does not support to load
hvpt_mm config".

The installed package ships ``_hvpt_mm_hook.pth``, whose single line
(``import _hvpt_mm_hook``) Python's :mod:`site` runs at start-up. That
imports only this module, which itself imports nothing that start-up has
not loaded already (no typing, no mmengine, no torch), and puts a finder
first on :data:`sys.meta_path` that does nothing until
``mmengine.config.utils`` is imported; then it removes itself and adds
``hvpt_mm`` to the table right after the module has run. Interpreters that
never parse a config pay one string comparison per import.
"""
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

PACKAGE = 'hvpt_mm'
# mmengine locates a package of its table with pkg_resources, which places
# an editable install in site-packages where no file is; naming a module of
# the package makes it fall back to importlib, which finds the real folder
# (and its .mim/configs) in every install mode.
LOCATOR = 'hvpt_mm.version'
TARGET = 'mmengine.config.utils'


def register(utils: ModuleType) -> None:
    """Add ``hvpt_mm`` to mmengine's ``pkg::`` table.

    Args:
        utils (ModuleType): The module ``mmengine.config.utils``.
    """
    table = getattr(utils, 'MODULE2PACKAGE', None)
    if isinstance(table, dict):
        table.setdefault(PACKAGE, LOCATOR)


class ConfigTableFinder:
    """Registers ``hvpt_mm`` when ``mmengine.config.utils`` is loaded.

    A meta path finder (the protocol of
    :class:`importlib.abc.MetaPathFinder`, not imported to keep start-up
    light) that finds no module itself: for :data:`TARGET` it removes
    itself, asks the other finders for the spec and wraps that spec's
    loader so that :func:`register` runs once the module has executed.
    """

    def find_spec(self,
                  fullname: str,
                  path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        """Spec of :data:`TARGET` with a registering loader, else None."""
        if fullname != TARGET:
            return None
        uninstall()
        for finder in sys.meta_path:
            find = getattr(finder, 'find_spec', None)
            spec = find(fullname, path, target) if find else None
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        exec_module = getattr(loader, 'exec_module', None)
        if exec_module is None:
            return spec

        def exec_and_register(module: ModuleType) -> None:
            del loader.exec_module  # once: the loader may be shared
            exec_module(module)
            register(module)

        try:
            loader.exec_module = exec_and_register
        except AttributeError:  # a loader without instance attributes
            pass
        return spec


def uninstall() -> None:
    """Remove the finder from :data:`sys.meta_path` (if it is there)."""
    sys.meta_path[:] = [
        f for f in sys.meta_path if not isinstance(f, ConfigTableFinder)
    ]


def install() -> None:
    """Register now if mmengine's config module is loaded, else on import."""
    if TARGET in sys.modules:
        register(sys.modules[TARGET])
        return
    if not any(isinstance(f, ConfigTableFinder) for f in sys.meta_path):
        # First, so that the path finder does not load the module unseen.
        sys.meta_path.insert(0, ConfigTableFinder())


install()
