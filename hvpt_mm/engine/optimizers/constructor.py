# Copyright (c) hvpt_mm authors. All rights reserved.
from typing import List

from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn

from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class HVPTOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor that leaves out frozen sub-modules.

    The momentum encoder is updated by EMA, never by the optimizer. The
    default constructor already skips its parameters, but logs one warning
    per parameter (hundreds for Swin-B); this one skips the listed
    sub-modules silently. Everything else (``paramwise_cfg``) is unchanged.

    Args:
        optim_wrapper_cfg (dict): As for the default constructor.
        paramwise_cfg (dict, optional): As for the default constructor.
        skip_prefixes (list[str]): Module prefixes to leave out. Defaults to
            ``['momentum_encoder']``.
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: dict = None,
                 skip_prefixes: List[str] = ('momentum_encoder', )) -> None:
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        self.skip_prefixes = tuple(skip_prefixes)

    def add_params(self, params: List[dict], module: nn.Module,
                   prefix: str = '', **kwargs) -> None:
        """Add the params of ``module`` unless it is a skipped sub-module."""
        if any(prefix == p or prefix.startswith(p + '.')
               for p in self.skip_prefixes):
            trainable = [n for n, p in module.named_parameters()
                         if p.requires_grad]
            if trainable:
                raise ValueError(
                    f'{prefix} is skipped by HVPTOptimWrapperConstructor but '
                    f'has trainable parameters: {trainable[:3]}')
            return
        super().add_params(params, module, prefix=prefix, **kwargs)
