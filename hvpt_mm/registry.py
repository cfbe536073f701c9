# Copyright (c) hvpt_mm authors. All rights reserved.
"""Registries of the ``hvpt_mm`` scope, children of mmpretrain's.

hvpt_mm registers its modules into mmpretrain's registries. These children
exist so that configs inherited with ``_base_ = 'hvpt_mm::...'`` work:
mmengine tags the dicts of such a base with ``_scope_='hvpt_mm'`` and builds
them from the registry of that scope, which finds our modules and everything
of mmpretrain and mmengine through its parents.
"""
import mmpretrain.registry as _mmpretrain
from mmengine.registry import Registry

__all__ = list(_mmpretrain.__all__)

for _name in __all__:
    _parent = getattr(_mmpretrain, _name)
    globals()[_name] = Registry(_parent.name, parent=_parent,
                                scope='hvpt_mm')
