"""MambaCSR: Dual-Interleaved Scanning for Compressed Image Super-Resolution With SSMs (Ren et al., 2024).

Architecture only (the weights are on Google Drive, not in a repository).  The network is the authors'
"Final" configuration (``options/test/test_MambaCSR_Q10_Final.yml`` of renyulin-f/MambaCSR, read for
facts, not copied): embed dim 180, 6 residual groups x 6 blocks, d_state 16, window 8, a cross-scale
branch of one 6-block group plus one cross-scale fusion module, pixel-shuffle x4.

Pieces, as in the authors' ``mambacsr_arch.py``:
- *Residual local Mamba block* (RLMB): x = x*s1 + SS2D(LN(x)) + 0.01*CAB(LN(x)); x = x*s2 + MLP(LN(x)).
  The SS2D scans its K = 2 directions with one grouped selective scan; each direction's output is put
  back in raster order, gated by a shared channel attention (BiAttn) and summed, then LayerNorm'd.
- *Dual-interleaved scanning*: inside a group, block i uses the scan pair
  [w8, w8 flipped] / [column-first w8, flipped] / [w64, flipped] / [column-first w64, flipped] for
  i mod 4 = 0 / 1 / 2 / 3: window-8 (local) and window-64 (near-sequential) scans interleave
  (hierarchical interleaving), and row-first and column-first orders alternate (horizontal-to-vertical
  interleaving).  A window scan visits windows in row (or column) order and the pixels of a window
  in the same order; images are zero-padded to whole windows.
- *Position-aligned cross-scale scanning*: the features are also bilinearly halved and run through a
  6-block group of their own; a cross-scale module then scans one sequence that interleaves every
  half-resolution token with the 2x2 full-resolution tokens it covers (window 16 / 8, row- and
  column-first, both flipped: K = 4), and keeps the full-resolution outputs.

Inputs are mirror-padded to a multiple of 16 (the nested cross-scale scan needs whole 16x16 windows)
and the output is cropped back.  The authors' own test script instead cuts images into ~192-pixel
tiles with overlap and mirror-pads each to the next multiple of 64.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from registry import Paper, register
from registry.base import ModelCard
from registry.ops.scan import selective_scan

__all__ = ["MambaCSR"]

_RGB_MEAN = (0.4488, 0.4371, 0.4040)
PAD_MULTIPLE = 16


# ---------------------------------------------------------------------------------------------- scans
@lru_cache(maxsize=256)
def _window_order(H: int, W: int, w: int, column_first: bool, flip: bool) -> torch.Tensor:
    """Raster index of each position of a window scan; H*W marks a zero-padding token."""
    Hg, Wg = -(-H // w), -(-W // w)
    hh = torch.arange(Hg * w)[:, None]
    ww = torch.arange(Wg * w)[None, :]
    pos = torch.where((hh < H) & (ww < W), hh * W + ww, torch.full((), H * W))
    pos = pos.view(Hg, w, Wg, w)
    pos = pos.permute(2, 0, 3, 1) if column_first else pos.permute(0, 2, 1, 3)
    pos = pos.reshape(-1)
    return pos.flip(0) if flip else pos


@lru_cache(maxsize=256)
def _cross_order(H: int, W: int, w: int, column_first: bool, flip: bool) -> torch.Tensor:
    """Index of each position of a cross-scale scan over [full-res (H*W) ++ half-res (H*W/4)] tokens.

    The full-resolution tokens are visited by w x w windows and, inside a window, by 2x2 cells (cells in
    row/column order, pixels of a cell in the same order); the half-resolution map by (w/2)-windows.
    Each half-resolution token comes right before the four full-resolution tokens of its cell.
    """
    if H % w or W % w:
        raise ValueError(f"cross-scale scan needs H, W multiples of {w}; got {H}x{W}")
    Hg, Wg, c = H // w, W // w, w // 2
    hi = torch.arange(H * W).view(Hg, c, 2, Wg, c, 2)  # (hg, a, dh, wg, b, dw)
    hi = hi.permute(3, 0, 4, 1, 5, 2) if column_first else hi.permute(0, 3, 1, 4, 2, 5)
    hi = hi.reshape(-1, 4)
    lo = _window_order(H // 2, W // 2, c, column_first, False) + H * W
    if flip:
        hi, lo = hi.flip(0).flip(1), lo.flip(0)
    return torch.cat([lo[:, None], hi], dim=1).reshape(-1)


def _inverse(order: torch.Tensor, n: int) -> torch.Tensor:
    """Sequence position of each raster index < n (the positions that carry real full-res tokens)."""
    keep = order < n
    inv = torch.empty(n, dtype=torch.long)
    inv[order[keep]] = torch.nonzero(keep).squeeze(1)
    return inv


@lru_cache(maxsize=256)
def _plan(H: int, W: int, directions: tuple[str, ...], cross: bool):
    """(orders, inverses) for a tuple of directions such as ('w8', 'w8_flip', 'c_w8', 'c_w8_flip')."""
    orders = []
    for d in directions:
        column_first = d.startswith("c_")
        w = int(d.removeprefix("c_")[1:].split("_")[0])
        flip = d.endswith("_flip")
        orders.append(_cross_order(H, W, w, column_first, flip) if cross
                      else _window_order(H, W, w, column_first, flip))
    if len({len(o) for o in orders}) != 1:
        raise ValueError(f"directions {directions} give scans of different lengths at {H}x{W}")
    invs = [_inverse(o, H * W) for o in orders]
    return torch.stack(orders), torch.stack(invs)


# ----------------------------------------------------------------------------------------- modules
class _CAB(nn.Module):
    """Channel-attention block (RCAN style): conv3x3 -> GELU -> conv3x3 -> channel attention."""

    def __init__(self, dim: int, compress: int = 24, squeeze: int = 24):
        super().__init__()
        mid, sq = dim // compress, dim // squeeze
        self.cab = nn.Sequential(
            nn.Conv2d(dim, mid, 3, 1, 1), nn.GELU(), nn.Conv2d(mid, dim, 3, 1, 1),
            _ChannelAttention(dim, sq))

    def forward(self, x):
        return self.cab(x)


class _ChannelAttention(nn.Module):
    def __init__(self, dim: int, mid: int):
        super().__init__()
        self.attention = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, mid, 1), nn.ReLU(inplace=True),
                                       nn.Conv2d(mid, dim, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.attention(x)


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class _BiAttn(nn.Module):
    """Global channel gate applied to each direction's output (B, L, C)."""

    def __init__(self, dim: int, ratio: float = 0.125):
        super().__init__()
        r = int(dim * ratio)
        self.norm = nn.LayerNorm(dim)
        self.global_reduce = nn.Linear(dim, r)
        self.act_fn = nn.GELU()
        self.channel_select = nn.Linear(r, dim)

    def forward(self, x):
        g = self.norm(x).mean(1, keepdim=True)
        return x * torch.sigmoid(self.channel_select(self.act_fn(self.global_reduce(g))))


class _MultiScan(nn.Module):
    """Holds the shared direction gate (``attn``); the scan orders are index tables."""

    def __init__(self, dim: int):
        super().__init__()
        self.attn = _BiAttn(dim)


def _dt_init(d_inner: int, dt_rank: int, k: int, dt_min=0.001, dt_max=0.1, floor=1e-4):
    std = dt_rank ** -0.5
    w = torch.empty(k, d_inner, dt_rank).uniform_(-std, std)
    dt = torch.exp(torch.rand(k, d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
    dt = dt.clamp(min=floor)
    return w, dt + torch.log(-torch.expm1(-dt))


class _SS2D(nn.Module):
    """K-direction selective-scan core shared by the local (LW_SS2D) and cross-scale modules."""

    def __init__(self, d_model: int, directions, d_state: int = 16, ssm_ratio: float = 2.0):
        super().__init__()
        E = int(ssm_ratio * d_model)
        self.directions = tuple(directions)
        K = len(self.directions)
        self.d_inner, self.d_state = E, d_state
        self.dt_rank = math.ceil(d_model / 16)
        self.out_norm = nn.LayerNorm(E)
        self.in_proj = nn.Linear(d_model, 2 * E, bias=False)
        self.conv2d = nn.Conv2d(E, E, 3, 1, 1, groups=E, bias=True)
        bound = 1 / math.sqrt(E)
        self.x_proj_weight = nn.Parameter(torch.empty(K, self.dt_rank + 2 * d_state, E).uniform_(-bound, bound))
        w, b = _dt_init(E, self.dt_rank, K)
        self.dt_projs_weight = nn.Parameter(w)
        self.dt_projs_bias = nn.Parameter(b)
        self.A_logs = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(K * E, 1))
        self.Ds = nn.Parameter(torch.ones(K * E))
        self.out_proj = nn.Linear(E, d_model, bias=False)
        self.multi_scan = _MultiScan(E)

    def _scan(self, xs: torch.Tensor) -> torch.Tensor:
        """xs (B, K, E, L) in scan order -> per-direction outputs (B, K, E, L)."""
        B, K, E, L = xs.shape
        N, R = self.d_state, self.dt_rank
        x_dbl = torch.einsum("bkdl,kcd->bkcl", xs, self.x_proj_weight)
        dts, Bs, Cs = torch.split(x_dbl, [R, N, N], dim=2)
        dts = torch.einsum("bkrl,kdr->bkdl", dts, self.dt_projs_weight)
        ys = selective_scan(xs.reshape(B, K * E, L).float(), dts.reshape(B, K * E, L).float(),
                            -torch.exp(self.A_logs.float()), Bs.float().contiguous(), Cs.float().contiguous(),
                            self.Ds.float(), None, self.dt_projs_bias.reshape(-1).float(), True)
        return ys.view(B, K, E, L)

    def _merge(self, ys: torch.Tensor, invs: torch.Tensor, H: int, W: int) -> torch.Tensor:
        """Back to raster order, gate each direction, sum, LayerNorm -> (B, H, W, E)."""
        B, K, E, _ = ys.shape
        out = 0
        for k in range(K):
            yk = ys[:, k].index_select(-1, invs[k].to(ys.device)).transpose(1, 2)  # (B, HW, E)
            out = out + self.multi_scan.attn(yk)
        return self.out_norm(out).view(B, H, W, E)


class _LocalSS2D(_SS2D):
    """LW_SS2D: in_proj -> (x, SiLU gate); x -> dwconv3x3 -> SiLU -> K window scans -> * gate -> out_proj."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, H, W, C)
        B, H, W, _ = x.shape
        x, z = self.in_proj(x).chunk(2, dim=-1)
        x = F.silu(self.conv2d(x.permute(0, 3, 1, 2)))
        orders, invs = _plan(H, W, self.directions, False)
        flat = F.pad(x.flatten(2), (0, 1))  # a zero token at index H*W for the window padding
        xs = flat[:, None].expand(-1, len(self.directions), -1, -1)
        xs = torch.gather(xs, 3, orders.to(x.device)[None, :, None, :].expand(B, -1, self.d_inner, -1))
        y = self._merge(self._scan(xs), invs, H, W)
        return self.out_proj(y * F.silu(z))


class _RLMBlock(nn.Module):
    def __init__(self, dim: int, directions, d_state: int = 16, mlp_ratio: float = 2.0):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.self_attention = _LocalSS2D(dim, directions, d_state)
        self.skip_scale = nn.Parameter(torch.ones(dim))
        self.conv_block = _CAB(dim, 24, 24)
        self.ln_2 = nn.LayerNorm(dim)
        self.skip_scale2 = nn.Parameter(torch.ones(dim))
        self.mlp = _Mlp(dim, int(mlp_ratio * dim))

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        B, _, C = x.shape
        inp = x.view(B, *hw, C)
        y = self.ln_1(inp)
        conv = self.conv_block(y.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        y = inp * self.skip_scale + self.self_attention(y) + conv * 0.01
        y = y * self.skip_scale2 + self.mlp(self.ln_2(y))
        return y.reshape(B, -1, C)


def _block_directions(i: int, scan_size: int) -> tuple[str, str]:
    """Dual-interleaved scanning: the direction pair of block i of a group."""
    w = (scan_size, scan_size, 64, 64)[i % 4]
    prefix = "c_" if i % 2 else ""
    return f"{prefix}w{w}", f"{prefix}w{w}_flip"


class _Blocks(nn.Module):
    def __init__(self, dim, depth, d_state, mlp_ratio, scan_size):
        super().__init__()
        self.blocks = nn.ModuleList(_RLMBlock(dim, _block_directions(i, scan_size), d_state, mlp_ratio)
                                    for i in range(depth))

    def forward(self, x, hw):
        for blk in self.blocks:
            x = blk(x, hw)
        return x


class _Group(nn.Module):
    """Residual local Mamba group: tokens + conv3x3(blocks(tokens))."""

    def __init__(self, dim, depth, d_state, mlp_ratio, scan_size):
        super().__init__()
        self.residual_group = _Blocks(dim, depth, d_state, mlp_ratio, scan_size)
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1)

    def forward(self, x, hw):
        y = self.residual_group(x, hw)
        y = y.transpose(1, 2).reshape(x.shape[0], -1, *hw)
        return self.conv(y).flatten(2).transpose(1, 2) + x


class _CrossSS2D(_SS2D):
    """Cross-scale fusion: one scan over interleaved half-/full-resolution tokens (K = 4 directions)."""

    def __init__(self, d_model: int, d_state: int = 16, window: int = 16):
        dirs = (f"w{window}", f"w{window}_flip", f"c_w{window}", f"c_w{window}_flip")
        super().__init__(d_model, dirs, d_state)
        E = self.d_inner
        self.in_proj_down = nn.Linear(d_model, 2 * E, bias=False)
        self.ln_1 = nn.LayerNorm(d_model)
        self.ln_2 = nn.LayerNorm(d_model)
        self.conv2d2 = nn.Conv2d(E, E, 3, 1, 1, groups=E, bias=True)
        self.mlp = _Mlp(d_model, 4 * d_model)
        self.skip_scale = nn.Parameter(torch.ones(d_model))
        self.skip_scale2 = nn.Parameter(torch.ones(d_model))

    def forward(self, x, x_down, hw):
        B, _, C = x.shape
        H, W = hw
        inp = x.view(B, H, W, C)
        xz = self.in_proj(self.ln_1(inp))
        x, z = xz.chunk(2, dim=-1)
        x = F.silu(self.conv2d(x.permute(0, 3, 1, 2)))
        # The half-resolution tokens: no LayerNorm before in_proj_down, their gate is unused (as the authors').
        xd = self.in_proj_down(x_down.view(B, H // 2, W // 2, C)).chunk(2, dim=-1)[0]
        xd = F.silu(self.conv2d2(xd.permute(0, 3, 1, 2)))
        orders, invs = _plan(H, W, self.directions, True)
        flat = torch.cat([x.flatten(2), xd.flatten(2)], dim=2)  # (B, E, HW + HW/4)
        xs = flat[:, None].expand(-1, len(self.directions), -1, -1)
        xs = torch.gather(xs, 3, orders.to(x.device)[None, :, None, :].expand(B, -1, self.d_inner, -1))
        y = self._merge(self._scan(xs), invs, H, W)
        out = inp * self.skip_scale + self.out_proj(y * F.silu(z))
        out = out * self.skip_scale2 + self.mlp(self.ln_2(out))
        return out.reshape(B, -1, C)


class _PatchNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        return self.norm(x.flatten(2).transpose(1, 2))


class MambaCSR(nn.Module):
    def __init__(self, upscale: int = 4, embed_dim: int = 180, depths=(6, 6, 6, 6, 6, 6), depths2=(6,),
                 d_state: int = 16, mlp_ratio: float = 2.0, scan_size: int = 8, in_ch: int = 3,
                 num_feat: int = 64, cross_scale: bool = True):
        super().__init__()
        if upscale & (upscale - 1) and upscale != 3:
            raise ValueError(f"MambaCSR upsampler supports x2^n and x3, not x{upscale}")
        self.upscale = upscale
        self.cross_scale = cross_scale
        self.register_buffer("mean", torch.tensor(_RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        self.conv_first = nn.Conv2d(in_ch, embed_dim, 3, 1, 1)
        self.patch_embed = _PatchNorm(embed_dim)
        self.layers = nn.ModuleList(_Group(embed_dim, d, d_state, mlp_ratio, scan_size) for d in depths)
        if cross_scale:
            self.patch_embed2 = _PatchNorm(embed_dim)
            self.layers2 = nn.ModuleList(_Group(embed_dim, d, d_state, mlp_ratio, 8) for d in depths2)
            self.layers3 = nn.ModuleList(_CrossSS2D(embed_dim, d_state, 16) for _ in depths2)
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = nn.Conv2d(embed_dim, embed_dim, 3, 1, 1)
        self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, num_feat, 3, 1, 1), nn.LeakyReLU(inplace=True))
        ups = []
        if upscale == 3:
            ups += [nn.Conv2d(num_feat, 9 * num_feat, 3, 1, 1), nn.PixelShuffle(3)]
        else:
            for _ in range(int(math.log2(upscale))):
                ups += [nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1), nn.PixelShuffle(2)]
        self.upsample = nn.Sequential(*ups)
        self.conv_last = nn.Conv2d(num_feat, in_ch, 3, 1, 1)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        hw = (H, W)
        if self.cross_scale:
            xd = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
            hw_d = (xd.shape[2], xd.shape[3])
            xd = self.patch_embed2(xd)
        t = self.patch_embed(x)
        for i, layer in enumerate(self.layers):
            t = layer(t, hw)
            if self.cross_scale and i < len(self.layers2):
                xd = self.layers2[i](xd, hw_d)
                t = self.layers3[i](t, xd, hw)
        t = self.norm(t)
        return t.transpose(1, 2).reshape(B, C, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        x = _mirror_pad(x, PAD_MULTIPLE)
        x = x - self.mean
        feat = self.conv_first(x)
        feat = self.conv_after_body(self.forward_features(feat)) + feat
        out = self.conv_last(self.upsample(self.conv_before_upsample(feat))) + self.mean
        return out[..., :h * self.upscale, :w * self.upscale]


def _mirror_pad(x: torch.Tensor, m: int) -> torch.Tensor:
    """Pad bottom/right to multiples of m by appending the flipped image (the authors' test padding)."""
    h, w = x.shape[2:]
    H, W = -(-h // m) * m, -(-w // m) * m
    while x.shape[2] < H:
        x = torch.cat([x, x.flip(2)], 2)
    while x.shape[3] < W:
        x = torch.cat([x, x.flip(3)], 3)
    return x[:, :, :H, :W]


_CONFIG = {"embed_dim": 180, "depths": [6, 6, 6, 6, 6, 6], "depths2 (cross-scale group)": [6],
           "cross_scale_modules": 1, "d_state": 16, "ssm_ratio": 2.0, "dt_rank": 12, "scan_size": 8,
           "long_window": 64, "cross_scale_window": 16, "mlp_ratio": 2, "CAB": "compress 24, squeeze 24",
           "upsampler": "conv3x3 180->64 + LeakyReLU, 2 x (conv3x3 64->256 + PixelShuffle 2), conv3x3 64->3",
           "img_range": 1.0, "rgb_mean": list(_RGB_MEAN), "pad_multiple": PAD_MULTIPLE,
           "degradations": ["jpeg10", "jpeg20", "jpeg30", "jpeg40"], "scale": 4}

MAMBACSR_CARD = register(ModelCard(
    name="MambaCSR",
    family="MambaCSR",
    kind="mamba",
    paper=Paper(title="MambaCSR: Dual-Interleaved Scanning for Compressed Image Super-Resolution With SSMs",
                venue="arXiv", year=2024, url="https://arxiv.org/abs/2408.11758"),
    scales=(4,),
    build=lambda scale: MambaCSR(upscale=scale),
    notes=("Architecture only: no checkpoint is published in a repository (the authors' two QF10 x4 weights "
           "are on Google Drive), so srbench reports its efficiency, not its accuracy. A compressed-image "
           "SR model: registered for the JPEG tracks at x4 (jpeg10/20/30/40 = JPEG of the x4 bicubic LR), "
           "where its paper evaluates it; it also runs on clean bicubic LR. Configuration of the authors' "
           "'Final' model (cross-scale scanning on): embed dim 180, 6 groups x 6 residual local Mamba blocks, "
           "d_state 16, window 8 / 64 dual-interleaved scans, one cross-scale group of 6 blocks and one "
           "cross-scale module (window 16). srbench mirror-pads inputs to a multiple of 16 and runs the "
           "whole image; the authors' test script tiles images (~192 px, overlapping) and pads each tile "
           "to the next multiple of 64. 22,051,842 parameters."),
    config=_CONFIG,
))

