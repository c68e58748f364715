"""SAFMN as submitted by its authors to the NTIRE 2023 ESR challenge (team 15, dim 36, 8 blocks, x4).

Spatially-Adaptive Feature Modulation Network (Sun et al., ICCV 2023). This is the authors' challenge
model (``NTIRE2023_ESR/models/team15_SAFMN.py`` in sunny2109/SAFMN), which differs from the ICCV
paper's SAFMN (dim 36, 8 blocks, 240K parameters, weights only on Google Drive / Hugging Face):

* the first norm after ``to_feat`` is a GRN (global response normalisation, ConvNeXt-V2 style,
  ``gamma * (x * Nx) + beta + x`` with ``Nx = ||x||_2 / mean_c(||x||_2)``), not a LayerNorm;
* the CCM's convs and the SAFM convs have no bias, ``to_feat`` and ``to_img`` have one;
* there is no long feature residual; the output adds a *bilinear* x4 upsampling of the input.

Forward (written after that file): ``x -> to_feat (3x3) -> GRN -> 8 x [x + SAFM(x); x + CCM(x)] ->
to_img (3x3 + PixelShuffle) + bilinear(x)``. SAFM splits the channels into 4 chunks; chunk 0 goes
through a depthwise 3x3, chunk i > 0 through adaptive max-pooling to (h // 2^(i+1), w // 2^(i+1)), a
depthwise 3x3 and nearest upsampling back; a 1x1 conv aggregates them and ``GELU(aggr) * x`` modulates
the input. CCM is 3x3 (dim -> 2 dim), GELU, 1x1 (2 dim -> dim).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from registry import ChallengeEntry, register
from registry.base import ModelCard, Paper, WeightFile


class GRN(nn.Module):
    """Global response normalisation over the spatial dims (eps 1e-6 as in the authors' code)."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, dim, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, dim, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gx = torch.linalg.vector_norm(x, ord=2, dim=(2, 3), keepdim=True)
        nx = gx / (gx.mean(dim=1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class SAFM(nn.Module):
    """Spatially-adaptive feature modulation with ``levels`` pyramid levels."""

    def __init__(self, dim: int, levels: int = 4):
        super().__init__()
        self.levels = levels
        c = dim // levels
        self.mfr = nn.ModuleList(nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False) for _ in range(levels))
        self.aggr = nn.Conv2d(dim, dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        parts = x.chunk(self.levels, dim=1)
        outs = [self.mfr[0](parts[0])]
        for i in range(1, self.levels):
            s = F.adaptive_max_pool2d(parts[i], (h // 2 ** (i + 1), w // 2 ** (i + 1)))
            s = self.mfr[i](s)
            outs.append(F.interpolate(s, size=(h, w), mode="nearest"))
        return F.gelu(self.aggr(torch.cat(outs, 1))) * x


class CCM(nn.Module):
    """Convolutional channel mixer: 3x3 expand, GELU, 1x1 project (no biases)."""

    def __init__(self, dim: int, growth: float = 2.0):
        super().__init__()
        hidden = int(dim * growth)
        self.ccm = nn.Sequential(nn.Conv2d(dim, hidden, 3, padding=1, bias=False), nn.GELU(),
                                 nn.Conv2d(hidden, dim, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ccm(x)


class FMM(nn.Module):
    """Feature mixing module: residual SAFM then residual CCM (``AttBlock`` in the authors' code)."""

    def __init__(self, dim: int, growth: float = 2.0):
        super().__init__()
        self.safm = SAFM(dim)
        self.ccm = CCM(dim, growth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.safm(x)
        return x + self.ccm(x)


class SAFMNNtire23(nn.Module):
    def __init__(self, dim: int = 36, n_blocks: int = 8, growth: float = 2.0, scale: int = 4):
        super().__init__()
        self.scale = scale
        self.norm = GRN(dim)
        self.to_feat = nn.Conv2d(3, dim, 3, padding=1)
        self.feats = nn.Sequential(*[FMM(dim, growth) for _ in range(n_blocks)])
        self.to_img = nn.Sequential(nn.Conv2d(dim, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        f = self.feats(self.norm(self.to_feat(x)))
        return self.to_img(f) + base


_REPO = "sunny2109/SAFMN"
_COMMIT = "68c2182e4f8829a979886b0a1cab8f269f91b321"
_PATH = "NTIRE2023_ESR/model_zoo/team15_SAFMN.pth"

SAFMN_NTIRE23 = register(ModelCard(
    name="SAFMN-ntire23",
    challenge=ChallengeEntry("NTIRE 2023 ESR", 2023, 15, "team 15", "SAFMN", "NTIRE 2023 ESR challenge report"),
    family="SAFMN",
    kind="cnn",
    paper=Paper(
        title="Spatially-Adaptive Feature Modulation for Efficient Image Super-Resolution",
        venue="ICCV 2023",
        year=2023,
        url="https://arxiv.org/abs/2302.13800",
    ),
    scales=(4,),
    build=lambda scale: SAFMNNtire23(dim=36, n_blocks=8, growth=2.0, scale=scale),
    weights=(
        WeightFile(
            file="SAFMN-ntire23_x4.pth",
            sha256="93fe3d7175ef1446cfcb3a884ddf8bbb4391f31190e9d1bf6c6c1cb768f8b565",
            scales=(4,),
            url=f"https://raw.githubusercontent.com/{_REPO}/{_COMMIT}/{_PATH}",
            license="repository Apache-2.0; NTIRE2023_ESR/ subfolder MIT (NTIRE 2023 organisers)",
            input_range=1.0,
            state_key="params",
            source=f"{_REPO}@{_COMMIT}:{_PATH}",
            notes="BasicSR file, weights under 'params'; 237,000 parameters",
        ),
    ),
    published=(),
    notes=(
        "The authors' NTIRE 2023 ESR challenge checkpoint (team 15), not the ICCV paper checkpoint: GRN "
        "instead of LayerNorm after to_feat, bilinear (not bicubic) image residual, 237,000 parameters "
        "against the paper's 240K; the paper's x4 table therefore does not apply, and no Y-channel numbers "
        "were published for this file (the challenge reports RGB PSNR on DIV2K/LSDIR, which srbench does "
        "not hold). Loaded exactly as the challenge's test_demo.py did: ['params'], strict=True, input "
        "RGB in [0, 1] (data_range 1.0). SAFM pools to h // 16 at its last level, so inputs must be at "
        "least 16 x 16 pixels."
    ),
    config={"dim": 36, "n_blocks": 8, "ffn_scale": 2.0, "safm_levels": 4, "norm": "GRN",
            "image_residual": "bilinear", "params": 237000},
))
