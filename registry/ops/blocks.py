"""Building blocks shared by the distillation-style CNN families (IMDN, RFDN, RLFN, EFDN, ...).

Parameter names follow the authors' code so that official checkpoints load with ``strict=True``
(``conv1``, ``conv_f``, ``conv_max``, ``conv2``, ``conv3``, ``conv3_``, ``conv4`` in ESA; ``0`` for the
convolution of a pixel-shuffle head; ``conv_du.0`` / ``conv_du.2`` in CCA).

The signatures of the public functions and classes here are stable: other families import them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "conv_layer",
    "pixelshuffle_block",
    "ESA",
    "ESALite",
    "CCALayer",
    "mean_channels",
    "stdv_channels",
    "lrelu",
    "ShortcutBlock",
    "DistillationTrunk",
]


def conv_layer(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
               dilation: int = 1, groups: int = 1, bias: bool = True) -> nn.Conv2d:
    """A convolution with 'same' zero padding for odd kernels: padding = (k - 1) // 2 * dilation."""
    padding = (kernel_size - 1) // 2 * dilation
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                     dilation=dilation, groups=groups, bias=bias)


def pixelshuffle_block(in_channels: int, out_channels: int, upscale: int, kernel_size: int = 3,
                       bias: bool = True) -> nn.Sequential:
    """Conv (in -> out * upscale^2, 'same' padding) then PixelShuffle; keys ``0.weight``/``0.bias``."""
    return nn.Sequential(
        conv_layer(in_channels, out_channels * upscale ** 2, kernel_size, bias=bias),
        nn.PixelShuffle(upscale),
    )


def lrelu(x: torch.Tensor, slope: float = 0.05) -> torch.Tensor:
    """LeakyReLU with the 0.05 slope the IMDN/RFDN/RLFN line uses everywhere."""
    return F.leaky_relu(x, slope)


class DistillationTrunk(nn.Module):
    """The network around the blocks in IMDN and RFDN (the two papers share it): 3x3 conv -> n blocks
    -> concat of every block's output -> 1x1 + LeakyReLU(0.05) -> 3x3 + long skip -> pixel shuffle.

    Keys: ``fea_conv``, ``{prefix}1..{prefix}n`` (``IMDB1`` in IMDN, ``B1`` in RFDN), ``c.0``,
    ``LR_conv``, ``upsampler.0``.
    """

    def __init__(self, make_block, prefix: str, upscale: int, in_nc: int, nf: int, num_modules: int,
                 out_nc: int):
        super().__init__()
        self.block_names = [f"{prefix}{i}" for i in range(1, num_modules + 1)]
        self.fea_conv = conv_layer(in_nc, nf, 3)
        for name in self.block_names:
            setattr(self, name, make_block(nf))
        self.c = nn.Sequential(conv_layer(nf * num_modules, nf, 1), nn.LeakyReLU(0.05))
        self.LR_conv = conv_layer(nf, nf, 3)
        self.upsampler = pixelshuffle_block(nf, out_nc, upscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fea = self.fea_conv(x)
        outs, h = [], fea
        for name in self.block_names:
            h = getattr(self, name)(h)
            outs.append(h)
        return self.upsampler(self.LR_conv(self.c(torch.cat(outs, dim=1))) + fea)


class ShortcutBlock(nn.Module):
    """``x + sub(x)``; the submodule is stored as ``sub`` (KAIR / NTIRE baseline key layout)."""

    def __init__(self, sub: nn.Module):
        super().__init__()
        self.sub = sub

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.sub(x)


def _esa_tail(x: torch.Tensor, c1_: torch.Tensor, c3: torch.Tensor, conv_f: nn.Module,
              conv4: nn.Module) -> torch.Tensor:
    c3 = F.interpolate(c3, size=(x.shape[2], x.shape[3]), mode="bilinear", align_corners=False)
    return x * torch.sigmoid(conv4(c3 + conv_f(c1_)))


class ESA(nn.Module):
    """Enhanced Spatial Attention as used in RFDN / E-RFDN and EFDN (from RFANet).

    conv1 (1x1, C -> f) -> conv2 (3x3, stride 2, no padding) -> max-pool 7 stride 3 -> relu(conv_max)
    -> relu(conv3) -> conv3_ -> bilinear back to the input size; plus conv_f (1x1) of the conv1
    output; conv4 (1x1, f -> C); sigmoid; multiplies the input. ``f`` defaults to ``C // 4``.
    The input must be at least 15x15 pixels (the stride-2 conv and the 7x7 pool).
    """

    def __init__(self, n_feats: int, esa_channels: int | None = None, bias: bool = True):
        super().__init__()
        f = esa_channels if esa_channels is not None else n_feats // 4
        self.conv1 = nn.Conv2d(n_feats, f, 1, bias=bias)
        self.conv_f = nn.Conv2d(f, f, 1, bias=bias)
        self.conv_max = nn.Conv2d(f, f, 3, padding=1, bias=bias)
        self.conv2 = nn.Conv2d(f, f, 3, stride=2, padding=0, bias=bias)
        self.conv3 = nn.Conv2d(f, f, 3, padding=1, bias=bias)
        self.conv3_ = nn.Conv2d(f, f, 3, padding=1, bias=bias)
        self.conv4 = nn.Conv2d(f, n_feats, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1_ = self.conv1(x)
        v = F.max_pool2d(self.conv2(c1_), kernel_size=7, stride=3)
        v = F.relu(self.conv_max(v))
        c3 = self.conv3_(F.relu(self.conv3(v)))
        return _esa_tail(x, c1_, c3, self.conv_f, self.conv4)


class ESALite(nn.Module):
    """RLFN's reduced ESA (also DIPNet): ESA without ``conv_max`` and ``conv3_`` and without ReLUs.

    conv1 -> conv2 (stride 2) -> max-pool 7/3 -> conv3 -> bilinear; + conv_f(conv1 out); conv4; sigmoid.
    ``esa_channels`` is ``f`` (16 in RLFN).
    """

    def __init__(self, n_feats: int, esa_channels: int = 16, bias: bool = True):
        super().__init__()
        f = esa_channels
        self.conv1 = nn.Conv2d(n_feats, f, 1, bias=bias)
        self.conv_f = nn.Conv2d(f, f, 1, bias=bias)
        self.conv2 = nn.Conv2d(f, f, 3, stride=2, padding=0, bias=bias)
        self.conv3 = nn.Conv2d(f, f, 3, padding=1, bias=bias)
        self.conv4 = nn.Conv2d(f, n_feats, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1_ = self.conv1(x)
        v = F.max_pool2d(self.conv2(c1_), kernel_size=7, stride=3)
        return _esa_tail(x, c1_, self.conv3(v), self.conv_f, self.conv4)


def mean_channels(x: torch.Tensor) -> torch.Tensor:
    """Per-channel spatial mean, (N, C, 1, 1)."""
    return x.mean(dim=(2, 3), keepdim=True)


def stdv_channels(x: torch.Tensor) -> torch.Tensor:
    """Per-channel spatial standard deviation (population, no epsilon), (N, C, 1, 1)."""
    return (x - mean_channels(x)).pow(2).mean(dim=(2, 3), keepdim=True).pow(0.5)


class CCALayer(nn.Module):
    """IMDN's contrast-aware channel attention: x * sigmoid(W2 relu(W1 (std(x) + mean(x))))."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv_du(stdv_channels(x) + mean_channels(x))
