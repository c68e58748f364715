"""Blocks shared by srbench's NTIRE 2025 ESR entries DIPNet_slim_v2 (team 15) and IESRNet (team 21).

Both are RLFN/DIPNet-lineage networks whose submitted files hold the *deployed* form of SPAN-style
re-parameterised convs: each ``Conv3XC`` (1x1 -> 3x3 -> 1x1 plus a 1x1 shortcut in training) is
stored as the single 3x3 conv it folds into, under the key ``eval_conv`` (bias-free in the trunk).
Parameter names follow the organizers' code (``c1_r``/``c2_r``/``c3_r``, ``c5``, ``esa.conv1`` ...),
so the official files load with ``strict=True``.

The signatures here are srbench's own; other families may import them. The card facts shared by all
NTIRE 2025 entries are in ``registry/ops/ntire25.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EvalConv", "RRFBESA", "RRFB", "RRFBNet"]

# ---------------------------------------------------------------- blocks


class EvalConv(nn.Module):
    """A folded (deployed) re-parameterised conv: one ``k x k`` conv stored as ``eval_conv``."""

    def __init__(self, c_in: int, c_out: int, bias: bool = False, kernel_size: int = 3):
        super().__init__()
        self.eval_conv = nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.eval_conv(x)


class RRFBESA(nn.Module):
    """The ESA of these blocks (RLFN's reduced ESA, no ReLUs, no ``conv_max``/``conv3_``), in two variants.

    conv1 (1x1) -> conv2 (3x3 stride 2, no padding) -> max-pool 7/3 -> conv3 (3x3) -> bilinear to the input
    size (align_corners=False); plus ``conv_f(conv1 out)`` (``with_conv_f``) or the conv1 output itself;
    conv4 (1x1); sigmoid; multiplies the input. ``folded_conv3``: conv3 is a deployed ``EvalConv`` with bias
    (key ``conv3.eval_conv``; DIPNet_slim_v2) instead of a plain conv (IESRNet). All convs have biases.
    """

    def __init__(self, n_feats: int, esa_channels: int = 16, with_conv_f: bool = True, folded_conv3: bool = False):
        super().__init__()
        f = esa_channels
        self.conv1 = nn.Conv2d(n_feats, f, 1)
        if with_conv_f:
            self.conv_f = nn.Conv2d(f, f, 1)
        self.conv2 = nn.Conv2d(f, f, 3, stride=2, padding=0)
        self.conv3 = EvalConv(f, f, bias=True) if folded_conv3 else nn.Conv2d(f, f, 3, padding=1)
        self.conv4 = nn.Conv2d(f, n_feats, 1)
        self.with_conv_f = with_conv_f

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1_ = self.conv1(x)
        v = F.max_pool2d(self.conv2(c1_), kernel_size=7, stride=3)
        c3 = F.interpolate(self.conv3(v), size=(x.shape[2], x.shape[3]), mode="bilinear", align_corners=False)
        cf = self.conv_f(c1_) if self.with_conv_f else c1_
        return x * torch.sigmoid(self.conv4(c3 + cf))


class RRFB(nn.Module):
    """Re-parameterised residual feature block: n folded 3x3 convs (bias-free), SiLU after *each* one
    (the last included), optional skip from the block input, then 1x1 ``c5`` (bias-free) and ESA.

    There is no residual around ``c5``/ESA: the block returns ``esa(c5(.))``.
    ``n_convs=3`` uses ``c1_r, c2_r, c3_r``; ``n_convs=2`` uses ``c1_r, c3_r`` (no ``c2_r``).
    """

    def __init__(self, ch: int, n_convs: int = 3, residual: bool = True, esa_channels: int = 16,
                 esa_conv_f: bool = True, esa_folded_conv3: bool = False):
        super().__init__()
        if n_convs not in (2, 3):
            raise ValueError("n_convs must be 2 or 3")
        self.c1_r = EvalConv(ch, ch)
        if n_convs == 3:
            self.c2_r = EvalConv(ch, ch)
        self.c3_r = EvalConv(ch, ch)
        self.c5 = nn.Conv2d(ch, ch, 1, bias=False)
        self.esa = RRFBESA(ch, esa_channels, with_conv_f=esa_conv_f, folded_conv3=esa_folded_conv3)
        self.n_convs = n_convs
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.silu(self.c1_r(x))
        if self.n_convs == 3:
            out = F.silu(self.c2_r(out))
        out = F.silu(self.c3_r(out))
        if self.residual:
            out = out + x
        return self.esa(self.c5(out))


class RRFBNet(nn.Module):
    """The trunk both entries share: folded ``conv_1`` -> ``block_1..block_n`` -> ``conv_2`` + long skip from
    ``conv_1``'s output -> folded 3x3 (bias-free) to ``3 * scale^2`` -> PixelShuffle.

    ``blocks`` is one ``(n_convs, residual)`` pair per block; ``conv_2`` is ``"1x1"`` (a plain bias-free 1x1,
    key ``conv_2.weight``) or ``"folded3x3"`` (``conv_2.eval_conv.weight``). Input and output RGB in [0, 1],
    no mean shift.
    """

    def __init__(self, blocks: tuple[tuple[int, bool], ...], conv_2: str, ch: int = 32, scale: int = 4,
                 in_ch: int = 3, out_ch: int = 3, esa_conv_f: bool = True, esa_folded_conv3: bool = False):
        super().__init__()
        self.conv_1 = EvalConv(in_ch, ch)
        self.block_names = []
        for k, (n_convs, residual) in enumerate(blocks, start=1):
            name = f"block_{k}"
            self.add_module(name, RRFB(ch, n_convs, residual, esa_conv_f=esa_conv_f,
                                       esa_folded_conv3=esa_folded_conv3))
            self.block_names.append(name)
        if conv_2 == "1x1":
            self.conv_2 = nn.Conv2d(ch, ch, 1, bias=False)
        elif conv_2 == "folded3x3":
            self.conv_2 = EvalConv(ch, ch)
        else:
            raise ValueError(f"conv_2 must be '1x1' or 'folded3x3', not {conv_2!r}")
        self.upsampler = nn.Sequential(EvalConv(ch, out_ch * scale * scale), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0 = self.conv_1(x)
        h = f0
        for name in self.block_names:
            h = getattr(self, name)(h)
        return self.upsampler(self.conv_2(h) + f0)
