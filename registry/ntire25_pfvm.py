"""PFVM: Parameter-Free Vision Mamba, NTIRE 2025 Efficient SR challenge entry of team 34.

A light MambaIR: conv3x3 (3 -> 60) -> LayerNorm'd tokens -> one residual state-space group of 4 VSS
blocks closed by a conv3x3 and its own skip -> LayerNorm -> conv3x3 + long skip -> conv3x3 (60 -> 48)
+ PixelShuffle(4); the DIV2K mean is subtracted on input and added back on output.  A VSS block on
(b, H, W, C) features ``u``:

    x = u * skip_scale + SS2D(LN1(u))
    x = x * skip_scale2 + PFA(LN2(x))                (PFA: "parameter-free attention", see below)
    out = x + u * skip_scale3

SS2D is MambaIR's 2-D selective scan: in_proj (60 -> 2 x 120, no bias) -> (x, z); x -> depth-wise
conv3x3 -> SiLU -> four scans of the H*W tokens (row-major, column-major, and both reversed) with
stacked parameters, run as one scan over 4 x 120 channels -> the four outputs mapped back to
row-major order and summed -> LayerNorm(120) -> * SiLU(z) -> out_proj (120 -> 60, no bias).  PFA is
``o = SiLU(conv3x3(x)); (o + x) * (sigmoid(o) - 0.5)`` (its only parameters are the conv's).

Facts of the organizers' code a re-implementation must keep (read, not copied):
- every LayerNorm has eps 1e-5 (``BasicLayer`` hands ``nn.LayerNorm`` itself to the blocks, so the
  ``VSSBlock`` default ``eps=1e-6`` is never used);
- the block's last skip adds the block *input* scaled by ``skip_scale3``, on top of the
  ``skip_scale`` residual inside; the four scan outputs are summed in the order row-major, reversed
  row-major, column-major, reversed column-major;
- SS2D: d_state 16, d_conv 3 (padding 1), expand 2 (d_inner 120), dt_rank ceil(60/16) = 4; the scan
  has dt bias + softplus inside and the D skip, no z (the gate is applied after the LayerNorm);
- ``img_range`` 1 and the mean (0.4488, 0.4371, 0.4040) is a plain attribute, not in the state dict.

Source: Amazingren/NTIRE2025_ESR@b69fb668c0362deb696eecbfdebfaa5c2fcdfcb4:models/team34_PFVM.py
(``ParameterFreeVisionMamba()``, defaults; test_demo.py model_id 34 loads ``['params']`` strictly,
data_range 1.0).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from registry import ModelCard, register
from registry.ops.ntire25 import REPORT, entry, weight_file
from registry.ops.ntire25_mamba import RGB_MEAN, PatchNorm, UpsampleOneStep, init_multi_scan, multi_scan, tokens_to_map

__all__ = ["PFVM"]


class SS2D(nn.Module):
    """MambaIR's four-direction 2-D selective scan on (b, H, W, C) features."""

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 3, expand: float = 2.0):
        super().__init__()
        self.d_state = d_state
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16)
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.conv2d = nn.Conv2d(self.d_inner, self.d_inner, d_conv, padding=(d_conv - 1) // 2,
                                groups=self.d_inner)
        init_multi_scan(self, 4, self.d_inner, d_state, self.dt_rank)
        self.out_norm = nn.LayerNorm(self.d_inner)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        L = h * w
        x, z = self.in_proj(x).chunk(2, dim=-1)
        x = F.silu(self.conv2d(x.permute(0, 3, 1, 2)))  # (b, D, H, W)
        rows = x.reshape(b, -1, L)
        cols = x.transpose(2, 3).reshape(b, -1, L)
        fwd = torch.stack([rows, cols], dim=1)  # (b, 2, D, L)
        ys = multi_scan(self, torch.cat([fwd, fwd.flip(-1)], dim=1), self.d_state, self.dt_rank)
        inv = ys[:, 2:4].flip(-1)
        y_cols = ys[:, 1].reshape(b, -1, w, h).transpose(2, 3).reshape(b, -1, L)
        y_inv_cols = inv[:, 1].reshape(b, -1, w, h).transpose(2, 3).reshape(b, -1, L)
        y = ys[:, 0] + inv[:, 0] + y_cols + y_inv_cols
        y = self.out_norm(y.transpose(1, 2).reshape(b, h, w, -1))
        return self.out_proj(y * F.silu(z))


class ParameterFreeAttention(nn.Module):
    """o = SiLU(conv3x3(x)); (o + x) * (sigmoid(o) - 0.5), on (b, C, H, W)."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv3x3 = nn.Conv2d(dim, dim, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.silu(self.conv3x3(x))
        return (o + x) * (torch.sigmoid(o) - 0.5)


class VSSBlock(nn.Module):
    def __init__(self, dim: int, d_state: int, expand: float):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.self_attention = SS2D(dim, d_state=d_state, expand=expand)
        self.skip_scale = nn.Parameter(torch.ones(dim))
        self.conv_blk = ParameterFreeAttention(dim)
        self.ln_2 = nn.LayerNorm(dim)
        self.skip_scale2 = nn.Parameter(torch.ones(dim))
        self.skip_scale3 = nn.Parameter(torch.ones(dim))

    def forward(self, t: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        b, L, c = t.shape
        u = t.view(b, hw[0], hw[1], c)
        x = u * self.skip_scale + self.self_attention(self.ln_1(u))
        x = x * self.skip_scale2 + self.conv_blk(self.ln_2(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return x.reshape(b, L, c) + t * self.skip_scale3


class _Blocks(nn.Module):
    def __init__(self, dim: int, depth: int, d_state: int, expand: float):
        super().__init__()
        self.blocks = nn.ModuleList(VSSBlock(dim, d_state, expand) for _ in range(depth))

    def forward(self, t: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        for blk in self.blocks:
            t = blk(t, hw)
        return t


class ResidualGroup(nn.Module):
    """tokens + conv3x3(VSS blocks(tokens)), on (b, H*W, C)."""

    def __init__(self, dim: int, depth: int, d_state: int, expand: float):
        super().__init__()
        self.residual_group = _Blocks(dim, depth, d_state, expand)
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1)

    def forward(self, t: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        return self.conv(tokens_to_map(self.residual_group(t, hw), hw)).flatten(2).transpose(1, 2) + t


class PFVM(nn.Module):
    """``ParameterFreeVisionMamba`` with the submission's configuration as defaults."""

    def __init__(self, upscale: int = 4, embed_dim: int = 60, depths=(4,), d_state: int = 16,
                 mlp_ratio: float = 2.0, in_ch: int = 3):
        super().__init__()
        self.register_buffer("mean", torch.tensor(RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        self.conv_first = nn.Conv2d(in_ch, embed_dim, 3, 1, 1)
        self.patch_embed = PatchNorm(embed_dim)
        self.layers = nn.ModuleList(ResidualGroup(embed_dim, d, d_state, mlp_ratio) for d in depths)
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = nn.Conv2d(embed_dim, embed_dim, 3, 1, 1)
        self.upsample = UpsampleOneStep(upscale, embed_dim, in_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - self.mean
        feat = self.conv_first(x)
        hw = (feat.shape[2], feat.shape[3])
        t = self.patch_embed(feat)
        for layer in self.layers:
            t = layer(t, hw)
        deep = tokens_to_map(self.norm(t), hw)
        return self.upsample(self.conv_after_body(deep) + feat) + self.mean


# --------------------------------------------------------------------------------------------------
# Card



def build_pfvm(scale: int) -> PFVM:
    return PFVM(upscale=scale)


PFVM_CARD = register(ModelCard(
    name="PFVM-ntire25",
    family="PFVM",
    kind="mamba",
    paper=REPORT,
    scales=(4,),
    build=build_pfvm,
    weights=(
        weight_file(
            "team34_PFVM.pth", "6d14c30da82a3c0c6ed23f4478b810224290fd769e8b19270b4838ff8228e1f7", state_key="params",
            notes="BasicSR training checkpoint {params, params_ema}; the organizers' test_demo.py "
                  "(model_id 34) loads 'params' strictly, so srbench does too (params_ema differs "
                  "by up to 0.007 per weight and is not used)."),
    ),
    challenge=entry(34, "PFVM"),
    notes=("Team 34's 'Parameter-Free Vision Mamba': a one-group MambaIR (60 channels, 4 VSS blocks with "
           "four-direction SS2D scans, d_state 16) whose block's convolutional branch is a 'parameter-free "
           "attention' gate; 427,848 parameters, all in the file (loads strictly, as test_demo does). The "
           "file is the training form; nothing is re-parameterized. The scans run on srbench's selective "
           "scan (its fused C++ kernel on the CPU, mamba_ssm's kernel on CUDA when installed). The organizers' "
           "test_demo.py lists model 34 among the ones it evaluates; their log in the repository holds "
           "only the EFDN baseline, and the report's per-team table was not reachable from here, so no "
           "published DIV2K_LSDIR figure is on the card yet. srbench's Set5 x4 Y-PSNR is 32.20 dB (bicubic "
           "28.42). FLOPs at 3x256x256 (count_flops): 44.12 G with the selective scan counted (18.25 G), "
           "25.88 G by stock fvcore, which counts the scan as 0."),
    config={"embed_dim": 60, "depths": [4], "d_state": 16, "d_conv": 3, "expand": 2, "d_inner": 120,
            "dt_rank": 4, "scan": "SS2D, 4 directions (rows, columns, both reversed)",
            "norm": "LayerNorm eps 1e-5", "upsampler": "conv3x3 (60->48) + PixelShuffle x4",
            "rgb_mean": list(RGB_MEAN), "params": 427848,
            "flops_256_srbench_G": 44.12, "flops_256_fvcore_G": 25.88},
))
