# Copyright (c) hvpt_mm authors. All rights reserved.
# No imports, no relative names: the start-up hook (_hvpt_mm_hook.py) gives
# this file to mmengine, by path, to locate the package's configs.
__version__ = '0.1.0'


def parse_version_info(version_str: str) -> tuple:
    """Parse a version string into a tuple of ints and strings."""
    info = []
    for part in version_str.split('.'):
        info.append(int(part) if part.isdigit() else part)
    return tuple(info)


version_info = parse_version_info(__version__)
