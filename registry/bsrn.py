"""BSRN and BSRN-S: Blueprint Separable Residual Network (Li et al., CVPRW 2022).

Two code bases share the family:

* BSRN (x2, x3, x4): the paper model in ``xiaom233/BSRN`` (``BSRN_arch.py``): 8 ESDB blocks of 64
  channels, blueprint-separable convolutions (1x1 point-wise *without* bias, then 3x3 depth-wise with
  bias), ESA + CCA attention, a one-step pixel-shuffle upsampler.
* BSRN-S (x4): the NTIRE 2022 ESR winner (``rfdnfinalB5_arch.py`` there, ``team18_bsrn.py`` in the
  challenge repository): 5 blocks of 48 channels where every 1x1 convolution is an ``nn.Linear``
  applied channels-last (hence the 2-D weights and point-wise biases in its checkpoints), a learned
  per-channel scale ``cw`` and a ``conv_out`` projection replace CCA.

Both nets see the LR image replicated four times along channels (12 input channels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from registry import register
from registry.base import ModelCard, Paper, Published, WeightFile

# --------------------------------------------------------------------------------------------------
# Shared pieces


def _chlast(linear: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """Apply an ``nn.Linear`` over the channel axis of an NCHW tensor, as the BSRN-S code does."""
    return linear(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class _PixelShuffleDirect(nn.Module):
    """3x3 conv to ``3 * scale**2`` channels, then pixel shuffle (keys ``upsampleOneStep.0``)."""

    def __init__(self, scale: int, num_feat: int, num_out_ch: int = 3):
        super().__init__()
        self.upsampleOneStep = nn.Sequential(
            nn.Conv2d(num_feat, num_out_ch * scale * scale, 3, 1, 1),
            nn.PixelShuffle(scale),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upsampleOneStep(x)


def _channel_std(x: torch.Tensor) -> torch.Tensor:
    """Per-channel standard deviation over H, W (population variance, as the authors' code)."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    return (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).pow(0.5)


# --------------------------------------------------------------------------------------------------
# BSRN (paper model)


class BSConvU(nn.Module):
    """Blueprint separable conv: 1x1 point-wise (no bias) then k x k depth-wise (with bias)."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, stride: int = 1, padding: int = 1):
        super().__init__()
        self.pw = nn.Conv2d(cin, cout, 1, bias=False)
        self.dw = nn.Conv2d(cout, cout, kernel_size, stride, padding, groups=cout, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dw(self.pw(x))


class ESA(nn.Module):
    """Enhanced spatial attention with BSConv inner convolutions (BSRN)."""

    def __init__(self, nf: int):
        super().__init__()
        f = nf // 4
        self.conv1 = nn.Conv2d(nf, f, 1)
        self.conv_f = nn.Conv2d(f, f, 1)
        self.conv_max = BSConvU(f, f, 3)
        self.conv2 = BSConvU(f, f, 3, stride=2, padding=0)
        self.conv3 = BSConvU(f, f, 3)
        self.conv3_ = BSConvU(f, f, 3)
        self.conv4 = nn.Conv2d(f, nf, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1_ = self.conv1(x)
        c1 = self.conv2(c1_)
        v = F.max_pool2d(c1, kernel_size=7, stride=3)
        v = F.gelu(self.conv_max(v))
        c3 = F.gelu(self.conv3(v))
        c3 = self.conv3_(c3)
        c3 = F.interpolate(c3, (x.shape[2], x.shape[3]), mode="bilinear", align_corners=False)
        m = torch.sigmoid(self.conv4(c3 + self.conv_f(c1_)))
        return x * m


class CCALayer(nn.Module):
    """Contrast-aware channel attention: (std + mean) -> 1x1 -> ReLU -> 1x1 -> sigmoid."""

    def __init__(self, nf: int, reduction: int = 16):
        super().__init__()
        self.conv_du = nn.Sequential(
            nn.Conv2d(nf, nf // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(nf // reduction, nf, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = _channel_std(x) + x.mean(dim=(2, 3), keepdim=True)
        return x * self.conv_du(y)


class ESDB(nn.Module):
    """Efficient separable distillation block."""

    def __init__(self, nf: int):
        super().__init__()
        dc = nf // 2
        self.c1_d = nn.Conv2d(nf, dc, 1)
        self.c1_r = BSConvU(nf, nf, 3)
        self.c2_d = nn.Conv2d(nf, dc, 1)
        self.c2_r = BSConvU(nf, nf, 3)
        self.c3_d = nn.Conv2d(nf, dc, 1)
        self.c3_r = BSConvU(nf, nf, 3)
        self.c4 = BSConvU(nf, dc, 3)
        self.c5 = nn.Conv2d(dc * 4, nf, 1)
        self.esa = ESA(nf)
        self.cca = CCALayer(nf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = F.gelu(self.c1_d(x))
        r1 = F.gelu(self.c1_r(x) + x)
        d2 = F.gelu(self.c2_d(r1))
        r2 = F.gelu(self.c2_r(r1) + r1)
        d3 = F.gelu(self.c3_d(r2))
        r3 = F.gelu(self.c3_r(r2) + r2)
        r4 = F.gelu(self.c4(r3))
        out = self.c5(torch.cat([d1, d2, d3, r4], 1))
        return self.cca(self.esa(out)) + x


class BSRN(nn.Module):
    """The BSRN paper network (num_feat 64, 8 ESDB, BSConvU, pixel-shuffle-direct upsampler)."""

    def __init__(self, scale: int = 4, num_feat: int = 64, num_block: int = 8, num_in_ch: int = 3):
        super().__init__()
        self.scale = scale
        self.num_block = num_block
        self.fea_conv = BSConvU(num_in_ch * 4, num_feat, 3)
        for i in range(1, num_block + 1):
            self.add_module(f"B{i}", ESDB(num_feat))
        self.c1 = nn.Conv2d(num_feat * num_block, num_feat, 1)
        self.c2 = BSConvU(num_feat, num_feat, 3)
        self.upsampler = _PixelShuffleDirect(scale, num_feat, num_in_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fea = self.fea_conv(torch.cat([x, x, x, x], 1))
        outs, h = [], fea
        for i in range(1, self.num_block + 1):
            h = getattr(self, f"B{i}")(h)
            outs.append(h)
        trunk = F.gelu(self.c1(torch.cat(outs, 1)))
        return self.upsampler(self.c2(trunk) + fea)


# --------------------------------------------------------------------------------------------------
# BSRN-S (NTIRE 2022 ESR winner): 1x1 convolutions are channels-last nn.Linear layers.


class BSConvULinear(nn.Module):
    """BSConv whose point-wise part is an ``nn.Linear`` (with bias) over channels."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, padding: int = 1):
        super().__init__()
        self.pw = nn.Linear(cin, cout)
        self.dw = nn.Conv2d(cout, cout, kernel_size, 1, padding, groups=cout, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dw(_chlast(self.pw, x))


class ESALinear(nn.Module):
    """ESA of BSRN-S: Linear 1x1s, a plain strided 3x3 ``conv2``, BSConv elsewhere."""

    def __init__(self, nf: int):
        super().__init__()
        f = nf // 4
        self.conv1 = nn.Linear(nf, f)
        self.conv_f = nn.Linear(f, f)
        self.conv_max = BSConvULinear(f, f, 3)
        self.conv2 = nn.Conv2d(f, f, 3, 2, 0)
        self.conv3 = BSConvULinear(f, f, 3)
        self.conv3_ = BSConvULinear(f, f, 3)
        self.conv4 = nn.Linear(f, nf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1_ = self.conv1(x.permute(0, 2, 3, 1))  # NHWC
        c1 = self.conv2(c1_.permute(0, 3, 1, 2))
        v = F.max_pool2d(c1, kernel_size=7, stride=3)
        v = F.gelu(self.conv_max(v))
        c3 = F.gelu(self.conv3(v))
        c3 = self.conv3_(c3)
        c3 = F.interpolate(c3, (x.shape[2], x.shape[3]), mode="bilinear", align_corners=False)
        c4 = self.conv4(c3.permute(0, 2, 3, 1) + self.conv_f(c1_))
        return x * torch.sigmoid(c4.permute(0, 3, 1, 2))


class RFDBS(nn.Module):
    """The BSRN-S block: distillation as ESDB, ESA, then a learned channel scale and a projection."""

    def __init__(self, nf: int):
        super().__init__()
        dc = nf // 2
        self.c1_d = nn.Linear(nf, dc)
        self.c1_r = BSConvULinear(nf, nf, 3)
        self.c2_d = nn.Linear(nf, dc)
        self.c2_r = BSConvULinear(nf, nf, 3)
        self.c3_d = nn.Linear(nf, dc)
        self.c3_r = BSConvULinear(nf, nf, 3)
        self.c4 = BSConvULinear(nf, dc, 3)
        self.c5 = nn.Linear(dc * 4, nf)
        self.esa = ESALinear(nf)
        self.cw = nn.Parameter(torch.ones(1, nf))
        self.conv_out = nn.Linear(nf, nf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = F.gelu(self.c1_d(x.permute(0, 2, 3, 1)))
        r1 = F.gelu(self.c1_r(x) + x)
        d2 = F.gelu(self.c2_d(r1.permute(0, 2, 3, 1)))
        r2 = F.gelu(self.c2_r(r1) + r1)
        d3 = F.gelu(self.c3_d(r2.permute(0, 2, 3, 1)))
        r3 = F.gelu(self.c3_r(r2) + r2)
        r4 = F.gelu(self.c4(r3))
        out = self.c5(torch.cat([d1, d2, d3, r4.permute(0, 2, 3, 1)], 3)).permute(0, 3, 1, 2)
        out = self.esa(out).permute(0, 2, 3, 1) * self.cw
        return self.conv_out(out).permute(0, 3, 1, 2) + x


class BSRNS(nn.Module):
    """BSRN-S: num_feat 48, 5 blocks, Linear point-wise convs, pixel-shuffle-direct upsampler."""

    def __init__(self, scale: int = 4, num_feat: int = 48, num_block: int = 5, num_in_ch: int = 3):
        super().__init__()
        self.scale = scale
        self.num_block = num_block
        self.fea_conv = BSConvULinear(num_in_ch * 4, num_feat, 3)
        for i in range(1, num_block + 1):
            self.add_module(f"B{i}", RFDBS(num_feat))
        self.c1 = nn.Linear(num_feat * num_block, num_feat)
        self.c2 = BSConvULinear(num_feat, num_feat, 3)
        self.upsampler = _PixelShuffleDirect(scale, num_feat, num_in_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fea = self.fea_conv(torch.cat([x, x, x, x], 1))
        outs, h = [], fea
        for i in range(1, self.num_block + 1):
            h = getattr(self, f"B{i}")(h)
            outs.append(h)
        trunk = F.gelu(_chlast(self.c1, torch.cat(outs, 1)))
        return self.upsampler(self.c2(trunk) + fea)


# --------------------------------------------------------------------------------------------------
# Cards

_BSRN_PAPER = Paper(
    title="Blueprint Separable Residual Network for Efficient Image Super-Resolution",
    venue="CVPR Workshops (NTIRE)",
    year=2022,
    url="https://arxiv.org/abs/2205.05996",
)
_REPO = "https://raw.githubusercontent.com/xiaom233/BSRN/2d63d5239c9fa9810b9c1aea93e98d42ece09efc"
_MIT_BSRN = "MIT (Copyright 2022 Hoven Li)"
_LKDN = "stella-von/LKDN README.md (quotes BSRN CVPRW2022 paper numbers)"


def _bsrn_wf(scale: int, sha: str) -> WeightFile:
    return WeightFile(
        file=f"BSRN_x{scale}.pth",
        sha256=sha,
        scales=(scale,),
        url=f"{_REPO}/experiments/pretrained_models/net_g_BSRN_x{scale}.pth",
        license=_MIT_BSRN,
        input_range=1.0,
        state_key="params",
        source=f"xiaom233/BSRN@2d63d5239c9fa9810b9c1aea93e98d42ece09efc:"
               f"experiments/pretrained_models/net_g_BSRN_x{scale}.pth",
    )


def _y(dataset: str, scale: int, psnr: float, ssim: float | None, source: str, notes: str = "",
       variant: str | None = None) -> Published:
    return Published(dataset=dataset, scale=scale, psnr=psnr, ssim=ssim, source=source, metric="y",
                     gray="rgb", variant=variant, notes=notes)


register(ModelCard(
    name="BSRN",
    family="BSRN",
    kind="cnn",
    paper=_BSRN_PAPER,
    scales=(2, 3, 4),
    build=lambda scale: BSRN(scale=scale),
    weights=(
        _bsrn_wf(2, "09bd1f85e017c7902e65a9c9770ee592efe3d013f6b5cf1fe7de8cabac4ba37d"),
        _bsrn_wf(3, "6eb73a300aaec5029bc0de7f5ae85c02b8dcd8fdaf438c77f90272939fecca7e"),
        _bsrn_wf(4, "47518e0f549f5696da0c84ca2d65bf50d789c7ac20e621909f5fd6c8c8d70bcb"),
    ),
    published=(
        _y("Set5", 4, 32.35, 0.8966, _LKDN, "352K params, 19.4G Multi-Adds (1280x720 GT)"),
        _y("Set14", 4, 28.73, 0.7847, _LKDN, "352K params, 19.4G Multi-Adds (1280x720 GT)"),
        _y("B100", 4, 27.65, 0.7387, _LKDN, "352K params, 19.4G Multi-Adds (1280x720 GT)"),
        _y("Urban100", 4, 26.27, 0.7908, _LKDN, "352K params, 19.4G Multi-Adds (1280x720 GT)"),
        _y("Manga109", 4, 30.84, 0.9123, _LKDN, "352K params, 19.4G Multi-Adds (1280x720 GT)"),
    ),
    colour="rgb",
    notes=("Official checkpoints of the paper model (BasicSR files, weights under 'params'). The net "
           "replicates the RGB input 4 times (12 input channels). Inputs must be at least 15x15 pixels "
           "(ESA: a stride-2 3x3 conv, then a 7x7 max-pool). The shared PUBLISHED table holds "
           "x4 rows only, so x2/x3 are measured without a published row to compare with."),
    config={"num_feat": 64, "num_block": 8, "conv": "BSConvU", "upsampler": "pixelshuffledirect",
            "input": "RGB replicated x4 (12 channels)"},
))

_NTIRE22 = "https://raw.githubusercontent.com/ofsoundof/NTIRE2022_ESR/e95ba4a4916bb13d6348f7ee172827e2452e8a31"
_NTIRE_SRC = "ofsoundof/NTIRE2022_ESR figs/results.png"

register(ModelCard(
    name="BSRN-S",
    family="BSRN",
    kind="cnn",
    paper=_BSRN_PAPER,
    scales=(4,),
    build=lambda scale: BSRNS(scale=scale),
    weights=(
        WeightFile(
            file="BSRN-S_x4.pth",
            sha256="f035e512bcecd2999af21999fdaeb6ed39a4492ac11d214b8164d27e6e958fec",
            scales=(4,),
            url=f"{_REPO}/experiments/pretrained_models/net_g_BSRN-S.pth",
            license=_MIT_BSRN,
            input_range=1.0,
            state_key="params",
            source="xiaom233/BSRN@2d63d5239c9fa9810b9c1aea93e98d42ece09efc:"
                   "experiments/pretrained_models/net_g_BSRN-S.pth",
            notes="The small model as released in the paper repository.",
        ),
        WeightFile(
            file="BSRN-S-ntire22_x4.pth",
            sha256="29ac393975ec709912282da97765daf722d9efd40589f4abcb95b3a407f62e40",
            scales=(4,),
            url=f"{_NTIRE22}/model_zoo/team18_bsrn.pth",
            license="MIT (NTIRE 2022 ESR organizers)",
            input_range=1.0,
            variant="BSRN-S-ntire22",
            state_key="params",
            source="ofsoundof/NTIRE2022_ESR@e95ba4a4916bb13d6348f7ee172827e2452e8a31:"
                   "model_zoo/team18_bsrn.pth",
            notes=("The NTIRE 2022 ESR team18 (XPixel) submission: same architecture and key set as "
                   "BSRN-S_x4.pth, different values (max abs difference about 18)."),
        ),
    ),
    published=(
        _y("Set5", 4, 32.16, None,
           "hongyuanyu/SPAN scripts/plot/model_complexity_cmp_bsrn.py (BasicSR plot script data, "
           "Set5 PSNR only; not a table)", "156K params; weak source"),
        Published(dataset="DIV2K_valid", scale=4, psnr=29.01, ssim=None,
                  source=f"{_NTIRE_SRC} (\"XPixel\" row)", metric="ntire_rgb",
                  variant="BSRN-S-ntire22",
                  notes=("NTIRE 2022 ESR protocol: RGB PSNR on uint8, border 4 (test_demo.py "
                         "util.calculate_psnr), not Y channel; DIV2K test 28.69; 140.47 ms; 0.156M; "
                         "9.50G")),
        Published(dataset="DIV2K_test", scale=4, psnr=28.69, ssim=None, source=_NTIRE_SRC,
                  metric="ntire_rgb", variant="BSRN-S-ntire22",
                  notes="NTIRE 2022 ESR protocol: RGB PSNR on uint8, border 4; not Y channel"),
    ),
    colour="rgb",
    notes=("BSRN-S, the NTIRE 2022 ESR winner. Its code differs from the BSRN paper model: every 1x1 "
           "convolution is an nn.Linear applied channels-last (so the checkpoints hold 2-D point-wise "
           "weights with biases), ESA's strided conv2 is a plain 3x3 conv, and CCA is replaced by a "
           "learned per-channel scale 'cw' followed by a Linear 'conv_out'. Two checkpoints: the "
           "default from the paper repository and the challenge submission (variant "
           "BSRN-S-ntire22); their weights differ. The only Y-channel number found (Set5 32.16) is "
           "from a plot script, not a paper table. Inputs must be at least 15x15 pixels (ESA)."),
    config={"num_feat": 48, "num_block": 5, "conv": "BSConvU (Linear point-wise)",
            "upsampler": "pixelshuffledirect", "input": "RGB replicated x4 (12 channels)"},
))
