"""PAEDN, the NTIRE 2025 ESR entry of team 56 (48 channels, 4 cells, re-parameterised "EDBB" convs folded).

Written after the forward pass of the organizers' copy (``Amazingren/NTIRE2025_ESR@b69fb668c036:
models/team56_PAEDN.py``, class ``PAEDN``, built in ``test_demo.py`` as ``PAEDN()`` with its defaults).
The authors train each 3x3 conv as an ECBSR/DBB-style "EDBB" (3x3 + 1x1 + 1x1-Sobel-x/y + 1x1-Laplacian
branches, then PReLU) and fold it into one 3x3 conv + PReLU (``EDBB_deploy``); the file holds only the
folded form, which is what was submitted and run, so nothing is fused here.

    f0 = head(x)                                            (3x3, 3 -> 48)
    Cell(u): a = conv1x1(u); b = PReLU(conv3x3(a)); c = PReLU(conv3x3(b))
             out = u + fuse1x1(cat[br0(a), br1(b * (sigmoid(b) - 0.5)), br2(c * (sigmoid(c) - 0.5))])
             (br_i: 1x1, 48 -> 24; fuse: 72 -> 48)
    o1 = cell_0(f0); o2 = cell_1(o1)
    o3 = cell_2(lf_0(cat[o1, o2])); o4 = cell_3(lf_1(cat[o2, o3])); o = lf_2(cat[o2, o4]) + f0
    SR = clamp(PixelShuffle(4)(PReLU(conv3x3(o))), 0, 1)    (lf_i: 1x1, 96 -> 48)

Facts of that code a re-implementation must keep: the second folded conv of a cell takes the *un-gated*
``b`` (not ``b * (sigmoid(b) - 0.5)``); the last local fusion concatenates ``o2`` with ``o4`` (not
``o3``); the tail's folded conv is followed by a PReLU (48 slopes) before the pixel shuffle; the output
is clamped to [0, 1] inside the network. The input is RGB in [0, 1] (``data_range=1.0``).
"""

from __future__ import annotations

import torch
from torch import nn

from registry import ModelCard, register
from registry.ops.ntire25 import REPORT, entry, weight_file
from registry.ops.ntire25_cnn_misc import centred_sigmoid


class FoldedEDBB(nn.Module):
    """The deploy form of an EDBB: one 3x3 conv (``rep_conv``) then a per-channel PReLU (``act``)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.rep_conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.act = nn.PReLU(num_parameters=c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.rep_conv(x))


class Cell(nn.Module):
    def __init__(self, ch: int = 48):
        super().__init__()
        self.conv0 = nn.Conv2d(ch, ch, 1)
        self.conv2 = FoldedEDBB(ch, ch)
        self.conv3 = FoldedEDBB(ch, ch)
        self.fuse = nn.Conv2d(ch * 3 // 2, ch, 1)
        self.branch = nn.ModuleList(nn.Conv2d(ch, ch // 2, 1) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv0(x)
        b = self.conv2(a)
        c = self.conv3(b)
        mixed = torch.cat([self.branch[0](a), self.branch[1](b * centred_sigmoid(b)),
                           self.branch[2](c * centred_sigmoid(c))], dim=1)
        return self.fuse(mixed) + x


class PAEDN(nn.Module):
    def __init__(self, ch: int = 48, scale: int = 4, in_ch: int = 3, out_ch: int = 3):
        super().__init__()
        self.head = nn.Conv2d(in_ch, ch, 3, padding=1)
        self.cells = nn.ModuleList(Cell(ch) for _ in range(4))
        self.local_fuse = nn.ModuleList(nn.Conv2d(ch * 2, ch, 1) for _ in range(3))
        self.tail = nn.Sequential(FoldedEDBB(ch, out_ch * scale * scale), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0 = self.head(x)
        o1 = self.cells[0](f0)
        o2 = self.cells[1](o1)
        o3 = self.cells[2](self.local_fuse[0](torch.cat([o1, o2], dim=1)))
        o4 = self.cells[3](self.local_fuse[1](torch.cat([o2, o3], dim=1)))
        o = self.local_fuse[2](torch.cat([o2, o4], dim=1)) + f0
        return self.tail(o).clamp(0, 1)


def build_paedn(scale: int) -> PAEDN:
    return PAEDN(ch=48, scale=scale)


PARAMS = 240336

PAEDN_NTIRE25 = register(ModelCard(
    name="PAEDN-ntire25",
    family="PAEDN",
    kind="cnn",
    paper=REPORT,
    scales=(4,),
    build=build_paedn,
    weights=(
        weight_file(
            "team56_PAEDN.pth", "6406feccd6131f27b5069379ad13bbfd1256e93fea5842c7bd084bdb4d1c0ab3",
            notes=f"raw state dict, 75 tensors, {PARAMS:,} parameters; re-parameterised (folded EDBB convs)"),
    ),
    published=(),
    challenge=entry(56, "PAEDN"),
    notes=(
        f"Team 56's NTIRE 2025 ESR checkpoint as submitted: a raw state dict (75 tensors, {PARAMS:,} "
        "parameters) in the deployed form, every EDBB already folded into rep_conv + PReLU "
        "(EDBB_deploy), which is the class test_demo.py builds; the training-form branches are not in "
        "the file, so no fold is done or tested here. Loaded as test_demo.py does it (PAEDN() defaults, "
        "top level, strict=True, data_range 1.0); the network clamps its output to [0, 1]. The log "
        "pasted at the end of the authors' source file (16.24 G FLOPs, 0.2762 M params, valid PSNR "
        "20.62 dB, a model with ESA 'att' modules) describes some other network, not this checkpoint. "
        "The organizers' per-team DIV2K_LSDIR PSNR, runtime, FLOPs and rank are in the report's tables, "
        "which could not be read from here: no published row, rank and team name left unverified."
    ),
    config={"channels": 48, "cells": 4, "conv": "folded EDBB (3x3 + PReLU)", "attention": "h * (sigmoid(h) - 0.5)",
            "upsampler": "folded EDBB (48 -> 48) + PReLU + PixelShuffle(4)", "output": "clamp(0, 1)",
            "params": PARAMS},
))
