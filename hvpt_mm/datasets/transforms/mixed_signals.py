# Copyright (c) hvpt_mm authors. All rights reserved.
import copy
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform, Compose
from mmengine.registry import DefaultScope

from mmpretrain.datasets.transforms import PackInputs
from mmpretrain.registry import TRANSFORMS


def online_view_pipeline(input_size: Optional[int] = None) -> List[dict]:
    """Default online view: crop, flip, light colour (SimMIM-like).

    Args:
        input_size (int, optional): Crop size; None leaves it to
            :class:`HVPTMixedSignals`, which crops to its ``input_size``.
    """
    return with_input_size([
        dict(type='RandomResizedCrop', crop_ratio_range=(0.67, 1.),
             aspect_ratio_range=(3. / 4., 4. / 3.)),
        dict(type='RandomFlip', prob=0.5),
        dict(type='RandomApply', prob=0.5, transforms=[
            dict(type='ColorJitter', brightness=0.2, contrast=0.2,
                 saturation=0.1)]),
    ], input_size)


def target_view_pipeline(input_size: Optional[int] = None) -> List[dict]:
    """Default target view: MoCo v3's second view.

    Crop, flip, strong colour, grayscale, blur and solarize.

    Args:
        input_size (int, optional): Crop size; None leaves it to
            :class:`HVPTMixedSignals`, which crops to its ``input_size``.
    """
    return with_input_size([
        dict(type='RandomResizedCrop', crop_ratio_range=(0.2, 1.)),
        dict(type='RandomFlip', prob=0.5),
        dict(type='RandomApply', prob=0.8, transforms=[
            dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                 saturation=0.2, hue=0.1)]),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
             channel_weights=(0.114, 0.587, 0.2989)),
        dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
             magnitude_std='inf', prob=0.1),
        dict(type='Solarize', thr=128, prob=0.2),
    ], input_size)


def default_mask_generator(input_size: Optional[int] = None) -> dict:
    """SimMIM's mask: 60 % of the 32-px blocks, for a patch-4 Swin."""
    cfg = dict(type='SimMIMMaskGenerator', mask_patch_size=32,
               model_patch_size=4, mask_ratio=0.6)
    if input_size is not None:
        cfg['input_size'] = input_size
    return cfg


def with_input_size(transforms: Sequence[dict],
                    input_size: Optional[int]) -> List[dict]:
    """Copies of ``transforms`` whose crops without a size get one.

    Every ``RandomResizedCrop`` that names no ``scale``, nested ones (in
    ``RandomApply`` and the like) included, crops to ``input_size``.

    Args:
        transforms (Sequence[dict]): Transform configs.
        input_size (int, optional): The size; None returns plain copies.

    Returns:
        list[dict]: The completed configs.
    """
    out = []
    for t in transforms:
        if isinstance(t, dict):
            t = copy.deepcopy(t)
        if isinstance(t, dict) and input_size is not None:
            if (str(t.get('type', '')).split('.')[-1] == 'RandomResizedCrop'
                    and 'scale' not in t):
                t['scale'] = input_size
            if isinstance(t.get('transforms'), (list, tuple)):
                t['transforms'] = with_input_size(t['transforms'],
                                                  input_size)
        out.append(t)
    return out


def _compose(transforms: Sequence[dict]) -> Compose:
    """Compose built from mmpretrain's registry, whatever the scope.

    mmcv's ``Compose`` and its wrappers (``RandomApply``) build nested
    transforms from the default scope's registry; outside a runner (tests,
    benchmarks) there is none, so they are built under mmpretrain's.
    """
    scope = None if DefaultScope.get_current_instance() else 'mmpretrain'
    with DefaultScope.overwrite_default_scope(scope):
        return Compose([
            TRANSFORMS.build(t) if isinstance(t, dict) else t
            for t in transforms
        ])


@TRANSFORMS.register_module()
class HVPTMixedSignals(BaseTransform):
    """Two views, a SimMIM mask and a multi-hot target for one image.

    The online view feeds masked image modeling, the contrastive query and
    the multi-label head; the target view feeds the momentum encoder. Each
    view pipeline is applied to a shallow copy of ``results``, so the decoded
    image is shared, not copied. All randomness is drawn by the view
    pipelines and the mask generator inside :meth:`transform`.

    **Required Keys:**

    - img (np.ndarray): ``H x W x 3`` uint8 image.
    - gt_label (int | Sequence[int] | np.ndarray, optional): class indices
      of a labelled image (absent or ``None`` for an unlabelled one).
    - has_label (bool, optional): explicit labelled flag; defaults to
      whether ``gt_label`` is present.

    **Modified Keys:**

    - img: ``[online, target]`` (or ``[online]`` when
      ``with_target_view=False``), each ``input_size x input_size x 3``.

    **Added Keys:**

    - mask (np.ndarray): ``(input_size / model_patch_size)^2`` patch mask,
      1 = masked (absent when ``mask_generator=None``); all zero when this
      image's online view is left clean (see ``labelled_mask_prob``).
    - gt_score (np.ndarray): ``float32`` multi-hot of length
      ``num_classes``, all zero for unlabelled images.
    - has_label (bool): whether ``gt_score`` is a real label.

    The size of both views is ``input_size`` alone: a
    ``RandomResizedCrop`` of the view pipelines that names no ``scale``, and
    a mask generator that names no ``input_size``, get it. The configs
    write the recipe out without sizes, so changing ``input_size`` changes
    every crop and the mask with it.

    Args:
        num_classes (int): Size of the shared class space.
        input_size (int): Side of both views. Defaults to 192.
        online_pipeline (list[dict], optional): Transforms of the online
            view. Defaults to :func:`online_view_pipeline`.
        target_pipeline (list[dict], optional): Transforms of the target
            view. Defaults to :func:`target_view_pipeline`.
        mask_generator (dict, optional): Mask transform for the online view;
            None disables masking. Defaults to
            :func:`default_mask_generator`: mmpretrain's
            ``SimMIMMaskGenerator`` with ``mask_patch_size=32``,
            ``model_patch_size=4`` and ``mask_ratio=0.6``.
        with_target_view (bool): Produce the target view (needed only by the
            contrastive signal). Defaults to True.
        labelled_mask_prob (float): Probability that a labelled image's
            online view is masked; otherwise its mask is all zero and the
            view reaches the multi-label and contrastive heads whole (it
            then adds nothing to the masked-pixel loss). Defaults to 1.
        unlabelled_mask_prob (float): The same for unlabelled images.
            Defaults to 1.
    """

    def __init__(self,
                 num_classes: int,
                 input_size: int = 192,
                 online_pipeline: Optional[Sequence[dict]] = None,
                 target_pipeline: Optional[Sequence[dict]] = None,
                 mask_generator: Optional[dict] = 'default',
                 with_target_view: bool = True,
                 labelled_mask_prob: float = 1.,
                 unlabelled_mask_prob: float = 1.) -> None:
        if num_classes <= 0:
            raise ValueError(
                f'num_classes must be positive, got {num_classes}')
        for name, prob in (('labelled_mask_prob', labelled_mask_prob),
                           ('unlabelled_mask_prob', unlabelled_mask_prob)):
            if not 0 <= prob <= 1:
                raise ValueError(f'{name} must be in [0, 1], got {prob}')
        self.labelled_mask_prob = labelled_mask_prob
        self.unlabelled_mask_prob = unlabelled_mask_prob
        self.num_classes = num_classes
        self.input_size = input_size
        self.online_pipeline = _compose(with_input_size(
            online_view_pipeline()
            if online_pipeline is None else online_pipeline, input_size))
        self.target_pipeline = _compose(with_input_size(
            target_view_pipeline()
            if target_pipeline is None else target_pipeline, input_size))
        if mask_generator == 'default':
            mask_generator = default_mask_generator()
        if mask_generator:
            mask_generator = dict(mask_generator)
            mask_generator.setdefault('input_size', input_size)
        self.mask_generator = (
            TRANSFORMS.build(mask_generator) if mask_generator else None)
        self.with_target_view = with_target_view

    def transform(self, results: dict) -> dict:
        """Make both views, the mask and the target of one image."""
        gt_score, has_label = self._multi_hot(results)
        online = self.online_pipeline(copy.copy(results))
        if online is None:
            raise RuntimeError(f'{results.get("img_path")}: the online view '
                               'pipeline dropped the sample')
        views = [online['img']]
        if self.with_target_view:
            target = self.target_pipeline(copy.copy(results))
            if target is None:
                raise RuntimeError(f'{results.get("img_path")}: the target '
                                   'view pipeline dropped the sample')
            views.append(target['img'])
        for v in views:
            if v.shape[:2] != (self.input_size, self.input_size):
                raise ValueError(
                    f'{results.get("img_path")}: a view has shape '
                    f'{v.shape[:2]}, expected input_size={self.input_size}; '
                    'the view pipelines must end at that size')
        results['img'] = views
        results['img_shape'] = views[0].shape[:2]
        results.pop('gt_label', None)
        results['gt_score'] = gt_score
        results['has_label'] = has_label
        if self.mask_generator is not None:
            results = self.mask_generator(results)
            prob = (self.labelled_mask_prob
                    if has_label else self.unlabelled_mask_prob)
            if prob < 1 and np.random.rand() >= prob:
                results['mask'] = np.zeros_like(results['mask'])
        return results

    def _multi_hot(self, results: dict):
        """Multi-hot target and labelled flag, validating class indices."""
        label = results.get('gt_label', None)
        has_label = bool(results.get('has_label', label is not None))
        score = np.zeros(self.num_classes, dtype=np.float32)
        if not has_label:
            return score, False
        if label is None:
            raise ValueError(f'{results.get("img_path")}: has_label is True '
                             'but gt_label is missing')
        idx = np.atleast_1d(np.asarray(label))
        if idx.size == 0:  # labelled, no positive class (e.g. empty COCO)
            return score, True
        if (not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0
                or idx.max() >= self.num_classes):
            raise ValueError(
                f'{results.get("img_path")}: label {idx.tolist()} outside '
                f'the class range [0, {self.num_classes})')
        score[idx] = 1.
        return score, True

    def __repr__(self) -> str:
        repr_str = self.__class__.__name__
        repr_str += f'(num_classes={self.num_classes}, '
        repr_str += f'input_size={self.input_size}, '
        repr_str += f'online_pipeline={self.online_pipeline}, '
        repr_str += f'target_pipeline={self.target_pipeline}, '
        repr_str += f'mask_generator={self.mask_generator}, '
        repr_str += f'with_target_view={self.with_target_view}, '
        repr_str += f'labelled_mask_prob={self.labelled_mask_prob}, '
        repr_str += f'unlabelled_mask_prob={self.unlabelled_mask_prob})'
        return repr_str


@TRANSFORMS.register_module()
class HVPTPackInputs(PackInputs):
    """Pack the output of :class:`HVPTMixedSignals`.

    **Required Keys:**

    - img (list[np.ndarray]): the views.
    - gt_score, has_label: from :class:`HVPTMixedSignals`.
    - mask (optional): the SimMIM mask.

    **Added Keys:**

    - inputs (list[Tensor]): ``[3, H, W]`` uint8 views.
    - data_samples (DataSample): ``mask`` (bool ``[h, w]``), ``gt_score``
      (float ``[K]``), ``has_label`` (bool) and the meta keys.

    Args:
        meta_keys (Sequence[str]): Meta keys to keep. Defaults to
            :attr:`PackInputs.DEFAULT_META_KEYS`.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = PackInputs.DEFAULT_META_KEYS
                 ) -> None:
        super().__init__(input_key='img', algorithm_keys=('has_label', ),
                         meta_keys=meta_keys)

    def transform(self, results: dict) -> dict:
        """Check the mixed-signal keys, then pack as :class:`PackInputs`."""
        missing = [k for k in ('img', 'gt_score', 'has_label')
                   if k not in results]
        if missing:
            raise KeyError(f'{results.get("img_path")}: HVPTPackInputs needs '
                           f'{missing}; put HVPTMixedSignals before it')
        if 'mask' in results:
            results['mask'] = torch.from_numpy(
                np.ascontiguousarray(results['mask'])).bool()
        return super().transform(results)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
