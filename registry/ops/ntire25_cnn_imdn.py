"""Blocks shared by srbench's NTIRE 2025 ESR entries of the IMDN/RFDN distillation line (teams 13, 20, 26,
41; see ``registry/ntire25_*.py``).

The organizers' files (Amazingren/NTIRE2025_ESR ``models/team13_HannahSR.py``, ``team20_DAN.py``,
``team26_FMDN.py``, ``team41_DepthIBN.py``) each carry their own copy of these blocks; written here once,
after their forward passes, with the parameter names of those files so the checkpoints load strictly:

* ``BSConvU`` (``pw`` 1x1 without bias, then depth-wise ``dw`` with bias) and ``BSConvS`` (``pw1`` ->
  ``pw2`` -> ``dw``, a rank-``mid`` factorised point-wise part). The depth-wise padding mode matters:
  teams 13 and 26 hard-code ``padding_mode='reflect'``, team 41 uses zeros.
* ``local_variance``: reflect-pad, windows of ``k`` with stride 3, *unbiased* variance per window
  (``get_local_weights`` in the authors' code).
* ``LayerNorm2d``: the Restormer "WithBias" LayerNorm over channels (population variance, eps 1e-5,
  eps inside the square root), keys ``body.weight`` / ``body.bias``.
* ``GDFN``: Restormer's gated feed-forward (1x1 -> depth-wise 3x3 -> GELU(x1) * x2 -> 1x1), no biases.
* ``RCCA``: depth-wise 3x3 + GELU, then ``sigma * (y - GELU(decompose(y)))`` (a 1-channel map broadcast
  over channels) plus IMDN's contrast-aware channel attention of ``y``, plus the block input.
* ``tlc_windows`` / ``tlc_merge``: the test-time local converter (megvii-research/TLC) that the
  channel-attention blocks run in eval mode: overlapping windows of at most ``k`` x ``k`` pixels whose
  starts are placed as TLC places them, attention per window, and the average over the overlaps.
* ``MultiRangeESA``: the front end of the ESA variant of teams 13 and 26: 1x1 squeeze to f = C/4, four
  stride-2 BSConvU (reflect), two max-pools (5/3 and 7/3, padding 1) and two local variances (7 and 5)
  summed pairwise into two ranges of about 1/6 resolution.
* ``distill``: the three-step distillation of IMDN/RFDN blocks (``c1_d``/``c1_r`` .. ``c4``, ``c5``)
  with the block's own activation.

The card facts shared by all NTIRE 2025 entries are in ``registry/ops/ntire25.py``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from registry.ops.blocks import CCALayer

__all__ = ["BSConvU", "BSConvS", "local_variance", "MultiRangeESA", "LayerNorm2d", "GDFN", "ElementScale", "RCCA",
           "tlc_windows", "tlc_merge", "distill"]


class BSConvU(nn.Module):
    """Blueprint separable conv: 1x1 ``pw`` (no bias) then k x k depth-wise ``dw`` (bias)."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, stride: int = 1, padding: int = 1,
                 padding_mode: str = "zeros"):
        super().__init__()
        self.pw = nn.Conv2d(cin, cout, 1, bias=False)
        self.dw = nn.Conv2d(cout, cout, kernel_size, stride, padding, groups=cout, bias=True,
                            padding_mode=padding_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dw(self.pw(x))


class BSConvS(nn.Module):
    """BSConv-S: 1x1 ``pw1`` (cin -> mid) and ``pw2`` (mid -> cout), both without bias, then depth-wise
    ``dw``; ``mid = min(cin, max(4, ceil(cin / 4)))``."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, padding: int = 1, p: float = 0.25,
                 min_mid: int = 4):
        super().__init__()
        mid = min(cin, max(min_mid, math.ceil(p * cin)))
        self.pw1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.pw2 = nn.Conv2d(mid, cout, 1, bias=False)
        self.dw = nn.Conv2d(cout, cout, kernel_size, 1, padding, groups=cout, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dw(self.pw2(self.pw1(x)))


def local_variance(x: torch.Tensor, k: int, pad: int = 1) -> torch.Tensor:
    """Unbiased variance of each k x k window (stride 3) of ``x`` reflect-padded by ``pad``."""
    x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    win = x.unfold(2, k, 3).unfold(3, k, 3)  # (N, C, H', W', k, k)
    return torch.var(win, dim=(-1, -2), unbiased=True)


class MultiRangeESA(nn.Module):
    """Shared front end of the multi-range ESA: ``conv1``, ``conv_f``, ``conv2_1``..``conv2_4`` and ``conv4``;
    subclasses add their own ``conv_max_*``/``conv3_*`` and the tail."""

    def __init__(self, n_feats: int):
        super().__init__()
        f = n_feats // 4
        self.conv1 = nn.Conv2d(n_feats, f, 1)
        self.conv_f = nn.Conv2d(f, f, 1)
        for k in range(1, 5):
            setattr(self, f"conv2_{k}", BSConvU(f, f, 3, 2, 1, padding_mode="reflect"))
        self.conv4 = nn.Conv2d(f, n_feats, 1)

    def ranges(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(c1, max-pool 5 + local variance 5, max-pool 7 + local variance 7)."""
        c1 = self.conv1(x)
        p5 = F.max_pool2d(self.conv2_1(c1), kernel_size=5, stride=3, padding=1)
        p7 = F.max_pool2d(self.conv2_2(c1), kernel_size=7, stride=3, padding=1)
        v7 = local_variance(self.conv2_3(c1), 7, 1)
        v5 = local_variance(self.conv2_4(c1), 5, 1)
        return c1, p5 + v5, p7 + v7

    @staticmethod
    def up(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.interpolate(v, size=like.shape[2:], mode="bilinear", align_corners=False)


class _WithBiasLN(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of an (N, C, H, W) map; parameters under ``body``."""

    def __init__(self, dim: int):
        super().__init__()
        self.body = _WithBiasLN(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(1, keepdim=True)
        var = x.var(1, keepdim=True, unbiased=False)
        w = self.body.weight.view(1, -1, 1, 1)
        b = self.body.bias.view(1, -1, 1, 1)
        return (x - mu) / torch.sqrt(var + 1e-5) * w + b


class GDFN(nn.Module):
    """Gated depth-wise feed-forward (Restormer): ``project_in`` -> ``dwconv`` -> GELU(x1) * x2 -> ``project_out``."""

    def __init__(self, dim: int, expansion: float = 2.0):
        super().__init__()
        hidden = int(dim * expansion)
        self.project_in = nn.Conv2d(dim, hidden * 2, 1, bias=False)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, 3, 1, 1, groups=hidden * 2, bias=False)
        self.project_out = nn.Conv2d(hidden, dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(x1) * x2)


class ElementScale(nn.Module):
    """A learnt per-channel scale, parameter ``scale`` of shape (1, C, 1, 1)."""

    def __init__(self, dim: int, init: float = 1e-5):
        super().__init__()
        self.scale = nn.Parameter(torch.full((1, dim, 1, 1), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class RCCA(nn.Module):
    """Residual contrast channel attention with feature decomposition (see the module docstring)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim, bias=True)
        self.decompose = nn.Conv2d(dim, 1, 1)
        self.sigma = ElementScale(dim)
        self.cca = CCALayer(dim, reduction=dim // 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.gelu(self.dwconv(x))
        decomposed = self.sigma(y - F.gelu(self.decompose(y)))
        return decomposed + self.cca(y) + x


def _starts(n: int, k: int) -> list[int]:
    """TLC's window starts along one axis of length n for windows of k (<= n) pixels."""
    count = (n - 1) // k + 1
    step = k if count == 1 else math.ceil((n - k) / (count - 1) - 1e-8)
    out, p = [], 0
    while p + k < n:
        out.append(p)
        p += step
    out.append(n - k)
    return out


def tlc_windows(x: torch.Tensor, k: int) -> tuple[torch.Tensor, tuple]:
    """Cut (N, C, H, W) into TLC windows of min(H, k) x min(W, k), stacked on the batch axis (window-major
    in row order, as TLC stacks them for N = 1); returns the windows and what ``tlc_merge`` needs."""
    n, _, h, w = x.shape
    kh, kw = min(h, k), min(w, k)
    pos = [(i, j) for i in _starts(h, kh) for j in _starts(w, kw)]
    parts = torch.cat([x[:, :, i:i + kh, j:j + kw] for i, j in pos], dim=0)
    return parts, (n, h, w, kh, kw, pos)


def tlc_merge(parts: torch.Tensor, plan: tuple) -> torch.Tensor:
    """Average the windows back onto the (N, C, H, W) map (each pixel over the windows that cover it)."""
    n, h, w, kh, kw, pos = plan
    c = parts.shape[1]
    out = parts.new_zeros(n, c, h, w)
    count = parts.new_zeros(1, 1, h, w)
    for t, (i, j) in enumerate(pos):
        out[:, :, i:i + kh, j:j + kw] += parts[t * n:(t + 1) * n]
        count[:, :, i:i + kh, j:j + kw] += 1.0
    return out / count


def distill(block: nn.Module, x: torch.Tensor, act) -> torch.Tensor:
    """IMDN/RFDN three-step distillation of ``block`` (which holds c1_d, c1_r, c2_d, c2_r, c3_d, c3_r, c4,
    c5): d_k = act(c_k_d(r_{k-1})), r_k = act(c_k_r(r_{k-1}) + r_{k-1}), r_4 = act(c4(r_3)), then
    c5(cat[d1, d2, d3, r4])."""
    d1 = act(block.c1_d(x))
    r1 = act(block.c1_r(x) + x)
    d2 = act(block.c2_d(r1))
    r2 = act(block.c2_r(r1) + r1)
    d3 = act(block.c3_d(r2))
    r3 = act(block.c3_r(r2) + r2)
    r4 = act(block.c4(r3))
    return block.c5(torch.cat([d1, d2, d3, r4], dim=1))
