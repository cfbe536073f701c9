# Copyright (c) hvpt_mm authors. All rights reserved.
"""A runner checkpoint loads through the host libraries' own APIs.

Each case runs in a fresh interpreter (``hvpt_load_anywhere.py``) that never
imports ``hvpt_mm`` itself, as a user's script would: mmpretrain's
``get_model`` + ``FeatureExtractor``, mmdet's ``init_detector`` and mmseg's
``init_model`` on config files inheriting ours (their ``custom_imports``
import ``hvpt_mm``, which lets torch's safe loader read the runner's
checkpoint), and mmdet's / mmseg's own ``SwinTransformer`` on a backbone
written by ``extract_backbone.py --to mmdet`` (tensors only: no import
needed at all).
"""
import json

import pytest
import torch
from PIL import Image

from test_transfer.hvpt_transfer_utils import (  # noqa: I001
    CLASSIFICATION, CLS_SIZE, DENSE_SIZE, DETECTION, DOWNSTREAM_WINDOW,
    PRETRAIN_WINDOW, SEGMENTATION, STAGE_DIMS, LoadLog,
    assert_backbone_loaded, backbone_state, new_output_norms,
    tiny_backbone_options, write_user_config)
from _helpers.tiny import run_tool

SCRIPT = 'tests/test_transfer/hvpt_load_anywhere.py'
INDEX = 'relative_position_index'


def load_with(api, config, checkpoint, out_dir, image=None):
    """Run the script; return its result, backbone state and load log."""
    out_dir.mkdir()
    run_tool([SCRIPT, api, str(config), checkpoint, str(out_dir)] +
             ([image] if image else []))
    with open(out_dir / 'result.json') as f:
        result = json.load(f)
    log = LoadLog()
    log.lines = result['log']
    # Tensors only: the safe loader reads it without hvpt_mm.
    state = torch.load(out_dir / 'backbone.pth', weights_only=True)
    return result, state, log


@pytest.fixture(scope='module')
def photo(tmp_path_factory):
    """A real photo (scikit-image's astronaut) as a JPEG file."""
    from skimage import data
    path = str(tmp_path_factory.mktemp('photo') / 'astronaut.jpg')
    Image.fromarray(data.astronaut()).save(path)
    return path


def user_config(api, checkpoint, folder):
    """A tiny user config inheriting ours for ``api``; returns its path."""
    if api == 'mmpretrain':
        relpath, options = CLASSIFICATION['linear'], {
            **tiny_backbone_options(checkpoint, DOWNSTREAM_WINDOW, CLS_SIZE),
            'model.head.in_channels': STAGE_DIMS[-1],
        }
    elif api == 'mmdet':
        relpath, options = DETECTION['1x'], {
            **tiny_backbone_options(checkpoint, DOWNSTREAM_WINDOW,
                                    DENSE_SIZE),
            'model.neck.in_channels': STAGE_DIMS,
        }
    else:
        relpath, options = SEGMENTATION, {
            **tiny_backbone_options(checkpoint, PRETRAIN_WINDOW, DENSE_SIZE),
            'model.decode_head.in_channels': STAGE_DIMS,
            'model.decode_head.channels': 32,
            'model.auxiliary_head.in_channels': STAGE_DIMS[2],
            'model.auxiliary_head.channels': 16,
            'model.data_preprocessor.size': (DENSE_SIZE, DENSE_SIZE),
        }
    return write_user_config(str(folder / 'my_config.py'), relpath, options)


@pytest.mark.parametrize('api', ['mmpretrain', 'mmdet', 'mmseg'])
def test_runner_checkpoint_through_host_api(api, hvp_ckpt, photo, tmp_path):
    config = user_config(api, hvp_ckpt, tmp_path)
    result, state, log = load_with(api, config, hvp_ckpt, tmp_path / 'out',
                                   photo if api == 'mmpretrain' else None)
    assert not result['hvpt_mm_before'] and result['hvpt_mm_after']
    # The API loads the whole model: read the backbone's part of the log.
    assert_backbone_loaded(state, backbone_state(hvp_ckpt),
                           log.within('backbone.'))
    if api == 'mmpretrain':
        # Globally pooled last stage of the tiny Swin, for the one photo.
        assert result['features'] == [[STAGE_DIMS[-1]]]


@pytest.mark.parametrize('lib', ['mmdet', 'mmseg'])
def test_own_swin_on_extracted_backbone(lib, hvp_ckpt, tmp_path):
    path = str(tmp_path / 'backbone_mmdet.pth')
    run_tool(['tools/model_converters/extract_backbone.py', hvp_ckpt, path,
              '--to', 'mmdet'])
    result, state, log = load_with(f'{lib}-swin', DOWNSTREAM_WINDOW, path,
                                   tmp_path / 'out')
    assert not result['hvpt_mm_after']
    pretrained = backbone_state(hvp_ckpt)
    new = new_output_norms(state, pretrained)
    # Missing from the file: only buffers the module builds for its window
    # and the outputs the pre-training never had (norm0-2).
    extracted = torch.load(path, weights_only=True)['state_dict']
    missing = {k for k in state if f'backbone.{k}' not in extracted}
    assert sorted(k for k in missing if INDEX not in k) == new
    for key, value in state.items():
        if INDEX in key or key in new:
            continue
        if key.endswith('relative_position_bias_table'):
            side = 2 * DOWNSTREAM_WINDOW - 1
            assert value.shape == (side * side, pretrained[key].shape[1])
        else:
            assert torch.equal(value, pretrained[key]), key
