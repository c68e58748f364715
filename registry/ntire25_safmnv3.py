"""SAFMNv3, the NTIRE 2025 ESR entry of team 19 (``SAFMN_NTIRE25``: dim 40, 6 blocks, FFN scale 1.5, x4).

A third version of SAFMN (Spatially-Adaptive Feature Modulation, Sun et al., ICCV 2023) made for the
challenge: no normalisation, no biases anywhere, one residual per block, and a "simple SAFM" with one
pooled branch modulated by the channel variance. Written after the forward pass of the organizers' copy
(``Amazingren/NTIRE2025_ESR@b69fb668c036:models/team19_SAFMNv3.py``, class ``SAFMN_NTIRE25``, built in
``test_demo.py`` as ``SAFMN_NTIRE25(dim=40, num_blocks=6, ffn_scale=1.5, upscaling_factor=4)``):

    base = bilinear_x4(x)                                  (align_corners=False)
    f    = to_feat(x)                                      (3x3, 3 -> 40)
    6 x  f = f + FFN(SimpleSAFM(f))                        (one residual around both)
    SR   = PixelShuffle(4)(conv3x3(f)) + base

    SimpleSAFM(f): x0 = conv3x3(f) (40 -> 12); x1 = conv3x3(f) (40 -> 28)
                   s  = dwconv3x3(adaptive_max_pool(x0, (h // 8, w // 8)))
                   s  = conv1x1(s + var_hw(x0))            (unbiased variance over the whole map, per channel)
                   s  = GELU(bilinear(s, (h, w))) * x0
                   out = conv1x1(GELU(cat[x1, s]))
    FFN(f): conv1x1(GELU(conv1x1(f)))                      (40 -> 60 -> 40)

Facts of that code a re-implementation must keep: the variance is ``torch.var`` (unbiased, over the
full h x w map of ``x0``, not of the pooled map) added *before* the 1x1 conv; the pooled branch is
brought back with *bilinear* interpolation (align_corners=False) and GELU'd before it multiplies
``x0``; the concatenation order is ``[x1, s]``; GELU is the exact (erf) GELU. The input is RGB in
[0, 1] (``data_range=1.0``) and the output is used as [0, 1] directly. Inputs must be at least 8 x 8.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from registry import ModelCard, register
from registry.ops.ntire25 import REPORT, entry, weight_file


class SimpleSAFM(nn.Module):
    """One pooled, variance-modulated branch (``split`` channels) next to a plain 3x3 branch."""

    def __init__(self, dim: int, split: int = 12):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, split, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(dim, dim - split, 3, padding=1, bias=False)
        self.conv3 = nn.Conv2d(split, split, 1, bias=False)
        self.dwconv = nn.Conv2d(split, split, 3, padding=1, groups=split, bias=False)
        self.out = nn.Conv2d(dim, dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x0 = self.conv1(x)
        x1 = self.conv2(x)
        s = self.dwconv(F.adaptive_max_pool2d(x0, (h // 8, w // 8)))
        s = self.conv3(s + torch.var(x0, dim=(-2, -1), keepdim=True))
        s = F.gelu(F.interpolate(s, size=(h, w), mode="bilinear", align_corners=False)) * x0
        return self.out(F.gelu(torch.cat([x1, s], dim=1)))


class FFN(nn.Module):
    """1x1 expand, GELU, 1x1 project (no biases)."""

    def __init__(self, dim: int, scale: float):
        super().__init__()
        hidden = int(dim * scale)
        self.conv1 = nn.Conv2d(dim, hidden, 1, bias=False)
        self.conv2 = nn.Conv2d(hidden, dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.gelu(self.conv1(x)))


class AttBlock(nn.Module):
    def __init__(self, dim: int, ffn_scale: float):
        super().__init__()
        self.conv1 = SimpleSAFM(dim, split=12)
        self.conv2 = FFN(dim, ffn_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x)) + x


class SAFMNv3(nn.Module):
    def __init__(self, dim: int = 40, num_blocks: int = 6, ffn_scale: float = 1.5, scale: int = 4):
        super().__init__()
        self.scale = scale
        self.to_feat = nn.Conv2d(3, dim, 3, padding=1, bias=False)
        self.feats = nn.Sequential(*[AttBlock(dim, ffn_scale) for _ in range(num_blocks)])
        self.to_img = nn.Sequential(nn.Conv2d(dim, 3 * scale * scale, 3, padding=1, bias=False),
                                    nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return self.to_img(self.feats(self.to_feat(x))) + base


def build_safmnv3(scale: int) -> SAFMNv3:
    return SAFMNv3(dim=40, num_blocks=6, ffn_scale=1.5, scale=scale)


PARAMS = 144672

SAFMNV3_NTIRE25 = register(ModelCard(
    name="SAFMNv3-ntire25",
    family="SAFMN",
    kind="cnn",
    paper=REPORT,
    scales=(4,),
    build=build_safmnv3,
    weights=(
        weight_file(
            "team19_safmnv3.pth", "07ca690f7935b97978a36bbb2e82aa821ffea7d38555eeb8468ee9e1425bd4dd",
            notes=f"raw state dict, 44 tensors, {PARAMS:,} parameters; plain (no re-parameterisation)"),
    ),
    published=(),
    challenge=entry(19, "SAFMNv3"),
    notes=(
        "Team 19's NTIRE 2025 ESR checkpoint, the form that was submitted and run: a raw state dict of 44 "
        f"bias-free conv weights ({PARAMS:,} parameters), nothing to fuse. Loaded as the challenge's "
        "test_demo.py does it (top level, strict=True, data_range 1.0: RGB in [0, 1], output used as is). "
        "This is not the ICCV 2023 SAFMN, nor the NTIRE 2023 SAFMN entry (registry/safmn.py): no "
        "normalisation, one pooled branch (h // 8) modulated by the unbiased spatial variance of its "
        "input, 1x1-only FFN, bilinear image residual. Inputs must be at least 8 x 8 pixels. The "
        "organizers' per-team DIV2K_LSDIR PSNR, runtime, FLOPs and rank are in the challenge report's "
        "tables, which could not be read from here (the repository's log holds only the EFDN baseline): "
        "no published row, rank and team name left unverified."
    ),
    config={"dim": 40, "num_blocks": 6, "ffn_scale": 1.5, "split_dim": 12, "pool": "adaptive max h//8",
            "upsampler": "conv3x3 + PixelShuffle(4)", "image_residual": "bilinear", "params": PARAMS},
))
