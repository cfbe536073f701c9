# Copyright (c) hvpt_mm authors. All rights reserved.
"""The commands and paths the docs and config headers show are real.

Sources: README.md, configs/README.md, configs/hvpt/README.md, docs/*.md
(shell code blocks) and the header comment of every config. From each
command line (``tools/...``, ``python tools/...``, ``bash tools/...``,
``mim train|test``, with ``VAR=value`` prefixes and ``\\`` continuations):

- the script exists, every ``--flag`` is one its argparse parser (read from
  the source) or mim accepts, every ``VAR=`` prefix is read by the shell
  script, every config or repo path exists;
- a training launch trains with the lr of the batch it runs
  (``auto_scale_lr`` enabled, the lr scaled by HVPTRunner's rule), and all
  launches of one pre-training recipe on the same number of GPUs agree on
  batch and lr (one launch per GPU count); multi-GPU launches run the
  recipe's batch;
- a downstream training launch names its pre-trained backbone.

Every repo path the docs name (``configs/...``, ``tools/...``, relative
links, config basenames) must exist.
"""
import ast
import copy
import functools
import glob
import os
import os.path as osp
import re
import shlex
import types
from typing import Dict, List, NamedTuple, Optional

import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from hvpt_mm.engine.runner import HVPTRunner, accumulative_counts
from _helpers.tiny import REPO

DOCS = sorted(
    ['README.md', 'configs/README.md', 'configs/hvpt/README.md'] +
    [osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'docs', '*.md'))])
CONFIGS = sorted(
    osp.relpath(p, REPO)
    for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                       recursive=True) if '/_base_/' not in p)
# Top-level folders of the checkout (not run outputs or data).
TOP_DIRS = tuple(sorted(
    d for d in os.listdir(REPO)
    if osp.isdir(osp.join(REPO, d)) and not d.startswith(('.', '_'))
    and d not in ('work_dirs', 'data', 'reports', 'build', 'dist')
    and not d.endswith('.egg-info')))
# Shell scripts and the Python tool they hand their options to.
FORWARDS = {
    'tools/dist_train.sh': 'tools/train.py',
    'tools/slurm_train.sh': 'tools/train.py',
    'tools/dist_test.sh': 'tools/test.py',
}
# Positional arguments before the config / options of each launcher.
MIM_OPTIONS = {
    'train': {'--launcher', '-l', '--port', '--gpus', '-G', '--gpus-per-node',
              '-g', '--cpus-per-task', '-c', '--partition', '-p',
              '--srun-args', '--yes', '-y'},
    'test': {'--checkpoint', '-C', '--launcher', '-l', '--port', '--gpus',
             '-G', '--gpus-per-node', '-g', '--cpus-per-task', '-c',
             '--partition', '-p', '--srun-args', '--yes', '-y'},
}
HOST_PACKAGES = ('mmpretrain', 'mmdet', 'mmseg')


class Command(NamedTuple):
    source: str  # where it is shown
    env: Dict[str, str]
    argv: List[str]


def _join_continuations(lines: List[str]) -> List[str]:
    out, current = [], ''
    for line in lines:
        stripped = line.rstrip()
        if stripped.endswith('\\'):
            current += stripped[:-1] + ' '
            continue
        out.append(current + stripped)
        current = ''
    if current:
        out.append(current)
    return out


def _shell_blocks(text: str) -> List[List[str]]:
    """Lines of the fenced code blocks that hold shell commands."""
    blocks = re.findall(r'```(\w*)\n(.*?)```', text, re.S)
    return [block.splitlines() for lang, block in blocks
            if lang in ('', 'bash', 'sh', 'shell')]


def header_lines(path: str) -> List[str]:
    """The leading comment block of a config, ``#`` removed."""
    lines = []
    with open(osp.join(REPO, path)) as f:
        for line in f:
            if not line.startswith('#'):
                break
            lines.append(line[1:])
    return lines


def _is_command(argv: List[str]) -> bool:
    head = argv[0]
    if head in ('python', 'bash') and len(argv) > 1:
        head = argv[1]
    return bool(re.match(r'^tools/\S+\.(py|sh)$', head)) or (
        argv[0] == 'mim' and len(argv) > 3)


def _parse(line: str, source: str, this_file: Optional[str] = None
           ) -> Optional[Command]:
    if this_file:
        line = line.replace(f'{osp.dirname(this_file)}/<this file>',
                            this_file)
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError:
        return None
    env = {}
    while tokens and re.match(r'^[A-Z_]+=', tokens[0]):
        key, value = tokens.pop(0).split('=', 1)
        env[key] = value
    if not tokens or not _is_command(tokens):
        return None
    return Command(source, env, tokens)


@functools.lru_cache(maxsize=None)
def commands() -> List[Command]:
    found = []
    for doc in DOCS:
        with open(osp.join(REPO, doc)) as f:
            text = f.read()
        for block in _shell_blocks(text):
            for line in _join_continuations(block):
                cmd = _parse(line.strip(), doc)
                if cmd:
                    found.append(cmd)
    for config in CONFIGS:
        for line in _join_continuations(header_lines(config)):
            cmd = _parse(line.strip(), config, this_file=config)
            if cmd:
                found.append(cmd)
    return found


@functools.lru_cache(maxsize=None)
def script_flags(script: str) -> frozenset:
    """The option strings ``script``'s argparse parser takes, from its
    source: the string arguments of every ``add_argument`` call. A script
    that builds option names at run time (``f'--{name}'``) is credited with
    every option-like string constant of its source."""
    with open(osp.join(REPO, script)) as f:
        tree = ast.parse(f.read())
    flags, dynamic = set(), False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(
                node.func, 'attr', None) == 'add_argument':
            first = node.args[0] if node.args else None
            if not isinstance(first, ast.Constant):
                dynamic = True
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(
                        arg.value, str) and arg.value.startswith('-'):
                    flags.add(arg.value)
    if dynamic:
        flags |= {
            f'--{node.value}' for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and re.match(r'^[a-z][a-z0-9]*(-[a-z0-9]+)*$', node.value)
        }
    return frozenset(flags | {'-h', '--help'})


def _script_of(argv: List[str]) -> Optional[str]:
    """The repo script a command runs, and the argv after it."""
    head = argv[1] if argv[0] in ('python', 'bash') else argv[0]
    return head if head.startswith('tools/') else None


def _options(argv: List[str]) -> Dict[str, List[str]]:
    """Option name -> the values after it (until the next option)."""
    out: Dict[str, List[str]] = {}
    current = None
    for token in argv:
        if token.startswith('-') and not re.match(r'^-\d', token):
            current = token.split('=', 1)[0]
            out.setdefault(current, [])
            if '=' in token:
                out[current].append(token.split('=', 1)[1])
        elif current is not None:
            out[current].append(token)
    return out


def _positionals(argv: List[str]) -> List[str]:
    out = []
    for token in argv:
        if token.startswith('-'):
            break
        out.append(token)
    return out


def _cmd_id(cmd: Command) -> str:
    return f'{cmd.source}: {" ".join(cmd.argv)[:90]}'


def _exists(path: str) -> bool:
    """A repo file or folder, or one of a host library's configs / tools."""
    if osp.exists(osp.join(REPO, path)):
        return True
    for package in HOST_PACKAGES:
        module = __import__(package)
        if osp.exists(
                osp.join(osp.dirname(module.__file__), '.mim', path)):
            return True
    return False


def test_docs_show_commands():
    """The extraction finds the documented launches (a parser that finds
    nothing would pass everything)."""
    sources = {c.source for c in commands()}
    for doc in ('README.md', 'configs/README.md', 'configs/hvpt/README.md',
                'docs/custom_dataset.md'):
        assert doc in sources, doc
    heads = {' '.join(c.argv[:2]) for c in commands()}
    assert any(h.startswith('tools/dist_train.sh') for h in heads)
    assert any(h.startswith('mim train') for h in heads)
    assert any('tools/transfer.py' in h for h in heads)


@pytest.mark.parametrize('cmd', commands(), ids=_cmd_id)
def test_command_names_real_scripts_flags_and_paths(cmd):
    """Catches a renamed config or script, a flag the tool does not take
    (or lost), an environment variable the script ignores."""
    argv = cmd.argv
    if argv[0] == 'mim':
        sub, package, config = argv[1], argv[2], argv[3]
        assert sub in MIM_OPTIONS and package == 'hvpt_mm', argv
        assert glob.glob(osp.join(REPO, 'configs', '**', config),
                         recursive=True), f'no config named {config}'
        tool = f'tools/{sub}.py'
        allowed = MIM_OPTIONS[sub] | script_flags(tool)
        rest = argv[4:]
    else:
        script = _script_of(argv)
        assert osp.isfile(osp.join(REPO, script)), script
        rest = argv[argv.index(script) + 1:]
        if script.endswith('.sh'):
            with open(osp.join(REPO, script)) as f:
                text = f.read()
            for var in cmd.env:
                assert re.search(rf'\b{var}\b', text), \
                    f'{script} does not read {var}'
            allowed = script_flags(FORWARDS[script]) if \
                script in FORWARDS else frozenset()
        else:
            allowed = script_flags(script)
    for flag in _options(rest):
        assert flag in allowed, f'{flag} is not an option of {argv[:2]}'
    for token in argv:
        for path in re.findall(r'(?:^|=)((?:%s)/[^\s=]+)' %
                               '|'.join(TOP_DIRS), token):
            if '$' not in path:
                assert _exists(path), f'{path} does not exist'


def _world_size(cmd: Command) -> Optional[int]:
    """Processes a training launch runs (None: not a training launch)."""
    argv = cmd.argv
    if argv[0] == 'mim':
        if argv[1] != 'train':
            return None
        opts = _options(argv[4:])
        launcher = (opts.get('--launcher') or opts.get('-l') or ['none'])[0]
        gpus = int((opts.get('--gpus') or opts.get('-G') or ['1'])[0])
        return 1 if launcher == 'none' else gpus
    script = _script_of(argv)
    if script == 'tools/train.py':
        return 1
    if script == 'tools/dist_train.sh':
        pos = _positionals(argv[argv.index(script) + 1:])
        return int(pos[1]) * int(cmd.env.get('NNODES', 1))
    if script == 'tools/slurm_train.sh':
        return int(cmd.env.get('GPUS', 8))
    return None


def _train_config(cmd: Command) -> str:
    argv = cmd.argv
    if argv[0] == 'mim':
        name = argv[3]
        return osp.relpath(
            glob.glob(osp.join(REPO, 'configs', '**', name),
                      recursive=True)[0], REPO)
    script = _script_of(argv)
    pos = _positionals(argv[argv.index(script) + 1:])
    return pos[2] if script == 'tools/slurm_train.sh' else pos[0]


def _cfg_options(cmd: Command) -> dict:
    values = _options(cmd.argv).get('--cfg-options', [])
    namespace = types.SimpleNamespace()
    DictAction(option_strings=['--cfg-options'], dest='opts')(
        None, namespace, values)
    return namespace.opts if values else {}


@functools.lru_cache(maxsize=None)
def load(config: str) -> Config:
    return Config.fromfile(osp.join(REPO, config))


def launch_lr(config: str, world_size: int, options: dict):
    """(images per optimizer step, lr of the first group after scaling)."""
    cfg = copy.deepcopy(load(config))
    cfg.merge_from_dict(options)
    optim_cfg = cfg.optim_wrapper.copy()
    optim_cfg.type = 'OptimWrapper'  # AMP needs a GPU; the lr is the same
    for key in ('loss_scale', 'dtype'):
        optim_cfg.pop(key, None)
    scope = cfg.get('default_scope', 'mmpretrain')
    with DefaultScope.overwrite_default_scope(scope):
        if 'constructor' in optim_cfg:
            optim_cfg.constructor = 'DefaultOptimWrapperConstructor'
            optim_cfg.pop('paramwise_cfg', None)
        wrapper = build_optim_wrapper(torch.nn.Linear(2, 2), optim_cfg)
    runner = types.SimpleNamespace(
        world_size=world_size, _train_dataloader=dict(cfg.train_dataloader),
        param_schedulers=cfg.param_scheduler,
        logger=MMLogger.get_current_instance())
    before = wrapper.optimizer.param_groups[0]['lr']
    assert 'auto_scale_lr' in cfg, f'{config}: no auto_scale_lr, so no ' \
        'batch its lr is set for'
    HVPTRunner.scale_lr(runner, wrapper, cfg.auto_scale_lr)
    images = world_size * cfg.train_dataloader.batch_size * \
        accumulative_counts(optim_cfg)
    after = wrapper.optimizer.param_groups[0]['lr']
    base = cfg.auto_scale_lr.base_batch_size
    # Scaled, or run at exactly the batch the lr is set for.
    assert after == pytest.approx(before * images / base, rel=1e-9), \
        f'{config} on {world_size} process(es): {images} images per step, ' \
        f'lr set for {base} and not scaled'
    return images, after, base


def _launches():
    out = []
    for cmd in commands():
        world = _world_size(cmd)
        if world is not None:
            out.append((cmd, world))
    return out


def test_launches_train_with_the_lr_of_their_batch():
    """Each documented training launch: lr = recipe lr x images per step /
    base batch; launches of one pre-training recipe on the same GPU count
    agree; multi-GPU launches run the recipe's batch; downstream launches
    name a backbone. Catches: a doc that launches 8 GPUs on a 16-GPU config
    without rescaling, two docs with different launches for the same
    GPUs, a downstream command that would stop for want of a backbone."""
    per_world: Dict[tuple, set] = {}
    launches = _launches()
    assert len(launches) > 10
    for cmd, world in launches:
        config = _train_config(cmd)
        if not osp.isfile(osp.join(REPO, config)):
            continue  # a user's config the doc writes (checked elsewhere)
        options = _cfg_options(cmd)
        images, lr, base = launch_lr(config, world, options)
        if config.startswith('configs/pretrain/'):
            recipe = load(config).optim_wrapper.optimizer.lr
            per_world.setdefault((world, recipe), set()).add((images, lr))
            if world > 1:
                assert images == base, _cmd_id(cmd)
        elif not config.startswith('configs/demo/'):
            backbone = {k: v for k, v in options.items()
                        if k.startswith('model.backbone.init_cfg')}
            assert backbone, f'{_cmd_id(cmd)}: names no backbone'
            if world > 1:
                assert images == base, _cmd_id(cmd)
    for key, found in per_world.items():
        assert len(found) == 1, (key, found)


@functools.lru_cache(maxsize=None)
def renamed_configs() -> frozenset:
    """Old config names CHANGELOG.md records as renamed ("`old.py` is now
    `new.py`"): prose may name them as history (commands may not)."""
    with open(osp.join(REPO, 'CHANGELOG.md')) as f:
        text = ' '.join(f.read().split())
    old = re.findall(r'`([^`]+\.py)` (?:is|are) now', text)
    return frozenset(osp.basename(n) for name in old for n in _expand(name))


def _doc_paths(text: str) -> List[str]:
    paths = re.findall(r'(?<![\w/.-])((?:%s)/[\w./{},-]*[\w/}])' %
                       '|'.join(TOP_DIRS), text)
    out = []
    for path in paths:
        out += _expand(path)
    return out


def _expand(path: str) -> List[str]:
    """``a_{b,c}.py`` -> ``a_b.py``, ``a_c.py``."""
    match = re.search(r'\{([^{}]*)\}', path)
    if not match:
        return [path]
    out = []
    for choice in match.group(1).split(','):
        out += _expand(path[:match.start()] + choice + path[match.end():])
    return out


@pytest.mark.parametrize('source', DOCS + CONFIGS)
def test_paths_the_docs_name_exist(source):
    """Every repo path (configs/..., tools/..., docs/...), relative link
    and config basename of ours a doc or config header names exists.
    Catches references left behind by a rename."""
    if source.endswith('.py'):
        text = ''.join(header_lines(source))
        text = text.replace(f'{osp.dirname(source)}/<this file>', source)
    else:
        with open(osp.join(REPO, source)) as f:
            text = f.read()
    missing = [p for p in _doc_paths(text) if not _exists(p)]
    if source.endswith('.md'):
        for link in re.findall(r'\]\(([^)#\s]+)', text):
            if '://' in link:
                continue
            target = osp.normpath(osp.join(osp.dirname(source), link))
            if not osp.exists(osp.join(REPO, target)):
                missing.append(link)
    names = {osp.basename(p) for p in glob.glob(
        osp.join(REPO, 'configs', '**', '*.py'), recursive=True)}
    for name in re.findall(r'`([\w.{},-]*(?:hvpt_|hvpt-pre)[\w.{},-]*\.py)`',
                           text):
        for one in _expand(name):
            if '/' not in one and one not in names and \
                    one not in renamed_configs():
                missing.append(one)
    assert not missing, f'{source}: {sorted(set(missing))}'


def _test_launches():
    """(command, config, checkpoint) of every documented evaluation."""
    out = []
    for cmd in commands():
        argv = cmd.argv
        if argv[0] == 'mim' and argv[1] == 'test':
            ckpt = (_options(argv[4:]).get('--checkpoint') or
                    _options(argv[4:]).get('-C') or [None])[0]
            out.append((cmd, argv[3], ckpt))
        elif _script_of(argv) in ('tools/test.py', 'tools/dist_test.sh'):
            pos = _positionals(argv[argv.index(_script_of(argv)) + 1:])
            out.append((cmd, osp.basename(pos[0]), pos[1]))
    return out


def test_evaluations_read_where_training_writes():
    """A documented evaluation of a downstream run reads its checkpoint
    from the folder tools/train.py trains it in: <pre-training work
    dir>/<config name>/. Catches docs that still point at
    work_dirs/<config name>/, where no transfer writes any more."""
    found = _test_launches()
    assert found
    for cmd, config, ckpt in found:
        name = osp.splitext(config)[0]
        if config.startswith(('hvpt_', 'mask-rcnn_swin-demo',
                              'swin-demo', 'upernet_swin-demo')):
            continue  # pre-training or demo configs (own work dirs)
        if '$' in ckpt or not ckpt.startswith('work_dirs/'):
            continue
        folder = osp.dirname(ckpt)
        assert osp.basename(folder) == name and \
            osp.dirname(folder) != 'work_dirs', \
            f'{_cmd_id(cmd)}: {ckpt} is not <pre-training>/{name}/'
