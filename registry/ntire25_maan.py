"""MAAN as submitted to the NTIRE 2025 ESR challenge by team 29 (``MAAN-ntire25``).

A MetaFormer-style network whose token mixers are all convolutions (Conv2Former-like "convolutional
modulation" with large separable kernels, LSKA): 48 channels, three layers of 2, 3 and 2 blocks.

    f = conv_first((x - mean) * img_range)
    layer: blocks, then x + conv1x1(x)
    block: x = x + ls1 * ConvMod(x);   x = x + ls2 * MLP(x)             (per-channel layer scales)
      ConvMod(x): n = LN(x); a = LSK(GELU(conv1x1(n))); proj(a * v(n))
      LSK: channels split 12 | 12 | 12 | 12: identity | 1x3,3x1,1x5 d2,5x1 d2 | 1x5,5x1,1x7 d3,7x1 d3 |
           1x5,5x1,1x11 d3,11x1 d3 (all depth-wise, no activations in between)
      MLP(x): h = GELU(fc1(LN(x))); fc2(h + GELU(dw3x3(h)))
    y = LSKAT(LN(layers(f))) + f,  LSKAT(x): c = GELU(conv1x1(x)); conv1x1(c * LSKA7(c))
    out = PixelShuffle(conv3x3(y)) / img_range + mean

Facts of the organizers' code (models/team29_MAANRep.py, class MAAN_rep, built by test_demo.py with
its defaults: embed_dim 48, depths (2, 3, 2), mlp_ratio 2, img_range 1.0; data_range 1.0) kept here:

* The LayerNorms are ConvNeXt's "channels_first" form written out (mean, biased variance, eps 1e-6
  inside the square root), not ``F.layer_norm``; we write the same formula (same numbers, and the
  same FLOP count: fvcore sees element-wise ops and reductions, not a layer_norm).
* The "Rep" class is the deployed form: the file holds plain convs only (its forward has a
  commented-out ``merge_all()``), so no fusion is needed or possible here.
* No output crop (unlike the HiT-SR-based entries).

Source: Amazingren/NTIRE2025_ESR@b69fb668c0362deb696eecbfdebfaa5c2fcdfcb4:models/team29_MAANRep.py
(checkpoint model_zoo/team29_MAANRep.pth).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from registry import ModelCard, register
from registry.ops.ntire25 import REPORT, entry, weight_file
from registry.ops.ntire25_transformer import DIV2K_MEAN


class ChannelsFirstLN(nn.Module):
    """LayerNorm over the channels of a (B, C, H, W) map, written out as ConvNeXt's channels_first LN."""

    def __init__(self, ch: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ch))
        self.bias = nn.Parameter(torch.zeros(ch))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


def _dw(ch: int, kh: int, kw: int, dilation: int = 1) -> nn.Conv2d:
    """Depth-wise (kh x kw) conv, 'same' padding for the dilation."""
    return nn.Conv2d(ch, ch, (kh, kw), padding=(dilation * (kh - 1) // 2, dilation * (kw - 1) // 2),
                     dilation=dilation, groups=ch)


def _lska(ch: int, k1: int, k2: int, dilation: int) -> nn.Sequential:
    """Separable large kernel: 1xk1, k1x1, then 1xk2, k2x1 dilated (depth-wise, no activations)."""
    return nn.Sequential(_dw(ch, 1, k1), _dw(ch, k1, 1), _dw(ch, 1, k2, dilation), _dw(ch, k2, 1, dilation))


class MultiscaleLSK(nn.Module):
    """Split channels into identity + three LSKA branches (receptive fields 11, 23, 35)."""

    def __init__(self, ch: int, branch_ratio: float = 0.25):
        super().__init__()
        gc = int(ch * branch_ratio)
        self.dwconv_LSKA_11 = _lska(gc, 3, 5, 2)
        self.dwconv_LSKA_23 = _lska(gc, 5, 7, 3)
        self.dwconv_LSKA_35 = _lska(gc, 5, 11, 3)
        self.split = (ch - 3 * gc, gc, gc, gc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0, x1, x2, x3 = torch.split(x, self.split, dim=1)
        return torch.cat([x0, self.dwconv_LSKA_11(x1), self.dwconv_LSKA_23(x2), self.dwconv_LSKA_35(x3)], 1)


class ConvMod(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.norm = ChannelsFirstLN(ch)
        self.a = nn.Sequential(nn.Conv2d(ch, ch, 1), nn.GELU(), MultiscaleLSK(ch))
        self.v = nn.Conv2d(ch, ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.norm(x)
        return self.proj(self.a(n) * self.v(n))


class MLP(nn.Module):
    def __init__(self, ch: int, ratio: int = 2):
        super().__init__()
        hid = ch * ratio
        self.norm = ChannelsFirstLN(ch)
        self.fc1 = nn.Conv2d(ch, hid, 1)
        self.pos = nn.Conv2d(hid, hid, 3, padding=1, groups=hid)
        self.fc2 = nn.Conv2d(hid, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.gelu(self.fc1(self.norm(x)))
        return self.fc2(h + F.gelu(self.pos(h)))


class Block(nn.Module):
    def __init__(self, ch: int, mlp_ratio: int = 2):
        super().__init__()
        self.attn = ConvMod(ch)
        self.mlp = MLP(ch, mlp_ratio)
        self.layer_scale_1 = nn.Parameter(torch.full((ch,), 1e-6))
        self.layer_scale_2 = nn.Parameter(torch.full((ch,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.layer_scale_1[:, None, None] * self.attn(x)
        return x + self.layer_scale_2[:, None, None] * self.mlp(x)


class Layer(nn.Module):
    def __init__(self, ch: int, depth: int, mlp_ratio: int = 2):
        super().__init__()
        self.blocks = nn.ModuleList(Block(ch, mlp_ratio) for _ in range(depth))
        self.conv = nn.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return self.conv(x) + x


class LSKAT(nn.Module):
    """The tail before the upsampler: ``conv1(c * att(c))``, ``c = GELU(conv0(x))``."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv0 = nn.Sequential(nn.Conv2d(ch, ch, 1), nn.GELU())
        self.att = nn.Sequential(_dw(ch, 1, 7), _dw(ch, 7, 1), _dw(ch, 1, 7, 3), _dw(ch, 7, 1, 3), nn.Conv2d(ch, ch, 1))
        self.conv1 = nn.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv0(x)
        return self.conv1(c * self.att(c))


class MAAN(nn.Module):
    """MAAN (deployed 'rep' form), NTIRE 2025 configuration: 48 channels, layers of 2, 3, 2 blocks."""

    def __init__(self, scale: int = 4, in_ch: int = 3, dim: int = 48, depths: tuple[int, ...] = (2, 3, 2),
                 mlp_ratio: int = 2, img_range: float = 1.0, rgb_mean: tuple[float, float, float] = DIV2K_MEAN):
        super().__init__()
        self.img_range = img_range
        self.register_buffer("mean", torch.tensor(rgb_mean).view(1, 3, 1, 1), persistent=False)
        self.conv_first = nn.Conv2d(in_ch, dim, 3, padding=1)
        self.layers = nn.ModuleList(Layer(dim, d, mlp_ratio) for d in depths)
        self.norm = ChannelsFirstLN(dim)
        self.conv_after_body = LSKAT(dim)
        self.upsample = nn.Sequential(nn.Conv2d(dim, in_ch * scale * scale, 3, padding=1), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = self.mean.to(x.dtype)
        f = self.conv_first((x - mean) * self.img_range)
        h = f
        for layer in self.layers:
            h = layer(h)
        y = self.conv_after_body(self.norm(h)) + f
        return self.upsample(y) / self.img_range + mean


# --------------------------------------------------------------------------------------------------
# Card

N_PARAMS = 168576


def build(scale: int) -> nn.Module:
    return MAAN(scale=scale)


MAAN_NTIRE25 = register(ModelCard(
    name="MAAN-ntire25",
    family="MAAN",
    kind="cnn",
    paper=REPORT,
    scales=(4,),
    build=build,
    weights=(
        weight_file(
            "team29_MAANRep.pth", "25ccd24dac3137fe19d85d4d93b5c06fc9ff775ff112e81c9f32dda411d35eea",
            state_key="params",
            notes="team 29; BasicSR-style dict {'params': ...}, 320 tensors, 168,576 parameters, float32; the "
                  "deployed ('Rep') form: plain convs only"),
    ),
    published=(),
    notes=(
        "NTIRE 2025 ESR entry of team 29: MAAN in its deployed 'Rep' form (class MAAN_rep), a MetaFormer-style "
        "network whose token mixers are depth-wise large-kernel convolutions (convolutional modulation with "
        "multi-scale LSKA); kind 'cnn' because no block computes attention between positions. No separate paper: "
        "the card cites the challenge report. The training-time form (the branches that were merged into these "
        "convs) is not in the organizers' repository, so nothing here can check the merge. "
        "Loading: test_demo.py loads torch.load(...)['params'] with strict=True, and srbench loads the same "
        "dict strictly: the 320 tensors of the file are exactly the parameters of the organizers' class (the "
        "two per-block layer scales included; the DIV2K mean is a plain attribute there, a non-persistent "
        "buffer here). Input RGB in [0, 1] (data_range 1.0). Set5 x4 Y-PSNR here 32.20 dB / SSIM 0.8950. "
        "The challenge report's per-team figures (RGB "
        "PSNR on DIV2K_LSDIR, runtime, FLOPs, rank) could not be read in this session, so no published rows "
        "are given yet."
    ),
    config={"embed_dim": 48, "depths": (2, 3, 2), "mlp_ratio": 2, "lsk_branches": "identity | 11 | 23 | 35",
            "img_range": 1.0, "rgb_mean": DIV2K_MEAN, "upsampler": "conv3x3 + PixelShuffle(4)",
            "params": N_PARAMS},
    challenge=entry(29, "MAAN"),
))
