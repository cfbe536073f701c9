# Copyright (c) hvpt_mm authors. All rights reserved.
"""How well a model learns the demo scenes' multi-labels, in a plain loop.

Scenes: :func:`demo_scenes.generate_scene` in memory,
``--num-train`` from the Fashion-MNIST train photos (seed 1), ``--num-val``
from the first 5,000 test photos (seed 2). No Runner: AdamW (no decay on
1-d parameters), linear warm-up then cosine to 1 % of ``--lr``, gradient
clipping, seeded batches and views.

- ``supervised``: mmpretrain's ``SwinTransformer`` (a head per 16 channels)
  or torchvision's ResNet-18 from scratch on all train labels: BCE summed
  over classes, averaged over samples; crop (area 0.67-1) and flip.
  Gives the loss curve, validation BCE and mAP.
- ``hvp``: the ``HeuristicMultiTaskPretrainer`` of a demo config (with its
  no-decay keys, and its ``HVPTMixedSignals`` mask settings unless given;
  ``--loss-weights mim,con,mlc``; ``--init-prior 0`` drops the head's
  prior); a ``--labelled-fraction`` keeps labels. Online view: crop 0.67-1,
  flip, mild jitter, block mask; target: crop 0.2-1, flip, strong jitter,
  grey.
  Logs each loss and ``grad_norm_*``, then probes the frozen backbone: a
  linear layer on the standardised pooled features of up to 2,000 labelled
  train scenes (Adam, 300 full-batch steps) gives the validation mAP.

``curve_*`` averages each ``--log-interval`` steps, ``last_*`` is its last
value, ``first_*`` the mean of the first 10 steps. A JSON line with all
arguments and results is appended to ``--out``. Examples::

    python tools/analysis/plain_loop.py supervised --num-train 20000 \\
        --steps 1500 --cache-dir work_dirs/plain_loop/scenes
    python tools/analysis/plain_loop.py hvp --num-train 40000 --steps 1500 \\
        --labelled-fraction 0.75 --cache-dir work_dirs/plain_loop/scenes
"""
import warnings

# mmengine imports pkg_resources, which setuptools deprecates.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')

import argparse
import json
import logging
import math
import os
import os.path as osp
import sys
import time
from collections import defaultdict
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config, DictAction
from mmengine.logging import MessageHub, MMLogger, print_log
from mmpretrain.evaluation import AveragePrecision
from rich.progress import track
from torch import Tensor, nn

# The demo's scene builder: tools/dataset_converters/demo_scenes.py.
sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                            'dataset_converters'))
import demo_scenes

SIZE, NUM_CLASSES = 64, len(demo_scenes.CLASSES)
MEAN = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)  # configs' RGB
STD = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)
# view(): probability and +- range of brightness / contrast, grey's p.
MILD, STRONG = (0.5, 0.2, 0.), (0.8, 0.4, 0.2)


def load_scenes(args: argparse.Namespace) -> List[Tensor]:
    """Train, val: uint8 images ``[N, 3, 64, 64]``, multi-hots ``[N, 10]``."""
    name = f'scenes_{args.num_train}_{args.num_val}_max{args.max_items}.npz'
    path = args.cache_dir and osp.join(args.cache_dir, name)
    if path and osp.isfile(path):
        with np.load(path) as d:
            return [torch.from_numpy(d[f'arr_{i}']) for i in range(4)]
    data = demo_scenes.load_fashion_mnist(demo_scenes.find_fashion_mnist())
    out = []
    for part, num, seed, end in (('train', args.num_train, 1, None),
                                 ('test', args.num_val, 2, 5000)):
        rng = np.random.default_rng(seed)
        x = np.empty((num, 3, SIZE, SIZE), np.uint8)
        y = np.zeros((num, NUM_CLASSES), np.float32)
        for i in track(range(num), f'{part} scenes', transient=True):
            s = demo_scenes.generate_scene(
                data[f'{part}_images'][:end], data[f'{part}_labels'][:end],
                rng, SIZE, args.max_items)
            x[i], y[i, s['labels']] = s['image'].transpose(2, 0, 1), 1
        out += [x, y]
    if path:
        os.makedirs(args.cache_dir, exist_ok=True)
        np.savez(path, *out)
    return [torch.from_numpy(a) for a in out]


def view(x: Tensor, gen: torch.Generator, crop: Tuple[float, float],
         jitter: Tuple[float, ...] = (0., 0., 0.)) -> Tensor:
    """Normalised random square crop, flip and jitter of a uint8 scene."""
    prob, strength, grey = jitter
    size = x.shape[-1]
    area = float(torch.empty(1).uniform_(*crop, generator=gen))
    side = max(8, round(math.sqrt(area) * size))
    top, left = (int(torch.randint(0, size - side + 1, (1, ), generator=gen))
                 for _ in range(2))
    out = F.interpolate(x[None, :, top:top + side, left:left + side].float(),
                        size=(size, size), mode='bilinear',
                        align_corners=False)[0]
    if torch.rand(1, generator=gen) < 0.5:
        out = out.flip(2)
    if prob and torch.rand(1, generator=gen) < prob:
        b, c = (1 + (float(torch.rand(1, generator=gen)) * 2 - 1) * strength
                for _ in range(2))
        out = out * b
        out = ((out - out.mean()) * c + out.mean()).clamp(0, 255)
    if grey and torch.rand(1, generator=gen) < grey:
        out = out.mean(0, keepdim=True).expand_as(out)
    return (out - MEAN) / STD


def quiet_init(module: nn.Module) -> None:
    """``init_weights()`` without mmengine's line per parameter."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    module.init_weights()
    logger.setLevel(level)


def mean_ap(scores: Tensor, target: Tensor) -> float:
    """mAP (percent) over the classes present in ``target``."""
    on = target.sum(0) > 0
    return float(AveragePrecision.calculate(scores[:, on], target[:, on]))


@torch.no_grad()
def embed(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """``fn`` of the normalised uint8 scenes, 250 at a time."""
    return torch.cat([fn((x[i:i + 250].float() - MEAN) / STD)
                      for i in range(0, len(x), 250)])


def window(log: Dict[int, float], lo: int, hi: int) -> Optional[float]:
    """Mean of the values logged at steps ``lo`` to ``hi - 1``."""
    vals = [v for s, v in log.items() if lo <= s < hi]
    return sum(vals) / len(vals) if vals else None


def train(args: argparse.Namespace,
          named: Iterable[Tuple[str, nn.Parameter]], num: int,
          step: Callable[[Tensor], Dict[str, Tensor]], gen: torch.Generator,
          wd: float = 0.05, no_decay: Tuple[str, ...] = ()) -> dict:
    """AdamW on the sum of the ``loss*`` terms of ``step(batch_indices)``."""
    if args.batch_size > num:
        raise ValueError(f'--batch-size {args.batch_size} > {num} scenes')
    groups = [dict(params=[], weight_decay=wd),
              dict(params=[], weight_decay=0.)]
    for n, p in named:
        groups[p.ndim <= 1 or any(k in n for k in no_decay)]['params'] += [p]
    opt = torch.optim.AdamW(groups, lr=args.lr)
    hist, k, t0 = defaultdict(dict), args.log_interval, time.time()
    for it in range(args.steps):
        pos = it % (num // args.batch_size) * args.batch_size
        if pos == 0:  # a new epoch; a last short batch is dropped
            perm = torch.randperm(num, generator=gen)
        p = (it - args.warmup) / max(1, args.steps - args.warmup)
        lr = args.lr * ((it + 1) / args.warmup if it < args.warmup else
                        0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * p)))
        for g in opt.param_groups:
            g['lr'] = lr
        out = step(perm[pos:pos + args.batch_size])
        opt.zero_grad()
        sum(v for n, v in out.items() if n.startswith('loss')).backward()
        if args.clip:
            nn.utils.clip_grad_norm_(
                [q for g in groups for q in g['params']], args.clip)
        opt.step()
        for n, v in out.items():
            hist[n][it] = v.item()
        if (it + 1) % k == 0 or it + 1 == args.steps:
            means = [(n, window(v, it // k * k, it + 1))
                     for n, v in hist.items() if n.startswith(('loss', 'gr'))]
            print_log(f'step {it + 1}/{args.steps} lr {lr:.2e} ' + ''.join(
                f'{n} {v:.4f} ' for n, v in means if v is not None) +
                f'{time.time() - t0:.0f}s', logger='current')
    res = dict(train_sec=time.time() - t0)
    res['sec_per_step'] = res['train_sec'] / args.steps
    for n, v in hist.items():
        curve = [window(v, s, s + k) for s in range(0, args.steps, k)]
        res.update({f'first_{n}': window(v, 0, 10), f'last_{n}': curve[-1],
                    f'curve_{n}': curve})
    return res


def run_supervised(args: argparse.Namespace, data: List[Tensor],
                   gen: torch.Generator) -> dict:
    """Supervised multi-label training; validation BCE and mAP."""
    xtr, ytr, xva, yva = data
    if args.arch == 'resnet18':
        import torchvision
        net = torchvision.models.resnet18(weights=None,
                                          num_classes=NUM_CLASSES)
        dim, net.fc, feat = net.fc.in_features, nn.Identity(), net
    else:
        from mmpretrain.models import SimMIMSwinTransformer, SwinTransformer
        net = SwinTransformer(
            arch=dict(embed_dims=args.embed_dims, depths=args.depths,
                      num_heads=[max(1, args.embed_dims * 2**i // 16)
                                 for i in range(len(args.depths))]),
            img_size=SIZE, patch_size=args.patch_size,
            drop_path_rate=args.drop_path, pad_small_map=True,
            out_indices=(len(args.depths) - 1, ),
            stage_cfgs=dict(block_cfgs=dict(window_size=args.window_size)))
        quiet_init(net)
        if args.init == 'trunc_normal':  # SimMIMSwinTransformer's init
            net.apply(lambda m: SimMIMSwinTransformer._init_weights(net, m))
        dim = net.num_features[-1]

        def feat(x: Tensor) -> Tensor:
            return net(x)[-1].mean((2, 3))
    head = nn.Linear(dim, NUM_CLASSES)
    nn.init.normal_(head.weight, std=0.01)
    nn.init.zeros_(head.bias)
    model = nn.ModuleDict(dict(backbone=net, head=head))

    def bce(logits: Tensor, y: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(
            logits, y, reduction='none').sum(1).mean()

    def step(idx: Tensor) -> Dict[str, Tensor]:
        x = torch.stack([view(xtr[i], gen, (0.67, 1.)) for i in idx])
        return dict(loss=bce(head(feat(x)), ytr[idx]))

    res = train(args, model.named_parameters(), len(xtr), step, gen)
    model.eval()
    scores = embed(lambda x: head(feat(x)), xva)
    return dict(res, val_loss=float(bce(scores, yva)),
                val_map=mean_ap(scores, yva))


def run_hvp(args: argparse.Namespace, data: List[Tensor],
            gen: torch.Generator) -> dict:
    """HVP pre-training, then the frozen-feature probe's validation mAP."""
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample

    from hvpt_mm.utils import register_all_modules
    register_all_modules()
    xtr, ytr, xva, yva = data
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options or {})
    if args.loss_weights:
        cfg.model.loss_weights = dict(zip(('mim', 'con', 'mlc'),
                                          args.loss_weights))
    if args.init_prior is not None:  # 0: no prior
        cfg.model.mlc_head.init_prior = args.init_prior or None
    args.pool_visible = bool(args.pool_visible
                             or cfg.model.get('pool_visible'))
    cfg.model.update(pool_visible=args.pool_visible,
                     grad_norm_interval=args.grad_norm_interval)
    sig = next(t for t in cfg.train_pipeline if t.type == 'HVPTMixedSignals')
    for key in ('mask_patch_size', 'mask_ratio', 'labelled_mask_prob',
                'unlabelled_mask_prob'):
        if getattr(args, key) is None:  # not given: the config's
            setattr(args, key, {**sig, **sig.mask_generator}.get(key, 1.))
    grid = SIZE // args.mask_patch_size
    rep = args.mask_patch_size // cfg.model.backbone.get('patch_size', 4)
    MessageHub.get_current_instance().update_info('max_iters', args.steps)
    model = MODELS.build(cfg.model)
    quiet_init(model)
    for m in model.backbone.modules():
        if args.init == 'torch' and isinstance(m, nn.Linear):
            m.reset_parameters()
    model.train()
    has = torch.rand(len(xtr), generator=torch.Generator().manual_seed(
        123)) < args.labelled_fraction

    def step(idx: Tensor) -> Dict[str, Tensor]:
        views = [torch.stack([view(xtr[i], gen, crop, jitter) for i in idx])
                 for crop, jitter in (((0.67, 1.), MILD), ((0.2, 1.), STRONG))]
        samples = []
        for i in idx:  # SimMIM's block mask on the model's patch grid
            mask = torch.zeros(grid * grid, dtype=torch.bool)
            mask[torch.randperm(grid * grid, generator=gen)[:math.ceil(
                grid * grid * args.mask_ratio)]] = True
            prob = (args.labelled_mask_prob
                    if has[i] else args.unlabelled_mask_prob)
            if prob < 1 and float(torch.rand(1, generator=gen)) >= prob:
                mask[:] = False
            samples.append(DataSample(has_label=bool(has[i])).set_mask(
                mask.view(grid, grid).repeat_interleave(rep, 0)
                .repeat_interleave(rep, 1)).set_gt_score(ytr[i] * has[i]))
        return model.loss(views, samples)

    keys = cfg.optim_wrapper.get('paramwise_cfg', {}).get('custom_keys', {})
    res = train(args, ((n, p) for n, p in model.named_parameters()
                       if p.requires_grad and 'momentum_encoder' not in n),
                len(xtr), step, gen,
                cfg.optim_wrapper.optimizer.get('weight_decay', 0.05),
                tuple(k for k, v in keys.items() if v.get('decay_mult') == 0))
    model.eval()
    xl, yl = xtr[has][:2000], ytr[has][:2000]
    if len(xl) < 2:
        raise ValueError('the probe needs at least 2 labelled scenes')
    ftr, fva = (embed(lambda x: model.extract_feat(x)[-1].mean((2, 3)), s)
                for s in (xl, xva))
    mu, sd = ftr.mean(0), ftr.std(0) + 1e-6
    ftr, fva = (ftr - mu) / sd, (fva - mu) / sd
    lin = nn.Linear(ftr.shape[1], NUM_CLASSES)
    opt = torch.optim.Adam(lin.parameters(), lr=1e-2, weight_decay=1e-4)
    for _ in range(300):
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(lin(ftr), yl).backward()
        opt.step()
    with torch.no_grad():
        return dict(res, probe_scenes=len(xl),
                    probe_map=mean_ap(lin(fva), yva))


def parse_args() -> argparse.Namespace:
    """The subcommands; options left None take the config's value."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    inits = ('torch', 'trunc_normal')  # trunc_normal: SimMIM's Linear init
    for name, opts in (('supervised', [
            ('arch', ('swin', 'resnet18'), 'swin'), ('embed-dims', int, 48),
            ('depths', lambda t: [int(v) for v in t.split(',')], [1] * 4),
            ('patch-size', int, 4), ('window-size', int, 4),
            ('drop-path', float, 0.05),
            ('init', inits, 'torch')]), ('hvp', [
            ('config', str, 'configs/demo/'
             'hvpt_swin-demo_1xb64-3e_scenes-64px.py'),
            ('loss-weights', lambda t: [float(v) for v in t.split(',')],
             None),
            ('labelled-fraction', float, 0.75),
            ('labelled-mask-prob', float, None),
            ('unlabelled-mask-prob', float, None),
            ('mask-patch-size', int, None), ('mask-ratio', float, None),
            ('init-prior', float, None), ('init', inits, 'trunc_normal'),
            ('grad-norm-interval', int, 25)])):
        p = sub.add_parser(name)
        for flag, kind, default in opts + [
                ('num-train', int, 20000), ('num-val', int, 500),
                ('max-items', int, 4), ('cache-dir', str, None),
                ('steps', int, 1500), ('batch-size', int, 64),
                ('lr', float, 1e-3), ('warmup', int, 100),
                ('clip', float, 5.), ('seed', int, 0), ('threads', int, 1),
                ('log-interval', int, 50),
                ('out', str, 'work_dirs/plain_loop/results.jsonl')]:
            choices = kind if isinstance(kind, tuple) else None
            p.add_argument(f'--{flag}', type=str if choices else kind,
                           choices=choices, default=default,
                           help=f'default: {default}' if default is not None
                           or flag == 'cache-dir' else "default: config's")
    p.add_argument('--cfg-options', nargs='+', action=DictAction)  # hvp
    p.add_argument('--pool-visible', action='store_true')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    data = load_scenes(args)
    run = run_supervised if args.command == 'supervised' else run_hvp
    res = run(args, data, gen)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'a') as f:
        f.write(json.dumps(dict(args=vars(args), **res)) + '\n')
    print_log(' '.join(f'{k} {v:.4f}' for k, v in res.items()
                       if isinstance(v, float)), logger='current')


if __name__ == '__main__':
    main()
