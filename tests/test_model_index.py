# Copyright (c) hvpt_mm authors. All rights reserved.
"""model-index.yml lists every config; mim can find each by basename."""
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


def _models():
    with open(osp.join(REPO, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    models = []
    for meta in index['Import']:
        with open(osp.join(REPO, meta)) as f:
            models += yaml.safe_load(f)['Models']
    return models


def test_config_basenames_are_unique():
    """mim resolves `mim train hvpt_mm NAME.py` by basename, _base_ too."""
    names = collections.Counter(
        osp.basename(p) for p in glob.glob(
            osp.join(REPO, 'configs', '**', '*.py'), recursive=True))
    assert [n for n, c in names.items() if c > 1] == []


def test_every_config_has_a_model_index_entry():
    models = _models()
    configs = [m['Config'] for m in models]
    assert sorted(configs) == RUNNABLE
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
