# Copyright (c) hvpt_mm authors. All rights reserved.
"""model-index.yml lists every recipe config, the demo's metafile the CPU
demo's; mim can find each config by basename."""
import collections
import glob
import os.path as osp

import yaml

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# Configs that train or test something (not the _base_ fragments).
RUNNABLE = sorted(
    osp.relpath(p, REPO)
    for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                       recursive=True) if '/_base_/' not in p)
DEMO = [p for p in RUNNABLE if p.startswith('configs/demo/')]
RECIPES = [p for p in RUNNABLE if p not in DEMO]
DEMO_META = 'configs/demo/metafile.yml'


def _models():
    with open(osp.join(REPO, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    models = []
    for meta in index['Import']:
        with open(osp.join(REPO, meta)) as f:
            models += yaml.safe_load(f)['Models']
    return models


def _demo_models():
    with open(osp.join(REPO, DEMO_META)) as f:
        return yaml.safe_load(f)


def _config_epochs(path):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, path))
    return cfg.train_cfg.get('max_epochs'), cfg.train_cfg.get('max_iters')


def test_config_basenames_are_unique():
    """mim resolves `mim train hvpt_mm NAME.py` by basename, _base_ too."""
    names = collections.Counter(
        osp.basename(p) for p in glob.glob(
            osp.join(REPO, 'configs', '**', '*.py'), recursive=True))
    assert [n for n, c in names.items() if c > 1] == []


def test_every_config_has_a_model_index_entry():
    """Recipes in the model index, the CPU demo's configs out of it.

    Catches a new recipe config without an entry (mim cannot list it) and
    a demo config listed by `mim search` among the models to use.
    """
    models = _models()
    configs = [m['Config'] for m in models]
    assert sorted(configs) == RECIPES
    names = [m['Name'] for m in models]
    assert len(set(names)) == len(names)
    for m in models:
        # mmpretrain's convention: the name is the config's basename.
        assert m['Name'] == osp.splitext(osp.basename(m['Config']))[0]
        assert m['In Collection'] == 'HVP'
        for down in m.get('Downstream', []):
            assert down in names, (m['Name'], down)


def test_collection_readme_exists():
    with open(osp.join(REPO, 'configs/hvpt/metafile.yml')) as f:
        meta = yaml.safe_load(f)
    for coll in meta['Collections']:
        assert osp.isfile(osp.join(REPO, coll['README']))
        assert coll['Paper']['URL'] == 'https://arxiv.org/abs/2310.07510'


def test_demo_configs_in_their_own_metafile():
    """Every demo config has an entry in the demo's collection, not HVP's.

    Catches a demo config left without an entry, or one that `mim search`
    would list as an HVP model.
    """
    meta = _demo_models()
    models = meta['Models']
    assert sorted(m['Config'] for m in models) == DEMO
    assert {m['In Collection'] for m in models} == {'HVP CPU demo'}
    assert [c['Name'] for c in meta['Collections']] == ['HVP CPU demo']
    with open(osp.join(REPO, 'model-index.yml')) as f:
        assert DEMO_META not in yaml.safe_load(f)['Import']
    names = {m['Name'] for m in models}
    for m in models:
        assert m['Name'] == osp.splitext(osp.basename(m['Config']))[0]
        for down in m.get('Downstream', []):
            assert down in names, (m['Name'], down)


def test_metafile_schedules_match_the_configs():
    """Epochs / iterations in both metafiles are the configs' own.

    Catches an entry copied from its sibling, e.g. the demo's 8-epoch
    linear probe listed with the pre-training's 3 epochs.
    """
    for m in _models() + _demo_models()['Models']:
        epochs, iters = _config_epochs(m['Config'])
        meta = m['Metadata']
        if 'Epochs' in meta:
            assert meta['Epochs'] == epochs, m['Name']
        else:
            assert meta['Iterations'] == iters, m['Name']


def test_collections_name_code_and_resources():
    """Both collections carry the fields mim shows: Code, Resources."""
    with open(osp.join(REPO, 'configs/hvpt/metafile.yml')) as f:
        colls = yaml.safe_load(f)['Collections']
    for coll in colls + _demo_models()['Collections']:
        assert osp.isfile(osp.join(REPO, coll['Code']['URL']))
        assert coll['Metadata']['Training Resources']
