"""SGSDN, NTIRE 2025 ESR team 18: 8 large-kernel gated blocks (LPF) of 24 channels, no distillation split.

The network of ``models/team18_SGSDN.py:SGSDN`` in Amazingren/NTIRE2025_ESR@b69fb668 (checkpoint
``model_zoo/team18_SGSDN.pth``, a BasicSR dict whose ``params_ema`` ``test_demo.py`` loads strictly,
data_range 1.0; no mean shift):

    f0 = fea_conv(x)                                     (3x3, RGB in [0, 1])
    LPF (x8): x1 = SDC(n(x)); x2 = SDC(n(x1)); x3 = SDC(n(x2)) + x; out = VSD(x3) + x3   (n = L2 over channels)
    SR = PixelShuffle(conv3x3(feats(f0) + f0))

Facts of the organizers' code a re-implementation must keep:

* SDC: a = GELU(pw1(x)) split into halves a1, a2; a "large-kernel" branch y = pw2(LKA35(a1) * a2)
  with LKA35 = depth-wise (1, 5) -> (1, 11) dilation 3 -> (5, 1) -> (11, 1) dilation 3 (paddings 2 / 15);
  a local branch GELU(conv_1(dwconv3x3(a1) * a2)); output cat[local, large] (local first).
* Each SDC sees ``F.normalize`` of its input (p=2 over channels, eps 1e-12); only the third adds the LPF
  input back. VSD is depth-wise 3x3 with channel multiplier 2 -> GELU -> 1x1, with a residual.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from registry import ModelCard, register
from registry.ops.blocks import pixelshuffle_block
from registry.ops.ntire25 import REPORT, entry, weight_file


class SDC(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.conv_0 = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)
        self.conv_1 = nn.Conv2d(dim, dim // 2, 1)
        self.pw1 = nn.Conv2d(dim, dim * 2, 1, bias=False)
        self.pw2 = nn.Conv2d(dim, dim // 2, 1, bias=False)
        self.LKA35 = nn.Sequential(
            nn.Conv2d(dim, dim, (1, 5), padding=(0, 2), groups=dim),
            nn.Conv2d(dim, dim, (1, 11), padding=(0, 15), groups=dim, dilation=3),
            nn.Conv2d(dim, dim, (5, 1), padding=(2, 0), groups=dim),
            nn.Conv2d(dim, dim, (11, 1), padding=(15, 0), groups=dim, dilation=3),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a1, a2 = F.gelu(self.pw1(x)).chunk(2, dim=1)
        large = self.pw2(self.LKA35(a1) * a2)
        local = F.gelu(self.conv_1(self.conv_0(a1) * a2))
        return torch.cat([local, large], dim=1)


class VSD(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.conv_0 = nn.Conv2d(dim, dim * 2, 3, 1, 1, groups=dim)
        self.conv_1 = nn.Conv2d(dim * 2, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_1(F.gelu(self.conv_0(x)))


class LPF(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.VA1, self.VA2, self.VA3 = SDC(dim), SDC(dim), SDC(dim)
        self.VSD = VSD(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.VA1(F.normalize(x))
        x2 = self.VA2(F.normalize(x1))
        x3 = self.VA3(F.normalize(x2)) + x
        return self.VSD(x3) + x3


class SGSDN(nn.Module):
    def __init__(self, ch: int = 24, blocks: int = 8, scale: int = 4):
        super().__init__()
        self.fea_conv = nn.Conv2d(3, ch, 3, 1, 1)
        self.feats = nn.Sequential(*[LPF(ch) for _ in range(blocks)])
        self.upsampler = pixelshuffle_block(ch, 3, scale, kernel_size=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fea = self.fea_conv(x)
        return self.upsampler(self.feats(fea) + fea)


def build(scale: int) -> SGSDN:
    return SGSDN(scale=scale)


SGSDN_NTIRE25 = register(ModelCard(
    name="SGSDN-ntire25",
    family="SGSDN",
    kind="cnn",
    paper=REPORT,
    scales=(4,),
    build=build,
    weights=(weight_file(
        "team18_SGSDN.pth", "6a3fe679e42c420992522621bc3362890b02ec55c4f221e7e95c76b5b97c4180", state_key="params_ema",
        notes="team 18; BasicSR dict {params, params_ema}; params_ema (372 tensors, 92,592 parameters) is what "
              "test_demo.py loads"),),
    challenge=entry(18, "SGSDN"),
    notes=(
        "NTIRE 2025 ESR checkpoint of team 18 (solution SGSDN), as the organizers run it: SGSDN() with its "
        "defaults (24 channels, 8 LPF blocks), params_ema loaded with strict=True, RGB in [0, 1] "
        "(data_range 1.0), no mean shift. A plain network (no re-parameterisation). No per-team PSNR in the "
        "organizers' repository (log and results.txt hold only the EFDN baseline), so no published row."
    ),
    config={"channels": 24, "blocks": 8, "activation": "GELU",
            "large_kernel": "dw 1x5, 1x11 (dil 3), 5x1, 11x1 (dil 3)", "upsampler": "conv3x3 + PixelShuffle(4)",
            "params": 92592},
))
