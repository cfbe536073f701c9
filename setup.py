# Copyright (c) hvpt_mm authors. All rights reserved.
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = osp.dirname(osp.abspath(__file__))
# Start-up hook that lets mmengine resolve ``hvpt_mm::`` configs in any
# interpreter (see _hvpt_mm_hook.py): its module and the .pth file that
# imports it sit at the top of site-packages.
HOOK = '_hvpt_mm_hook'

# Version ranges for pip. scripts/setup.sh installs the exact, tested pins
# of requirements/*.txt instead (and this package with --no-deps).
# mmcv is left to the user (or `mim install`, requirements/mminstall.txt):
# pip would build it from source without its ops.
INSTALL_REQUIRES = [
    'mmengine>=0.10.0,<1.0.0',
    'mmpretrain>=1.2.0,<1.3.0',
    # mmcv 2.1's colour transforms overflow under NumPy 2.
    'numpy<2',
    'scipy',
    'matplotlib',
    'rich',
]
# The downstream consumers (detection, segmentation); mmdet 3.3 and mmseg
# 1.2 need mmcv < 2.2.
DOWNSTREAM_REQUIRES = [
    'mmdet>=3.3.0,<3.4.0',
    'mmsegmentation>=1.2.2,<1.3.0',
    'ftfy',
    'regex',
    'pycocotools',
]


def readme() -> str:
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        return f.read()


def get_version() -> str:
    scope: dict = {}
    with open(osp.join(ROOT, 'hvpt_mm', 'version.py')) as f:
        exec(compile(f.read(), 'version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(fname: str) -> list:
    """Read requirement lines, dropping comments and blank lines."""
    reqs = []
    with open(osp.join(ROOT, 'requirements', fname)) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if line and not line.startswith('-'):
                reqs.append(line)
    return reqs


def add_mim_extension() -> None:
    """Carry configs, tools and model-index inside the package (`.mim`).

    As mmpretrain / mmdet do: an installed hvpt_mm exposes its configs at
    ``hvpt_mm/.mim/configs`` so that ``_base_ = 'hvpt_mm::pretrain/...'``
    works from other projects. Editable installs symlink, others copy.
    """
    if 'develop' in sys.argv or any('editable' in a for a in sys.argv):
        mode = 'symlink'
    elif {'sdist', 'bdist_wheel', 'install', 'build'} & set(sys.argv):
        mode = 'copy'
    else:
        # pip's PEP 660 editable path calls setup.py without the above.
        mode = 'symlink'
    mim_path = osp.join(ROOT, 'hvpt_mm', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in ('configs', 'tools', 'model-index.yml'):
        src = osp.join(ROOT, name)
        tar = osp.join(mim_path, name)
        if not osp.exists(src):
            continue
        if osp.islink(tar) or osp.isfile(tar):
            os.remove(tar)
        elif osp.isdir(tar):
            shutil.rmtree(tar)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_path), tar)
        elif osp.isfile(src):
            shutil.copyfile(src, tar)
        else:
            shutil.copytree(src, tar)


class BuildPyWithHook(build_py):
    """``build_py`` that also places ``_hvpt_mm_hook.pth`` in the wheel.

    A regular wheel installs what ``build_lib`` holds; an editable wheel
    (PEP 660) holds only the files written to ``install_lib``, so the
    ``.pth`` goes there in that mode.
    """

    def run(self) -> None:
        super().run()
        name = f'{HOOK}.pth'
        target = self.build_lib
        if getattr(self, 'editable_mode', False):
            target = self.get_finalized_command('install').install_lib
        self.mkpath(target)
        self.copy_file(osp.join(ROOT, name), osp.join(target, name))


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='hvpt_mm',
        version=get_version(),
        description='Heuristic Vision Pre-Training (HVP) for OpenMMLab',
        long_description=readme(),
        long_description_content_type='text/markdown',
        keywords='computer vision, self-supervised, multi-task pre-training',
        packages=find_packages(exclude=('configs', 'tools', 'tests')),
        py_modules=[HOOK],
        cmdclass={'build_py': BuildPyWithHook},
        include_package_data=True,
        package_data={
            'hvpt_mm': [
                '.mim/model-index.yml', '.mim/configs/**/*', '.mim/tools/**/*'
            ]
        },
        python_requires='>=3.10',
        license='Apache-2.0',
        classifiers=[
            'Programming Language :: Python :: 3.10',
            'Programming Language :: Python :: 3.11',
            'Programming Language :: Python :: 3.12',
        ],
        install_requires=INSTALL_REQUIRES,
        extras_require={
            'tests': parse_requirements('tests.txt'),
            'optional': DOWNSTREAM_REQUIRES,
            'mim': parse_requirements('mminstall.txt'),
        },
        zip_safe=False)
