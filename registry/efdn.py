"""EFDN (CVPR Workshops 2022, NTIRE 2022 ESR team NKU-ESR), deployed form.

EFDN trains edge-enhanced diverse branch blocks (EDBB: 3x3, 1x1, 1x1-3x3, Sobel-x/y and Laplacian
branches) and merges them into one 3x3 convolution for inference; the released checkpoints hold that
merged form (``rep_conv``), which is what this module builds. Forward pass follows icandle/EFDN
``models/EFDN_deploy.py`` + ``models/unitv2.py`` (``EDBB_deploy``), identical to
ofsoundof/NTIRE2022_ESR ``models/team01_efdn.py``. The network ends with ``clamp(0, 1)``.
"""

from __future__ import annotations

import torch
from torch import nn

from registry import ModelCard, Paper, Published, WeightFile, register
from registry.ops.blocks import ESA, pixelshuffle_block


class ConvPReLU(nn.Module):
    """1x1 conv then per-channel PReLU (EFDN's ``conv``); keys ``conv1x1``, ``act``."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1x1 = nn.Conv2d(channels, channels, 1)
        self.act = nn.PReLU(num_parameters=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv1x1(x))


class EDBBDeploy(nn.Module):
    """A re-parameterised EDBB: one 3x3 conv (``rep_conv``) then per-channel PReLU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.rep_conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.act = nn.PReLU(num_parameters=out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.rep_conv(x))


class Cell(nn.Module):
    """conv1 (1x1) -> conv2 (EDBB) -> conv3 (EDBB); 1x1 branches of x and the three outputs (C/2 each),
    concatenated, fused by 1x1 (2C -> C), ESA (f = C/4), plus x."""

    def __init__(self, n_feats: int = 48):
        super().__init__()
        self.conv1 = ConvPReLU(n_feats)
        self.conv2 = EDBBDeploy(n_feats, n_feats)
        self.conv3 = EDBBDeploy(n_feats, n_feats)
        self.fuse = nn.Conv2d(n_feats * 2, n_feats, 1)
        self.att = ESA(n_feats)
        self.branch = nn.ModuleList([nn.Conv2d(n_feats, n_feats // 2, 1) for _ in range(4)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = self.conv1(x)
        out2 = self.conv2(out1)
        out3 = self.conv3(out2)
        feats = [b(f) for b, f in zip(self.branch, (x, out1, out2, out3), strict=True)]
        return self.att(self.fuse(torch.cat(feats, dim=1))) + x


class EFDN(nn.Module):
    """head -> 4 cells with local fusions -> + head -> conv3x3 + PixelShuffle -> clamp(0, 1)."""

    def __init__(self, upscale: int = 4, in_channels: int = 3, n_feats: int = 48, out_channels: int = 3):
        super().__init__()
        self.head = nn.Conv2d(in_channels, n_feats, 3, padding=1)
        self.cells = nn.ModuleList([Cell(n_feats) for _ in range(4)])
        self.local_fuse = nn.ModuleList([nn.Conv2d(n_feats * 2, n_feats, 1) for _ in range(3)])
        self.tail = pixelshuffle_block(n_feats, out_channels, upscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out0 = self.head(x)
        out1 = self.cells[0](out0)
        out2 = self.cells[1](out1)
        out2_fuse = self.local_fuse[0](torch.cat([out1, out2], dim=1))
        out3 = self.cells[2](out2_fuse)
        out3_fuse = self.local_fuse[1](torch.cat([out2, out3], dim=1))
        out4 = self.cells[3](out3_fuse)
        # The authors fuse out2 (not out3_fuse) with out4 here; kept as released.
        out4_fuse = self.local_fuse[2](torch.cat([out2, out4], dim=1))
        return self.tail(out4_fuse + out0).clamp(0, 1)


_REPO = "https://raw.githubusercontent.com/icandle/EFDN/3e7c7b40be14fecd9c89338d92b80ec52e325626"
_NTIRE22_FIG = "ofsoundof/NTIRE2022_ESR figs/results.png"


def _ntire(dataset: str, psnr: float, source: str, notes: str = "") -> Published:
    return Published(dataset=dataset, scale=4, psnr=psnr, ssim=None, source=source, metric="ntire_rgb",
                     notes=notes)


EFDN_CARD = register(ModelCard(
    name="EFDN",
    family="EFDN",
    kind="cnn",
    paper=Paper(title="Edge-enhanced Feature Distillation Network for Efficient Super-Resolution",
                venue="CVPR Workshops", year=2022, url="https://arxiv.org/abs/2204.08759"),
    scales=(2, 4),
    build=lambda scale: EFDN(upscale=scale),
    weights=(
        WeightFile(file="EFDN_x2.pth",
                   sha256="6e392d63b322befaf66d7bc0e0b0427b39f58de257f43e036a6bc55b60d30785",
                   scales=(2,), url=f"{_REPO}/model_zoo/EFDNx2_baseline.pth", license="Apache-2.0",
                   input_range=1.0, source="icandle/EFDN@3e7c7b40be14:model_zoo/EFDNx2_baseline.pth"),
        WeightFile(file="EFDN_x4.pth",
                   sha256="71069f10ef234cd123f45ac8e69099f0a1fdc0c16afcfe2189e50071d47ce477",
                   scales=(4,), url=f"{_REPO}/model_zoo/EFDN_gv.pth", license="Apache-2.0",
                   input_range=1.0, source="icandle/EFDN@3e7c7b40be14:model_zoo/EFDN_gv.pth"),
    ),
    published=(
        _ntire("DIV2K_valid (NTIRE2022)", 29.00, f'{_NTIRE22_FIG} ("NKU-ESR" row)',
               "DIV2K test 28.66; 34.81 ms; 0.276M; 16.73G"),
        _ntire("DIV2K_test (NTIRE2022)", 28.66, _NTIRE22_FIG),
        _ntire("DIV2K_LSDIR_valid (200 imgs)", 26.93,
               "Amazingren/NTIRE2025_ESR README.md (baseline), log 26.931519",
               "test 27.01 (log 27.006633); runtime 16.69 ms avg (A6000); 0.276M; 16.70G (fvcore)"),
        _ntire("DIV2K_LSDIR_test (200 imgs)", 27.01,
               "Amazingren/NTIRE2025_ESR README.md / NTIRE2025-EfficientSR.log (27.006633)"),
    ),
    notes=("Deployed (re-parameterised) EFDN: each EDBB is already merged into one 3x3 conv + PReLU, which "
           "is the form of the released files; the training-time branches cannot be rebuilt from them. "
           "x4 = EFDN_gv.pth, the NTIRE 2022 entry (also the NTIRE 2025 ESR baseline); x2 = "
           "EFDNx2_baseline.pth. Input RGB in [0, 1] (NTIRE data_range=1.0; the x2 range is assumed from "
           "the same code). The network clamps its output to [0, 1]. Its published numbers are NTIRE RGB "
           "PSNR on DIV2K/LSDIR (border 4), not comparable with Y-channel tables."),
    config={"nf": 48, "cells": 4, "esa_channels": 12, "activation": "PReLU (per channel)",
            "upsampler": "conv3x3 + PixelShuffle", "form": "deployed"},
))
