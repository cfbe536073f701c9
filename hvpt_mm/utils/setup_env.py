# Copyright (c) hvpt_mm authors. All rights reserved.
from mmpretrain.utils import register_all_modules as _register_mmpretrain


def register_all_modules(init_default_scope: bool = True) -> None:
    """Register mmpretrain's and hvpt_mm's modules.

    hvpt_mm registers into mmpretrain's registries, so ``mmpretrain`` stays
    the default scope; importing :mod:`hvpt_mm` registers its modules.

    Args:
        init_default_scope (bool): Whether to set ``mmpretrain`` as the
            default scope. Defaults to True.
    """
    _register_mmpretrain(init_default_scope=init_default_scope)
    import hvpt_mm.datasets  # noqa: F401
    import hvpt_mm.engine  # noqa: F401
    import hvpt_mm.models  # noqa: F401
