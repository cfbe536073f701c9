# Copyright (c) hvpt_mm authors. All rights reserved.
import pytest

import hvpt_mm
from mmpretrain.registry import (DATASETS, HOOKS, MODELS,
                                 OPTIM_WRAPPER_CONSTRUCTORS, TRANSFORMS)

REGISTERED = {
    MODELS: ['HeuristicMultiTaskPretrainer', 'HVPTContrastiveHead',
             'HVPTMultiLabelHead'],
    TRANSFORMS: ['HVPTMixedSignals', 'HVPTPackInputs',
                 'HVPTLoadImageFromFile'],
    DATASETS: ['HVPTImageNet', 'HVPTCustomDataset', 'HVPTMultiLabelDataset',
               'HVPTCocoMultiLabelDataset', 'HVPTUnlabelledDataset',
               'HVPTMixedDataset'],
    OPTIM_WRAPPER_CONSTRUCTORS: ['HVPTOptimWrapperConstructor'],
    HOOKS: ['HVPTTrustCheckpointHook', 'HVPTLastCheckpointHook',
            'HVPTEpochSeedHook', 'HVPTNonFiniteLossHook'],
}


def test_version():
    assert isinstance(hvpt_mm.__version__, str)
    assert hvpt_mm.version_info[:2] == tuple(
        int(x) for x in hvpt_mm.__version__.split('.')[:2])


@pytest.mark.parametrize('registry,name', [
    (reg, name) for reg, names in REGISTERED.items() for name in names
])
def test_registered_in_mmpretrain(registry, name):
    assert registry.get(name) is not None, f'{name} not in {registry.name}'
    assert registry.scope == 'mmpretrain'


def test_new_names_carry_prefix():
    """New classes must not shadow mmpretrain's (MIMHead, MultiView...)."""
    for names in REGISTERED.values():
        for name in names:
            assert name.startswith('HVPT') or name == \
                'HeuristicMultiTaskPretrainer'


def test_register_all_modules():
    from mmengine.registry import DefaultScope
    hvpt_mm.utils.register_all_modules(init_default_scope=True)
    assert DefaultScope.get_current_instance().scope_name == 'mmpretrain'


def test_root_registrations():
    """Registered in mmengine's root registries: reachable from any scope."""
    from mmengine.fileio.backends import backends
    from mmengine.registry import MODEL_WRAPPERS
    assert MODEL_WRAPPERS.get('HVPTCPUDistributedDataParallel') is not None
    assert 'hvpt_atomic_local' in backends
