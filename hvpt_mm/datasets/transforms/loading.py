# Copyright (c) hvpt_mm authors. All rights reserved.
"""Image loading that either decodes correctly or fails loudly."""
import io
import logging
from typing import Optional, Sequence

import cv2
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine.logging import print_log
from PIL import Image, ImageOps

from mmpretrain.registry import TRANSFORMS


class UnreadableImageError(ValueError):
    """An image file that cannot be decoded into a valid image."""


def jpeg_is_truncated(content: bytes) -> bool:
    """Whether a JPEG stream lacks its end-of-image marker.

    Some OpenCV versions decode a truncated JPEG without error (the missing
    rows come out grey), so the stream is checked first: the marker
    segments are walked by their lengths up to the first scan (which skips
    EXIF thumbnails), then an end-of-image marker (``FF D9``) must follow.
    Entropy-coded data cannot hold ``FF D9``; data appended after the real
    end (e.g. motion-photo video) does not matter.

    Args:
        content (bytes): A JPEG file (starting with ``FF D8``).

    Returns:
        bool: True if the stream is cut short.
    """
    pos, n = 2, len(content)
    while True:
        while pos < n and content[pos] == 0xFF and pos + 1 < n \
                and content[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 1 >= n or content[pos] != 0xFF:
            return True
        marker = content[pos + 1]
        if marker == 0xDA:  # start of scan
            break
        if marker == 0xD9:  # end of image before any scan
            return False
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if pos + 3 >= n:
            return True
        pos += 2 + ((content[pos + 2] << 8) | content[pos + 3])
    return content.find(b'\xff\xd9', pos + 2) == -1


@TRANSFORMS.register_module()
class HVPTLoadImageFromFile(LoadImageFromFile):
    """Load an image as 8-bit 3-channel BGR, or fail naming the file.

    Compared with mmcv's :class:`~mmcv.transforms.LoadImageFromFile`:

    - grayscale (1 channel) is replicated to 3 channels; 16-bit images are
      **scaled** to 8 bits (``round(v / 257)``, so 65535 -> 255; mmcv's
      OpenCV path shifts, ``v >> 8``), never truncated; RGBA / gray+alpha
      images are composited over ``alpha_background`` (mmcv drops the
      alpha channel, so transparent pixels show whatever colour they
      happen to store);
    - a zero-byte file, a truncated JPEG (some OpenCV versions decode it
      silently with grey rows), an undecodable or unsupported file raises
      :class:`UnreadableImageError` (a :class:`ValueError`) naming the file
      and the problem (mmcv raises a bare ``cv2.error`` or
      ``AssertionError: failed to load image``); a missing file raises
      :class:`FileNotFoundError`;
    - formats OpenCV cannot read (e.g. GIF, palette images) are decoded
      with Pillow;
    - with ``skip_unreadable=True`` those files are skipped instead: the
      transform returns None, mmengine's ``BaseDataset.__getitem__`` then
      fetches another index (in training mode; in test mode it raises), and
      a warning naming the file and the running count of skipped files
      (per process: each dataloader worker counts its own) goes to
      mmengine's current logger.

    JPEGs are decoded as by mmcv (OpenCV, EXIF orientation applied, CMYK
    and grayscale converted). Other formats are read unchanged, so their
    EXIF orientation is not applied.

    Small images need no special handling: mmpretrain's
    ``RandomResizedCrop`` crops inside the image and resizes the crop up to
    its ``scale`` (a 10 x 10 image yields a full-size view).

    **Required Keys:**

    - img_path

    **Modified Keys:**

    - img (np.ndarray): ``H x W x 3`` uint8 BGR (float32 when
      ``to_float32=True``).
    - img_shape
    - ori_shape

    Args:
        to_float32 (bool): Convert the image to float32. Defaults to False.
        skip_unreadable (bool): Return None (skip the sample) instead of
            raising for a missing or unreadable file; meant for large
            pre-training sets. Defaults to False.
        alpha_background (Sequence[int], optional): RGB colour that
            transparent pixels are composited over; None drops the alpha
            channel as mmcv does. Defaults to (255, 255, 255).
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.
    """

    def __init__(self,
                 to_float32: bool = False,
                 skip_unreadable: bool = False,
                 alpha_background: Optional[Sequence[int]] = (255, 255, 255),
                 backend_args: Optional[dict] = None) -> None:
        super().__init__(to_float32=to_float32, backend_args=backend_args)
        if alpha_background is not None:
            alpha_background = tuple(int(v) for v in alpha_background)
            if len(alpha_background) != 3 or not all(
                    0 <= v <= 255 for v in alpha_background):
                raise ValueError('alpha_background must be an RGB triple in '
                                 f'[0, 255], got {alpha_background}')
        self.alpha_background = alpha_background
        self.skip_unreadable = skip_unreadable
        self.num_skipped = 0

    def transform(self, results: dict) -> Optional[dict]:
        """Load ``results['img_path']``.

        Args:
            results (dict): A data info with ``img_path``.

        Returns:
            dict | None: The results with the image, or None if the file is
            unreadable and ``skip_unreadable=True``.
        """
        filename = results['img_path']
        try:
            img = self.load(filename)
        except (UnreadableImageError, OSError) as e:
            if not self.skip_unreadable:
                raise
            self.num_skipped += 1
            print_log(
                f'{type(self).__name__}: skipped {filename}: {e} '
                f'({self.num_skipped} unreadable image(s) skipped so far in '
                'this process)',
                logger='current', level=logging.WARNING)
            return None
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def load(self, filename: str) -> np.ndarray:
        """Read and decode one file into ``H x W x 3`` uint8 BGR.

        Args:
            filename (str): The image file.

        Returns:
            np.ndarray: The image.

        Raises:
            FileNotFoundError: The file does not exist.
            UnreadableImageError: The file is empty, truncated, not an
                image, or of an unsupported pixel type.
        """
        try:
            content = fileio.get(filename, backend_args=self.backend_args)
        except FileNotFoundError:
            raise FileNotFoundError(f'{filename}: image file not found') \
                from None
        if not content:
            raise UnreadableImageError(f'{filename}: empty file (0 bytes)')
        is_jpeg = content[:3] == b'\xff\xd8\xff'
        if is_jpeg and jpeg_is_truncated(content):
            # Pillow decodes it only if no image data is missing (a lost
            # end-of-image marker alone is harmless).
            img = self._decode_pillow(content, filename, 'truncated JPEG')
        else:
            flag = cv2.IMREAD_COLOR if is_jpeg else cv2.IMREAD_UNCHANGED
            try:
                img = cv2.imdecode(np.frombuffer(content, np.uint8), flag)
            except cv2.error:
                img = None
            if img is None:
                img = self._decode_pillow(content, filename)
        return self._to_bgr8(img, filename)

    @staticmethod
    def _decode_pillow(content: bytes,
                       filename: str,
                       problem: str = 'cannot decode image (corrupt, '
                       'truncated or not an image)') -> np.ndarray:
        """Decode with Pillow (formats OpenCV lacks); BGR(A) or gray."""
        try:
            with Image.open(io.BytesIO(content)) as im:
                im.load()
                im = ImageOps.exif_transpose(im)
                if im.mode == 'P':
                    im = im.convert(
                        'RGBA' if 'transparency' in im.info else 'RGB')
                elif im.mode == '1':
                    im = im.convert('L')
                elif im.mode == 'LA':
                    im = im.convert('RGBA')
                elif im.mode not in ('L', 'RGB', 'RGBA', 'I', 'I;16',
                                     'I;16B', 'I;16L'):
                    im = im.convert('RGB')
                arr = np.array(im)
        except Exception as e:  # Pillow raises many types
            raise UnreadableImageError(
                f'{filename}: {problem} ({len(content)} bytes): {e}') \
                from None
        if arr.dtype == np.int32:  # Pillow's 'I' mode
            if arr.min() < 0 or arr.max() > 65535:
                raise UnreadableImageError(
                    f'{filename}: unsupported 32-bit integer pixels')
            arr = arr.astype(np.uint16)
        if arr.ndim == 3:
            arr = arr[..., [2, 1, 0] + list(range(3, arr.shape[2]))]
        return arr

    def _to_bgr8(self, img: np.ndarray, filename: str) -> np.ndarray:
        """Scale to 8 bits, then make 3 channels (composite any alpha)."""
        if img.size == 0:
            raise UnreadableImageError(f'{filename}: image has no pixels '
                                       f'(shape {img.shape})')
        if img.dtype == np.uint16:
            img = np.round(img / 257.).astype(np.uint8)
        elif img.dtype != np.uint8:
            raise UnreadableImageError(
                f'{filename}: unsupported pixel type {img.dtype} (8- and '
                '16-bit images are supported)')
        if img.ndim == 2:
            img = img[..., None]
        if img.ndim != 3 or img.shape[2] not in (1, 2, 3, 4):
            raise UnreadableImageError(f'{filename}: unsupported image shape'
                                       f' {img.shape}')
        channels = img.shape[2]
        if channels in (2, 4):
            color, alpha = img[..., :-1], img[..., -1:]
            if self.alpha_background is None:
                img = color
            else:
                bg = np.array(self.alpha_background[::-1], np.float32)
                if channels == 2:
                    bg = bg[::-1] @ np.array([0.299, 0.587, 0.114],
                                             np.float32)
                a = alpha.astype(np.float32) / 255.
                img = np.round(color * a + bg * (1. - a)).astype(np.uint8)
        if img.shape[2] == 1:
            img = np.repeat(img, 3, axis=2)
        return np.ascontiguousarray(img)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'to_float32={self.to_float32}, '
                f'skip_unreadable={self.skip_unreadable}, '
                f'alpha_background={self.alpha_background}, '
                f'backend_args={self.backend_args})')
