# Copyright (c) hvpt_mm authors. All rights reserved.
"""scripts/setup_checks.py and the start of scripts/setup.sh."""
import glob
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest

from _helpers.tiny import REPO

SCRIPT = osp.join(REPO, 'scripts', 'setup_checks.py')
REQUIREMENTS = [osp.join(REPO, 'requirements', f'{name}.txt')
                for name in ('build', 'runtime', 'optional')]


def _interpreters(*versions):
    """Working interpreters of these versions on PATH or under pyenv."""
    found = []
    for version in versions:
        candidates = [shutil.which(f'python{version}')] + sorted(glob.glob(
            osp.expanduser(f'~/.pyenv/versions/{version}.*/bin/python')))
        for path in filter(None, candidates):
            proc = subprocess.run(
                [path, '-c', 'import sys; print("%d.%d" % sys.version_info'
                 '[:2])'], capture_output=True, text=True)
            if proc.stdout.strip() == version:
                found.append(path)
                break
    return found


UNSUPPORTED = _interpreters('3.13', '3.9', '3.8')


@pytest.mark.parametrize('version', [(3, 10), (3, 11), (3, 12)])
def test_supported_python(setup_checks, version):
    assert setup_checks.python_problem(version) is None


def test_unsupported_python_reasons(setup_checks):
    old = setup_checks.python_problem((3, 9))
    assert 'torch 2.14 needs Python >= 3.10' in old
    new = setup_checks.python_problem((3, 13))
    assert 'numpy<2' in new and '3.13' in new
    assert 'python3.11-dev' in new


def test_preflight_here(setup_checks):
    """This machine builds the stack: compiler and Python.h present."""
    assert setup_checks.preflight() == ([], [])


def test_preflight_names_the_apt_command(setup_checks):
    env = dict(os.environ, CXX='hvpt-no-such-compiler')
    problems, notes = setup_checks.preflight(env=env)
    assert len(problems) == 1 and not notes
    assert 'hvpt-no-such-compiler not found' in problems[0]
    assert 'sudo apt-get install -y g++' in problems[0]
    # mmcv with ops already installed: a note, not a stop.
    problems, notes = setup_checks.preflight(compiler_optional=True,
                                             env=env)
    assert not problems and 'not needed now' in notes[0]


def test_headers_compile(setup_checks, tmp_path):
    import sysconfig
    compiler = setup_checks.find_compiler()
    ok, _ = setup_checks.headers_compile(compiler,
                                         sysconfig.get_paths()['include'])
    assert ok
    ok, out = setup_checks.headers_compile(compiler, str(tmp_path))
    assert not ok and 'Python.h' in out


def test_apt_packages(setup_checks):
    assert setup_checks.apt_packages((3, 12), True, True) == [
        'g++', 'python3.12-dev']
    assert setup_checks.apt_packages((3, 10), False, True) == [
        'python3.10-dev']


def test_read_pins(setup_checks):
    pins = dict(setup_checks.read_pins(REQUIREMENTS))
    assert pins['numpy'] == '<2'
    assert pins['setuptools'] == '<81'
    assert pins['opencv-python'] == '<4.12'
    assert 'ftfy' not in pins  # no version: not a pin


def test_pin_report(setup_checks):
    pins = [('numpy', '<2'), ('setuptools', '<81'),
            ('opencv-python', '<4.12'), ('mmengine', '==0.10.7'),
            ('scipy', '>=1.0')]
    installed = {'numpy': '2.1.3', 'setuptools': '75.0.0',
                 'mmengine': '0.10.4', 'scipy': '1.14.0'}
    assert setup_checks.pin_report(pins, installed) == [
        'numpy<2: installed 2.1.3 will be replaced',
        'setuptools<81: installed 75.0.0 is kept',
        'opencv-python<4.12: not installed yet',
        'mmengine==0.10.7: installed 0.10.4 will be replaced',
    ]


def test_verify_this_environment(setup_checks):
    """The set-up environment meets every pin (numpy < 2 included)."""
    pins = setup_checks.read_pins(REQUIREMENTS)
    installed = setup_checks.installed_versions()
    assert setup_checks.verify(pins, installed) == []
    installed['numpy'] = '2.0.1'
    assert setup_checks.verify(pins, installed) == [
        'numpy 2.0.1 (needs <2)']


def test_environment_kind(setup_checks, tmp_path):
    base = tmp_path / 'miniconda3'
    (base / 'conda-meta').mkdir(parents=True)
    (base / 'condabin').mkdir()
    env = tmp_path / 'miniconda3' / 'envs' / 'mine'
    (env / 'conda-meta').mkdir(parents=True)
    assert setup_checks.environment_kind(str(base), env={}) == 'conda base'
    assert setup_checks.environment_kind(
        str(env), env=dict(CONDA_DEFAULT_ENV='mine')) == 'conda env'
    # An activated base without condabin (older conda) is still base.
    (base / 'condabin').rmdir()
    assert setup_checks.environment_kind(
        str(base), env=dict(CONDA_DEFAULT_ENV='base',
                            CONDA_PREFIX=str(base))) == 'conda base'
    venv = tmp_path / 'venv'
    venv.mkdir()
    (venv / 'pyvenv.cfg').write_text('home = /usr/bin\n')
    assert setup_checks.environment_kind(str(venv), env={}) == 'venv'


def test_pins_cli_says_what_changes():
    proc = subprocess.run([sys.executable, SCRIPT, 'pins'] + REQUIREMENTS,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith('installing into the ')
    assert sys.prefix in lines[0]
    for name in ('numpy<2', 'setuptools<81', 'opencv-python<4.12'):
        assert any(line.strip().startswith(name) for line in lines), name
    assert 'make setup' in lines[-1]


@pytest.mark.skipif(not UNSUPPORTED, reason='no Python outside 3.10-3.12')
@pytest.mark.parametrize('python', UNSUPPORTED)
def test_setup_refuses_unsupported_python_at_once(python, tmp_path):
    """setup.sh stops before installing anything, with the reason."""
    env = dict(os.environ, HVPT_PYTHON=python,
               HVPT_CACHE=str(tmp_path / 'cache'))
    env.pop('VIRTUAL_ENV', None)
    proc = subprocess.run(['bash', osp.join(REPO, 'scripts', 'setup.sh')],
                          env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1
    assert 'Use Python 3.10-3.12' in proc.stderr
    assert 'installing' not in proc.stdout
    minor = subprocess.run([python, '-c', 'import sys; print(sys.version'
                            '_info[1])'], capture_output=True,
                           text=True).stdout.strip()
    reason = 'numpy<2' if int(minor) >= 13 else 'torch 2.14 needs'
    assert reason in proc.stderr


# ------------------------------------------------------------------ mim
def _editable_install(tmp_path, compat: bool):
    """The checkout installed editable as setup.sh installs it.

    Into a venv that sees this environment's packages (a path entry for
    its site-packages) but installs its own hvpt_mm.

    Returns:
        tuple[str, str, str]: The venv's python, site-packages, checkout.
    """
    import sysconfig

    from _helpers.install import NOT_SOURCES
    checkout = str(tmp_path / 'src')
    shutil.copytree(REPO, checkout, ignore=shutil.ignore_patterns(
        *NOT_SOURCES))
    venv = str(tmp_path / 'venv')
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', venv],
                   check=True)
    python = osp.join(venv, 'bin', 'python')
    site = subprocess.run(
        [python, '-c', 'import sysconfig; print(sysconfig.get_paths()'
         '["purelib"])'], capture_output=True, text=True,
        check=True).stdout.strip()
    with open(osp.join(site, 'zz_stack.pth'), 'w') as f:
        f.write(sysconfig.get_paths()['purelib'] + '\n')
    cmd = [python, '-m', 'pip', '--disable-pip-version-check', 'install',
           '-q', '--no-deps', '--no-build-isolation', '--use-pep517', '-e',
           checkout]
    if compat:
        cmd += ['--config-settings', 'editable_mode=compat']
    proc = subprocess.run(cmd, cwd='/', capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return python, site, checkout


def _in_venv(python: str, code: str) -> str:
    proc = subprocess.run([python, '-W', 'ignore', '-c', code], cwd='/',
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()


def test_mim_folder_for_editable_install(tmp_path):
    """mim resolves the checkout's configs and tools; imports stay there;
    ``pip uninstall`` removes the link."""
    python, site, checkout = _editable_install(tmp_path, compat=True)
    proc = subprocess.run([python, SCRIPT, 'mim-folder', '.'], cwd=checkout,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    link = osp.join(site, 'hvpt_mm', '.mim')
    assert os.readlink(link) == osp.join(checkout, 'hvpt_mm', '.mim')
    pkg_root, module = _in_venv(python, (
        'from mim.utils import get_installed_path; import hvpt_mm; '
        'print(get_installed_path("hvpt_mm")); print(hvpt_mm.__file__)'
    )).splitlines()[-2:]
    assert module == osp.join(checkout, 'hvpt_mm', '__init__.py')
    for name in ('tools/train.py', 'tools/test.py',
                 'configs/pretrain/hvpt_swin-b.py'):
        assert osp.realpath(osp.join(pkg_root, '.mim', name)) == \
            osp.join(osp.realpath(checkout), name)
    check = [python, SCRIPT, 'mim-folder', '--check', checkout]
    assert subprocess.run(check).returncode == 0

    proc = subprocess.run([python, '-m', 'pip', 'uninstall', '-y',
                           'hvpt_mm'], cwd='/', capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    assert not osp.lexists(osp.join(site, 'hvpt_mm'))
    assert osp.isfile(osp.join(checkout, 'hvpt_mm', '.mim', 'tools',
                               'train.py'))


def test_mim_folder_refuses_a_finder_install(tmp_path):
    """Under a PEP 660 import finder the folder would shadow the package:
    refused with the command that works, and removed."""
    python, site, checkout = _editable_install(tmp_path, compat=False)
    check = [python, SCRIPT, 'mim-folder', '--check', checkout]
    assert subprocess.run(check, capture_output=True).returncode == 1
    proc = subprocess.run([python, SCRIPT, 'mim-folder', checkout],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert 'editable_mode=compat' in proc.stderr
    assert not osp.lexists(osp.join(site, 'hvpt_mm'))
