"""MVFMNet, the NTIRE 2025 ESR entry of team 27 (multi-level variance feature modulation network, dim 26, 6 blocks).

Written after the forward pass of the organizers' copy (``Amazingren/NTIRE2025_ESR@b69fb668c036:
models/team27_MVFMNet.py``, class ``MVFMNet``, built in ``test_demo.py`` as ``MVFMNet(dim=26,
n_blocks=6, upscaling_factor=4)``); the same authors describe the network in "MVFMNet: A Lightweight
Network for Remote Sensing Image Super-Resolution" (Xue et al., IEEE J. Miniaturization for Air and
Space Systems 7(1), 2026), whose remote-sensing checkpoints are not this file.

    f = to_feat(x)                                  (3x3, 3 -> 26, bias)
    6 x FMM:  f = f + MVFMB(LN(f));  f = f + SGFN(LN(f))    (ONE LayerNorm, over channels, used twice)
    SR = PixelShuffle(4)(conv3x3(f_6 + f_0))        (long residual, no image residual)

    MVFMB(u): x_l, y, x_s = chunk3(conv1x1(u))      (26 -> 78)
              y_l, y_s = chunk2(GELU(dw3x3(GELU(conv1x1(y)))))       (26 -> 52)
              out = conv1x1(cat[y_l + LVSA_7(x_l), y_s + LVSA_5(x_s)])  (52 -> 26)
    LVSA_d(u): p = (h // d, w // d)
              s = dw3x3(adaptive_max_pool(u, p)); v = local_variance(u, p)
              out = u * nearest(GELU(conv1x1(s * alpha + v * belt)), (h, w))
    SGFN(u):  a, b, c, d = chunk4(dw3x3(conv1x1(u)))   (26 -> 104, no biases)
              out = conv1x1(cat[GELU(b) * a, GELU(c) * d])            (52 -> 26)

Facts of that code a re-implementation must keep:

* ``local_variance`` is the authors' ``adaptive_get_local_weights``: windows of stride ``h // ph`` and
  size ``h - (ph - 1) * (h // ph)`` (likewise in w), taken with ``unfold``, unbiased variance per
  window. These windows are NOT those of ``adaptive_max_pool2d`` for the same output size (the last
  window is larger, the windows are aligned to the top-left), so the max and the variance look at
  different regions; we keep both as written.
* The parameter ``belt`` (sic) scales the variance and ``alpha`` the pooled map, before the 1x1 conv.
* Each FMM has a single ``pixel_norm`` (LayerNorm(26), eps 1e-5) applied before both of its halves.
* The SGFN gates are ``GELU(x2) * x1`` and ``GELU(x3) * x4`` (chunks 2 and 3 go through GELU).
* The pooled map is brought back with *nearest* interpolation; GELU is the exact (erf) GELU.

The input is RGB in [0, 1] (``data_range=1.0``); the output is used as [0, 1] directly. The
smallest pooled size is h // 7, so inputs must be at least 7 x 7 pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from registry import ModelCard, register
from registry.ops.ntire25 import REPORT, entry, weight_file


def local_variance(x: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
    """Unbiased variance over the authors' top-left-aligned windows (see the module docstring)."""
    h, w = x.shape[-2:]
    ph, pw = out_size
    sh, sw = h // ph, w // pw
    kh, kw = h - (ph - 1) * sh, w - (pw - 1) * sw
    windows = x.unfold(2, kh, sh).unfold(3, kw, sw)  # (N, C, ph, pw, kh, kw)
    return torch.var(windows, dim=(-1, -2), unbiased=True)


class LVSA(nn.Module):
    """Local variance-aware spatial attention at 1 / ``down_scale`` resolution."""

    def __init__(self, dim: int, down_scale: int):
        super().__init__()
        self.down_scale = down_scale
        self.conv = nn.Conv2d(dim, dim, 1)
        self.dw_conv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.alpha = nn.Parameter(torch.ones(1, dim, 1, 1))
        self.belt = nn.Parameter(torch.zeros(1, dim, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        size = (h // self.down_scale, w // self.down_scale)
        s = self.dw_conv(F.adaptive_max_pool2d(x, size))
        v = local_variance(x, size)
        a = F.gelu(self.conv(s * self.alpha + v * self.belt))
        return x * F.interpolate(a, size=(h, w), mode="nearest")


class MVFMB(nn.Module):
    """Multi-level variance feature modulation block."""

    def __init__(self, dim: int):
        super().__init__()
        self.project_in = nn.Conv2d(dim, dim * 3, 1)
        self.sa1 = LVSA(dim, down_scale=7)
        self.sa2 = LVSA(dim, down_scale=5)
        self.linear = nn.Sequential(nn.Conv2d(dim, dim * 2, 1), nn.GELU(),
                                    nn.Conv2d(dim * 2, dim * 2, 3, padding=1, groups=dim * 2), nn.GELU())
        self.project_out = nn.Conv2d(dim * 2, dim, 1)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        x_l, y, x_s = self.project_in(f).chunk(3, dim=1)
        y_l, y_s = self.linear(y).chunk(2, dim=1)
        return self.project_out(torch.cat([y_l + self.sa1(x_l), y_s + self.sa2(x_s)], dim=1))


class SGFN(nn.Module):
    """Symmetrical gated feed-forward network (no biases)."""

    def __init__(self, dim: int, growth: float = 4.0):
        super().__init__()
        hidden = int(dim * growth)
        self.project_in = nn.Conv2d(dim, hidden, 1, bias=False)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False)
        self.project_out = nn.Conv2d(dim * 2, dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2, x3, x4 = self.dwconv(self.project_in(x)).chunk(4, dim=1)
        return self.project_out(torch.cat([F.gelu(x2) * x1, F.gelu(x3) * x4], dim=1))


class FMM(nn.Module):
    """Feature modulation module: two pre-norm residual halves sharing one channel LayerNorm."""

    def __init__(self, dim: int):
        super().__init__()
        self.mvfmb = MVFMB(dim)
        self.sgfn = SGFN(dim)
        self.pixel_norm = nn.LayerNorm(dim)

    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        return self.pixel_norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mvfmb(self._norm(x)) + x
        return self.sgfn(self._norm(x)) + x


class MVFMNet(nn.Module):
    def __init__(self, dim: int = 26, n_blocks: int = 6, scale: int = 4):
        super().__init__()
        self.to_feat = nn.Conv2d(3, dim, 3, padding=1)
        self.feats = nn.Sequential(*[FMM(dim) for _ in range(n_blocks)])
        self.to_img = nn.Sequential(nn.Conv2d(dim, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.to_feat(x)
        return self.to_img(self.feats(f) + f)


def build_mvfmnet(scale: int) -> MVFMNet:
    return MVFMNet(dim=26, n_blocks=6, scale=scale)


PARAMS = 86888

MVFMNET_NTIRE25 = register(ModelCard(
    name="MVFMNet-ntire25",
    family="MVFMNet",
    kind="cnn",
    paper=REPORT,
    scales=(4,),
    build=build_mvfmnet,
    weights=(
        weight_file(
            "team27_MVFMNet.pth", "5ac55c5b0d993aeed09a1adcd0e20f7796f17ad45751c9ac2790372b568b4d4d",
            notes=f"raw state dict, 154 tensors, {PARAMS:,} parameters; plain (no re-parameterisation)"),
    ),
    published=(),
    challenge=entry(27, "MVFMNet"),
    notes=(
        "Team 27's NTIRE 2025 ESR checkpoint as submitted: a raw state dict (154 tensors, "
        f"{PARAMS:,} parameters), plain convolutions, LayerNorms and the LVSA scales alpha/belt; nothing to "
        "fuse. Loaded as the challenge's test_demo.py does it (top level, strict=True, data_range 1.0). "
        "The paper card is the challenge report: the team's journal article on MVFMNet (Xue, Shao et al., "
        "IEEE JMASS 7(1), 2026) targets remote-sensing SR and its checkpoints are not this file. Kept from "
        "the authors' code: the local variance uses top-left-aligned unfold windows that differ from "
        "adaptive_max_pool2d's windows, one LayerNorm per block serves both halves, nearest upsampling of "
        "the attention map. Inputs must be at least 7 x 7. The organizers' per-team DIV2K_LSDIR PSNR, "
        "runtime, FLOPs and rank are in the report's tables, which could not be read from here: no "
        "published row, rank and team name left unverified."
    ),
    config={"dim": 26, "n_blocks": 6, "lvsa_down_scales": (7, 5), "sgfn_growth": 4.0, "norm": "LayerNorm (channels)",
            "upsampler": "conv3x3 + PixelShuffle(4)", "params": PARAMS},
))
