# Copyright (c) hvpt_mm authors. All rights reserved.
"""Checks ``scripts/setup.sh`` runs before and after installing.

Standard library only, and no syntax newer than Python 3.6, so that it can
refuse an unsupported interpreter with the reason instead of failing on a
parse error. Tested in ``tests/test_scripts/test_setup_checks.py``.

    python scripts/setup_checks.py preflight [--compiler-optional]
    python scripts/setup_checks.py pins requirements/build.txt ...
    python scripts/setup_checks.py verify requirements/build.txt ...
    python scripts/setup_checks.py mim-folder CHECKOUT [--check]
"""
import argparse
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

# torch 2.14 publishes wheels for Python >= 3.10; numpy < 2 (which mmcv
# 2.1.0 needs) has no wheel for Python 3.13.
PYTHON_MIN = (3, 10)
PYTHON_MAX = (3, 12)
# Pins that exist for the stack's sake and change a user's environment.
SIDE_PINS = ('numpy', 'setuptools', 'opencv-python')


def python_problem(version: Tuple[int, int]) -> Optional[str]:
    """Why this set-up cannot use a Python of ``version``, or None."""
    text = '{}.{}'.format(*version[:2])
    if tuple(version[:2]) < PYTHON_MIN:
        return ('Python {} is too old: torch 2.14 needs Python >= 3.10. Use '
                'Python 3.10-3.12 (HVPT_PYTHON=/path/to/python3.11, or '
                'Debian / Ubuntu: sudo apt-get install python3.11 '
                'python3.11-venv python3.11-dev).'.format(text))
    if tuple(version[:2]) > PYTHON_MAX:
        return ('Python {} is too new: numpy<2, which mmcv 2.1.0 needs, '
                'has no wheel for Python >= 3.13. Use Python 3.10-3.12 '
                '(HVPT_PYTHON=/path/to/python3.11, or Debian / Ubuntu: sudo '
                'apt-get install python3.11 python3.11-venv '
                'python3.11-dev).'.format(text))
    return None


def apt_packages(version: Tuple[int, int], compiler: bool,
                 headers: bool) -> List[str]:
    """Debian / Ubuntu packages that provide what is missing."""
    out = []
    if compiler:
        out.append('g++')
    if headers:
        out.append('python{}.{}-dev'.format(*version[:2]))
    return out


def find_compiler(env: Optional[Dict[str, str]] = None) -> Optional[str]:
    """The C++ compiler torch's extension builder will call, if found.

    ``$CXX`` if set, else ``c++`` (torch's default).
    """
    env = os.environ if env is None else env
    name = (env.get('CXX') or 'c++').split()[0]
    return shutil.which(name, path=env.get('PATH'))


def headers_compile(compiler: str, include: str) -> Tuple[bool, str]:
    """Whether ``#include <Python.h>`` compiles with ``compiler``."""
    with tempfile.TemporaryDirectory() as tmp:
        src = osp.join(tmp, 'check.cpp')
        with open(src, 'w') as f:
            f.write('#include <Python.h>\nint main() { return 0; }\n')
        proc = subprocess.run(
            [compiler, '-fsyntax-only', '-I' + include, src],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            universal_newlines=True)
    return proc.returncode == 0, proc.stdout.strip()


def preflight(compiler_optional: bool = False,
              env: Optional[Dict[str, str]] = None
              ) -> Tuple[List[str], List[str]]:
    """Python version, C++ compiler and Python headers of this interpreter.

    Args:
        compiler_optional (bool): Nothing needs compiling (mmcv with ops is
            already importable): a missing compiler or header is a note,
            not a problem. Defaults to False.
        env (dict, optional): Environment. Defaults to ``os.environ``.

    Returns:
        tuple[list[str], list[str]]: Problems (stop) and notes (go on).
    """
    version = sys.version_info[:2]
    problem = python_problem(version)
    if problem:
        return [problem], []
    include = sysconfig.get_paths()['include']
    compiler = find_compiler(env)
    has_header = osp.isfile(osp.join(include, 'Python.h'))
    missing = []
    if compiler is None:
        missing.append('a C++ compiler ({} not found)'.format(
            (env or os.environ).get('CXX') or 'c++'))
    if not has_header:
        missing.append('the Python headers ({} not found)'.format(
            osp.join(include, 'Python.h')))
    elif compiler is not None:
        ok, out = headers_compile(compiler, include)
        if not ok:
            missing.append('a compiler that builds against Python.h '
                           '({})'.format(out.splitlines()[-1] if out else ''))
    if not missing:
        return [], []
    packages = apt_packages(version, compiler is None, not has_header)
    text = ('{} {} needed to compile mmcv\'s ops{}'.format(
        ' and '.join(missing), 'is' if len(missing) == 1 else 'are',
        ': sudo apt-get install -y ' + ' '.join(packages)
        if packages else ''))
    if compiler_optional:
        return [], [text + ' (not needed now: mmcv with ops is installed)']
    return [text], []


# ------------------------------------------------------------------ pins
def read_pins(paths: Sequence[str]) -> List[Tuple[str, str]]:
    """``(name, specifier)`` of every versioned line in requirement files.

    Comments, options, names without a version and repeats are left out.
    """
    out = []
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.split('#', 1)[0].strip()
                m = re.match(r'^([A-Za-z0-9][A-Za-z0-9._-]*)\s*([<>=!~].*)$',
                             line)
                pin = m and (m.group(1), m.group(2).replace(' ', ''))
                if pin and pin not in out:
                    out.append(pin)
    return out


def _normalise(name: str) -> str:
    return re.sub(r'[-_.]+', '-', name).lower()


def installed_versions() -> Dict[str, str]:
    """``{normalised name: version}`` of this environment."""
    from importlib import metadata
    out = {}
    for dist in metadata.distributions():
        name = dist.metadata['Name']
        if name:
            out[_normalise(name)] = dist.version
    return out


def satisfies(version: str, spec: str) -> bool:
    """Whether ``version`` meets ``spec`` (e.g. ``'<2'``, ``'==2.1.0'``)."""
    try:
        from packaging.specifiers import SpecifierSet
    except ImportError:  # pip vendors it
        from pip._vendor.packaging.specifiers import SpecifierSet
    return SpecifierSet(spec).contains(version, prereleases=True)


def pin_report(pins: Sequence[Tuple[str, str]],
               installed: Dict[str, str]) -> List[str]:
    """What installing ``pins`` does to the environment, one line each.

    Lists the side pins (numpy, setuptools, opencv-python) always and any
    other pin that changes an installed distribution.
    """
    lines = []
    for name, spec in pins:
        have = installed.get(_normalise(name))
        if have is None:
            if name in SIDE_PINS:
                lines.append('{}{}: not installed yet'.format(name, spec))
        elif not satisfies(have, spec):
            lines.append('{}{}: installed {} will be replaced'.format(
                name, spec, have))
        elif name in SIDE_PINS:
            lines.append('{}{}: installed {} is kept'.format(
                name, spec, have))
    return lines


def environment_kind(prefix: str,
                     env: Optional[Dict[str, str]] = None) -> str:
    """``'conda base'``, ``'conda env'``, ``'venv'`` or ``'system'``."""
    env = os.environ if env is None else env
    if osp.isdir(osp.join(prefix, 'conda-meta')):
        active_base = env.get('CONDA_DEFAULT_ENV') == 'base' and \
            osp.realpath(env.get('CONDA_PREFIX', '')) == osp.realpath(prefix)
        base = active_base or osp.isdir(osp.join(prefix, 'condabin'))
        return 'conda base' if base else 'conda env'
    if osp.isfile(osp.join(prefix, 'pyvenv.cfg')):
        return 'venv'
    return 'system'


def verify(pins: Sequence[Tuple[str, str]],
           installed: Dict[str, str]) -> List[str]:
    """Pins the environment does not meet after installing."""
    bad = []
    for name, spec in pins:
        have = installed.get(_normalise(name))
        if have is not None and not satisfies(have, spec):
            bad.append('{} {} (needs {})'.format(name, have, spec))
    return bad


# ------------------------------------------------------------------ mim
PACKAGE = 'hvpt_mm'
RECORD_ENTRY = PACKAGE + '/.mim,,'
# The start-up hook's line (see _hvpt_mm_hook.py), copied into
# site-packages when the install is made.
HOOK_PTH = '_hvpt_mm_hook.pth'


def _editable_dist(checkout: str):
    """The installed hvpt_mm distribution if it is editable from ``checkout``.

    Returns:
        tuple: ``(site folder, RECORD path)``, or None for another install.
    """
    from importlib import metadata

    # The checkout's own hvpt_mm.egg-info may be on the path too.
    for dist in metadata.distributions(name=PACKAGE):
        try:
            direct = json.loads(dist.read_text('direct_url.json') or '{}')
        except ValueError:
            continue
        url = direct.get('url', '')
        if not (direct.get('dir_info', {}).get('editable')
                and url.startswith('file://') and osp.realpath(
                    url[len('file://'):]) == osp.realpath(checkout)):
            continue
        record = [f for f in dist.files or () if f.name == 'RECORD'
                  and f.parent.name.endswith('.dist-info')]
        if record:
            path = str(record[0].locate())
            return osp.dirname(osp.dirname(path)), path
    return None


def stale_hook(site: str, checkout: str) -> Optional[str]:
    """Whether the installed start-up hook line differs from the checkout's.

    An editable install copies ``_hvpt_mm_hook.pth`` into site-packages
    once; a checkout whose line changed since (e.g. the guard that keeps a
    moved checkout silent) needs the install made again.

    Args:
        site (str): The site-packages folder of the install.
        checkout (str): The checkout installed editable.

    Returns:
        str | None: What differs and the command that fixes it, or None.
    """
    source = osp.join(checkout, HOOK_PTH)
    installed = osp.join(site, HOOK_PTH)
    if not osp.isfile(source):
        return None
    with open(source) as f:
        want = f.read()
    have = None
    if osp.isfile(installed):
        with open(installed) as f:
            have = f.read()
    if have == want:
        return None
    return ('{} {} the checkout\'s {}; install again: pip install '
            '--no-deps --use-pep517 -e {} --config-settings '
            'editable_mode=compat'.format(
                installed, 'is missing, unlike' if have is None else
                'differs from', source, checkout))


def mim_folder(checkout: str, check: bool = False) -> Optional[str]:
    """Give openmim the package folder an editable install lacks.

    ``mim train/test hvpt_mm CONFIG`` looks for configs and tools in
    ``<location>/hvpt_mm/.mim``, the location being the folder of the
    installed distribution's metadata (site-packages); an editable install
    leaves the package in the checkout. This links
    ``site-packages/hvpt_mm/.mim`` to the checkout's ``hvpt_mm/.mim`` (whose
    links setup.py makes) and lists it in the distribution's RECORD, so
    that ``pip uninstall hvpt_mm`` removes it. That folder holds no
    ``__init__.py``: Python still imports the package from the checkout
    (the path entry of setuptools' compat editable mode), since a regular
    package wins over a namespace portion; a fresh interpreter checks it
    (under a PEP 660 import finder the folder would shadow the package:
    refused, and removed).

    Args:
        checkout (str): The checkout installed editable.
        check (bool): Only report whether the link is in place and the
            installed start-up hook is the checkout's
            (:func:`stale_hook`).

    Returns:
        str | None: What is wrong, or None (also when hvpt_mm is not
        installed editable from ``checkout``: nothing to link).
    """
    checkout = osp.abspath(checkout)
    found = _editable_dist(checkout)
    if found is None:
        return None
    site, record = found
    target = osp.join(checkout, PACKAGE, '.mim')
    folder = osp.join(site, PACKAGE)
    link = osp.join(folder, '.mim')
    with open(record) as f:
        recorded = RECORD_ENTRY in f.read().splitlines()
    in_place = (osp.islink(link) and recorded
                and osp.realpath(link) == osp.realpath(target))
    if check:
        if not in_place:
            return '{} is not linked to {}'.format(link, target)
        return stale_hook(site, checkout)
    if not osp.isfile(osp.join(target, 'tools', 'train.py')):
        return '{} holds no tools/train.py (setup.py writes it)'.format(
            target)
    if osp.exists(osp.join(folder, '__init__.py')):
        return '{} holds a package; not an editable install'.format(folder)
    if osp.lexists(link) and not osp.islink(link):
        return '{} exists and is not a link'.format(link)
    if not in_place:
        os.makedirs(folder, exist_ok=True)
        if osp.lexists(link):
            os.remove(link)
        os.symlink(target, link)
    proc = subprocess.run(
        [sys.executable, '-c', 'import importlib.util as u; '
         'print(u.find_spec("hvpt_mm").origin)'],
        cwd='/', stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        universal_newlines=True)
    origin = proc.stdout.strip().splitlines()[-1:] or ['']
    if proc.returncode != 0 or osp.realpath(osp.dirname(origin[0])) != \
            osp.realpath(osp.join(checkout, PACKAGE)):
        os.remove(link)
        if not os.listdir(folder):
            os.rmdir(folder)
        return ('with {} in place, hvpt_mm does not import from {} (it '
                'imports from {}); install it with pip install --use-pep517 '
                '-e {} --config-settings editable_mode=compat'.format(
                    link, checkout, proc.stdout.strip()[-300:], checkout))
    if not recorded:
        with open(record, 'a') as f:
            f.write(RECORD_ENTRY + '\n')
    return None


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='cmd')
    pre = sub.add_parser('preflight')
    pre.add_argument('--compiler-optional', action='store_true')
    for name in ('pins', 'verify'):
        p = sub.add_parser(name)
        p.add_argument('requirements', nargs='+')
    mim = sub.add_parser('mim-folder')
    mim.add_argument('checkout')
    mim.add_argument('--check', action='store_true')
    args = parser.parse_args(argv)
    if args.cmd == 'mim-folder':
        problem = mim_folder(args.checkout, args.check)
        if problem:
            print(problem, file=sys.stderr)
        return 1 if problem else 0
    if args.cmd == 'preflight':
        problems, notes = preflight(args.compiler_optional)
        for note in notes:
            print('note: ' + note, file=sys.stderr)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    pins = read_pins(args.requirements)
    if args.cmd == 'pins':
        kind = environment_kind(sys.prefix)
        print('installing into the {} at {}; the OpenMMLab 2023 stack pins '
              'these in it:'.format(kind, sys.prefix))
        for line in pin_report(pins, installed_versions()):
            print('  ' + line)
        if kind == 'conda base':
            print('WARNING: this is conda\'s base environment; conda itself '
                  'may depend on what changes here.')
        print('To leave it unchanged, deactivate it and run `make setup` '
              '(it creates ./.venv), or set HVPT_PYTHON.')
        return 0
    if args.cmd == 'verify':
        bad = verify(pins, installed_versions())
        for line in bad:
            print(line, file=sys.stderr)
        return 1 if bad else 0
    parser.print_help()
    return 2


if __name__ == '__main__':
    sys.exit(main())
