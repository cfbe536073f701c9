# Copyright (c) hvpt_mm authors. All rights reserved.
"""docs/customize_backbone.md: its ViT module and config, run as written.

The files are taken from the page's code blocks and written to a user's
folder; only sizes are shrunk, on the command line.
"""
import json
import os.path as osp
import re
import shlex

import pytest

from _helpers.tiny import REPO, run_tool

DOC = osp.join(REPO, 'docs', 'customize_backbone.md')
TINY_VIT = ['model.backbone.arch._delete_=True',
            'model.backbone.arch.embed_dims=32',
            'model.backbone.arch.num_layers=2',
            'model.backbone.arch.num_heads=2',
            'model.backbone.arch.feedforward_channels=64',
            'model.backbone.img_size=64']
# Runs the backbone of the doc's module on 64 x 96 images.
CHECK = '''
import json, torch
import my_vit
from mmpretrain.registry import MODELS
vit = MODELS.build(dict(type='MyMaskedViT', arch=dict(
    embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
    img_size=64, patch_size=16))
vit.eval()  # (mmpretrain's backbones return None from train())
x = torch.randn(2, 3, 64, 96)
hidden = torch.ones(2, 4, 6, dtype=torch.bool)
with torch.no_grad():
    plain, masked = vit(x, None), vit(x, hidden)
print(json.dumps(dict(
    shapes=[list(f.shape) for f in plain + masked],
    plain_same=torch.allclose(plain[-1][0], plain[-1][1]),
    masked_same=torch.allclose(masked[-1][0], masked[-1][1], atol=1e-6),
    last_stage=vit.stages[-1] is vit.layers[-1],
    mask_token=list(vit.mask_token.shape))))
'''


@pytest.fixture
def user_files(tmp_path):
    """``my_project/`` with the page's module and config; the command."""
    with open(DOC) as f:
        blocks = re.findall(r'```(\w+)\n(.*?)```', f.read(), re.S)
    code = {b.split('\n', 1)[0]: b for kind, b in blocks if kind == 'python'}
    project = tmp_path / 'my_project'
    project.mkdir()
    for name in ('my_vit.py', 'my_vit_hvp.py'):
        (project / name).write_text(code[f'# {name}: ' + {
            'my_vit.py': "mmpretrain's ViT with what HVP needs from a "
            'backbone.',
            'my_vit_hvp.py': 'HVP pre-training of a ViT-B/16 at 224 px.',
        }[name]])
    bash = [b for kind, b in blocks if kind == 'bash']
    assert len(bash) == 1
    return project, bash[0]


def test_backbone_keeps_the_contract(user_files, tmp_path):
    """Shapes computed by hand (64 x 96 px, 16-px patches: 4 x 6 maps of
    32 channels); a fully masked batch gives the same map for different
    images (the bug: a mask that never reaches the tokens)."""
    project, _ = user_files
    script = tmp_path / 'check.py'
    script.write_text(CHECK)
    proc = run_tool([str(script)], env=dict(PYTHONPATH=str(project)))
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == dict(shapes=[[2, 32, 4, 6]] * 2, plain_same=False,
                       masked_same=True, last_stage=True,
                       mask_token=[1, 1, 32])


def test_trains_two_iterations(user_files, tmp_path, imagenet_root):
    """The page's command trains the page's config (the bug: a contract
    the pretrainer no longer meets, e.g. a missing ``stages`` or a decoder
    stride that does not give back the input size)."""
    project, bash = user_files
    args = shlex.split(bash.replace('\\\n', ' '))
    assert args[:3] == ['PYTHONPATH=my_project', 'python', 'tools/train.py']
    work = tmp_path / 'work'
    args = [a.replace('my_project', str(project))
             .replace('work_dirs/my_vit_hvp', str(work)) for a in args[3:]]
    classes = ','.join(f'n{c:08d}' for c in range(3))
    proc = run_tool(['tools/train.py', *args, '--cfg-options', *TINY_VIT,
                     'model.neck.in_channels=32',
                     'model.con_neck.in_channels=32',
                     'model.con_neck.hid_channels=64',
                     'model.con_neck.out_channels=32',
                     'model.con_head.predictor.in_channels=32',
                     'model.con_head.predictor.hid_channels=64',
                     'model.con_head.predictor.out_channels=32',
                     'model.mlc_head.in_channels=32',
                     'model.mlc_head.num_classes=3',
                     'model.grad_norm_interval=1',
                     f'train_dataloader.dataset.data_root={imagenet_root}',
                     f'train_dataloader.dataset.classes=[{classes}]',
                     'train_dataloader.dataset.pipeline.1.num_classes=3',
                     'train_dataloader.dataset.pipeline.1.input_size=64',
                     # 12 images, drop_last: two iterations.
                     'train_dataloader.batch_size=6',
                     'train_dataloader.num_workers=0',
                     'train_dataloader.persistent_workers=False',
                     'train_dataloader.pin_memory=False',
                     'default_hooks.logger.interval=1',
                     'train_cfg.max_epochs=1'],
                    env=dict(PYTHONPATH=str(project)))
    out = proc.stdout + proc.stderr
    steps = [line for line in out.splitlines() if 'Epoch(train) [1]' in line]
    assert len(steps) == 2 and '[1][2/2]' in steps[-1]
    for key in ('loss_mim', 'loss_con', 'loss_mlc', 'grad_norm_mim',
                'grad_norm_con', 'grad_norm_mlc'):
        assert all(f'{key}: ' in line for line in steps), key
    assert (work / 'epoch_1.pth').is_file()
