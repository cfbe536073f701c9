# Copyright (c) hvpt_mm authors. All rights reserved.
"""scripts/mmcv_build.py: build mode, arch list, cache key, kernels, ops.

Nothing here compiles mmcv; the files inspected are the installed mmcv's
compiled ops (a CPU build here) and torchvision's (CUDA kernels when torch
is a CUDA build).
"""
import glob
import os
import os.path as osp
import shutil
import subprocess
import sys
import zipfile

import pytest
import torch

from _helpers.tiny import REPO

SCRIPT = osp.join(REPO, 'scripts', 'mmcv_build.py')
TORCH_ARCHS = torch.cuda.get_arch_list() if torch.version.cuda else []
# `nvcc --version` of the nvidia-cuda-nvcc 13.0.88 wheel.
NVCC_13 = ('nvcc: NVIDIA (R) Cuda compiler driver\n'
           'Copyright (c) 2005-2025 NVIDIA Corporation\n'
           'Built on Wed_Aug_20_01:58:59_PM_PDT_2025\n'
           'Cuda compilation tools, release 13.0, V13.0.88\n'
           'Build cuda_13.0.r13.0/compiler.36424714_0\n')


def _mmcv_ext() -> str:
    import mmcv
    found = glob.glob(osp.join(osp.dirname(mmcv.__file__), '_ext*.so'))
    assert found, 'mmcv is installed without its compiled ops'
    return found[0]


def _torchvision_cuda_so() -> str:
    import torchvision
    for path in sorted(glob.glob(osp.join(osp.dirname(torchvision.__file__),
                                          '_C*.so'))):
        return path
    pytest.skip('torchvision has no compiled library')


def _fake_wheel(path: str, ext: str = None) -> str:
    """A wheel-shaped zip holding ``ext`` as mmcv's ops library."""
    with zipfile.ZipFile(path, 'w') as whl:
        whl.writestr('mmcv/__init__.py', '')
        if ext:
            whl.write(ext, 'mmcv/_ext.cpython-311-x86_64-linux-gnu.so')
    return path


# ------------------------------------------------------------ build mode
@pytest.mark.parametrize('torch_cuda,gpus,request_,mode', [
    (None, 0, '', 'cpu'),  # CPU-only torch
    ('13.0', 0, '', 'cpu'),  # CUDA wheel, no GPU: CI, this machine
    ('13.0', 0, 'auto', 'cpu'),
    ('13.0', 2, '', 'cuda'),  # GPU node
    ('13.0', 0, '1', 'cuda'),  # login node, asked for
    ('13.0', 2, '0', 'cpu'),  # asked for the CPU ops on a GPU node
    (None, 2, '0', 'cpu'),
])
def test_build_mode(mmcv_build, torch_cuda, gpus, request_, mode):
    got, reason = mmcv_build.build_mode(torch_cuda, gpus, request_)
    assert got == mode and reason


def test_build_mode_refuses(mmcv_build):
    with pytest.raises(mmcv_build.SetupError, match='CPU-only build'):
        mmcv_build.build_mode(None, 0, '1')
    with pytest.raises(mmcv_build.SetupError, match='use 1'):
        mmcv_build.build_mode('13.0', 1, 'yes')


# ------------------------------------------------------------- arch list
def test_arch_list_user_value_wins_normalised(mmcv_build):
    archs, source = mmcv_build.cuda_arch_list(
        '13.0', ' 9.0 8.0;12.0+PTX ', [(8, 6)], TORCH_ARCHS)
    assert archs == '8.0;9.0;12.0+PTX'
    assert source == 'TORCH_CUDA_ARCH_LIST'
    assert mmcv_build.cuda_arch_list('13.0', '9.0a')[0] == '9.0a'


@pytest.mark.parametrize('bad', ['Hopper', '90', 'sm_90', '9.0+ptx', ';'])
def test_arch_list_rejects(mmcv_build, bad):
    with pytest.raises(mmcv_build.SetupError, match='compute capabilities'):
        mmcv_build.cuda_arch_list('13.0', bad)


def test_arch_list_visible_gpus(mmcv_build):
    built = ['sm_75', 'sm_80', 'sm_90', 'sm_120']
    archs, source = mmcv_build.cuda_arch_list(
        '13.0', '', [(9, 0), (8, 0), (9, 0)], built)
    assert (archs, source) == ('8.0;9.0+PTX', 'the visible GPUs')
    # A GPU newer than torch supports compiles for torch's newest.
    assert mmcv_build.cuda_arch_list('13.0', 'native', [(12, 1)],
                                     built)[0] == '12.0+PTX'


def test_arch_list_without_gpu(mmcv_build):
    built = ['sm_75', 'sm_80', 'sm_86', 'sm_90', 'sm_100', 'sm_120']
    archs, source = mmcv_build.cuda_arch_list('13.0', '', [], built)
    assert archs == '7.5;8.0;8.6;9.0;10.0;12.0+PTX'
    assert source == 'the architectures torch was built for'
    # A torch that names none: the fixed list of its CUDA major.
    assert mmcv_build.cuda_arch_list('12.4')[0] == \
        mmcv_build.FALLBACK_ARCHS[12]
    with pytest.raises(mmcv_build.SetupError, match='no GPU is visible'):
        mmcv_build.cuda_arch_list('13.0', 'native', [], built)


@pytest.mark.skipif(not TORCH_ARCHS, reason='torch is a CPU-only build')
def test_arch_list_of_installed_torch(mmcv_build):
    """Without a GPU the default is what torch itself was compiled for."""
    archs, _ = mmcv_build.cuda_arch_list(torch.version.cuda, '', [],
                                         TORCH_ARCHS)
    assert mmcv_build.expected_kernels(archs)[:-1] == [
        a for a in TORCH_ARCHS if a.startswith('sm_')]


# ------------------------------------------------------------- cache key
def test_cache_key_keeps_builds_apart(mmcv_build):
    key = mmcv_build.cache_key
    cpu = key((3, 11), '2.14.1+cu130')
    cuda13 = key((3, 11), '2.14.1+cu130', '13.0', '9.0')
    cuda12 = key((3, 11), '2.14.1+cu130', '12.8', '9.0')
    wider = key((3, 11), '2.14.1+cu130', '13.0', '8.0;9.0')
    assert cpu == 'py311-torch2.14.1+cu130-cpu'
    assert cuda13 == 'py311-torch2.14.1+cu130-cuda13.0-arch9.0'
    assert len({cpu, cuda13, cuda12, wider}) == 4
    # The pre-CUDA key (no suffix) names neither.
    assert 'py311-torch2.14.1+cu130' not in (cpu, cuda13)
    # Order and separators of the arch list do not matter.
    assert key((3, 11), '2.14.1', '13.0', '9.0 8.0') == \
        key((3, 11), '2.14.1', '13.0', '8.0;9.0')
    assert key((3, 12), '2.14.1+cu130') != cpu
    with pytest.raises(ValueError):
        key((3, 11), '2.14.1', '13.0')


def test_plan_cpu_box_and_cuda_request(mmcv_build):
    py = sys.version_info[:2]
    cpu = mmcv_build.make_plan(py, torch.__version__, '13.0', [],
                               ['sm_90'], env={})
    assert (cpu.mode, cpu.ops_device, cpu.cuda) == ('cpu', 'cpu', None)
    login = mmcv_build.make_plan(py, torch.__version__, '13.0', [],
                                 ['sm_80', 'sm_90'],
                                 env=dict(HVPT_MMCV_CUDA='1'))
    assert login.mode == 'cuda' and login.arch_list == '8.0;9.0+PTX'
    assert login.ops_device == 'cpu'  # no GPU to run the check on
    node = mmcv_build.make_plan(py, torch.__version__, '13.0', [(9, 0)],
                                ['sm_80', 'sm_90'],
                                env=dict(TORCH_CUDA_ARCH_LIST='9.0'))
    assert (node.mode, node.ops_device, node.arch_list) == ('cuda', 'cuda',
                                                            '9.0')
    assert len({cpu.key, login.key, node.key}) == 3


def test_plan_shell_lines_survive_eval(mmcv_build):
    plan = mmcv_build.make_plan((3, 11), '2.14.1+cu130', '13.0', [],
                                ['sm_80', 'sm_90'],
                                env=dict(HVPT_MMCV_CUDA='1'))
    out = subprocess.run(
        ['bash', '-c', 'eval "$PLAN"; printf "%s|%s|%s" "$MMCV_MODE" '
         '"$MMCV_ARCH_LIST" "$MMCV_REASON"'],
        env=dict(os.environ, PLAN=plan.shell()), capture_output=True,
        text=True, check=True).stdout
    assert out == f'cuda|8.0;9.0+PTX|{plan.reason}'


def test_current_plan_on_this_machine(mmcv_build):
    """The CPU machines of CI build the CPU ops by default."""
    plan = mmcv_build.current_plan(env={})
    if torch.cuda.is_available():
        assert plan.mode == 'cuda' and plan.ops_device == 'cuda'
    else:
        assert plan.mode == 'cpu' and plan.key.endswith('-cpu')


# ---------------------------------------------------------- CUDA toolkit
def test_toolkit_requirement(mmcv_build):
    req = mmcv_build.toolkit_requirement(
        ['filelock', 'cuda-toolkit[cublas,cudart]==13.0.3; '
         'platform_system == "Linux"'], '13.0')
    assert req == 'cuda-toolkit[nvcc,cccl,cudart]==13.0.3'
    # Older CUDA wheels of torch name the nvidia-* packages directly.
    assert mmcv_build.toolkit_requirement(
        ['nvidia-cuda-runtime-cu12==12.4.127'], '12.4') == \
        'cuda-toolkit[nvcc,cccl,cudart]==12.4.*'


@pytest.mark.skipif(not torch.version.cuda, reason='CPU-only torch')
def test_toolkit_requirement_of_installed_torch(mmcv_build):
    from importlib import metadata
    req = mmcv_build.toolkit_requirement(metadata.requires('torch') or [],
                                         torch.version.cuda)
    assert req.startswith('cuda-toolkit[nvcc,cccl,cudart]==')
    assert req.split('==')[1].startswith(torch.version.cuda)


def _tree(root, files):
    for rel in files:
        path = osp.join(root, rel)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(root)


def test_merge_cuda_home(mmcv_build, tmp_path):
    toolkit, torch_libs = str(tmp_path / 'tk'), str(tmp_path / 'torch')
    _tree(toolkit, ['bin/nvcc', 'include/cuda_runtime.h', 'include/crt/x.h',
                    'lib/libcudart.so.13', 'nvvm/bin/cicc'])
    _tree(torch_libs, ['include/cuda_runtime.h', 'include/cublas_v2.h',
                       'lib/libcublas.so.13', 'lib/libfoo.so'])
    home = mmcv_build.merge_cuda_home([toolkit, torch_libs],
                                      str(tmp_path / 'home'))
    # The first root wins; the others add what it lacks.
    assert open(osp.join(home, 'include/cuda_runtime.h')).read() == toolkit
    assert open(osp.join(home, 'include/cublas_v2.h')).read() == torch_libs
    assert osp.isfile(osp.join(home, 'include/crt/x.h'))
    assert osp.isfile(osp.join(home, 'nvvm/bin/cicc'))
    # -lcudart needs libcudart.so; lib64 is where torch looks first.
    assert os.readlink(osp.join(home, 'lib/libcudart.so')) == \
        'libcudart.so.13'
    assert osp.isfile(osp.join(home, 'lib64/libcublas.so'))
    assert open(osp.join(home, 'lib/libfoo.so')).read() == torch_libs


@pytest.mark.skipif(not torch.version.cuda, reason='CPU-only torch')
def test_merge_with_torch_cuda_wheels(mmcv_build, tmp_path):
    """torch's own nvidia-* wheels supply the library headers."""
    site = osp.dirname(osp.dirname(torch.__file__))
    roots = mmcv_build.nvidia_roots([site])
    if not roots:
        pytest.skip('torch uses a system CUDA, not nvidia-* wheels')
    home = mmcv_build.merge_cuda_home(roots, str(tmp_path / 'home'))
    for header in ('cuda_runtime_api.h', 'cublas_v2.h', 'cusparse.h'):
        assert osp.isfile(osp.join(home, 'include', header)), header
    assert osp.exists(osp.join(home, 'lib64', 'libcudart.so'))


def test_nvcc_release(mmcv_build):
    assert mmcv_build.nvcc_release(NVCC_13) == '13.0'
    with pytest.raises(mmcv_build.SetupError):
        mmcv_build.nvcc_release('nvcc: command not found')


# -------------------------------------------------------- kernels in files
def test_cpu_build_has_no_cuda_kernels(mmcv_build, tmp_path):
    import mmcv.ops  # noqa: F401
    assert mmcv_build.cuda_kernels(_mmcv_ext()) == []
    whl = _fake_wheel(str(tmp_path / 'mmcv-2.1.0-cp311.whl'), _mmcv_ext())
    assert mmcv_build.cuda_kernels(whl) == []


@pytest.mark.skipif(not torch.version.cuda, reason='CPU-only torch')
def test_cuda_kernels_of_a_real_cuda_library(mmcv_build, tmp_path):
    """torchvision's ops: one cubin per arch torch supports, PTX on top."""
    so = _torchvision_cuda_so()
    found = mmcv_build.cuda_kernels(so)
    assert [a for a in found if a.startswith('sm_')] == TORCH_ARCHS
    assert any(a.startswith('compute_') for a in found)
    whl = _fake_wheel(str(tmp_path / 'mmcv-2.1.0-cp311.whl'), so)
    assert mmcv_build.cuda_kernels(whl) == found


def test_kernels_of_a_wheel_without_ops(mmcv_build, tmp_path):
    whl = _fake_wheel(str(tmp_path / 'mmcv-2.1.0-py3-none-any.whl'))
    with pytest.raises(mmcv_build.SetupError, match='no compiled ops'):
        mmcv_build.cuda_kernels(whl)


def test_expected_kernels(mmcv_build):
    assert mmcv_build.expected_kernels('9.0') == ['sm_90']
    assert mmcv_build.expected_kernels('12.0+PTX;8.0') == [
        'sm_80', 'sm_120', 'compute_120']


# ----------------------------------------------------------------- wheels
def _plan(mmcv_build, cuda=False):
    env = dict(HVPT_MMCV_CUDA='1', TORCH_CUDA_ARCH_LIST='9.0') if cuda \
        else {}
    return mmcv_build.make_plan((3, 11), '2.14.1+cu130', '13.0', [],
                                ['sm_90'], env=env)


def test_cached_wheels_cpu_and_cuda_apart(mmcv_build, tmp_path):
    cache, cpu, cuda = str(tmp_path), _plan(mmcv_build), \
        _plan(mmcv_build, cuda=True)
    folder = mmcv_build.wheel_dir(cache, '2.1.0', cpu.key)
    os.makedirs(folder)
    wheel = _fake_wheel(osp.join(folder, 'mmcv-2.1.0-cp311.whl'),
                        _mmcv_ext())
    assert mmcv_build.find_cached_wheel(cache, '2.1.0', cpu) == wheel
    assert mmcv_build.find_cached_wheel(cache, '2.1.0', cuda) is None


def test_legacy_cpu_wheel_adopted_for_cpu_only(mmcv_build, tmp_path):
    cache, cpu, cuda = str(tmp_path), _plan(mmcv_build), \
        _plan(mmcv_build, cuda=True)
    legacy = mmcv_build.wheel_dir(cache, '2.1.0', 'py311-torch2.14.1+cu130')
    os.makedirs(legacy)
    old = _fake_wheel(osp.join(legacy, 'mmcv-2.1.0-cp311.whl'), _mmcv_ext())
    assert mmcv_build.find_cached_wheel(cache, '2.1.0', cuda) is None
    adopted = mmcv_build.find_cached_wheel(cache, '2.1.0', cpu)
    assert adopted == osp.join(
        mmcv_build.wheel_dir(cache, '2.1.0', cpu.key), osp.basename(old))
    assert osp.isfile(old)  # left for older checkouts


@pytest.mark.skipif(not torch.version.cuda, reason='CPU-only torch')
def test_legacy_cuda_wheel_not_adopted(mmcv_build, tmp_path):
    """A legacy wheel built on a GPU node holds kernels: not for CPU."""
    cache = str(tmp_path)
    legacy = mmcv_build.wheel_dir(cache, '2.1.0', 'py311-torch2.14.1+cu130')
    os.makedirs(legacy)
    _fake_wheel(osp.join(legacy, 'mmcv-2.1.0-cp311.whl'),
                _torchvision_cuda_so())
    assert mmcv_build.find_cached_wheel(cache, '2.1.0',
                                        _plan(mmcv_build)) is None


def test_cxx_standard(mmcv_build):
    header = osp.join(osp.dirname(torch.__file__), 'include', 'ATen',
                      'ATen.h')
    with open(header) as f:
        std = mmcv_build.cxx_standard(f.read())
    from packaging.version import Version
    torch_version = Version(torch.__version__.split('+')[0])
    assert std == ('c++20' if torch_version >= Version('2.10') else 'c++17')
    assert mmcv_build.cxx_standard('#if __cplusplus < 201703L') == 'c++17'
    assert mmcv_build.cxx_standard('') == 'c++17'


@pytest.mark.parametrize('log,cause', [
    ('#error C++20 or later compatible compiler is required', 'C++ standard'),
    ('x.cu: error -- unsupported GNU version! gcc versions later than 14',
     'NVCC_CCBIN'),
    ('nvcc fatal   : Unsupported gpu architecture \'compute_30\'',
     'TORCH_CUDA_ARCH_LIST'),
    ('ValueError: Unknown CUDA arch (Hopper) or GPU not supported',
     'TORCH_CUDA_ARCH_LIST'),
    ('g++: fatal error: Killed signal terminated program cc1plus',
     'MAX_JOBS=1'),
    ("error: command 'g++' failed: No such file or directory", 'apt-get'),
    ('something else', 'end of the log'),
])
def test_diagnose(mmcv_build, log, cause):
    assert cause in mmcv_build.diagnose(log)


# -------------------------------------------------------------- ops check
def test_ops_check_cpu(mmcv_build):
    summary = mmcv_build.ops_check('cpu')
    assert 'on cpu: RoIAlign (forward, backward) and nms correct' in summary


def test_ops_check_refuses_wrong_build(mmcv_build):
    from mmcv.ops import get_compiling_cuda_version
    compiled = get_compiling_cuda_version()
    other = '12.4' if compiled == '13.0' else '13.0'
    with pytest.raises(mmcv_build.SetupError, match='expected'):
        mmcv_build.ops_check('cpu', expect_cuda=other)


@pytest.mark.skipif(torch.cuda.is_available(), reason='a GPU is visible')
def test_ops_check_cuda_without_gpu(mmcv_build):
    with pytest.raises(mmcv_build.SetupError, match='no GPU is visible'):
        mmcv_build.ops_check('cuda')


def test_cli(tmp_path):
    run = dict(capture_output=True, text=True, cwd=str(tmp_path))
    proc = subprocess.run([sys.executable, SCRIPT, 'ops-check'], **run)
    assert proc.returncode == 0, proc.stderr
    assert 'RoIAlign' in proc.stdout
    proc = subprocess.run([sys.executable, SCRIPT, 'plan'], **run)
    assert proc.returncode == 0 and 'MMCV_KEY=' in proc.stdout
    proc = subprocess.run([sys.executable, SCRIPT, 'kernels', _mmcv_ext()],
                          **run)
    assert proc.stdout.strip() == 'no CUDA kernels'
    proc = subprocess.run([sys.executable, SCRIPT, 'ops-check',
                           '--expect-cuda', '0.0'], **run)
    assert proc.returncode == 1 and 'ERROR' in proc.stderr


def test_setup_sh_parses():
    assert shutil.which('bash')
    proc = subprocess.run(['bash', '-n', osp.join(REPO, 'scripts',
                                                  'setup.sh')],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _cached_toolkit():
    cache = os.environ.get('HVPT_CACHE') or osp.expanduser(
        '~/.cache/hvpt_mm')
    found = sorted(glob.glob(osp.join(cache, 'cuda', '*', '.complete')))
    return osp.dirname(found[-1]) if found else None


def test_toolkit_release_without_nvcc(mmcv_build, tmp_path):
    assert mmcv_build.toolkit_release(str(tmp_path)) is None


@pytest.mark.skipif(not torch.version.cuda or _cached_toolkit() is None,
                    reason='no CUDA toolkit from PyPI in the set-up cache')
def test_cached_toolkit_compiles(mmcv_build, tmp_path):
    """The assembled CUDA_HOME compiles a kernel with torch's headers.

    Runs where a CUDA build of mmcv installed the toolkit before (set
    ``HVPT_CACHE`` to that cache); seconds, not a build of mmcv.
    """
    site = osp.dirname(osp.dirname(torch.__file__))
    home = mmcv_build.merge_cuda_home(
        mmcv_build.nvidia_roots([_cached_toolkit(), site]),
        str(tmp_path / 'home'))
    assert mmcv_build.toolkit_release(home) == torch.version.cuda
    src = tmp_path / 'k.cu'
    src.write_text('#include <cuda_runtime.h>\n#include <cublas_v2.h>\n'
                   '#include <thrust/device_vector.h>\n'
                   '__global__ void twice(float* x) { x[threadIdx.x] *= 2; }'
                   '\nint main() { float* p; return cudaMalloc(&p, 4); }\n')
    proc = subprocess.run(
        [osp.join(home, 'bin', 'nvcc'), '-std=c++17', '-arch=sm_90',
         str(src), '-o', str(tmp_path / 'k'), '-L' + osp.join(home, 'lib64'),
         '-lcudart'], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    # A CUDA_HOME with torch's release is used as it is.
    assert mmcv_build.prepare_cuda_home(
        str(tmp_path), str(tmp_path / 'unused'), torch.version.cuda,
        env=dict(CUDA_HOME=home)) == home
