"""ECAS, team 52's NTIRE 2025 ESR entry: SPAN (40 channels, folded convs) with a Gated Channel
Transformation (GCT) after every conv of every block and an ECA-style channel gate on the concatenation.

Forward pass (input RGB in [0, 1]; the output is used as [0, 1]):

    x  <- x - mean_DIV2K                             (img_range = 1: no x255)
    f0 = conv_1(x); out_k = EARB_k(out_{k-1}) (k = 1..6; out_0 = f0)
    EARB: o1 = c1_r(x); h1 = SiLU(gct1(o1)); h2 = SiLU(gct2(c2_r(h1))); h3 = gct3(c3_r(h2))
          out = (h3 + x) * (sigmoid(h3) - 0.5); also returns the raw o1
    c = cat[f0, conv_2(out_6), out_1, o1 of block 6]            (160 channels)
    g = sigmoid(conv1d_k5(avgpool(c) as a length-160 sequence))  (ECA: one 1-D conv across channels, no bias)
    SR = PixelShuffle(4)(conv3x3(conv_cat(c + c * g)))

    GCT(x) = x * (1 + tanh(e * gamma / sqrt(mean_c(e^2) + 1e-5) + beta)),  e = alpha * sqrt(sum_hw(x^2) + 1e-5)

Facts of the organizers' code (``models/team52_ECAS.py``, class ``ECAS(3, 3)``: 40 channels) that a
re-implementation must keep:

* the fourth concatenated tensor is block 6's ``c1_r`` output *before* GCT and SiLU: the block's in-place
  SiLU acts on GCT's (new) output tensor, so, unlike SPAN, the returned tap is not activated;
* the mean is subtracted but the input is not multiplied by 255 (``img_range=1.``);
* the ECA kernel size comes from the channel count: int(|(log2(160) + 1) / 2|) = 4, made odd: 5 (padding 2);
* GCT's embedding sums over the whole image (H x W), so the output of a tile depends on the tile's size;
  the organizers ran whole images (tile=None).

Source: Amazingren/NTIRE2025_ESR@b69fb668c0362deb696eecbfdebfaa5c2fcdfcb4:models/team52_ECAS.py (MIT).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from registry import ModelCard, register
from registry.ops.ntire25 import REPORT, entry, weight_file
from registry.ops.ntire25_span_a import MeanShift, span_attention
from registry.span import FoldedConv


class GCT(nn.Module):
    """Gated Channel Transformation, l2 mode (Yang et al., CVPR 2020); parameters alpha, gamma, beta."""

    def __init__(self, ch: int, eps: float = 1e-5):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, ch, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, ch, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, ch, 1, 1))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        emb = (x.pow(2).sum((2, 3), keepdim=True) + self.eps).pow(0.5) * self.alpha
        norm = self.gamma / (emb.pow(2).mean(dim=1, keepdim=True) + self.eps).pow(0.5)
        return x * (1.0 + torch.tanh(emb * norm + self.beta))


class EARB(nn.Module):
    """SPAN block with a GCT after each conv; returns (output, raw c1_r output)."""

    def __init__(self, ch: int):
        super().__init__()
        self.c1_r = FoldedConv(ch, ch)
        self.c2_r = FoldedConv(ch, ch)
        self.c3_r = FoldedConv(ch, ch)
        self.gct1 = GCT(ch)
        self.gct2 = GCT(ch)
        self.gct3 = GCT(ch)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        o1 = self.c1_r(x)
        h1 = F.silu(self.gct1(o1))
        h2 = F.silu(self.gct2(self.c2_r(h1)))
        h3 = self.gct3(self.c3_r(h2))
        return span_attention(h3, x), o1


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """ECA-Net's adaptive kernel size: int(|(log2(C) + b) / gamma|), made odd."""
    k = int(abs((math.log(channels, 2) + b) / gamma))
    return k if k % 2 else k + 1


class ECAS(nn.Module):
    """ECAS inference network (40 channels, 6 EARBs, ECA gate on the 4-way concatenation)."""

    def __init__(self, scale: int = 4, ch: int = 40, in_ch: int = 3, out_ch: int = 3):
        super().__init__()
        self.shift = MeanShift(1.0)
        self.conv_1 = FoldedConv(in_ch, ch)
        for k in range(1, 7):
            self.add_module(f"block_{k}", EARB(ch))
        self.conv_cat = nn.Conv2d(4 * ch, ch, 1)
        k = eca_kernel_size(4 * ch)
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)
        self.conv_2 = FoldedConv(ch, ch)
        self.upsampler = nn.Sequential(nn.Conv2d(ch, out_ch * scale * scale, 3, padding=1), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0 = self.conv_1(self.shift(x))
        out_1, _ = self.block_1(f0)
        h = out_1
        for k in range(2, 6):
            h, _ = getattr(self, f"block_{k}")(h)
        out_6, tap_6 = self.block_6(h)
        c = torch.cat([f0, self.conv_2(out_6), out_1, tap_6], 1)
        b, n = c.shape[:2]
        g = torch.sigmoid(self.conv(F.adaptive_avg_pool2d(c, 1).view(b, 1, n))).view(b, n, 1, 1)
        return self.upsampler(self.conv_cat(c + c * g))


def build_ecas(scale: int) -> nn.Module:
    return ECAS(scale=scale, ch=40)


ECAS_NTIRE25 = register(ModelCard(
    name="ECAS-ntire25",
    family="ECAS",
    kind="cnn",
    paper=REPORT,
    scales=(4,),
    build=build_ecas,
    weights=(weight_file(
        "team52_ECAS.pth", "24625419bd1a13f5a0f90c1c7f65e0291570e74d4f2b1aee64abb7d3654c8d49",
        notes=("raw state_dict, 99 tensors, 301,413 parameters (convs in deployed eval_conv form, 18 GCTs x 3 "
               "tensors, the 5-tap ECA conv1d); test_demo loads it strictly.")),),
    published=(),
    notes=(
        "NTIRE 2025 ESR submission of team 52: ECAS ('efficient channel attention super-resolution network "
        "acting on space'), SPAN with 40 channels and folded convs whose blocks put a GCT (gated channel "
        "transformation) after every conv, and whose 160-channel concatenation is re-weighted by an ECA gate "
        "(global average pool, a 5-tap conv1d across channels, sigmoid; applied as c + c * gate) before conv_cat. "
        "Input RGB in [0, 1] is mean-shifted but NOT multiplied by 255 (img_range=1); the output is used as "
        "[0, 1] (test_demo data_range=1.0). The concatenated block-6 tap is its raw c1_r output (before GCT and "
        "SiLU), as the authors' code computes it. GCT normalises over the whole image, so tiled inference "
        "differs from whole-image inference. The file loads strictly, as in test_demo. No published row: the "
        "report's PSNR table was not reachable from srbench's sources."
    ),
    config={"feature_channels": 40, "blocks": 6, "block_attention": "GCT (l2) after each conv",
            "fusion_gate": "ECA conv1d k=5 on the 160-channel concat", "img_range": 1.0,
            "rgb_mean": (0.4488, 0.4371, 0.4040), "upsampler": "conv3x3 + PixelShuffle(4)", "params": 301413,
            "fvcore_flops_256": 19563807520},
    challenge=entry(52, "ECAS"),
))
