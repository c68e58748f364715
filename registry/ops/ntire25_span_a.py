"""Blocks shared by srbench's NTIRE 2025 ESR SPAN-style entries (SPAN-ntire25, SPANF, ESPAN, ESRNet, ECAS).

All of these networks keep SPAN's inference-form layout: every 3x3 conv is a re-parameterised conv stored
as ``<name>.eval_conv`` (see :class:`registry.span.FoldedConv`), blocks are ``c1_r -> SiLU -> c2_r -> SiLU
-> c3_r`` with SPAN's parameter-free attention ``(h3 + x) * (sigmoid(h3) - 0.5)``. What differs between
the entries, and lives here once:

* :class:`EvalConv`: the folded conv with any odd kernel (ESPAN's first conv is 9x9), key ``eval_conv``;
* :class:`MeanShift`: ``(x - mean) * img_range`` with the DIV2K mean kept out of the state dict (the
  authors hold it in a plain attribute, so the checkpoints do not contain it);
* :class:`SPABIO`: a three-conv SPAN block whose input and output widths may differ; as in the
  authors' code (SPANF) the attention is applied only when they are equal, otherwise the block
  returns the third conv's output;
* :class:`SPAB2`: the two-conv SPAN block (ESPAN's ``teacher_block_seq``): attention on ``c2_r``'s output;
* :class:`SingleConvBlock`: one folded conv under the attribute ``c1_r`` (ESRNet's ``block_7``).

No module here uses in-place operations; each block also returns its SiLU(c1_r(x)) tap where the
network concatenates it (the authors' ``nn.SiLU(inplace=True)`` activates the tensor they return).
The card facts shared by all NTIRE 2025 entries are in ``registry/ops/ntire25.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from registry.span import DIV2K_MEAN, FoldedConv

__all__ = ["EvalConv", "MeanShift", "SPABIO", "SPAB2", "SingleConvBlock", "span_attention"]


def span_attention(h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """SPAN's parameter-free attention: ``(h + x) * (sigmoid(h) - 0.5)``."""
    return (h + x) * (torch.sigmoid(h) - 0.5)


class EvalConv(nn.Module):
    """A folded (inference-form) conv of kernel ``k`` with 'same' zero padding; key ``eval_conv``."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, bias: bool = True):
        super().__init__()
        self.eval_conv = nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.eval_conv(x)


class MeanShift(nn.Module):
    """``(x - mean) * img_range``; the mean is a non-persistent buffer (not part of any checkpoint)."""

    def __init__(self, img_range: float = 255.0, rgb_mean: tuple[float, float, float] = DIV2K_MEAN):
        super().__init__()
        self.img_range = float(img_range)
        self.register_buffer("mean", torch.tensor(rgb_mean).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - self.mean.to(x.dtype)
        return x * self.img_range if self.img_range != 1.0 else x


class SPABIO(nn.Module):
    """Three folded convs with SiLU between them; returns (output, SiLU(c1_r(x))).

    The attention needs the input and output to have the same width; when they differ (SPANF's first
    block, 3 -> 32 channels) the authors return ``c3_r``'s output as it is, and so does this block.
    """

    def __init__(self, c_in: int, c_out: int | None = None, mid: int | None = None):
        super().__init__()
        c_out = c_out or c_in
        mid = mid or c_in
        self.attention = c_in == c_out
        self.c1_r = FoldedConv(c_in, mid)
        self.c2_r = FoldedConv(mid, mid)
        self.c3_r = FoldedConv(mid, c_out)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h1 = F.silu(self.c1_r(x))
        h3 = self.c3_r(F.silu(self.c2_r(h1)))
        return (span_attention(h3, x) if self.attention else h3), h1


class SPAB2(nn.Module):
    """Two folded convs: ``h2 = c2_r(SiLU(c1_r(x)))``, output ``(h2 + x) * (sigmoid(h2) - 0.5)``."""

    def __init__(self, ch: int, mid: int | None = None):
        super().__init__()
        mid = mid or ch
        self.c1_r = FoldedConv(ch, mid)
        self.c2_r = FoldedConv(mid, ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return span_attention(self.c2_r(F.silu(self.c1_r(x))), x)


class SingleConvBlock(nn.Module):
    """One folded 3x3 conv kept under the attribute ``c1_r`` (the checkpoints name it so)."""

    def __init__(self, c_in: int, c_out: int | None = None):
        super().__init__()
        self.c1_r = FoldedConv(c_in, c_out or c_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c1_r(x)
