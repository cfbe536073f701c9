# Copyright (c) hvpt_mm authors. All rights reserved.
"""mmcv with compiled ops for the installed torch: CPU or CUDA build.

``scripts/setup.sh`` calls this file; every decision it makes is a
function here, tested in ``tests/test_scripts/test_mmcv_build.py``.

    python scripts/mmcv_build.py plan       # shell lines: mode, key, ...
    python scripts/mmcv_build.py wheel      # path of a cached or new wheel
    python scripts/mmcv_build.py ops-check --device cuda
    python scripts/mmcv_build.py kernels FILE   # CUDA archs in a .so / .whl

CPU or CUDA. ``HVPT_MMCV_CUDA=1`` asks for the CUDA ops, ``0`` for the CPU
ones; unset, the CUDA ops are built when torch is a CUDA build *and* a GPU
is visible. A CUDA wheel of torch on a machine without a GPU (a login
node, CI) therefore builds the CPU ops unless asked.

The CUDA build needs nothing outside PyPI: the ``cuda-toolkit`` release
that torch itself depends on (``nvcc``, ``cccl`` and ``cudart`` extras) is
installed into ``<cache>/cuda/<version>`` and merged with the CUDA headers
of torch's own ``nvidia-*`` wheels into a ``CUDA_HOME`` for the build (a
``CUDA_HOME`` already set is used instead when its nvcc is torch's CUDA
release).
``TORCH_CUDA_ARCH_LIST`` is the user's if set, else the visible GPUs'
compute capabilities, else the architectures torch was built for.

Wheels are cached under ``<cache>/wheels/mmcv-<version>-<key>``, the key
``py311-torch2.14.1+cu130-cpu`` or
``py311-torch2.14.1+cu130-cuda13.0-arch9.0`` (CUDA version and arch list),
so a CPU build is never installed for a CUDA run or the other way round.
"""
import argparse
import glob
import os
import os.path as osp
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

MMCV_VERSION = '2.1.0'
# The cuda-toolkit extras that hold nvcc (with crt and nvvm), the CUDA
# C++ core libraries (thrust, cub) and the runtime headers.
TOOLKIT_EXTRAS = 'nvcc,cccl,cudart'
# When torch names no architectures: the oldest GPU each CUDA major still
# compiles for, up to the newest, PTX of the newest for later GPUs.
FALLBACK_ARCHS = {
    11: '6.0;7.0;7.5;8.0;8.6+PTX',
    12: '7.0;7.5;8.0;8.6;9.0+PTX',
    13: '7.5;8.0;8.6;9.0;10.0;12.0+PTX',
}
ARCH_RE = re.compile(r'^(\d+)\.(\d+)(a?)(\+PTX)?$')
FATBIN_MAGIC = 0xBA55ED50
PROGRESS_EVERY = 20.  # seconds between progress lines of a build


class SetupError(RuntimeError):
    """A problem the user must fix; the message says how."""


def say(msg: str) -> None:
    """Print a set-up message on stderr (stdout carries results)."""
    print(f'\033[1;34m[hvpt setup]\033[0m {msg}', file=sys.stderr,
          flush=True)


# ------------------------------------------------------------------ plan
def build_mode(torch_cuda: Optional[str], gpus: int,
               request: str = '') -> Tuple[str, str]:
    """CPU or CUDA ops, and why.

    Args:
        torch_cuda (str, optional): ``torch.version.cuda``; None for a
            CPU-only torch.
        gpus (int): Number of visible GPUs.
        request (str): ``HVPT_MMCV_CUDA``: ``'1'``, ``'0'`` or ``''``
            (decide from the GPUs). Defaults to ''.

    Returns:
        tuple[str, str]: ``'cpu'`` or ``'cuda'``, and the reason.
    """
    request = request.strip().lower()
    if request not in ('', 'auto', '0', '1'):
        raise SetupError(f'HVPT_MMCV_CUDA={request!r}: use 1 (CUDA ops), '
                         '0 (CPU ops) or leave it unset')
    if request == '0':
        return 'cpu', 'HVPT_MMCV_CUDA=0'
    if torch_cuda is None:
        if request == '1':
            raise SetupError(
                'HVPT_MMCV_CUDA=1, but the installed torch is a CPU-only '
                'build (torch.version.cuda is None); install a CUDA build '
                'of torch first')
        return 'cpu', 'torch is a CPU-only build'
    if request == '1':
        return 'cuda', f'HVPT_MMCV_CUDA=1, torch built with CUDA {torch_cuda}'
    if gpus > 0:
        return 'cuda', f'{gpus} visible GPU(s), torch CUDA {torch_cuda}'
    return 'cpu', (f'torch has CUDA {torch_cuda} but no GPU is visible; '
                   'HVPT_MMCV_CUDA=1 builds the CUDA ops anyway')


def _arch_number(arch: str) -> Tuple[int, int, str]:
    m = ARCH_RE.match(arch)
    return int(m.group(1)), int(m.group(2)), m.group(3)


def normalise_arch_list(text: str) -> str:
    """``'9.0 8.0+PTX'`` -> ``'8.0+PTX;9.0'``: sorted, ``;``-separated.

    Raises:
        SetupError: An entry is not of the form ``8.6``, ``9.0a`` or
            ``9.0+PTX`` (named architectures such as ``Hopper`` are not
            accepted: the cache key must say what was compiled).
    """
    archs = [a for a in re.split(r'[;\s]+', text.strip()) if a]
    bad = [a for a in archs if not ARCH_RE.match(a)]
    if bad or not archs:
        raise SetupError(
            f'TORCH_CUDA_ARCH_LIST={text!r}: expected compute capabilities '
            'such as "8.0;9.0" or "9.0+PTX" (see nvidia-smi '
            '--query-gpu=compute_cap --format=csv)')
    return ';'.join(sorted(set(archs), key=_arch_number))


def cuda_arch_list(cuda_version: str, user: str = '',
                   capabilities: Sequence[Tuple[int, int]] = (),
                   torch_archs: Sequence[str] = ()) -> Tuple[str, str]:
    """The architectures to compile for, and where they came from.

    In order: the user's ``TORCH_CUDA_ARCH_LIST`` (``native`` means the
    visible GPUs); the visible GPUs' compute capabilities, capped at the
    newest one torch supports, PTX for the newest; the architectures torch
    was built for (``torch.cuda.get_arch_list()``, known without a GPU),
    PTX for the newest; a fixed list per CUDA major.

    Args:
        cuda_version (str): ``torch.version.cuda``, e.g. ``'13.0'``.
        user (str): ``TORCH_CUDA_ARCH_LIST``. Defaults to ''.
        capabilities (Sequence[tuple]): ``(major, minor)`` per visible GPU.
        torch_archs (Sequence[str]): ``torch.cuda.get_arch_list()``.

    Returns:
        tuple[str, str]: The list (``'8.0;9.0+PTX'``) and its source.
    """
    user = user.strip()
    if user and user != 'native':
        return normalise_arch_list(user), 'TORCH_CUDA_ARCH_LIST'
    built = sorted({(int(a[3:-1]), int(a[-1])) for a in torch_archs
                    if re.match(r'^sm_\d+$', a)})
    if capabilities:
        caps = sorted({min(tuple(c), built[-1]) if built else tuple(c)
                       for c in capabilities})
        archs = [f'{a}.{b}' for a, b in caps]
        archs[-1] += '+PTX'
        return ';'.join(archs), 'the visible GPUs'
    if user == 'native':
        raise SetupError('TORCH_CUDA_ARCH_LIST=native, but no GPU is '
                         'visible; name the architectures, e.g. "9.0"')
    if built:
        archs = [f'{a}.{b}' for a, b in built]
        archs[-1] += '+PTX'
        return ';'.join(archs), 'the architectures torch was built for'
    major = int(cuda_version.split('.')[0])
    known = FALLBACK_ARCHS.get(major, FALLBACK_ARCHS[max(FALLBACK_ARCHS)])
    return known, f'the default list for CUDA {major}'


def cache_key(python: Tuple[int, int], torch_version: str,
              cuda_version: Optional[str] = None,
              arch_list: Optional[str] = None) -> str:
    """The wheel's ABI and ops: Python, torch, CPU or CUDA + archs.

    Examples:
        ``py311-torch2.14.1+cu130-cpu``,
        ``py311-torch2.14.1+cu130-cuda13.0-arch8.0_9.0+PTX``.
    """
    key = f'py{python[0]}{python[1]}-torch{torch_version}'
    if cuda_version is None:
        return f'{key}-cpu'
    if not arch_list:
        raise ValueError('a CUDA build needs its arch list in the key')
    archs = normalise_arch_list(arch_list).replace(';', '_')
    return f'{key}-cuda{cuda_version}-arch{archs}'


@dataclass
class Plan:
    """What to build, as ``setup.sh`` reads it."""

    mode: str
    reason: str
    key: str
    torch: str
    cuda: Optional[str] = None
    arch_list: Optional[str] = None
    arch_source: Optional[str] = None
    ops_device: str = 'cpu'

    def shell(self) -> str:
        """``MMCV_<FIELD>=value`` lines for ``eval`` in bash."""
        fields = dict(mode=self.mode, reason=self.reason, key=self.key,
                      cuda=self.cuda or '', arch_list=self.arch_list or '',
                      arch_source=self.arch_source or '',
                      ops_device=self.ops_device)
        return '\n'.join(f'MMCV_{k.upper()}={shlex.quote(v)}'
                         for k, v in fields.items())


def make_plan(python: Tuple[int, int], torch_version: str,
              torch_cuda: Optional[str],
              capabilities: Sequence[Tuple[int, int]] = (),
              torch_archs: Sequence[str] = (),
              env: Optional[Dict[str, str]] = None) -> Plan:
    """The build for these facts and environment variables.

    Args:
        python (tuple): Python major, minor.
        torch_version (str): ``torch.__version__``.
        torch_cuda (str, optional): ``torch.version.cuda``.
        capabilities (Sequence[tuple]): Compute capability per visible GPU.
        torch_archs (Sequence[str]): ``torch.cuda.get_arch_list()``.
        env (dict, optional): Reads ``HVPT_MMCV_CUDA`` and
            ``TORCH_CUDA_ARCH_LIST``. Defaults to ``os.environ``.
    """
    env = os.environ if env is None else env
    mode, reason = build_mode(torch_cuda, len(capabilities),
                              env.get('HVPT_MMCV_CUDA', ''))
    if mode == 'cpu':
        return Plan(mode, reason, cache_key(python, torch_version),
                    torch_version)
    archs, source = cuda_arch_list(torch_cuda,
                                   env.get('TORCH_CUDA_ARCH_LIST', ''),
                                   capabilities, torch_archs)
    return Plan(mode, reason,
                cache_key(python, torch_version, torch_cuda, archs),
                torch_version, torch_cuda, archs, source,
                ops_device='cuda' if capabilities else 'cpu')


def current_plan(env: Optional[Dict[str, str]] = None) -> Plan:
    """:func:`make_plan` for this interpreter's torch and GPUs."""
    import torch
    caps = [torch.cuda.get_device_capability(i)
            for i in range(torch.cuda.device_count())] \
        if torch.version.cuda and torch.cuda.is_available() else []
    archs = torch.cuda.get_arch_list() if torch.version.cuda else []
    return make_plan(sys.version_info[:2], torch.__version__,
                     torch.version.cuda, caps, archs, env)


# ----------------------------------------------------------- CUDA toolkit
def toolkit_requirement(torch_requires: Iterable[str],
                        cuda_version: str) -> str:
    """The ``cuda-toolkit`` release with nvcc that matches torch.

    CUDA builds of torch depend on ``cuda-toolkit[...]==X`` (from torch
    2.9 or so); the same release with the compiler extras matches exactly.
    Older ones get the newest release of their CUDA minor.

    Args:
        torch_requires (Iterable[str]): ``importlib.metadata.requires``.
        cuda_version (str): ``torch.version.cuda``.
    """
    for req in torch_requires:
        m = re.match(r'^cuda-toolkit\s*(\[[^\]]*\])?\s*==\s*([\w.]+)', req)
        if m:
            return f'cuda-toolkit[{TOOLKIT_EXTRAS}]=={m.group(2)}'
    return f'cuda-toolkit[{TOOLKIT_EXTRAS}]=={cuda_version}.*'


def merge_cuda_home(roots: Sequence[str], dest: str) -> str:
    """A ``CUDA_HOME`` made of links into several CUDA wheel trees.

    The ``nvidia-*`` wheels each hold part of a toolkit in the same layout
    (``bin``, ``include``, ``lib``, ``nvvm``; under ``nvidia/cu13/`` for
    CUDA 13, one folder per package before). ``dest`` gets a link for every
    entry of these folders, the first root winning; ``lib64`` points at
    ``lib``, and each ``libX.so.N`` without a ``libX.so`` gets one (the
    linker needs it for ``-lcudart``).

    Args:
        roots (Sequence[str]): Toolkit roots, in priority order.
        dest (str): The folder to create (must not exist).

    Returns:
        str: ``dest``.
    """
    os.makedirs(dest)
    for sub in ('bin', 'include', 'lib', 'nvvm'):
        os.makedirs(osp.join(dest, sub))
        for root in roots:
            folder = osp.join(root, sub)
            if not osp.isdir(folder):
                continue
            for name in sorted(os.listdir(folder)):
                link = osp.join(dest, sub, name)
                if not osp.lexists(link):
                    os.symlink(osp.abspath(osp.join(folder, name)), link)
    os.symlink('lib', osp.join(dest, 'lib64'))
    lib = osp.join(dest, 'lib')
    for name in os.listdir(lib):
        m = re.match(r'^(lib.+\.so)\.\d+$', name)
        if m and not osp.lexists(osp.join(lib, m.group(1))):
            os.symlink(name, osp.join(lib, m.group(1)))
    return dest


def nvidia_roots(site_dirs: Sequence[str]) -> List[str]:
    """Folders under ``<site>/nvidia/`` that look like toolkit parts."""
    roots = []
    for site in site_dirs:
        for root in sorted(glob.glob(osp.join(site, 'nvidia', '*'))):
            if any(osp.isdir(osp.join(root, s)) for s in ('bin', 'include')):
                roots.append(root)
    return roots


def nvcc_release(text: str) -> str:
    """``'13.0'`` from the output of ``nvcc --version``."""
    m = re.search(r'release (\d+\.\d+)', text)
    if not m:
        raise SetupError(f'cannot read the CUDA release from nvcc: {text}')
    return m.group(1)


def install_toolkit(requirement: str, prefix_root: str,
                    python: str = sys.executable) -> str:
    """``pip install --target`` the toolkit once; reused afterwards.

    Returns:
        str: The prefix (``<prefix_root>/<release>-<machine>``).
    """
    release = re.sub(r'[^\w.]+', '', requirement.split('==')[-1])
    prefix = osp.join(prefix_root, f'{release}-{os.uname().machine}')
    if osp.isfile(osp.join(prefix, '.complete')):
        return prefix
    os.makedirs(prefix_root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.partial-', dir=prefix_root)
    say(f'installing the CUDA compiler from PyPI: {requirement} -> {prefix}')
    proc = subprocess.run(
        [python, '-m', 'pip', 'install', '--disable-pip-version-check',
         '-q', '--no-compile', '--target', tmp, requirement],
        capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SetupError(f'pip could not install {requirement}:\n'
                         f'{proc.stdout[-3000:]}{proc.stderr[-3000:]}')
    open(osp.join(tmp, '.complete'), 'w').close()
    try:
        os.replace(tmp, prefix)
    except OSError:  # another set-up (a shared home) installed it first
        shutil.rmtree(tmp, ignore_errors=True)
        if not osp.isfile(osp.join(prefix, '.complete')):
            raise SetupError(f'{prefix} exists but is not a complete '
                             'toolkit; remove it and re-run')
    return prefix


def toolkit_release(home: str) -> Optional[str]:
    """The CUDA release of ``<home>/bin/nvcc``, or None without one."""
    nvcc = osp.join(home, 'bin', 'nvcc')
    if not osp.isfile(nvcc):
        return None
    proc = subprocess.run([nvcc, '--version'], capture_output=True,
                          text=True)
    return nvcc_release(proc.stdout) if proc.returncode == 0 else None


def prepare_cuda_home(cache: str, dest: str, cuda_version: str,
                      python: str = sys.executable,
                      env: Optional[Dict[str, str]] = None) -> str:
    """A ``CUDA_HOME`` whose nvcc is torch's CUDA release.

    The user's ``CUDA_HOME`` (e.g. a cluster's CUDA module) when its nvcc
    is that release; otherwise the matching ``cuda-toolkit`` from PyPI,
    assembled at ``dest`` with the library headers (cuBLAS, cuSPARSE,
    cuSOLVER, ...) of torch's own ``nvidia-*`` wheels.

    Raises:
        SetupError: pip failed, or nvcc's release is not torch's CUDA.
    """
    import importlib.metadata as metadata
    import torch
    env = os.environ if env is None else env
    user = env.get('CUDA_HOME') or env.get('CUDA_PATH')
    if user:
        release = toolkit_release(user)
        if release == cuda_version:
            say(f'using CUDA_HOME={user} (nvcc {release})')
            return user
        say(f'CUDA_HOME={user} has nvcc {release}, torch was built with '
            f'CUDA {cuda_version}: using the toolkit from PyPI instead')
    req = toolkit_requirement(metadata.requires('torch') or [], cuda_version)
    prefix = install_toolkit(req, osp.join(cache, 'cuda'), python)
    torch_site = osp.dirname(osp.dirname(torch.__file__))
    home = merge_cuda_home(nvidia_roots([prefix, torch_site]), dest)
    release = toolkit_release(home)
    if release is None:
        raise SetupError(f'{req} installed no working nvcc under {prefix}')
    if release != cuda_version:
        raise SetupError(f'nvcc {release} from {req}, but torch was built '
                         f'with CUDA {cuda_version}')
    return home


# ------------------------------------------------------- kernels in a file
def elf_sections(f) -> Dict[str, Tuple[int, int]]:
    """``{name: (offset, size)}`` of a 64-bit little-endian ELF file."""
    head = f.read(64)
    if head[:4] != b'\x7fELF' or head[4] != 2:
        raise ValueError('not a 64-bit ELF file')
    shoff, = struct.unpack_from('<Q', head, 0x28)
    entsize, num, strndx = struct.unpack_from('<HHH', head, 0x3A)
    f.seek(shoff)
    table = f.read(entsize * num)
    headers = [struct.unpack_from('<IIQQQQ', table, i * entsize)
               for i in range(num)]
    f.seek(headers[strndx][4])
    names = f.read(headers[strndx][5])
    return {
        names[h[0]:names.index(b'\0', h[0])].decode(): (h[4], h[5])
        for h in headers
    }


def _arch_names(found: Iterable[Tuple[str, int]]) -> List[str]:
    """``{('compute', 90), ('sm', 80)}`` -> ``['sm_80', 'compute_90']``."""
    return [f'{kind}_{sm}' for kind, sm in
            sorted(found, key=lambda t: (t[1], t[0] != 'sm'))]


def fatbin_archs(data: bytes) -> List[str]:
    """Architectures in a ``.nv_fatbin`` section.

    Returns:
        list[str]: ``sm_90`` for a cubin (machine code), ``compute_90``
        for PTX, sorted.
    """
    found = set()
    pos = 0
    while pos + 16 <= len(data):
        magic, _, head, size = struct.unpack_from('<IHHQ', data, pos)
        if magic != FATBIN_MAGIC:
            pos += 8  # containers are 8-byte aligned
            continue
        entry, end = pos + head, pos + head + size
        while entry + 32 <= end:
            kind, _, entry_head, payload = struct.unpack_from(
                '<HHIQ', data, entry)
            sm, = struct.unpack_from('<I', data, entry + 28)
            found.add(('compute' if kind == 1 else 'sm', sm))
            entry += entry_head + payload
        pos = end
    return _arch_names(found)


def cuda_kernels(path: str) -> List[str]:
    """CUDA architectures compiled into a shared library or mmcv wheel.

    Args:
        path (str): A ``.so`` file, or a wheel (its ``mmcv/_ext*.so``).

    Returns:
        list[str]: E.g. ``['sm_90', 'compute_90']``; empty for a library
        without CUDA kernels (a CPU build).
    """
    if path.endswith('.whl'):
        with zipfile.ZipFile(path) as whl:
            names = [n for n in whl.namelist()
                     if re.match(r'^mmcv/_ext[^/]*\.so$', n)]
            if not names:
                raise SetupError(f'{path} holds no compiled ops '
                                 '(mmcv/_ext*.so)')
            with tempfile.TemporaryDirectory() as tmp:
                return cuda_kernels(whl.extract(names[0], tmp))
    with open(path, 'rb') as f:
        sections = elf_sections(f)
        if '.nv_fatbin' not in sections:
            return []
        offset, size = sections['.nv_fatbin']
        f.seek(offset)
        return fatbin_archs(f.read(size))


def expected_kernels(arch_list: str) -> List[str]:
    """:func:`cuda_kernels` of a build for ``TORCH_CUDA_ARCH_LIST``."""
    out = set()
    for arch in normalise_arch_list(arch_list).split(';'):
        major, minor, _ = _arch_number(arch)
        out.add(('sm', major * 10 + minor))
        if arch.endswith('+PTX'):
            out.add(('compute', major * 10 + minor))
    return _arch_names(out)


# ----------------------------------------------------------------- wheels
def cxx_standard(aten_header: str) -> str:
    """The ``-std=`` torch's headers need, from the text of ``ATen.h``.

    torch 2.10+ states ``__cplusplus < 202002L`` (C++20); before, C++17.
    """
    m = re.search(r'__cplusplus\s*<\s*(\d{4})\d{2}L', aten_header)
    year = int(m.group(1)) if m else 2017
    return {2011: 'c++14', 2014: 'c++14'}.get(year, f'c++{year % 100}')


def wheel_dir(cache: str, version: str, key: str) -> str:
    """Where the wheel for ``key`` is cached."""
    return osp.join(cache, 'wheels', f'mmcv-{version}-{key}')


def find_cached_wheel(cache: str, version: str, plan: Plan) -> Optional[str]:
    """A cached wheel for the plan, if any.

    Wheels cached before the key recorded CPU or CUDA
    (``mmcv-<version>-py311-torch<ver>``) are adopted for a CPU plan when
    they hold no CUDA kernels (copied under the new key); never for CUDA,
    whose architectures they do not record.
    """
    folder = wheel_dir(cache, version, plan.key)
    found = sorted(glob.glob(osp.join(folder, 'mmcv-*.whl')))
    if found:
        return found[0]
    if plan.mode != 'cpu' or not plan.key.endswith('-cpu'):
        return None
    legacy = wheel_dir(cache, version, plan.key[:-len('-cpu')])
    for old in sorted(glob.glob(osp.join(legacy, 'mmcv-*.whl'))):
        if not cuda_kernels(old):
            os.makedirs(folder, exist_ok=True)
            new = osp.join(folder, osp.basename(old))
            shutil.copy2(old, new + '.partial')
            os.replace(new + '.partial', new)
            say(f'adopted the CPU wheel {old} as {new}')
            return new
    return None


FAILURES = [
    (r'C\+\+20 or later', 'the torch headers need a newer C++ standard'),
    (r"No module named 'pkg_resources'",
     "setuptools without pkg_resources; pip install 'setuptools<81'"),
    (r"g\+\+: (command )?not found|error: command .(g\+\+|c\+\+). failed: "
     r'No such file', 'no C++ compiler; sudo apt-get install g++'),
    (r'unsupported GNU version',
     'the host compiler is newer than this nvcc supports; install an older '
     'g++ and set CC, CXX and NVCC_CCBIN to it'),
    (r'Unknown CUDA arch|Unsupported gpu architecture|nvcc fatal.*arch',
     'TORCH_CUDA_ARCH_LIST names an architecture this CUDA release cannot '
     'compile for'),
    (r'The detected CUDA version .* mismatches',
     'nvcc is not the CUDA release torch was built with'),
    (r'Killed signal|killed|out of memory|Cannot allocate memory',
     'the compiler ran out of memory; retry with MAX_JOBS=1'),
    (r'Could not find a version|Failed to establish|No matching '
     r'distribution', 'the mmcv sdist could not be downloaded from PyPI'),
]


def diagnose(log: str) -> str:
    """The likely cause of a failed build, from its log."""
    for pattern, cause in FAILURES:
        if re.search(pattern, log):
            return cause
    return 'see the end of the log'


def _run_logged(cmd: List[str], env: Dict[str, str], cwd: str, log: str,
                label: str) -> None:
    """Run ``cmd`` into ``log``, printing compiled units now and then."""
    start = time.monotonic()
    with open(log, 'a') as out:
        out.write(f'$ {shlex.join(cmd)}\n')
        out.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
        while True:
            try:
                proc.wait(timeout=PROGRESS_EVERY)
                break
            except subprocess.TimeoutExpired:
                with open(log, errors='replace') as f:
                    units = re.findall(r'\[\d+/\d+\]', f.read())
                say(f'  ... {label} ({time.monotonic() - start:.0f}s, '
                    f'compiled {units[-1] if units else "[0/?]"})')
    if proc.returncode != 0:
        with open(log, errors='replace') as f:
            text = f.read()
        print(''.join(text.splitlines(True)[-25:]), file=sys.stderr)
        raise SetupError(f'{label} failed: {diagnose(text)}. '
                         f'Full log: {log}')


def build_wheel(plan: Plan, cache: str, version: str = MMCV_VERSION,
                python: str = sys.executable,
                max_jobs: Optional[int] = None) -> str:
    """Build mmcv ``version`` with ops from its sdist; cache the wheel.

    Returns:
        str: The cached wheel.

    Raises:
        SetupError: The build failed (cause and log named), or the wheel
            does not hold the kernels the plan asked for.
    """
    import torch
    os.makedirs(osp.join(cache, 'logs'), exist_ok=True)
    stamp = time.strftime('%Y%m%d-%H%M%S')
    log = osp.join(cache, 'logs', f'mmcv-{version}-{plan.key}-{stamp}.log')
    src = tempfile.mkdtemp(prefix='mmcv-src.', dir=cache)
    pip = [python, '-m', 'pip', '--disable-pip-version-check']
    env = dict(os.environ, MMCV_WITH_OPS='1',
               MAX_JOBS=str(max_jobs or os.environ.get('MAX_JOBS') or
                            os.cpu_count() or 1))
    try:
        _run_logged(pip + ['download', '--no-deps', '--no-binary', ':all:',
                           '--no-build-isolation', f'mmcv=={version}', '-d',
                           src], env, src, log, 'mmcv sdist download')
        with tarfile.open(osp.join(src, f'mmcv-{version}.tar.gz')) as tar:
            if hasattr(tarfile, 'data_filter'):  # Python >= 3.11.4
                tar.extractall(src, filter='data')
            else:
                tar.extractall(src)
        tree = osp.join(src, f'mmcv-{version}')
        header = osp.join(osp.dirname(torch.__file__), 'include', 'ATen',
                          'ATen.h')
        std = cxx_standard(open(header).read() if osp.exists(header) else '')
        with open(osp.join(tree, 'setup.py')) as f:
            setup_py = f.read()
        with open(osp.join(tree, 'setup.py'), 'w') as f:
            f.write(setup_py.replace('-std=c++17', f'-std={std}'))
        if plan.mode == 'cuda':
            home = prepare_cuda_home(cache, osp.join(src, 'cuda_home'),
                                     plan.cuda, python)
            env.update(FORCE_CUDA='1', CUDA_HOME=home,
                       TORCH_CUDA_ARCH_LIST=plan.arch_list,
                       PATH=osp.join(home, 'bin') + os.pathsep +
                       env.get('PATH', ''))
            env.pop('CUDA_PATH', None)
            what = (f'CUDA {plan.cuda} ops for {plan.arch_list} '
                    f'({plan.arch_source})')
        else:
            # mmcv's setup.py compiles the CUDA ops whenever torch sees a
            # GPU; hide the GPUs for a CPU build.
            env.update(FORCE_CUDA='0', CUDA_VISIBLE_DEVICES='')
            what = 'CPU ops'
        say(f'building mmcv {version} with {what}, -std={std}, '
            f'MAX_JOBS={env["MAX_JOBS"]}; log: {log}')
        start = time.monotonic()
        _run_logged(pip + ['wheel', '-v', '--no-deps', '--no-build-isolation',
                           '.', '-w', osp.join(src, 'dist')], env, tree, log,
                    f'mmcv {plan.mode} build')
        built = glob.glob(osp.join(src, 'dist', 'mmcv-*.whl'))[0]
        got = cuda_kernels(built)
        want = expected_kernels(plan.arch_list) if plan.mode == 'cuda' \
            else []
        if got != want:
            raise SetupError(f'the built wheel holds CUDA kernels {got}, the '
                             f'{plan.mode} build needs {want}. Log: {log}')
        folder = wheel_dir(cache, version, plan.key)
        os.makedirs(folder, exist_ok=True)
        wheel = osp.join(folder, osp.basename(built))
        shutil.move(built, wheel)
        say(f'built in {time.monotonic() - start:.0f}s '
            f'({osp.getsize(wheel) / 2**20:.0f} MB'
            f'{", kernels " + " ".join(got) if got else ""}); cached {wheel}')
        return wheel
    finally:
        shutil.rmtree(src, ignore_errors=True)


# -------------------------------------------------------------- ops check
def ops_check(device: str = 'cpu', expect_cuda: Optional[str] = None) -> str:
    """Run RoIAlign (forward, backward) and nms of mmcv on ``device``.

    RoIAlign pools a linear ramp, which bilinear sampling reproduces
    exactly, so each output must equal the ramp at its bin centre and the
    gradient must sum to one per output.

    Args:
        device (str): ``'cpu'``, ``'cuda'`` or ``'cuda:N'``.
        expect_cuda (str, optional): The CUDA release the ops must have
            been compiled with (checked also when ``device`` is the CPU).

    Returns:
        str: A one-line summary.

    Raises:
        SetupError: An op is missing for the device, or computes wrongly.
    """
    import torch
    import mmcv
    from mmcv.ops import RoIAlign, get_compiling_cuda_version, nms
    compiled = get_compiling_cuda_version()
    if expect_cuda and compiled != expect_cuda:
        raise SetupError(f'mmcv {mmcv.__version__} ops were compiled with '
                         f'CUDA {compiled!r}, expected {expect_cuda}')
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise SetupError(f'ops check on {device}: no GPU is visible')
    dev = torch.device(device)
    ys, xs = torch.meshgrid(torch.arange(16.), torch.arange(16.),
                            indexing='ij')
    feat = (xs + 16 * ys)[None, None].to(dev).requires_grad_()
    x1, y1, x2, y2 = 2., 3., 10., 9.
    rois = torch.tensor([[0., x1, y1, x2, y2]], device=dev)
    try:
        out = RoIAlign((2, 2), spatial_scale=1., sampling_ratio=2,
                       aligned=True)(feat, rois)
        out.sum().backward()
        boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.],
                              [20., 20., 30., 30.]], device=dev)
        _, keep = nms(boxes, torch.tensor([.9, .8, .7], device=dev), .5)
    except RuntimeError as e:
        raise SetupError(
            f'mmcv ops fail on {dev}: {str(e).splitlines()[0]} '
            f'(ops compiled with CUDA {compiled!r})') from e
    # aligned=True: pixel centres at integer coordinates (box shifted by
    # half a pixel); bin centres of a 2 x 2 grid.
    cx = [x1 - .5 + (x2 - x1) * f for f in (.25, .75)]
    cy = [y1 - .5 + (y2 - y1) * f for f in (.25, .75)]
    want = torch.tensor([[x + 16 * y for x in cx] for y in cy])
    problems = []
    if out.device.type != dev.type:
        problems.append(f'RoIAlign ran on {out.device}')
    if not torch.allclose(out.detach().cpu()[0, 0], want, atol=1e-4):
        problems.append(f'RoIAlign gave {out.detach().cpu()[0, 0].tolist()}'
                        f', expected {want.tolist()}')
    if abs(feat.grad.sum().item() - 4.) > 1e-4:
        problems.append(f'RoIAlign gradient sums to '
                        f'{feat.grad.sum().item()}, expected 4')
    if keep.cpu().tolist() != [0, 2]:
        problems.append(f'nms kept {keep.cpu().tolist()}, expected [0, 2]')
    if problems:
        raise SetupError(f'mmcv ops on {dev}: ' + '; '.join(problems))
    return (f'mmcv {mmcv.__version__} ops on {dev}: RoIAlign (forward, '
            f'backward) and nms correct; compiled with CUDA {compiled}')


# ------------------------------------------------------------------- main
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='cmd', required=True)
    sub.add_parser('plan', help='print the build plan as shell lines')
    wheel = sub.add_parser('wheel', help='print a cached or new wheel path')
    wheel.add_argument('--cache', required=True, help='cache folder')
    wheel.add_argument('--version', default=MMCV_VERSION)
    wheel.add_argument('--max-jobs', type=int, default=None)
    check = sub.add_parser('ops-check', help='run RoIAlign and nms')
    check.add_argument('--device', default='cpu')
    check.add_argument('--expect-cuda', default=None)
    kernels = sub.add_parser('kernels', help='CUDA archs in a .so / .whl')
    kernels.add_argument('path')
    args = parser.parse_args(argv)
    try:
        if args.cmd == 'plan':
            print(current_plan().shell())
        elif args.cmd == 'wheel':
            plan = current_plan()
            found = find_cached_wheel(args.cache, args.version, plan)
            if found:
                say(f'using the cached wheel {found}')
            print(found or build_wheel(plan, args.cache, args.version,
                                       max_jobs=args.max_jobs))
        elif args.cmd == 'ops-check':
            print(ops_check(args.device, args.expect_cuda))
        else:
            print(' '.join(cuda_kernels(args.path)) or 'no CUDA kernels')
    except SetupError as e:
        print(f'\033[1;31m[hvpt setup] ERROR:\033[0m {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
