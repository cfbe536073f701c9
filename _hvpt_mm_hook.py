# Copyright (c) hvpt_mm authors. All rights reserved.
"""Let mmengine resolve ``hvpt_mm::`` configs in every interpreter.

mmengine resolves ``_base_ = 'pkg::path'`` only for the packages of its
``MODULE2PACKAGE`` table (``mmengine.config.utils``). A script that parses
a config inheriting ``hvpt_mm::...`` before anything imported ``hvpt_mm``
(mmdet's, mmseg's or mmpretrain's own ``tools/train.py``, a bare
``Config.fromfile``) would stop with "mmengine does not support to load
hvpt_mm config".

The installed package ships ``_hvpt_mm_hook.pth``, whose import line
Python's :mod:`site` runs at start-up. It imports this module and does
nothing at all when the import fails (an editable checkout moved or
deleted, a half-removed install). This module imports only :mod:`sys` and
puts a finder first on :data:`sys.meta_path` that does nothing until
``mmengine.config.utils`` is imported. Right after that module has run, it
adds ``hvpt_mm`` to the table, if the package can be found, and moves to
the end of the meta path.

mmengine locates a package of its table by the name the table gives
(:func:`mmengine.utils.get_installed_path`): the location of the
distribution of that name or, without one, the folder of the module that
``importlib.util.find_spec`` finds; it reads the configs under
``<that folder>/.mim/configs``. The name the table gets,
:data:`LOCATOR`, is one only this finder answers: with the spec of the
package's ``version.py`` under that name, found as ``import hvpt_mm``
would find it (in the checkout for an editable install), without
importing ``hvpt_mm``. Parsing a config that inherits ``hvpt_mm::...``
thus leaves the process as it was (no checkpoint loader replaced, no
registry filled); the config's ``custom_imports`` import the package when
the config is used.
"""
import sys

PACKAGE = 'hvpt_mm'
# Neither a distribution's name (mmengine would take its location:
# site-packages for an editable install) nor a submodule of hvpt_mm
# (find_spec imports the parent package first).
LOCATOR = 'hvpt_mm_configs'
TARGET = 'mmengine.config.utils'


def package_spec():
    """The spec ``import hvpt_mm`` would use, found without importing it.

    Returns:
        ModuleSpec | None: None if the package is not found or is no
        regular package (a folder without ``__init__.py``).
    """
    module = sys.modules.get(PACKAGE)
    spec = getattr(module, '__spec__', None)
    if spec is None:
        for finder in sys.meta_path:
            find = getattr(finder, 'find_spec', None)
            if isinstance(finder, ConfigTableFinder) or find is None:
                continue
            spec = find(PACKAGE, None)
            if spec is not None:
                break
    if spec is None or not spec.has_location or spec.origin is None:
        return None
    return spec


def locator_spec():
    """Spec of :data:`LOCATOR`: the package's ``version.py``, renamed.

    Returns:
        ModuleSpec | None: None when the package is not found.
    """
    spec = package_spec()
    if spec is None:
        return None
    # Both loaded by then: site uses os, mmengine asks through
    # importlib.util.
    import os.path as osp
    from importlib.util import spec_from_file_location
    return spec_from_file_location(
        LOCATOR, osp.join(osp.dirname(spec.origin), 'version.py'))


def register(utils) -> bool:
    """Add ``hvpt_mm`` to mmengine's ``pkg::`` table if it is installed.

    Args:
        utils (ModuleType): The module ``mmengine.config.utils``.

    Returns:
        bool: Whether the table names the package now.
    """
    table = getattr(utils, 'MODULE2PACKAGE', None)
    if not isinstance(table, dict):
        return False
    if PACKAGE not in table and package_spec() is not None:
        table[PACKAGE] = LOCATOR
    return PACKAGE in table


class ConfigTableFinder:
    """Registers ``hvpt_mm`` when ``mmengine.config.utils`` is loaded.

    A meta path finder (the protocol of
    :class:`importlib.abc.MetaPathFinder`, not imported to keep start-up
    light). For :data:`TARGET` it asks the other finders for the spec and
    wraps that spec's loader so that :func:`register` runs once the module
    has executed. For :data:`LOCATOR` it gives :func:`locator_spec`. Any
    other name costs a string comparison or two.
    """

    # Whether mmengine's config module is still to come.
    waiting = True

    def find_spec(self, fullname: str, path, target=None):
        """Spec of :data:`TARGET` or :data:`LOCATOR`, else None."""
        if fullname == LOCATOR:
            return locator_spec()
        if fullname != TARGET or not self.waiting:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, 'find_spec', None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        exec_module = getattr(loader, 'exec_module', None)
        if exec_module is None:
            return spec
        finder = self

        def exec_and_register(module) -> None:
            del loader.exec_module  # once: the loader may be shared
            exec_module(module)
            register(module)
            finder.waiting = False
            # Only LOCATOR is left to answer: last, out of the way.
            uninstall()
            sys.meta_path.append(finder)

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
    """Register now if mmengine's config module is loaded, else on import.

    The finder goes first on the meta path, so that the path finder does
    not load :data:`TARGET` unseen; once registered, it goes last.
    """
    if any(isinstance(f, ConfigTableFinder) for f in sys.meta_path):
        return
    if TARGET in sys.modules:
        register(sys.modules[TARGET])
        finder = ConfigTableFinder()
        finder.waiting = False
        sys.meta_path.append(finder)
    else:
        sys.meta_path.insert(0, ConfigTableFinder())


install()
