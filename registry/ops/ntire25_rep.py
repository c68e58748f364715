"""Blocks shared by srbench's NTIRE 2025 ESR re-parameterised CNN entries (RepRLFN, ARRLFN, ExpandRepNet,
EECNet, RCUNet; ``registry/ntire25_*.py``).

Their checkpoints are all *deployed* forms: each re-parameterisable branch group has already been folded
into one plain convolution, stored under a name that differs from team to team (``rbr_reparam``,
``conv_fused``, ``eval_conv``, ``rep_conv``). :class:`NamedConv` holds such a folded convolution under the
attribute the file uses, so the files load with ``strict=True``.

:class:`ESANoF` is the Enhanced Spatial Attention variant without the ``conv_f`` 1x1 (ARRLFN, EECNet): the
skip from ``conv1`` is added to the upsampled branch *unprojected*. The RLFN-style ESA with ``conv_f`` is
``registry.ops.blocks.ESALite``.

The card facts these entries share with the other NTIRE 2025 entries are in ``registry/ops/ntire25.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["NamedConv", "ESANoF"]


class NamedConv(nn.Module):
    """One 'same'-padded convolution stored as ``self.<attr>`` (the folded conv of a re-parameterised block).

    ``NamedConv("eval_conv", 36, 54, 3)`` has the keys ``eval_conv.weight`` and ``eval_conv.bias``.
    """

    def __init__(self, attr: str, c_in: int, c_out: int, kernel_size: int = 3, bias: bool = True):
        super().__init__()
        self.attr = attr
        setattr(self, attr, nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, self.attr)(x)


class ESANoF(nn.Module):
    """ESA without ``conv_f``: x * sigmoid(conv4(up(conv3(maxpool_7/3(conv2_s2(c1)))) + c1)), c1 = conv1(x).

    conv1: 1x1 C -> f; conv2: 3x3, stride 2, no padding; max-pool kernel 7 stride 3; conv3: a 3x3
    'same' conv (or any module given as ``conv3``, e.g. a folded :class:`NamedConv`); bilinear
    (align_corners=False) back to the input size; conv4: 1x1 f -> C. The input must be at least 15x15.
    """

    def __init__(self, n_feats: int, f: int, conv3: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(n_feats, f, 1)
        self.conv2 = nn.Conv2d(f, f, 3, stride=2, padding=0)
        self.conv3 = conv3 if conv3 is not None else nn.Conv2d(f, f, 3, padding=1)
        self.conv4 = nn.Conv2d(f, n_feats, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1_ = self.conv1(x)
        v = F.max_pool2d(self.conv2(c1_), kernel_size=7, stride=3)
        c3 = F.interpolate(self.conv3(v), size=(x.shape[2], x.shape[3]), mode="bilinear", align_corners=False)
        return x * torch.sigmoid(self.conv4(c3 + c1_))
