"""Blocks shared by srbench's NTIRE 2025 ESR hierarchical-window transformers (HiT-SRF, BVI-SRF).

Both entries are built on HiT-SR (Zhang, Zhang and Yu, ECCV 2024; github.com/XiangZ-0/HiT-SR): a
SwinIR-light-style trunk whose transformer blocks each use a *different* window size (a hierarchy
of windows, e.g. 4, 8, 16, 32, 48, 64 pixels), with a cheap "spatial-channel correlation" in place
of softmax attention. This module holds what the two share, written after the organizers' copies
(``models/team54_HITSR.py`` and ``models/team28_bvi_srf_arch.py`` in Amazingren/NTIRE2025_ESR):

* :class:`DFE`, the dual feature extraction that makes q and v: ``conv1x1 -> LReLU(0.2) -> conv3x3
  -> LReLU(0.2) -> conv1x1`` (to ``C // 5`` channels inside) times a plain ``conv1x1``;
* :class:`ConvFFN`: ``fc1 -> GELU -> (+ GELU(dw5x5)) -> fc2`` on tokens;
* :func:`pad_to_window`, the blocks' reflect padding to a multiple of the window, in the authors'
  two steps (see there), and :func:`window_partition` / :func:`window_reverse`;
* :func:`channel_self_correlation`: ``x = ((q^T v) / L) v^T`` per window (no softmax);
* :class:`HiTBlock` (post-norm: ``x + LN1(corr(x))`` then ``+ LN2(FFN(.))``), :class:`HiTStage`
  (residual group, a 3x3 conv, a long skip) and :class:`HiTNet` (the whole network, as both
  entries' outer classes: mean shift, ``conv_first``, LayerNorm'd tokens, stages, LayerNorm,
  ``conv_after_body`` + skip, ``conv3x3 -> PixelShuffle``).

No op here is in place, nothing runs at construction, and the DIV2K mean is a non-persistent
buffer (a plain attribute in the authors' code, so not in the checkpoints).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# DIV2K RGB mean (BasicSR convention), subtracted before and added back after the network.
DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


def to_map(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Tokens (B, H*W, C) -> map (B, C, H, W)."""
    b, _, c = x.shape
    return x.transpose(1, 2).reshape(b, c, size[0], size[1])


def to_tokens(x: torch.Tensor) -> torch.Tensor:
    """Map (B, C, H, W) -> tokens (B, H*W, C)."""
    return x.flatten(2).transpose(1, 2)


def pad_to_window(x: torch.Tensor, win: tuple[int, int]) -> torch.Tensor:
    """Reflect-pad a (B, H, W, C) map at the bottom/right to a multiple of ``win``, as the authors do.

    When the padding needed is at least the size itself (a window larger than the image), a single
    reflect pad is impossible, so the authors first reflect-pad by ``(h - 1, w - 1)`` (both sides at
    once, even if only one needs it) and then pad the remainder, reflecting the padded map. Inputs
    too small for that (under ~17 px for a 64-px window) fail in F.pad, in their code and here.
    """
    h, w = x.shape[1], x.shape[2]
    ph = (win[0] - h % win[0]) % win[0]
    pw = (win[1] - w % win[1]) % win[1]
    y = x.permute(0, 3, 1, 2)
    if ph >= h or pw >= w:
        y = F.pad(y, (0, w - 1, 0, h - 1), mode="reflect")
        ph, pw = ph - (h - 1), pw - (w - 1)
    if ph or pw:
        # A negative amount (the dimension that did not need the first pad) crops, as in F.pad.
        y = F.pad(y, (0, pw, 0, ph), mode="reflect")
    return y.permute(0, 2, 3, 1)


def window_partition(x: torch.Tensor, win: tuple[int, int]) -> torch.Tensor:
    """(B, H, W, C) -> (B * nW, win_h * win_w, C), windows in raster order."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // win[0], win[0], w // win[1], win[1], c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, win[0] * win[1], c)


def window_reverse(windows: torch.Tensor, win: tuple[int, int], h: int, w: int) -> torch.Tensor:
    """(B * nW, win_h * win_w, C) -> (B, H, W, C); inverse of :func:`window_partition`."""
    c = windows.shape[-1]
    x = windows.reshape(-1, h // win[0], w // win[1], win[0], win[1], c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, h, w, c)


def channel_self_correlation(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """HiT-SR's C-SC on (B, L, C) windows: ``((q^T v) / L) @ v^T``, back as (B, L, C); no softmax."""
    corr = (q.transpose(-2, -1) @ v) / q.shape[1]
    return (corr @ v.transpose(-2, -1)).transpose(1, 2)


class DFE(nn.Module):
    """Dual feature extraction on a (B, C, H, W) map: ``conv(x) * linear(x)``."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        mid = dim_in // 5
        self.conv = nn.Sequential(nn.Conv2d(dim_in, mid, 1), nn.LeakyReLU(0.2),
                                  nn.Conv2d(mid, mid, 3, padding=1), nn.LeakyReLU(0.2),
                                  nn.Conv2d(mid, dim_out, 1))
        self.linear = nn.Conv2d(dim_in, dim_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * self.linear(x)


class _DWConv(nn.Module):
    """The FFN's depth-wise 5x5 conv + GELU (key ``dwconv.depthwise_conv.0``)."""

    def __init__(self, ch: int):
        super().__init__()
        self.depthwise_conv = nn.Sequential(nn.Conv2d(ch, ch, 5, padding=2, groups=ch), nn.GELU())

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return to_tokens(self.depthwise_conv(to_map(x, size)))


class ConvFFN(nn.Module):
    """``fc1 -> GELU -> h + dwconv(h) -> fc2`` on (B, L, C) tokens."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.dwconv = _DWConv(hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        h = self.act(self.fc1(x))
        return self.fc2(h + self.dwconv(h, size))


class HiTBlock(nn.Module):
    """Hierarchical transformer block around a correlation module that maps a padded (B, H', W', C)
    map to (B, H', W', C): pad, correlate, crop, ``x + LN1(.)``, then ``x + LN2(FFN(x))``."""

    def __init__(self, dim: int, correlation: nn.Module, window: tuple[int, int], mlp_ratio: float = 2.0):
        super().__init__()
        self.window = window
        self.norm1 = nn.LayerNorm(dim)
        self.correlation = correlation
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = ConvFFN(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b, length, c = x.shape
        h, w = size
        y = pad_to_window(x.reshape(b, h, w, c), self.window)
        y = self.correlation(y)[:, :h, :w, :].reshape(b, length, c)
        x = x + self.norm1(y)
        return x + self.norm2(self.mlp(x, size))


class TokenNorm(nn.Module):
    """The trunk's "patch embedding" with patch size 1: flatten to tokens, then LayerNorm."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(to_tokens(x))


class HiTStage(nn.Module):
    """RHTB: ``x + tokens(conv3x3(map(residual_group(x))))``."""

    def __init__(self, dim: int, residual_group: nn.Module):
        super().__init__()
        self.residual_group = residual_group
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return to_tokens(self.conv(to_map(self.residual_group(x, size), size))) + x


class HiTNet(nn.Module):
    """The HiT-SR outer network ('pixelshuffledirect' upsampler, '1conv' residual connection).

    ``x' = (x - mean) * img_range; f = conv_first(x'); t = LN(tokens(f)); t = stage_k(t);
    y = conv_after_body(map(LN(t))) + f; out = PixelShuffle(conv3x3(y)) / img_range + mean``.
    """

    def __init__(self, stages: list[nn.Module], dim: int, scale: int = 4, in_ch: int = 3,
                 img_range: float = 1.0, rgb_mean: tuple[float, float, float] = DIV2K_MEAN):
        super().__init__()
        self.scale = scale
        self.img_range = img_range
        self.register_buffer("mean", torch.tensor(rgb_mean).view(1, 3, 1, 1), persistent=False)
        self.conv_first = nn.Conv2d(in_ch, dim, 3, padding=1)
        self.patch_embed = TokenNorm(dim)
        self.layers = nn.ModuleList(stages)
        self.norm = nn.LayerNorm(dim)
        self.conv_after_body = nn.Conv2d(dim, dim, 3, padding=1)
        self.upsample = nn.Sequential(nn.Conv2d(dim, in_ch * scale * scale, 3, padding=1), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        mean = self.mean.to(x.dtype)
        f = self.conv_first((x - mean) * self.img_range)
        t = self.patch_embed(f)
        for stage in self.layers:
            t = stage(t, (h, w))
        y = self.conv_after_body(to_map(self.norm(t), (h, w))) + f
        return self.upsample(y) / self.img_range + mean
