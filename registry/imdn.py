"""IMDN (ACM MM 2019) and its two NTIRE 2022 descendants: the simplified IMDN baseline and IMDN+.

- ``IMDN``: the paper network (6 IMDBs with contrast-aware channel attention, 64 channels), official
  x2/x3/x4 checkpoints from Zheng222/IMDN (saved from DataParallel: keys prefixed ``module.``).
- ``IMDN-ntire22``: the NTIRE 2022 ESR baseline, the "simplified IMDN" of the AIM 2019 constrained-SR
  winner: 8 IMDB-style blocks without CCA or inner activations on the last two convs, one long skip.
- ``IMDN+``: NTIRE 2022 ESR team "rainbow" (the IMDN authors): 36 channels, 8 IMDB+ blocks with
  six progressive 1/6 distillation steps and SiLU; the checkpoint is the deployed (re-parameterised) net.

Forward passes follow Zheng222/IMDN ``model/architecture.py`` + ``model/block.py`` and
ofsoundof/NTIRE2022_ESR ``models/imdn_baseline.py`` / ``models/team39_imdn_plus.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from registry import ChallengeEntry, ModelCard, Paper, Published, WeightFile, register
from registry.ops.blocks import CCALayer, DistillationTrunk, ShortcutBlock, conv_layer, lrelu, pixelshuffle_block

# --------------------------------------------------------------------------------------------------
# IMDN (paper)


class IMDB(nn.Module):
    """Information multi-distillation block: 3 distillation steps (1/4 kept), CCA, 1x1 fusion, skip."""

    def __init__(self, channels: int = 64, distill_rate: float = 0.25):
        super().__init__()
        self.dc = int(channels * distill_rate)
        self.rc = channels - self.dc
        self.c1 = conv_layer(channels, channels, 3)
        self.c2 = conv_layer(self.rc, channels, 3)
        self.c3 = conv_layer(self.rc, channels, 3)
        self.c4 = conv_layer(self.rc, self.dc, 3)
        self.c5 = conv_layer(self.dc * 4, channels, 1)
        self.cca = CCALayer(self.dc * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1, r = torch.split(lrelu(self.c1(x)), (self.dc, self.rc), dim=1)
        d2, r = torch.split(lrelu(self.c2(r)), (self.dc, self.rc), dim=1)
        d3, r = torch.split(lrelu(self.c3(r)), (self.dc, self.rc), dim=1)
        d4 = self.c4(r)
        return self.c5(self.cca(torch.cat([d1, d2, d3, d4], dim=1))) + x


class IMDN(DistillationTrunk):
    """IMDN: conv -> 6 IMDBs -> concat -> 1x1 + LeakyReLU -> 3x3 + long skip -> pixel shuffle."""

    def __init__(self, upscale: int = 4, in_nc: int = 3, nf: int = 64, num_modules: int = 6, out_nc: int = 3):
        super().__init__(IMDB, "IMDB", upscale, in_nc, nf, num_modules, out_nc)


# --------------------------------------------------------------------------------------------------
# IMDN-ntire22: the simplified IMDN (AIM 2019 / NTIRE 2022 ESR baseline), KAIR key layout


class _ConvLReLU(nn.Sequential):
    """KAIR ``conv(..., mode='CL')``: Conv2d then LeakyReLU(0.05); keys ``0.weight``/``0.bias``."""

    def __init__(self, cin: int, cout: int):
        super().__init__(conv_layer(cin, cout, 3), nn.LeakyReLU(0.05))


class SimplifiedIMDB(nn.Module):
    """KAIR ``IMDBlock``: 3 distillation steps, no CCA, no activation after conv4 and the 1x1 fusion."""

    def __init__(self, channels: int = 64, distill_rate: float = 0.25):
        super().__init__()
        self.dc = int(channels * distill_rate)
        self.rc = channels - self.dc
        self.conv1 = _ConvLReLU(channels, channels)
        self.conv2 = _ConvLReLU(self.rc, channels)
        self.conv3 = _ConvLReLU(self.rc, channels)
        self.conv4 = conv_layer(self.rc, self.dc, 3)
        self.conv1x1 = conv_layer(self.dc * 4, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1, r = torch.split(self.conv1(x), (self.dc, self.rc), dim=1)
        d2, r = torch.split(self.conv2(r), (self.dc, self.rc), dim=1)
        d3, r = torch.split(self.conv3(r), (self.dc, self.rc), dim=1)
        return x + self.conv1x1(torch.cat([d1, d2, d3, self.conv4(r)], dim=1))


class IMDNSimplified(nn.Module):
    """model = [head conv, x + (8 blocks -> conv), up conv, PixelShuffle] (keys ``model.N``)."""

    def __init__(self, upscale: int = 4, in_nc: int = 3, nc: int = 64, nb: int = 8, out_nc: int = 3):
        super().__init__()
        body = [SimplifiedIMDB(nc) for _ in range(nb)] + [conv_layer(nc, nc, 3)]
        self.model = nn.Sequential(
            conv_layer(in_nc, nc, 3),
            ShortcutBlock(nn.Sequential(*body)),
            conv_layer(nc, out_nc * upscale ** 2, 3),
            nn.PixelShuffle(upscale),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


# --------------------------------------------------------------------------------------------------
# IMDN+ (NTIRE 2022 ESR, team rainbow)


class IMDBPlus(nn.Module):
    """Six progressive distillation steps of 1/6 of the channels (36 -> 30 -> 24 -> ... -> 6), SiLU."""

    def __init__(self, channels: int = 36, distill_rate: float = 1 / 6):
        super().__init__()
        d = self.dc = int(channels * distill_rate)
        self.c1 = conv_layer(channels, channels, 3)
        self.c2 = conv_layer(d * 5, d * 5, 3)
        self.c3 = conv_layer(d * 4, d * 4, 3)
        self.c4 = conv_layer(d * 3, d * 3, 3)
        self.c5 = conv_layer(d * 2, d * 2, 3)
        self.c6 = conv_layer(d, d, 3)
        self.c7 = conv_layer(d * 6, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.dc
        kept = []
        r = x
        for conv, rest in ((self.c1, 5), (self.c2, 4), (self.c3, 3), (self.c4, 2), (self.c5, 1)):
            di, r = torch.split(F.silu(conv(r)), (d, d * rest), dim=1)
            kept.append(di)
        kept.append(F.silu(self.c6(r)))
        return self.c7(torch.cat(kept, dim=1)) + x


class IMDNPlus(nn.Module):
    """FEM = [conv, x + (8 IMDB+ -> conv)]; RM = [conv, PixelShuffle]."""

    def __init__(self, upscale: int = 4, in_nc: int = 3, nf: int = 36, nb: int = 8, out_nc: int = 3):
        super().__init__()
        body = [IMDBPlus(nf) for _ in range(nb)] + [conv_layer(nf, nf, 3)]
        self.FEM = nn.Sequential(conv_layer(in_nc, nf, 3), ShortcutBlock(nn.Sequential(*body)))
        self.RM = pixelshuffle_block(nf, out_nc, upscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.RM(self.FEM(x))


# --------------------------------------------------------------------------------------------------
# Cards


def _rows(source: str, scale: int, rows, metric: str = "y", notes: str = "") -> tuple[Published, ...]:
    return tuple(Published(dataset=d, scale=scale, psnr=p, ssim=s, source=source, metric=metric,
                           gray="rgb", notes=notes) for d, p, s in rows)


_IMDN_PAPER = Paper(
    title="Lightweight Image Super-Resolution with Information Multi-distillation Network",
    venue="ACM MM", year=2019, url="https://arxiv.org/abs/1909.11856")
_NTIRE22 = Paper(
    title="NTIRE 2022 Challenge on Efficient Super-Resolution: Methods and Results",
    venue="CVPR Workshops", year=2022, url="https://arxiv.org/abs/2205.05675")

_IMDN_REPO = "https://raw.githubusercontent.com/Zheng222/IMDN/8f158e6a5ac9db6e5857d9159fd4a6c4214da574"
_NTIRE22_REPO = ("https://raw.githubusercontent.com/ofsoundof/NTIRE2022_ESR/"
                 "e95ba4a4916bb13d6348f7ee172827e2452e8a31")
_NO_LICENSE = "none (no LICENSE file in repo)"

_SRC_X2 = ("Zheng222/IMDN images/psnr_ssim.png (IMDN ACM MM2019 x2 table, image); same in sunny2109/SAFMN "
           "figs/efficient_sr.png (SAFMN ICCV2023 efficient-SR table, image; read visually) and "
           "Francis0625/Omni-SR result.tex (Omni-SR CVPR2023 lightweight-SR table, LaTeX text)")
_SRC_X34 = ("sunny2109/SAFMN figs/efficient_sr.png (SAFMN ICCV2023 efficient-SR table, image; read "
            "visually); same in Francis0625/Omni-SR result.tex (Omni-SR CVPR2023 lightweight-SR table, "
            "LaTeX text)")
_NTIRE22_FIG = "ofsoundof/NTIRE2022_ESR figs/results.png"
_NTIRE_METRIC = "ntire_rgb"

IMDN_CARD = register(ModelCard(
    name="IMDN",
    family="IMDN",
    kind="cnn",
    paper=_IMDN_PAPER,
    scales=(2, 3, 4),
    build=lambda scale: IMDN(upscale=scale),
    weights=tuple(
        WeightFile(file=f"IMDN_x{s}.pth", sha256=sha, scales=(s,),
                   url=f"{_IMDN_REPO}/checkpoints/IMDN_x{s}.pth",
                   license=_NO_LICENSE, input_range=1.0, strip_prefix="module.",
                   source=f"Zheng222/IMDN@8f158e6a5ac9:checkpoints/IMDN_x{s}.pth")
        for s, sha in (
            (2, "740b39653592bd3f49955a21cd9e16f2d37f2c413368cc09327601b8fbe42ce1"),
            (3, "11b1716a19bc16e5e353e1db798d476169338e631eb170c82d765559888cb028"),
            (4, "e660c38221147217a136debeb99eb304d62d9c0f73ac421ed66281b619719714"),
        )),
    published=(
        _rows(_SRC_X2, 2, [("Set5", 38.00, 0.9605), ("Set14", 33.63, 0.9177), ("B100", 32.19, 0.8996),
                           ("Urban100", 32.17, 0.9283), ("Manga109", 38.88, 0.9774)])
        + _rows(_SRC_X34, 3, [("Set5", 34.36, 0.9270), ("Set14", 30.32, 0.8417), ("B100", 29.09, 0.8046),
                              ("Urban100", 28.17, 0.8519), ("Manga109", 33.61, 0.9445)])
        + _rows(_SRC_X34, 4, [("Set5", 32.21, 0.8948), ("Set14", 28.58, 0.7811), ("B100", 27.56, 0.7353),
                              ("Urban100", 26.04, 0.7838), ("Manga109", 30.45, 0.9075)])
    ),
    notes=("Official checkpoints of the paper model (Zheng222/IMDN), input RGB in [0, 1]; saved from "
           "DataParallel, so keys carry a 'module.' prefix that is stripped on load. The repository has "
           "no LICENSE file. Not the same network as IMDN-ntire22 (simplified IMDN without CCA) or IMDN+."),
    config={"nf": 64, "blocks": 6, "distillation": "1/4, 3 steps", "attention": "CCA (r=16)",
            "activation": "LeakyReLU 0.05", "upsampler": "conv3x3 + PixelShuffle"},
))

IMDN_NTIRE22_CARD = register(ModelCard(
    name="IMDN-ntire22",
    challenge=ChallengeEntry("NTIRE 2022 ESR", 2022, None, "organizers (baseline)", "IMDN (baseline)",
                             "NTIRE 2022 ESR challenge report (organizers' repository ofsoundof/NTIRE2022_ESR)"),
    family="IMDN",
    kind="cnn",
    paper=_IMDN_PAPER,
    scales=(4,),
    build=lambda scale: IMDNSimplified(upscale=scale),
    weights=(
        WeightFile(file="IMDN-ntire22_x4.pth",
                   sha256="115b4cc557eba9daaf1a6543c4858014c7e2a410655aafef7c8348ae54acc203",
                   scales=(4,), url=f"{_NTIRE22_REPO}/model_zoo/imdn_baseline.pth",
                   license="MIT (NTIRE 2022 ESR organizers)", input_range=1.0,
                   source="ofsoundof/NTIRE2022_ESR@e95ba4a4916b:model_zoo/imdn_baseline.pth"),
    ),
    published=(
        _rows(f'{_NTIRE22_FIG} ("IMDN_baseline" row)', 4, [("DIV2K_valid (NTIRE2022)", 29.13, None)],
              metric=_NTIRE_METRIC,
              notes="DIV2K test 28.78; 50.86 ms; 0.894M; 58.53G; 154.14M acts; 471.76MB")
        + _rows(_NTIRE22_FIG, 4, [("DIV2K_test (NTIRE2022)", 28.78, None)], metric=_NTIRE_METRIC)
    ),
    notes=("The NTIRE 2022 Efficient SR challenge baseline: the 'simplified IMDN' that won AIM 2019 "
           "constrained SR (8 blocks, 64 channels, no CCA, no per-block concat/1x1 fusion, one long skip; "
           "0.894M params), not the ACM MM paper network. Input RGB in [0, 1] (NTIRE 2022 data_range=1.0). "
           "Its published numbers are NTIRE RGB PSNR on DIV2K (border 4), not comparable with Y-channel "
           "tables. Byte-identical to icandle/EFDN model_zoo/imdn_x4.pth."),
    config={"nc": 64, "blocks": 8, "distillation": "1/4, 3 steps", "attention": None,
            "activation": "LeakyReLU 0.05", "upsampler": "conv3x3 + PixelShuffle"},
))

IMDN_PLUS_CARD = register(ModelCard(
    name="IMDN+",
    challenge=ChallengeEntry("NTIRE 2022 ESR", 2022, None, "rainbow", "IMDN+",
                             "NTIRE 2022 ESR challenge report (organizers' repository ofsoundof/NTIRE2022_ESR)"),
    family="IMDN",
    kind="cnn",
    paper=_NTIRE22,
    scales=(4,),
    build=lambda scale: IMDNPlus(upscale=scale),
    weights=(
        WeightFile(file="IMDN-plus_x4.pth",
                   sha256="0051dcbeb82684fef3981eff81df86bb167b8f9602323fa37f82f8c5566ff5a9",
                   scales=(4,), url=f"{_NTIRE22_REPO}/model_zoo/team39_imdn_plus.pth",
                   license="MIT (NTIRE 2022 ESR organizers)", input_range=1.0,
                   source="ofsoundof/NTIRE2022_ESR@e95ba4a4916b:model_zoo/team39_imdn_plus.pth"),
    ),
    published=(
        _rows("Zheng222/IMDN README.md (IMDN+ table)", 4,
              [("Set5", 32.11, 0.8934), ("Set14", 28.63, 0.7823), ("B100", 27.58, 0.7358),
               ("Urban100", 26.10, 0.7846), ("Manga109", 30.55, 0.9072)],
              notes="275,844 params; 17.98 GFLOPs @256x256 (README)")
        + _rows(f'{_NTIRE22_FIG} ("rainbow" row)', 4, [("DIV2K_valid (NTIRE2022)", 29.01, None)],
                metric=_NTIRE_METRIC, notes="DIV2K test 28.74; 34.10 ms; 0.276M; 17.98G")
        + _rows(_NTIRE22_FIG, 4, [("DIV2K_test (NTIRE2022)", 28.74, None)], metric=_NTIRE_METRIC)
    ),
    notes=("NTIRE 2022 Efficient SR entry of team 'rainbow' (the IMDN authors), described in the challenge "
           "report; no separate paper. The checkpoint is the deployed (re-parameterised) network: 36 "
           "channels, 8 IMDB+ blocks (six 1/6 distillation steps, SiLU), 275,844 params. Input RGB in "
           "[0, 1]. The Y-channel rows come from the IMDN README; the DIV2K rows are NTIRE RGB PSNR "
           "(not comparable)."),
    config={"nf": 36, "blocks": 8, "distillation": "1/6, 6 progressive steps", "activation": "SiLU",
            "upsampler": "conv3x3 + PixelShuffle"},
))
