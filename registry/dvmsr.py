"""DVMSR: Distillated Vision Mamba for Efficient Super-Resolution (Lei, Zhang, Cao; CVPRW 2024).

conv3x3 (3 -> 60) -> LayerNorm'd tokens -> 4 residual state-space blocks (RSSB) -> LayerNorm ->
conv3x3 + global skip -> conv3x3 (60 -> 3*16) + PixelShuffle(4).  An RSSB is 2 vision-Mamba
modules (ViMM: LayerNorm then a Mamba mixer over the H*W raster sequence) -> conv3x3, plus the
block's input.

Wiring facts from the authors' code (nathan66666/DVMSR ``models/team07_VimSR.py``, read, not copied):
- the ViMMs inside an RSSB have no residual of their own: the Vim-style ``Block`` is called with the
  image size in the ``residual`` slot, so each returns ``mixer(norm(x))`` and the RSSB keeps only that;
- LayerNorm eps 1e-5 everywhere; mean (0.4488, 0.4371, 0.4040) subtracted on input, added on output;
- the Mamba mixers are mamba_ssm 1.1.1 defaults (d_state 16, d_conv 4, expand 2, dt_rank 4).
"""

from __future__ import annotations

import torch
from torch import nn

from registry import ChallengeEntry, Paper, Published, WeightFile, register
from registry.base import ModelCard
from registry.ops.mamba import Mamba

__all__ = ["DVMSR"]

_RGB_MEAN = (0.4488, 0.4371, 0.4040)


class _ViMM(nn.Module):
    """LayerNorm -> Mamba (no residual, as in the authors' code)."""

    def __init__(self, dim: int, d_state: int, eps: float):
        super().__init__()
        self.mixer = Mamba(dim, d_state=d_state)
        self.norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mixer(self.norm(x))


class _Blocks(nn.Module):
    def __init__(self, dim: int, depth: int, d_state: int, eps: float):
        super().__init__()
        self.blocks = nn.ModuleList(_ViMM(dim, d_state, eps) for _ in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return x


class _RSSB(nn.Module):
    """Residual state-space block on (b, H*W, C) tokens: tokens + conv3x3(ViMMs(tokens))."""

    def __init__(self, dim: int, depth: int, d_state: int, eps: float):
        super().__init__()
        self.residual_group = _Blocks(dim, depth, d_state, eps)
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1)

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        y = self.residual_group(x).transpose(1, 2).unflatten(2, hw)  # a channels-last view: no copy
        return self.conv(y).flatten(2).transpose(1, 2) + x  # channels-last conv out: a view again


class _PatchNorm(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.flatten(2).transpose(1, 2))


class DVMSR(nn.Module):
    def __init__(self, upscale: int = 4, embed_dim: int = 60, depths=(2, 2, 2, 2), d_state: int = 16,
                 in_ch: int = 3, norm_eps: float = 1e-5):
        super().__init__()
        self.upscale = upscale
        self.register_buffer("mean", torch.tensor(_RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        self.conv_first = nn.Conv2d(in_ch, embed_dim, 3, 1, 1)
        self.patch_embed = _PatchNorm(embed_dim)
        self.layers = nn.ModuleList(_RSSB(embed_dim, d, d_state, norm_eps) for d in depths)
        self.norm_f = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.conv_after_body = nn.Conv2d(embed_dim, embed_dim, 3, 1, 1)
        self.upsample = nn.Sequential(nn.Conv2d(embed_dim, upscale * upscale * in_ch, 3, 1, 1),
                                      nn.PixelShuffle(upscale))
        # Channels-last conv weights: with channels-last inputs the convolutions then run channels-last
        # and return channels-last maps (a contiguous weight makes torch copy the input to contiguous).
        # Loading a state dict keeps this layout (copy_ into the parameters).
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Channels-last feature maps are the (b, H*W, C) token layout seen as (b, C, H, W): the
        # tokens <-> image changes are views, not copies (the same values as the contiguous layout).
        x = (x - self.mean).contiguous(memory_format=torch.channels_last)
        feat = self.conv_first(x)
        hw = (feat.shape[2], feat.shape[3])
        t = self.patch_embed(feat)
        for layer in self.layers:
            t = layer(t, hw)
        t = self.norm_f(t)
        deep = t.transpose(1, 2).unflatten(2, hw)
        out = self.conv_after_body(deep) + feat
        return (self.upsample(out) + self.mean).contiguous()


_PAPER = Paper(title="DVMSR: Distillated Vision Mamba for Efficient Super-Resolution",
               venue="CVPR Workshops (NTIRE)", year=2024, url="https://arxiv.org/abs/2405.03008")
_REPO = "https://raw.githubusercontent.com/nathan66666/DVMSR/86663ce906aab91c31ee5bf69bebc1ad61537405"
_SRC = "nathan66666/DVMSR@86663ce906aab91c31ee5bf69bebc1ad61537405"
_LICENSE = "MIT (Copyright 2024 BinRen; NTIRE template)"
_NTIRE = "bicubic x4, NTIRE ESR protocol: RGB PSNR on uint8, border=4 (test_demo.py util.calculate_psnr)"


def _ntire(dataset: str, psnr: float, source: str, notes: str = "") -> Published:
    return Published(dataset=dataset, scale=4, psnr=psnr, ssim=None, source=source, metric="ntire_rgb",
                     notes=notes)


DVMSR_CARD = register(ModelCard(
    name="DVMSR",
    challenge=ChallengeEntry("NTIRE 2024 ESR", 2024, 7, "team 07", "DVMSR",
                             "NTIRE 2024 ESR challenge report (organizers' repository Amazingren/NTIRE2024_ESR)"),
    family="DVMSR",
    kind="mamba",
    paper=_PAPER,
    scales=(4,),
    build=lambda scale: DVMSR(upscale=scale),
    weights=(
        WeightFile(file="DVMSR_x4.pth",
                   sha256="37ff9ece556b84e2aa63533d0d1a0ee27ab63cc6a46d4df8f6bfa16e325d34fe",
                   scales=(4,), url=f"{_REPO}/model_zoo/team07_DVMSR.pth", license=_LICENSE,
                   input_range=1.0, source=f"{_SRC}:model_zoo/team07_DVMSR.pth",
                   notes=("NTIRE 2024 ESR submission (team07), raw state_dict; the file the repository's "
                          "README and test_demo.py use; byte-identical to Amazingren/NTIRE2024_ESR "
                          "model_zoo/team07_DVMSR.pth")),
        WeightFile(file="DVMSR-zoo_x4.pth",
                   sha256="b9993f169da81ee63c4b5d4fc770c2f05a4af1e9481aa18a16577fe78fb6f174",
                   scales=(4,), url=f"{_REPO}/model_zoo/DVMSR.pth", license=_LICENSE, input_range=1.0,
                   variant="DVMSR-zoo", state_key="params_ema", source=f"{_SRC}:model_zoo/DVMSR.pth",
                   notes=("model_zoo/DVMSR.pth, a BasicSR training checkpoint {params, params_ema} added "
                          "2024-05-06 (after NTIRE); same architecture, different weights from team07 "
                          "(max abs difference ~12); srbench loads params_ema. Which checkpoint the paper's "
                          "tables come from is not stated.")),
    ),
    published=(
        _ntire("DIV2K_LSDIR_valid (200 imgs)", 26.930261,
               "nathan66666/DVMSR results.json (\"07_DVMSR_baseline\".valid_ave_psnr) / results.txt / "
               "NTIRE2024-EfficientSR.log",
               "weights = team07_DVMSR.pth (DVMSR_x4.pth; test_demo model_id 7, data_range 1.0); valid "
               "runtime 38.97 ms (authors' own run 2024-03-22, GPU unspecified), params 0.4244M, FLOPs "
               "20.17G (fvcore, 256x256), acts 26.74M, max mem 1095.48MB, #conv 7"),
        _ntire("LSDIR_valid (first 100: 0000001-0000100)", 24.901213,
               "computed: mean of valid_psnr[0:100] in nathan66666/DVMSR results.json"),
        _ntire("DIV2K_valid (0801-0900)", 28.959310,
               "computed: mean of valid_psnr[100:200] in nathan66666/DVMSR results.json"),
    ),
    notes=("The NTIRE 2024 ESR model (60 channels, 4 RSSBs x 2 ViMMs, Mamba d_state 16, expand 2; "
           "424,428 params). Both checkpoints load strictly into the same network. The published numbers "
           "are the NTIRE RGB-PSNR rows of the default (team07) checkpoint on DIV2K/LSDIR, not Y-channel "
           "Set5/Set14/B100/Urban100 numbers, so srbench's Y-channel results have no published row to "
           "compare with. The Mamba mixers run on srbench's selective scan: its fused C++ kernel on the CPU "
           "(pure PyTorch where that cannot be built), mamba_ssm's CUDA kernel when installed "
           "(SRBENCH_SCAN=torch|cpp|cuda overrides). The paper's FLOPs "
           "(20.17 G, fvcore) count only in_proj among the Mamba mixers' operations."),
    config={"embed_dim": 60, "depths": [2, 2, 2, 2], "d_state": 16, "d_conv": 4, "expand": 2, "dt_rank": 4,
            "d_inner": 120, "norm": "LayerNorm eps 1e-5", "scan": "raster (H*W), one direction",
            "upsampler": "conv3x3 (60->48) + PixelShuffle x4", "rgb_mean": list(_RGB_MEAN)},
))
