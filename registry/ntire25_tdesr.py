"""TDESR (Tensor Decomposed Efficient Super-Resolution), the NTIRE 2025 ESR entry of team 45 (64 channels, 5 blocks).

A SPAN-like network whose 3x3 convs are factorised into a bias-free 3x1 conv (C -> C/2) followed by a
1x3 conv (C/2 -> C, bias). Written after the forward pass of the organizers' copy
(``Amazingren/NTIRE2025_ESR@b69fb668c036:models/team45_TDESR.py``, class ``TDESR``, built in
``test_demo.py`` as ``TDESR()`` with its defaults):

    f0 = head(x)                                            (3x3, 3 -> 64)
    5 x TD block:  h1 = SiLU(td_1(u)); h2 = SiLU(td_2(h1)); h3 = td_3(h2)
                   u  = (h3 + u) * (sigmoid(h3) - 0.5)      (SPAN's parameter-free attention)
    SR = PixelShuffle(4)(conv3x3(fuse(body(f0)) + f0))

Facts of that code a re-implementation must keep: there are 5 blocks although the constructor takes
``num_block=6`` (the argument is unused); the attention output is ``(h3 + u) * (sigmoid(h3) - 0.5)``
with no extra residual; the SiLUs are in-place in the authors' code on tensors that are not reused,
so plain SiLU is equivalent. The input is RGB in [0, 1] (``data_range=1.0``), no mean shift, and the
output is used as [0, 1] directly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from registry import ModelCard, register
from registry.ops.blocks import pixelshuffle_block
from registry.ops.ntire25 import REPORT, entry, weight_file
from registry.ops.ntire25_cnn_misc import centred_sigmoid


def td_conv(ch: int) -> nn.Sequential:
    """3x3 conv factorised as 3x1 (ch -> ch // 2, no bias) then 1x3 (ch // 2 -> ch, bias)."""
    return nn.Sequential(nn.Conv2d(ch, ch // 2, (3, 1), padding=(1, 0), bias=False),
                         nn.Conv2d(ch // 2, ch, (1, 3), padding=(0, 1)))


class TDBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.td_1 = td_conv(ch)
        self.td_2 = td_conv(ch)
        self.td_3 = td_conv(ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h3 = self.td_3(F.silu(self.td_2(F.silu(self.td_1(x)))))
        return (h3 + x) * centred_sigmoid(h3)


class TDESR(nn.Module):
    def __init__(self, ch: int = 64, n_blocks: int = 5, scale: int = 4, in_ch: int = 3, out_ch: int = 3):
        super().__init__()
        self.head = nn.Conv2d(in_ch, ch, 3, padding=1)
        self.body = nn.Sequential(*[TDBlock(ch) for _ in range(n_blocks)])
        self.fuse = nn.Conv2d(ch, ch, 3, padding=1)
        self.tail = pixelshuffle_block(ch, out_ch, scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0 = self.head(x)
        return self.tail(self.fuse(self.body(f0)) + f0)


def build_tdesr(scale: int) -> TDESR:
    return TDESR(ch=64, n_blocks=5, scale=scale)


PARAMS = 251696

TDESR_NTIRE25 = register(ModelCard(
    name="TDESR-ntire25",
    family="TDESR",
    kind="cnn",
    paper=REPORT,
    scales=(4,),
    build=build_tdesr,
    weights=(
        weight_file(
            "team45_TDESR.pth", "fc52c517c4e80c0ac95b4b36e84ada0c7c7e9408f99765d33b6d2e822091e509",
            notes=f"raw state dict, 51 tensors, {PARAMS:,} parameters; plain factorised convs"),
    ),
    published=(),
    challenge=entry(45, "TDESR"),
    notes=(
        f"Team 45's NTIRE 2025 ESR checkpoint as submitted: a raw state dict (51 tensors, {PARAMS:,} "
        "parameters) of the inference network itself (3x1 + 1x3 factorised convs; no branches to fuse). "
        "Loaded as the challenge's test_demo.py does it (TDESR() defaults, top level, strict=True, "
        "data_range 1.0: RGB in [0, 1], no mean shift). The network has 5 TD blocks; the constructor's "
        "num_block=6 is unused in the authors' code. The organizers' per-team DIV2K_LSDIR PSNR, runtime, "
        "FLOPs and rank are in the report's tables, which could not be read from here: no published row, "
        "rank and team name left unverified."
    ),
    config={"channels": 64, "blocks": 5, "conv": "3x1 (C -> C/2, no bias) + 1x3 (C/2 -> C)",
            "attention": "(h + x) * (sigmoid(h) - 0.5)", "upsampler": "conv3x3 + PixelShuffle(4)", "params": PARAMS},
))
