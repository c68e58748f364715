"""HannahSR, NTIRE 2025 ESR team 13: attention-guided distillation network (4 AGDB blocks, 24 channels).

The network of ``models/team13_HannahSR.py:HannahSR`` in Amazingren/NTIRE2025_ESR@b69fb668 (checkpoint
``model_zoo/team13_HannahSR.pth``, a raw state dict loaded strictly by ``test_demo.py``, data_range 1.0):

    x  <- x - mean_DIV2K                        (RGB in [0, 1]; the mean is added back at the end)
    f0 = fea_conv(x)                            (a folded 3x3 "Conv3XC": eval_conv only)
    AGDB (x4): IMDN-style distillation with BSConvU (reflect-padded depth-wise) and GELU,
               c4 = grouped 3x3 (12 groups), c5 = 1x1 of the concatenation, then
               ESA' -> RCCA -> (sparse channel attention + GDFN, Restormer style) -> + block input
    SR = PixelShuffle(conv1x1(f0 + B4 + res_2(res_1(x)))) + mean

Facts of the organizers' code a re-implementation must keep:

* ESA' is a multi-range ESA: four stride-2 BSConvU (reflect) feeding max-pools 5/3 and 7/3 (padding 1)
  and the *unbiased* local variances of 7x7 and 5x5 windows (stride 3, reflect pad 1), summed
  pairwise; GELU between ``conv_max_*`` and ``conv3_*``; a folded 3x3 ``conv_f_3`` next to ``conv_f``;
  the mask is ``sigmoid(conv4(.)) - bias`` with a learnt (1, C, 1, 1) ``bias``; no residual around it.
* The channel attention is Restormer's MDTA with ReLU instead of softmax (3 heads, learnt temperature)
  and, in eval mode, runs through TLC: overlapping windows of at most 96 x 96 pixels of the
  (LR-resolution) map, averaged on the overlaps. Images up to 96 px on a side are one window.
* ``res_1`` is a second folded 3x3 conv on the mean-shifted input (a global residual path).
* The DIV2K mean is a plain tensor attribute (not in the checkpoint): a non-persistent buffer here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from registry import ModelCard, register
from registry.ops.blocks import pixelshuffle_block
from registry.ops.ntire25 import REPORT, entry, weight_file
from registry.ops.ntire25_cnn_imdn import (
    GDFN,
    RCCA,
    BSConvU,
    LayerNorm2d,
    MultiRangeESA,
    distill,
    tlc_merge,
    tlc_windows,
)
from registry.span import DIV2K_MEAN, FoldedConv


def _bsconv(cin: int, cout: int, stride: int = 1) -> BSConvU:
    return BSConvU(cin, cout, 3, stride, 1, padding_mode="reflect")


class HannahESA(MultiRangeESA):
    """Multi-range ESA with GELU, a folded 3x3 ``conv_f_3`` branch and a learnt mask offset ``bias``."""

    def __init__(self, n_feats: int):
        super().__init__(n_feats)
        f = n_feats // 4
        self.conv_f_3 = FoldedConv(f, f)
        self.conv_max_1, self.conv_max_2 = _bsconv(f, f), _bsconv(f, f)
        self.conv3_1, self.conv3_2 = _bsconv(f, f), _bsconv(f, f)
        self.bias = nn.Parameter(torch.zeros(1, n_feats, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1, r1, r2 = self.ranges(x)
        v1 = self.conv3_1(F.gelu(self.conv_max_1(r1)))
        v2 = self.conv3_2(F.gelu(self.conv_max_2(r2)))
        c4 = self.conv4(self.up(v1, x) + self.up(v2, x) + self.conv_f(c1) + self.conv_f_3(c1))
        return x * (torch.sigmoid(c4) - self.bias)


class _ESAWrap(nn.Module):
    """Keys ``body.0.*`` (the authors' ``MVSA``: a one-module Sequential, no residual)."""

    def __init__(self, n_feats: int):
        super().__init__()
        self.body = nn.Sequential(HannahESA(n_feats))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class SparseChannelAttention(nn.Module):
    """MDTA with ReLU in place of softmax ("sparse"), run per TLC window in eval mode."""

    def __init__(self, dim: int, heads: int = 3, tlc_kernel: int = 96):
        super().__init__()
        self.heads = heads
        self.tlc_kernel = tlc_kernel
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 3, 1, bias=False)
        self.qkv_dwconv = nn.Conv2d(dim * 3, dim * 3, 3, 1, 1, groups=dim * 3, bias=False)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=False)

    def _attend(self, qkv: torch.Tensor) -> torch.Tensor:
        n, c3, h, w = qkv.shape
        q, k, v = (t.reshape(n, self.heads, c3 // 3 // self.heads, h * w) for t in qkv.chunk(3, dim=1))
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        attn = F.relu((q @ k.transpose(-2, -1)) * self.temperature)
        return (attn @ v).reshape(n, c3 // 3, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        qkv = self.qkv_dwconv(self.qkv(x))
        if self.training:
            return self.project_out(self._attend(qkv))
        parts, plan = tlc_windows(qkv, self.tlc_kernel)
        return self.project_out(tlc_merge(self._attend(parts), plan))


class SparseAttentionBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.norm3 = LayerNorm2d(dim)
        self.norm4 = LayerNorm2d(dim)
        self.restormer_attn = SparseChannelAttention(dim)
        self.restormer_ffn = GDFN(dim, 2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.restormer_attn(self.norm3(x)) + x
        return self.restormer_ffn(self.norm4(x)) + x


class AGDB(nn.Module):
    """Attention-guided distillation block."""

    def __init__(self, ch: int):
        super().__init__()
        dc = ch // 2
        self.c1_d, self.c1_r = nn.Conv2d(ch, dc, 1), _bsconv(ch, ch)
        self.c2_d, self.c2_r = nn.Conv2d(ch, dc, 1), _bsconv(ch, ch)
        self.c3_d, self.c3_r = nn.Conv2d(ch, dc, 1), _bsconv(ch, ch)
        self.c4 = nn.Conv2d(ch, dc, 3, 1, 1, groups=dc)
        self.c5 = nn.Conv2d(dc * 4, ch, 1)
        self.esa = _ESAWrap(ch)
        self.cca = RCCA(ch)
        self.ea = SparseAttentionBlock(ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = distill(self, x, F.gelu)
        return self.ea(self.cca(self.esa(out))) + x


class HannahSR(nn.Module):
    def __init__(self, ch: int = 24, blocks: int = 4, scale: int = 4):
        super().__init__()
        self.register_buffer("mean", torch.tensor(DIV2K_MEAN).view(1, 3, 1, 1), persistent=False)
        self.blocks = blocks
        self.fea_conv = FoldedConv(3, ch)
        for i in range(1, blocks + 1):
            setattr(self, f"B{i}", AGDB(ch))
        self.res_1 = FoldedConv(3, ch)
        self.res_2 = nn.Conv2d(ch, ch, 1)
        self.upsampler = pixelshuffle_block(ch, 3, scale, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = self.mean.to(x.dtype)
        x = x - mean
        fea = self.fea_conv(x)
        h = fea
        for i in range(1, self.blocks + 1):
            h = getattr(self, f"B{i}")(h)
        return self.upsampler(h + fea + self.res_2(self.res_1(x))) + mean


def build(scale: int) -> HannahSR:
    return HannahSR(scale=scale)


HANNAHSR_NTIRE25 = register(ModelCard(
    name="HannahSR-ntire25",
    family="HannahSR",
    kind="cnn",
    paper=REPORT,
    scales=(4,),
    build=build,
    weights=(weight_file(
        "team13_HannahSR.pth", "3ee90b9ac5d6f6b358cae3ac362da8f8eca026e55e0931d8d91957e6a454fd94",
        notes="team 13; raw state dict (296 tensors, 59,600 parameters); the two Conv3XC convs (fea_conv, res_1, "
              "and each ESA's conv_f_3) are already folded to eval_conv"),),
    challenge=entry(13, "HannahSR"),
    notes=(
        "NTIRE 2025 ESR checkpoint of team 13 (solution HannahSR), as the organizers' test_demo.py runs it: "
        "HannahSR() with its defaults (24 channels, 4 AGDB blocks), the file's top-level dict loaded with "
        "strict=True, RGB in [0, 1] (data_range 1.0); every Conv3XC is in its deployed form (eval_conv only), "
        "so no conversion is needed. The network subtracts the DIV2K RGB mean inside and adds it back. Its "
        "channel attention runs through TLC windows of 96 x 96 LR pixels in eval mode, so outputs on images "
        "larger than 96 px differ slightly from a whole-image attention (the authors' own test behaviour, "
        "kept). No per-team PSNR is given in the organizers' repository (its log and results.txt hold only "
        "the EFDN baseline), so no published row."
    ),
    config={"channels": 24, "blocks": 4, "activation": "GELU", "attention": "ReLU-MDTA, 3 heads, TLC 96",
            "ffn": "GDFN x2", "upsampler": "conv1x1 + PixelShuffle(4)", "rgb_mean": DIV2K_MEAN, "params": 59600},
))
