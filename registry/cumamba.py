"""CU-Mamba: Selective State Space Models with Channel Learning for Image Restoration (Deng & Gu, MIPR 2024).

Architecture only: the authors published no code and no weights, and the paper's tasks are denoising
and deblurring, not SR.  srbench builds the network from the paper's description:

- a 4-level U-Net (Restormer's skeleton, which the paper follows): conv3x3 embedding; encoder levels of
  C, 2C, 4C and 8C channels; downsampling conv3x3 (halving channels) + PixelUnshuffle(2); upsampling
  conv3x3 (doubling channels) + PixelShuffle(2); skip connections by concatenation, reduced by a 1x1
  conv at levels 3 and 2 (level 1 keeps 2C channels); refinement blocks at 2C; conv3x3 to RGB plus the
  input (global residual);
- every block = Spatial SSM then Channel SSM, each residual:
  * Spatial SSM: LayerNorm -> 1x1 conv to (x, z) of 2C channels each (expand 2) -> 3x3 depth-wise
    conv -> SiLU -> selective scan over the H*W raster sequence (Mamba's x_proj / dt_proj / A / D)
    gated by SiLU(z) -> 1x1 conv back to C;
  * Channel SSM: LayerNorm -> each channel's global average is a token; a Mamba mixer scans the
    sequence of C channel tokens (lifted to 16 features) -> a sigmoid gate per channel -> gated
    features -> 1x1 conv.  Cost O(B * E * C), as the paper's O(BE(L + C)) complexity states; the
    token features are srbench's reading (the paper gives no layer-level detail).

Configuration (the paper's Restormer-style setting as srbench reads it): C = 48; [4, 6, 6, 8] blocks
per level; 4 refinement blocks; d_state 16; expand 2.

SR use: a same-size restoration network.  For scale s > 1 srbench first upsamples the LR with the
protocol's MATLAB bicubic (``protocol.imresize.imresize_matlab``) and restores that image (the
classic pre-upsampling pipeline); scale 1 is plain same-size restoration.  Inputs are reflect-padded
to a multiple of 8 and cropped back.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from registry import Paper, register
from registry.base import ModelCard
from registry.ops.mamba import Mamba
from registry.ops.scan import selective_scan

__all__ = ["CUMamba", "CUMambaSR"]

CONFIG = {"dim": 48, "blocks": (4, 6, 6, 8), "refinement": 4, "d_state": 16, "expand": 2,
          "channel_token_dim": 16}


class _LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of a (B, C, H, W) map."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class SpatialSSM(nn.Module):
    def __init__(self, dim: int, d_state: int = 16, expand: int = 2):
        super().__init__()
        E = expand * dim
        self.d_inner, self.d_state = E, d_state
        self.dt_rank = math.ceil(dim / 16)
        self.norm = _LayerNorm2d(dim)
        self.in_proj = nn.Conv2d(dim, 2 * E, 1, bias=False)
        self.dwconv = nn.Conv2d(E, E, 3, 1, 1, groups=E, bias=True)
        self.x_proj = nn.Linear(E, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, E, bias=True)
        std = self.dt_rank ** -0.5
        with torch.no_grad():
            nn.init.uniform_(self.dt_proj.weight, -std, std)
            dt = torch.exp(torch.rand(E) * (math.log(0.1) - math.log(0.001)) + math.log(0.001)).clamp(min=1e-4)
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(E, 1))
        self.D = nn.Parameter(torch.ones(E))
        self.out_proj = nn.Conv2d(E, dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, _, H, W = x.shape
        u, z = self.in_proj(self.norm(x)).chunk(2, dim=1)
        u = F.silu(self.dwconv(u)).flatten(2)  # (B, E, L)
        dbl = self.x_proj(u.transpose(1, 2))  # (B, L, R + 2N)
        dt, Bm, Cm = torch.split(dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.linear(dt, self.dt_proj.weight).transpose(1, 2)
        y = selective_scan(u, dt, -torch.exp(self.A_log.float()), Bm.transpose(1, 2), Cm.transpose(1, 2),
                           self.D.float(), z.flatten(2), self.dt_proj.bias.float(), True)
        return x + self.out_proj(y.view(B, self.d_inner, H, W))


class ChannelSSM(nn.Module):
    def __init__(self, dim: int, d_state: int = 16, token_dim: int = 16):
        super().__init__()
        self.norm = _LayerNorm2d(dim)
        self.lift = nn.Linear(1, token_dim)
        self.mixer = Mamba(token_dim, d_state=d_state, d_conv=4, expand=2)
        self.head = nn.Linear(token_dim, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xn = self.norm(x)
        tokens = self.lift(xn.mean((2, 3))[..., None])  # (B, C, token_dim): the channel sequence
        gate = torch.sigmoid(self.head(self.mixer(tokens)))  # (B, C, 1)
        return x + self.proj(xn * gate[..., None])


class CUBlock(nn.Module):
    def __init__(self, dim: int, d_state: int = 16, expand: int = 2, token_dim: int = 16):
        super().__init__()
        self.spatial = SpatialSSM(dim, d_state, expand)
        self.channel = ChannelSSM(dim, d_state, token_dim)

    def forward(self, x):
        return self.channel(self.spatial(x))


def _stage(n, dim, **kw):
    return nn.Sequential(*(CUBlock(dim, **kw) for _ in range(n)))


class CUMamba(nn.Module):
    """The same-size 4-level U-Net (input and output (B, 3, H, W), H and W multiples of 8)."""

    def __init__(self, in_ch: int = 3, dim: int = 48, blocks=(4, 6, 6, 8), refinement: int = 4,
                 d_state: int = 16, expand: int = 2, channel_token_dim: int = 16):
        super().__init__()
        kw = {"d_state": d_state, "expand": expand, "token_dim": channel_token_dim}
        c1, c2, c3, c4 = dim, 2 * dim, 4 * dim, 8 * dim
        self.embed = nn.Conv2d(in_ch, c1, 3, 1, 1)
        self.encoder1 = _stage(blocks[0], c1, **kw)
        self.down1 = nn.Sequential(nn.Conv2d(c1, c1 // 2, 3, 1, 1), nn.PixelUnshuffle(2))
        self.encoder2 = _stage(blocks[1], c2, **kw)
        self.down2 = nn.Sequential(nn.Conv2d(c2, c2 // 2, 3, 1, 1), nn.PixelUnshuffle(2))
        self.encoder3 = _stage(blocks[2], c3, **kw)
        self.down3 = nn.Sequential(nn.Conv2d(c3, c3 // 2, 3, 1, 1), nn.PixelUnshuffle(2))
        self.latent = _stage(blocks[3], c4, **kw)
        self.up3 = nn.Sequential(nn.Conv2d(c4, 2 * c4, 3, 1, 1), nn.PixelShuffle(2))
        self.reduce3 = nn.Conv2d(2 * c3, c3, 1)
        self.decoder3 = _stage(blocks[2], c3, **kw)
        self.up2 = nn.Sequential(nn.Conv2d(c3, 2 * c3, 3, 1, 1), nn.PixelShuffle(2))
        self.reduce2 = nn.Conv2d(2 * c2, c2, 1)
        self.decoder2 = _stage(blocks[1], c2, **kw)
        self.up1 = nn.Sequential(nn.Conv2d(c2, 2 * c2, 3, 1, 1), nn.PixelShuffle(2))
        self.decoder1 = _stage(blocks[0], 2 * c1, **kw)
        self.refinement = _stage(refinement, 2 * c1, **kw)
        self.output = nn.Conv2d(2 * c1, in_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.encoder1(self.embed(x))
        e2 = self.encoder2(self.down1(e1))
        e3 = self.encoder3(self.down2(e2))
        lat = self.latent(self.down3(e3))
        d3 = self.decoder3(self.reduce3(torch.cat([self.up3(lat), e3], 1)))
        d2 = self.decoder2(self.reduce2(torch.cat([self.up2(d3), e2], 1)))
        d1 = self.decoder1(torch.cat([self.up1(d2), e1], 1))
        return self.output(self.refinement(d1)) + x


class CUMambaSR(nn.Module):
    """CU-Mamba on the MATLAB-bicubic-upsampled LR (scale 1: the image itself); any H, W."""

    def __init__(self, scale: int = 4, **config):
        super().__init__()
        self.scale = scale
        self.net = CUMamba(**config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale != 1:
            from protocol.imresize import imresize_matlab

            x = imresize_matlab(x, self.scale).to(x.dtype)
        h, w = x.shape[2:]
        ph, pw = -h % 8, -w % 8
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
        return self.net(x)[..., :h, :w]


CUMAMBA_CARD = register(ModelCard(
    name="CU-Mamba",
    family="CU-Mamba",
    kind="mamba",
    paper=Paper(title="CU-Mamba: Selective State Space Models with Channel Learning for Image Restoration",
                venue="IEEE MIPR", year=2024, url="https://arxiv.org/abs/2404.11778"),
    scales=(1, 2, 3, 4),
    build=lambda scale: CUMambaSR(scale=scale, **CONFIG),
    notes=("Architecture only, weights: none published (no official code either). A same-size restoration "
           "network (the paper does denoising and deblurring, not SR): for x2/x3/x4 srbench runs it on the "
           "MATLAB-bicubic-upsampled LR (protocol.imresize.imresize_matlab), so it works at HR resolution "
           "and its cost grows with s^2; scale 1 is identity-size restoration. Built from the paper's "
           "description: 4-level U-Net (Restormer skeleton), C = 48 channels at level 1 (48/96/192/384), "
           "[4, 6, 6, 8] CU-Mamba blocks per level and 4 refinement blocks; each block is a Spatial SSM "
           "(LayerNorm, 1x1 conv, 3x3 depth-wise conv, SiLU, selective scan over the H*W raster, SiLU gate, "
           "1x1 conv) followed by a Channel SSM (a selective scan over the sequence of channel descriptors, "
           "giving a per-channel gate). The Channel SSM's token features and other layer-level details are "
           "srbench's reading of the paper, not the authors' code. 18,048,023 parameters in this "
           "configuration."),
    config={**CONFIG, "blocks": list(CONFIG["blocks"]), "levels": 4, "channels": [48, 96, 192, 384],
            "skeleton": "Restormer-style U-Net (PixelUnshuffle down, PixelShuffle up, concat skips)",
            "sr_input": "MATLAB bicubic x s upsampled LR", "pad_multiple": 8},
))
