"""LMSWN: an architecture-only reconstruction from the paper's description (no code, no weights).

Yang, Che, Gao and Zhao, "A multi-stage feature distillation-weighted lightweight image
super-resolution network" (多阶段特征蒸馏加权的轻量级图像超分辨率网络), Computer Engineering & Science
46(8):1433-1443, 2024. No repository or checkpoint exists (checked: GitHub code search, the journal
page); the only public description is the abstract, which names four components:

1. a *pyramid-like* shallow feature module that widens the receptive field and fuses several scales;
2. *multi-stage residual distillation-weighted* blocks built on square (3x3) convolutions;
3. inside them, gradual distillation by channel separation combined with 1x1 convolutions;
4. two adaptive (learnable) parameters that weight the block's two branches.

Everything else below is a choice made here, in the style of the distillation networks the paper
builds on (IMDN, RFDN, FDIWN), sized to the efficient-CNN class (about 0.37 M parameters at x4):

* Shallow module (``PyramidShallow``): three parallel convs on the LR image with 3x3, 5x5 and 7x7
  kernels (``ch`` outputs each), LeakyReLU(0.05), concatenation, 1x1 fusion to ``ch``.
* Block (``MRDWB``), three distillation stages then a last stage. Stage k refines its input with a
  residual 3x3 conv, ``r = LReLU(conv3x3(x) + x)``, then *separates* channels:
  ``d_k, rest = split(r, [ch/4, 3ch/4])``; ``d_k`` is distilled through a 1x1 conv
  (``ch/4 -> ch/4``), ``rest`` is brought back to ``ch`` channels by a 1x1 conv for the next stage.
  The last stage is a 3x3 conv ``ch -> ch/4``. The four ``ch/4`` distilled maps are concatenated and
  fused by a 1x1 conv (``ch -> ch``). The two branches, identity and distilled features, are weighted
  by two learnable scalars: ``out = w_skip * x + w_body * fused`` (both initialised to 1).
* Trunk: ``n_blocks`` MRDWBs in sequence; the outputs of all blocks are concatenated (multi-stage
  aggregation), fused by a 1x1 conv + LReLU and a 3x3 conv, and added to the shallow features.
* Reconstruction: 3x3 conv ``ch -> 3 s^2`` and PixelShuffle(s); no image-level skip.
* Defaults: ``ch = 48``, ``n_blocks = 4``, LeakyReLU slope 0.05 everywhere, input RGB in [0, 1].

It is registered without weights, so srbench shows it in efficiency columns only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from registry import register
from registry.base import ModelCard, Paper

SLOPE = 0.05


def _act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, SLOPE)


class PyramidShallow(nn.Module):
    """Parallel 3x3 / 5x5 / 7x7 convs on the image, fused by a 1x1 conv."""

    def __init__(self, in_ch: int, ch: int, kernels: tuple[int, ...] = (3, 5, 7)):
        super().__init__()
        self.branches = nn.ModuleList(nn.Conv2d(in_ch, ch, k, padding=k // 2) for k in kernels)
        self.fuse = nn.Conv2d(ch * len(kernels), ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(_act(torch.cat([b(x) for b in self.branches], 1)))


class DistillStage(nn.Module):
    """Residual 3x3 refinement, then channel separation into distilled and remaining parts."""

    def __init__(self, ch: int, distilled: int):
        super().__init__()
        self.distilled = distilled
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)
        self.distill = nn.Conv2d(distilled, distilled, 1)
        self.remain = nn.Conv2d(ch - distilled, ch, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = _act(self.conv(x) + x)
        d, rest = torch.split(r, [self.distilled, r.shape[1] - self.distilled], dim=1)
        return self.distill(d), _act(self.remain(rest))


class MRDWB(nn.Module):
    """Multi-stage residual distillation-weighted block."""

    def __init__(self, ch: int, stages: int = 3, distill_ratio: float = 0.25):
        super().__init__()
        dc = int(ch * distill_ratio)
        self.stages = nn.ModuleList(DistillStage(ch, dc) for _ in range(stages))
        self.last = nn.Conv2d(ch, dc, 3, padding=1)
        self.fuse = nn.Conv2d(dc * (stages + 1), ch, 1)
        self.w_skip = nn.Parameter(torch.ones(1))
        self.w_body = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, kept = x, []
        for stage in self.stages:
            d, h = stage(h)
            kept.append(d)
        kept.append(self.last(h))
        return self.w_skip * x + self.w_body * self.fuse(torch.cat(kept, 1))


class LMSWN(nn.Module):
    def __init__(self, scale: int, ch: int = 48, n_blocks: int = 4, in_ch: int = 3, out_ch: int = 3):
        super().__init__()
        self.shallow = PyramidShallow(in_ch, ch)
        self.blocks = nn.ModuleList(MRDWB(ch) for _ in range(n_blocks))
        self.aggregate = nn.Conv2d(ch * n_blocks, ch, 1)
        self.smooth = nn.Conv2d(ch, ch, 3, padding=1)
        self.upsampler = nn.Sequential(nn.Conv2d(ch, out_ch * scale * scale, 3, padding=1),
                                       nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0 = self.shallow(x)
        h, outs = f0, []
        for block in self.blocks:
            h = block(h)
            outs.append(h)
        body = self.smooth(_act(self.aggregate(torch.cat(outs, 1))))
        return self.upsampler(body + f0)


# Parameter counts of the default configuration (ch=48, 4 blocks): checked by the tests.
PARAMS = {2: 357_092, 3: 363_587, 4: 372_680}

LMSWN_CARD = register(ModelCard(
    name="LMSWN",
    family="LMSWN",
    kind="cnn",
    paper=Paper(
        title="A multi-stage feature distillation-weighted lightweight image super-resolution network",
        venue="Computer Engineering & Science 46(8):1433-1443",
        year=2024,
        url="http://joces.nudt.edu.cn/EN/abstract/abstract17965.shtml",
    ),
    scales=(2, 3, 4),
    build=lambda scale: LMSWN(scale=scale),
    weights=(),
    published=(),
    input_range=1.0,
    notes=(
        "ARCHITECTURE-ONLY RECONSTRUCTION, NO WEIGHTS: the authors published neither code nor "
        "checkpoints, and the only public description is the abstract. srbench shows this card in "
        "efficiency columns (params, FLOPs, activations, runtime) only, never with accuracy, and these "
        "efficiency numbers describe this reconstruction, not necessarily the paper's network. Taken from "
        "the abstract: a pyramid-like multi-scale shallow module; multi-stage residual distillation "
        "blocks on square 3x3 convs; gradual distillation by channel separation plus 1x1 convs; two "
        "learnable weights on the block's two branches; pixel-shuffle reconstruction (usual for the class). "
        "Choices made here (every one a guess): shallow module = parallel 3x3/5x5/7x7 convs on the image, "
        "LeakyReLU, 1x1 fusion; 48 channels; 4 blocks; 3 distillation stages + a last 3x3 stage per block; "
        "distillation ratio 1/4 (12 channels split off per stage, refined by a 1x1 conv; the remaining 36 "
        "lifted back to 48 by a 1x1 conv); residual 3x3 conv before each split (RFDN-style shallow "
        "residual block); 1x1 fusion of the four distilled maps; the two learnable scalars weight the "
        "identity branch and the distilled branch (FDIWN-style, initialised to 1), rather than e.g. a "
        "square-conv branch and an asymmetric-conv branch, which the abstract's wording also allows; "
        "block outputs concatenated, 1x1 + LeakyReLU + 3x3, long skip from the shallow features; "
        "LeakyReLU slope 0.05; no channel/spatial attention; no image-level bicubic skip; input RGB in "
        "[0, 1]. Parameters: 357,092 (x2), 363,587 (x3), 372,680 (x4)."
    ),
    config={
        "channels": 48, "blocks": 4, "stages_per_block": 3, "distill_ratio": 0.25,
        "shallow": "parallel conv 3x3/5x5/7x7 (3->48 each) + LeakyReLU + 1x1 (144->48)",
        "stage": ("x -> LReLU(conv3x3(x)+x) -> split [12 | 36]; 12 -> 1x1 (distilled); "
                  "36 -> 1x1 -> 48 + LReLU"),
        "block_tail": "conv3x3 48->12; concat 4x12 -> 1x1 -> 48; out = w_skip*x + w_body*fused",
        "trunk": "concat 4 block outputs -> 1x1 -> LReLU -> 3x3, + shallow features",
        "upsampler": "conv3x3 48 -> 3*s^2 + PixelShuffle(s)",
        "activation": "LeakyReLU(0.05)",
        "params": PARAMS,
        "provenance": "reconstructed from the abstract; no code or weights published",
    },
))
