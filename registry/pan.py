"""PAN: Efficient Image Super-Resolution Using Pixel Attention (Zhao et al., ECCV Workshops 2020).

16 SCPA blocks (self-calibrated convolution with pixel attention) of 40 channels, then an
upsampling path of nearest interpolation + conv + pixel attention + conv (once for x2/x3, twice for
x4) with 24 channels, and a global skip: the LR image upsampled bilinearly is added to the output.
Written from the forward pass of ``zhaohengyuan1/PAN`` (``codes/models/archs/PAN_arch.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from registry import register
from registry.base import ModelCard, Paper, Published, WeightFile


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class PA(nn.Module):
    """Pixel attention: x * sigmoid(conv1x1(x))."""

    def __init__(self, nf: int):
        super().__init__()
        self.conv = nn.Conv2d(nf, nf, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv(x))


class PAConv(nn.Module):
    """k4(k3(x) * sigmoid(k2(x))): 3x3 convs without bias, 1x1 attention with bias."""

    def __init__(self, nf: int):
        super().__init__()
        self.k2 = nn.Conv2d(nf, nf, 1)
        self.k3 = nn.Conv2d(nf, nf, 3, padding=1, bias=False)
        self.k4 = nn.Conv2d(nf, nf, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.k4(self.k3(x) * torch.sigmoid(self.k2(x)))


class SCPA(nn.Module):
    """Two half-width branches (plain 3x3 / PAConv), concatenated, 1x1 back, residual."""

    def __init__(self, nf: int):
        super().__init__()
        gw = nf // 2
        self.conv1_a = nn.Conv2d(nf, gw, 1, bias=False)
        self.conv1_b = nn.Conv2d(nf, gw, 1, bias=False)
        self.k1 = nn.Sequential(nn.Conv2d(gw, gw, 3, padding=1, bias=False))
        self.PAConv = PAConv(gw)
        self.conv3 = nn.Conv2d(2 * gw, nf, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = _lrelu(self.k1(_lrelu(self.conv1_a(x))))
        b = _lrelu(self.PAConv(_lrelu(self.conv1_b(x))))
        return self.conv3(torch.cat([a, b], 1)) + x


class PAN(nn.Module):
    def __init__(self, scale: int = 4, nf: int = 40, unf: int = 24, nb: int = 16, in_nc: int = 3,
                 out_nc: int = 3):
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"PAN supports x2, x3, x4, not x{scale}")
        self.scale = scale
        self.conv_first = nn.Conv2d(in_nc, nf, 3, 1, 1)
        self.SCPA_trunk = nn.Sequential(*[SCPA(nf) for _ in range(nb)])
        self.trunk_conv = nn.Conv2d(nf, nf, 3, 1, 1)
        self.upconv1 = nn.Conv2d(nf, unf, 3, 1, 1)
        self.att1 = PA(unf)
        self.HRconv1 = nn.Conv2d(unf, unf, 3, 1, 1)
        if scale == 4:
            self.upconv2 = nn.Conv2d(unf, unf, 3, 1, 1)
            self.att2 = PA(unf)
            self.HRconv2 = nn.Conv2d(unf, unf, 3, 1, 1)
        self.conv_last = nn.Conv2d(unf, out_nc, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fea = self.conv_first(x)
        fea = fea + self.trunk_conv(self.SCPA_trunk(fea))
        first = 2 if self.scale == 4 else self.scale
        fea = self.upconv1(F.interpolate(fea, scale_factor=first, mode="nearest"))
        fea = _lrelu(self.HRconv1(_lrelu(self.att1(fea))))
        if self.scale == 4:
            fea = self.upconv2(F.interpolate(fea, scale_factor=2, mode="nearest"))
            fea = _lrelu(self.HRconv2(_lrelu(self.att2(fea))))
        out = self.conv_last(fea)
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)


_REPO = "zhaohengyuan1/PAN"
_COMMIT = "4d045d18592c5771cd3990da88f292812774e538"
_SHA = {
    2: "fcf8ed48656abbaae46309ee91745684b80235a9c8b37a2d8fb0715a3ad3f00f",
    3: "86491751d73645a8816a0d6ec62ccde6b22ce5da930e36b3b87f5437167fbc89",
    4: "739fab99ee7b7058dab4d1b84aa2869bb9fc3995a1c08789c20355bee943833c",
}


def _wf(scale: int) -> WeightFile:
    path = f"experiments/pretrained_models/PANx{scale}_DF2K.pth"
    return WeightFile(
        file=f"PAN_x{scale}.pth",
        sha256=_SHA[scale],
        scales=(scale,),
        url=f"https://raw.githubusercontent.com/{_REPO}/{_COMMIT}/{path}",
        license="none (no LICENSE file in repo)",
        input_range=1.0,
        source=f"{_REPO}@{_COMMIT}:{path}",
        notes="trained on DF2K",
    )


_TABLE = ("sunny2109/SAFMN figs/efficient_sr.png (SAFMN ICCV2023 efficient-SR table, image; "
          "read visually)")
_LOGS = {
    2: "zhaohengyuan1/PAN results/PANx2_DF2K/test_PANx2_DF2Ktrain_200912-232704.log",
    3: "zhaohengyuan1/PAN results/PANx3_DF2K/test_PANx3_DF2Ktrain_200912-232635.log",
    4: "zhaohengyuan1/PAN results/PANx4_DF2K/test_PANx4_DF2Ktrain_200912-232209.log",
}

# (scale, dataset): (table psnr, table ssim, log psnr, log ssim), from PUBLISHED.tsv.
_ROWS = {
    (2, "Set5"): (38.00, 0.9605, 38.000670, 0.960488),
    (2, "Set14"): (33.59, 0.9181, 33.592740, 0.918051),
    (2, "B100"): (32.18, 0.8997, 32.181226, 0.899731),
    (2, "Urban100"): (32.01, 0.9273, 32.014669, 0.927327),
    (2, "Manga109"): (38.70, 0.9773, 38.700628, 0.977292),
    (3, "Set5"): (34.40, 0.9271, 34.400281, 0.927170),
    (3, "Set14"): (30.36, 0.8423, 30.355270, 0.842204),
    (3, "B100"): (29.11, 0.8050, 29.104549, 0.804906),
    (3, "Urban100"): (28.11, 0.8511, 28.106838, 0.851039),
    (3, "Manga109"): (33.61, 0.9448, 33.583278, 0.944755),
    (4, "Set5"): (32.13, 0.8948, 32.131149, 0.894811),
    (4, "Set14"): (28.61, 0.7822, 28.610749, 0.782151),
    (4, "B100"): (27.59, 0.7363, 27.591421, 0.736271),
    (4, "Urban100"): (26.11, 0.7854, 26.106035, 0.785436),
    (4, "Manga109"): (30.51, 0.9095, 30.514452, 0.909515),
}


def _published() -> tuple[Published, ...]:
    out = []
    for (scale, ds), (tp, ts, lp, ls) in _ROWS.items():
        out.append(Published(dataset=ds, scale=scale, psnr=tp, ssim=ts, source=_TABLE,
                             notes="paper table (as reproduced in SAFMN's efficient-SR table)"))
        out.append(Published(dataset=ds, scale=scale, psnr=lp, ssim=ls,
                             source=f"{_LOGS[scale]} (Y-channel lines; staged PANx{scale}_DF2K.pth)",
                             notes="the authors' own test log for this checkpoint"))
    return tuple(out)


register(ModelCard(
    name="PAN",
    family="PAN",
    kind="cnn",
    paper=Paper(
        title="Efficient Image Super-Resolution Using Pixel Attention",
        venue="ECCV Workshops (AIM)",
        year=2020,
        url="https://arxiv.org/abs/2010.01073",
    ),
    scales=(2, 3, 4),
    build=lambda scale: PAN(scale=scale),
    weights=tuple(_wf(s) for s in (2, 3, 4)),
    published=_published(),
    colour="rgb",
    notes=("Official DF2K checkpoints. Two published sources are kept per row: the paper table (two "
           "decimals, as reproduced in SAFMN's table) and the authors' own test logs for these exact "
           "files (full precision). They agree except x3 Manga109 (table 33.61, log 33.583). The x2 "
           "and x3 nets share tensor shapes (one nearest-interpolation upsampling stage); x4 has two. "
           "The repository has no LICENSE file."),
    config={"nf": 40, "unf": 24, "nb": 16, "block": "SCPA", "upsampler": "nearest+conv+PA"},
))
