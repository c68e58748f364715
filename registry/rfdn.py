"""RFDN (AIM 2020 efficient SR winner, ECCV Workshops 2020).

- ``E-RFDN``: the checkpoint the authors released (njulj/RFDN ``trained_model/RFDN_AIM.pth``), the
  AIM 2020 challenge entry: 50 channels, 4 RFDBs, x4 only, fed RGB in [0, 255]. It is also the
  NTIRE 2022 and NTIRE 2023 ESR baseline.
- ``RFDN``: the paper's RFDN (48 channels, 6 RFDBs, ~550K params at x4), architecture only: no
  checkpoint of it has been published.

Forward pass follows njulj/RFDN ``RFDN.py`` + ``block.py``.
"""

from __future__ import annotations

import torch
from torch import nn

from registry import ModelCard, Paper, Published, WeightFile, register
from registry.ops.blocks import ESA, DistillationTrunk, conv_layer, lrelu


class RFDB(nn.Module):
    """Residual feature distillation block: 3 x (1x1 distillation + shallow residual 3x3), 3x3, 1x1, ESA."""

    def __init__(self, channels: int):
        super().__init__()
        dc = self.dc = channels // 2
        self.c1_d = conv_layer(channels, dc, 1)
        self.c1_r = conv_layer(channels, channels, 3)
        self.c2_d = conv_layer(channels, dc, 1)
        self.c2_r = conv_layer(channels, channels, 3)
        self.c3_d = conv_layer(channels, dc, 1)
        self.c3_r = conv_layer(channels, channels, 3)
        self.c4 = conv_layer(channels, dc, 3)
        self.c5 = conv_layer(dc * 4, channels, 1)
        self.esa = ESA(channels)  # f = channels // 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = lrelu(self.c1_d(x))
        r1 = lrelu(self.c1_r(x) + x)
        d2 = lrelu(self.c2_d(r1))
        r2 = lrelu(self.c2_r(r1) + r1)
        d3 = lrelu(self.c3_d(r2))
        r3 = lrelu(self.c3_r(r2) + r2)
        r4 = lrelu(self.c4(r3))
        return self.esa(self.c5(torch.cat([d1, d2, d3, r4], dim=1)))


class RFDN(DistillationTrunk):
    """conv -> n RFDBs (named B1..Bn) -> concat -> 1x1 + LeakyReLU -> 3x3 + long skip -> pixel shuffle."""

    def __init__(self, upscale: int = 4, in_nc: int = 3, nf: int = 50, num_modules: int = 4, out_nc: int = 3):
        super().__init__(RFDB, "B", upscale, in_nc, nf, num_modules, out_nc)


_PAPER = Paper(
    title="Residual Feature Distillation Network for Lightweight Image Super-Resolution",
    venue="ECCV Workshops (AIM)", year=2020, url="https://arxiv.org/abs/2009.11551")
_NTIRE22_FIG = "ofsoundof/NTIRE2022_ESR figs/results.png"

E_RFDN_CARD = register(ModelCard(
    name="E-RFDN",
    family="RFDN",
    kind="cnn",
    paper=_PAPER,
    scales=(4,),
    build=lambda scale: RFDN(upscale=scale, nf=50, num_modules=4),
    weights=(
        WeightFile(file="E-RFDN_x4.pth",
                   sha256="11af8ec8ebd68689e90ef1e29044f9804c72d3bd9f7573820b7b26035782760c",
                   scales=(4,),
                   url=("https://raw.githubusercontent.com/njulj/RFDN/7cf4e25b6633e81fd7e26891aeee2baca4f8f927/"
                        "trained_model/RFDN_AIM.pth"),
                   license="MIT (Copyright 2021 njulj)", input_range=255.0,
                   source="njulj/RFDN@7cf4e25b6633:trained_model/RFDN_AIM.pth"),
    ),
    published=(
        Published(dataset="DIV2K_valid (NTIRE2022)", scale=4, psnr=29.04, ssim=None,
                  source=f'{_NTIRE22_FIG} ("RFDN AIM2020 Winner" row)', metric="ntire_rgb",
                  notes="DIV2K test 28.75; 41.97 ms (Titan Xp); 0.433M; 27.10G; 112.03M acts; 788.13MB"),
        Published(dataset="DIV2K_test (NTIRE2022)", scale=4, psnr=28.75, ssim=None, source=_NTIRE22_FIG,
                  metric="ntire_rgb"),
    ),
    notes=("The AIM 2020 challenge entry ('E-RFDN' in the AIM 2020 report), NOT the paper's RFDN: 50 "
           "channels and 4 RFDBs (433,448 params) instead of 48 channels and 6 RFDBs (~550K). Its input is "
           "RGB in [0, 255] (the repository's test.py does not divide by 255; NTIRE data_range=255); the "
           "adapter scales it. Also the NTIRE 2022 and NTIRE 2023 ESR baseline (byte-identical files). "
           "Only NTIRE RGB-PSNR numbers on DIV2K exist for it; the paper's Y-channel tables are for RFDN, "
           "whose weights were never released."),
    config={"nf": 50, "blocks": 4, "distilled": 25, "esa_channels": 12, "activation": "LeakyReLU 0.05",
            "upsampler": "conv3x3 + PixelShuffle"},
))

RFDN_CARD = register(ModelCard(
    name="RFDN",
    family="RFDN",
    kind="cnn",
    paper=_PAPER,
    scales=(2, 3, 4),
    build=lambda scale: RFDN(upscale=scale, nf=48, num_modules=6),
    input_range=255.0,
    notes=("Architecture only: the paper's RFDN (48 channels, 6 RFDBs) has no published checkpoint, so "
           "srbench reports its efficiency only; the released RFDN_AIM.pth is E-RFDN, another configuration. "
           "Built as in the authors' code it has 566,364 / 572,859 / 581,952 params at x2 / x3 / x4; the "
           "paper reports 534K / 541K / 550K. The gap is exactly the ESA inner convolutions (conv_f, "
           "conv_max, conv2, conv3, conv3_: 5,388 params per block, 32,328 in all): without them the counts "
           "are 534,036 / 540,531 / 549,624, and the same rule reproduces the paper's RFDN-L (52 channels) "
           "counts 626K / 633K / 643K, so the paper's counter left those layers out. The input range 0-255 "
           "is assumed from the authors' E-RFDN code."),
    config={"nf": 48, "blocks": 6, "distilled": 24, "esa_channels": 12, "activation": "LeakyReLU 0.05",
            "upsampler": "conv3x3 + PixelShuffle"},
))
