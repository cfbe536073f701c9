# Copyright (c) hvpt_mm authors. All rights reserved.
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))


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
        include_package_data=True,
        package_data={
            'hvpt_mm': [
                '.mim/model-index.yml', '.mim/configs/**/*', '.mim/tools/**/*'
            ]
        },
        python_requires='>=3.8',
        license='Apache License 2.0',
        install_requires=parse_requirements('runtime.txt'),
        extras_require={
            'tests': parse_requirements('tests.txt'),
            'optional': parse_requirements('optional.txt'),
            'mim': parse_requirements('mminstall.txt'),
        },
        zip_safe=False)
