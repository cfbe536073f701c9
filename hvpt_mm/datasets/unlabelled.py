# Copyright (c) hvpt_mm authors. All rights reserved.
"""Unlabelled image folders or list files for pre-training."""
from typing import Optional, Sequence, Union

from mmpretrain.datasets import CustomDataset
from mmpretrain.registry import DATASETS
from .custom import _CheckedListMixin

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                  '.tiff', '.webp')


@DATASETS.register_module()
class HVPTUnlabelledDataset(_CheckedListMixin, CustomDataset):
    """Images without labels: a folder (searched recursively) or a list.

    mmpretrain's ``CustomDataset(with_label=False)`` reads the same layouts;
    this class adds what pre-training on a mixture needs:

    - every data info carries ``has_label=False`` explicitly, so
      :class:`HVPTMixedSignals` gives it an all-zero target and the
      multi-label loss skips it, whatever other keys it has;
    - a missing root, folder or list file raises, naming the path and
      showing the expected layout; an empty folder or list file raises;
    - blank lines in the list file are skipped (mmpretrain would turn each
      into the image folder itself);
    - ``.tiff`` and ``.webp`` are accepted too (case-insensitive);
    - ``classes`` is optional and only recorded in ``metainfo`` (handy in a
      mixture; no sample is labelled).

    Layout::

        data_root/data_prefix/            any depth of sub-folders
        ├── a.jpg
        └── sub/b.png
        data_root/ann_file                optional: one image path a line,
                                          relative to data_prefix

    Args:
        data_root (str): Root of ``data_prefix`` and ``ann_file``.
            Defaults to ''.
        data_prefix (str | dict): The image folder. Defaults to ''.
        ann_file (str): Optional list file of image paths; without it the
            folder is searched recursively. Defaults to ''.
        extensions (Sequence[str]): Image extensions for the folder search.
            Defaults to ``IMG_EXTENSIONS``.
        classes (str | Sequence[str], optional): Class names recorded in
            ``metainfo``. Defaults to None.
        **kwargs: Other arguments of
            :class:`mmpretrain.datasets.BaseDataset`.
    """

    def __init__(self,
                 data_root: str = '',
                 data_prefix: Union[str, dict] = '',
                 ann_file: str = '',
                 extensions: Sequence[str] = IMG_EXTENSIONS,
                 classes: Union[str, Sequence[str], None] = None,
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        if kwargs.pop('with_label', False):
            raise ValueError(f'{type(self).__name__} holds unlabelled '
                             'images; with_label must be False')
        super().__init__(
            data_root=data_root,
            data_prefix=data_prefix,
            ann_file=ann_file,
            with_label=False,
            extensions=extensions,
            metainfo=metainfo,
            classes=classes,
            **kwargs)

    def layout(self) -> str:
        """The expected data layout, shown when a path is missing."""
        prefix = (self.img_prefix or '<data_prefix>').rstrip('/')
        ann = self.ann_file or '<ann_file>'
        return (f'  {prefix}/**/*.jpg   images at any depth '
                f'({", ".join(sorted(self.extensions))})\n'
                f'  {ann}   optional list mode: one image path (relative to '
                f'{prefix}) per line')

    def get_cat_ids(self, idx: int) -> list:
        """No class: the images are unlabelled."""
        return []

    def extra_repr(self) -> list:
        """The extra repr information of the dataset."""
        return [f'Annotation file: \t{self.ann_file or "(none)"}',
                f'Prefix of images: \t{self.img_prefix}',
                'Labelled: \tno']
