"""HiT-SRF as submitted to the NTIRE 2025 ESR challenge by team 54 (``HiT-SRF-ntire25``).

HiT-SRF is the SRFormer-light variant of HiT-SR (Zhang, Zhang and Yu, "HiT-SR: Hierarchical
Transformer for Efficient Image Super-Resolution", ECCV 2024): 60 channels, 4 residual stages of 6
blocks; the six blocks of a stage use windows of 4, 8, 16, 32, 48 and 64 pixels (base window 8 times
ratios 0.5, 1, 2, 4, 6, 8). Each block's spatial-channel correlation (SCC) is, per window of L pixels:

    q, v   = split(DFE(x))                       (30 + 30 channels, 6 heads of 5)
    S-SC:  v_s = Linear(v pooled over each of the base-window cells)   (spatial_linear, sH*sW -> 1)
           x_s = (q v_s^T / 5 + B_pos) v_s       (no softmax; divided by head_dim, not its root)
    C-SC:  x_c = ((q^T v) / L) v^T              (single head over 30 channels)
    out    = proj(cat[x_s, x_c])

``B_pos`` is a dynamic position bias: an MLP (CrossFormer's DynamicPosBias, non-residual: Linear(2,
3) then 3 x [LayerNorm, ReLU, Linear]) on every relative offset of the window, *averaged* over the
pixels of each base-window cell the keys were pooled from.

Facts of the organizers' code (models/team54_HITSR.py, class HiT_SRF, built by test_demo.py with
embed_dim 60, depths 4 x 6, heads 6, base window 8, mlp_ratio 2 (its ``expansion_factor=2`` lands in
**kwargs unused), img_range 1.0, 'pixelshuffledirect', data_range 1.0) that this code keeps:

* The base window of a block is ``min(window, 8)`` per side, so the 4-px blocks pool 4x4 cells of
  one pixel (spatial_linear is Linear(1, 1)) and the 64-px blocks pool 8x8 cells (Linear(64, 1)).
* Blocks are post-norm: ``x = x + LN1(SCC(pad(x))[:H, :W])`` then ``x = x + LN2(FFN(x))``; the map
  is reflect-padded to the window (two-step when the window exceeds the image, see
  :func:`registry.ops.ntire25_transformer.pad_to_window`); DFE's 3x3 conv sees the padded map.
* Input RGB in [0, 1], DIV2K mean subtracted and added back (img_range 1.0, no 255 scaling).

One deliberate difference in *how* (not what) is computed: the authors build the position bias by
gathering a (L, L, heads) table (for a 64-px window, 4096 x 4096 x 6 values) and averaging it over
each cell. The bias depends on the offset only, so that average equals a box filter of the (2H-1,
2W-1) offset table, indexed per (query, cell): we compute it that way (``unfold`` + ``mean``), a few
MB instead of ~1 GB per block; tests/test_registry_ntire25_transformer.py checks it equals the
gather-and-average form in float64.

Source: Amazingren/NTIRE2025_ESR@b69fb668c0362deb696eecbfdebfaa5c2fcdfcb4:models/team54_HITSR.py
(checkpoint model_zoo/team54_HITSR.pth).
"""

from __future__ import annotations

import torch
from torch import nn

from registry import ModelCard, Paper, register
from registry.ops.ntire25 import entry, weight_file
from registry.ops.ntire25_transformer import (
    DFE,
    HiTBlock,
    HiTNet,
    HiTStage,
    channel_self_correlation,
    to_tokens,
    window_partition,
    window_reverse,
)

HIER_WIN_RATIOS = (0.5, 1, 2, 4, 6, 8)


class DynamicPosBias(nn.Module):
    """CrossFormer's dynamic position bias (residual=False): offsets (N, 2) -> biases (N, heads)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        pos_dim = dim // 4
        self.pos_proj = nn.Linear(2, pos_dim)
        self.pos1 = nn.Sequential(nn.LayerNorm(pos_dim), nn.ReLU(), nn.Linear(pos_dim, pos_dim))
        self.pos2 = nn.Sequential(nn.LayerNorm(pos_dim), nn.ReLU(), nn.Linear(pos_dim, pos_dim))
        self.pos3 = nn.Sequential(nn.LayerNorm(pos_dim), nn.ReLU(), nn.Linear(pos_dim, num_heads))

    def forward(self, offsets: torch.Tensor) -> torch.Tensor:
        return self.pos3(self.pos2(self.pos1(self.pos_proj(offsets))))


def offset_table(pos: nn.Module, win: tuple[int, int], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The bias MLP on every relative offset (dh, dw) of a window: (2H-1, 2W-1, heads)."""
    hh, ww = win
    dh = torch.arange(1 - hh, hh, device=device, dtype=dtype)
    dw = torch.arange(1 - ww, ww, device=device, dtype=dtype)
    grid = torch.stack(torch.meshgrid(dh, dw, indexing="ij"), -1).reshape(-1, 2)
    return pos(grid).reshape(2 * hh - 1, 2 * ww - 1, -1)


def cell_bias(table: torch.Tensor, win: tuple[int, int], base: tuple[int, int]) -> torch.Tensor:
    """Position bias of query pixel i to base-window cell b: the mean of ``table[i - j]`` over the
    pixels j of cell b, as (heads, H*W, bH*bW). Computed as a box filter of the offset table."""
    hh, ww = win
    sh, sw = hh // base[0], ww // base[1]
    # box[u, v] = mean(table[u:u+sh, v:v+sw]); for query (ih, iw) and cell (bh, bw) the offsets
    # ih - jh + H-1 over jh in the cell are the rows u..u+sh-1 with u = ih - bh*sh + H - sh.
    box = table.unfold(0, sh, 1).unfold(1, sw, 1).mean((-2, -1))
    dev = table.device
    u = torch.arange(hh, device=dev)[:, None] - sh * torch.arange(base[0], device=dev)[None, :] + hh - sh
    v = torch.arange(ww, device=dev)[:, None] - sw * torch.arange(base[1], device=dev)[None, :] + ww - sw
    bias = box[u[:, None, :, None], v[None, :, None, :]]  # (H, W, bH, bW, heads)
    return bias.reshape(hh * ww, base[0] * base[1], -1).permute(2, 0, 1)


def cell_bias_reference(table: torch.Tensor, win: tuple[int, int], base: tuple[int, int]) -> torch.Tensor:
    """The same bias the authors' way: gather the full (L, L, heads) table, average over each cell.
    Memory grows as L^2 (use small windows); kept for the test of :func:`cell_bias`."""
    hh, ww = win
    sh, sw = hh // base[0], ww // base[1]
    ih, iw = torch.meshgrid(torch.arange(hh), torch.arange(ww), indexing="ij")
    ih, iw = ih.flatten(), iw.flatten()
    full = table[(ih[:, None] - ih[None, :] + hh - 1), (iw[:, None] - iw[None, :] + ww - 1)]  # (L, L, heads)
    full = full.reshape(hh * ww, base[0], sh, base[1], sw, -1).permute(0, 1, 3, 5, 2, 4)
    return full.reshape(hh * ww, base[0] * base[1], -1, sh * sw).mean(-1).permute(2, 0, 1)


class SCC(nn.Module):
    """Spatial-channel correlation on a padded (B, H, W, C) map, for one window size."""

    def __init__(self, dim: int, window: tuple[int, int], base_window: tuple[int, int], num_heads: int):
        super().__init__()
        self.window = window
        self.num_heads = num_heads
        self.base = (min(window[0], base_window[0]), min(window[1], base_window[1]))
        self.head_dim = dim // (2 * num_heads)
        self.qv = DFE(dim, dim)
        self.proj = nn.Linear(dim, dim)
        cell = (window[0] // self.base[0]) * (window[1] // self.base[1])
        self.spatial_linear = nn.Linear(cell, 1)
        self.pos = DynamicPosBias(dim // 4, num_heads)

    def _pool_cells(self, v: torch.Tensor) -> torch.Tensor:
        """(B, heads, L, ch) -> (B, heads, bH*bW, ch): spatial_linear over the pixels of each cell."""
        b, nh, _, ch = v.shape
        (hh, ww), (bh, bw) = self.window, self.base
        v = v.reshape(b, nh, bh, hh // bh, bw, ww // bw, ch).permute(0, 1, 2, 4, 6, 3, 5)
        return self.spatial_linear(v.reshape(b, nh, bh * bw, ch, -1)).reshape(b, nh, bh * bw, ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        qv = to_tokens(self.qv(x.permute(0, 3, 1, 2))).reshape(b, h, w, c)
        qv = window_partition(qv, self.window)  # (B', L, C)
        nb, length, _ = qv.shape
        qv = qv.reshape(nb, length, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, v = qv[0], qv[1]  # (B', heads, L, ch)

        # spatial self-correlation
        vs = self._pool_cells(v)
        table = offset_table(self.pos, self.window, x.dtype, x.device)
        corr = (q @ vs.transpose(-2, -1)) / self.head_dim + cell_bias(table, self.window, self.base)[None]
        xs = (corr @ vs).permute(0, 2, 1, 3).reshape(nb, length, c // 2)

        # channel self-correlation (one head over the c/2 channels)
        qc = q.permute(0, 2, 1, 3).reshape(nb, length, c // 2)
        vc = v.permute(0, 2, 1, 3).reshape(nb, length, c // 2)
        xc = channel_self_correlation(qc, vc)

        out = torch.cat([window_reverse(xs, self.window, h, w), window_reverse(xc, self.window, h, w)], -1)
        return self.proj(out)


class HiTGroup(nn.Module):
    """A stage's blocks, window k = base * ratio_k (key ``residual_group.blocks.k``)."""

    def __init__(self, dim: int, depth: int, num_heads: int, base_window: tuple[int, int], mlp_ratio: float,
                 ratios: tuple[float, ...]):
        super().__init__()
        wins = [(int(base_window[0] * r), int(base_window[1] * r)) for r in ratios]
        self.blocks = nn.ModuleList(
            HiTBlock(dim, SCC(dim, wins[i], base_window, num_heads), wins[i], mlp_ratio) for i in range(depth))

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x, size)
        return x


class HiTSRF(HiTNet):
    """HiT-SRF, NTIRE 2025 configuration: 60 channels, 4 x 6 blocks, 6 heads, base window 8."""

    def __init__(self, scale: int = 4, dim: int = 60, depths: tuple[int, ...] = (6, 6, 6, 6), num_heads: int = 6,
                 base_window: tuple[int, int] = (8, 8), mlp_ratio: float = 2.0,
                 ratios: tuple[float, ...] = HIER_WIN_RATIOS):
        stages = [HiTStage(dim, HiTGroup(dim, d, num_heads, base_window, mlp_ratio, ratios)) for d in depths]
        super().__init__(stages, dim, scale=scale, img_range=1.0)


# --------------------------------------------------------------------------------------------------
# Card

N_PARAMS = 866420

_PAPER = Paper(title="HiT-SR: Hierarchical Transformer for Efficient Image Super-Resolution",
               venue="ECCV 2024", year=2024, url="https://arxiv.org/abs/2407.05878")


def build(scale: int) -> nn.Module:
    return HiTSRF(scale=scale)


HITSRF_NTIRE25 = register(ModelCard(
    name="HiT-SRF-ntire25",
    family="HiT-SR",
    kind="transformer",
    paper=_PAPER,
    scales=(4,),
    build=build,
    weights=(
        weight_file(
            "team54_HITSR.pth", "dffb47c5a7e1e28755cde32d9fa4c19f14e965d6c63491da39419bf3699ec456", state_key="params",
            notes="team 54; BasicSR-style dict {'params': ...}, 882 tensors, 866,420 parameters, all float32; "
                  "no re-parameterisation (the network has no training-only branches)"),
    ),
    published=(),
    notes=(
        "NTIRE 2025 ESR entry of team 54: HiT-SRF, the SRFormer-light variant of HiT-SR (ECCV 2024), in its "
        "paper configuration (60 channels, 4 stages x 6 blocks, hierarchical windows 4/8/16/32/48/64, 866K "
        "parameters, the size the paper gives for HiT-SRF x4). Whether the file is the paper's released x4 "
        "checkpoint is not stated by the organizers. "
        "Loading: test_demo.py loads torch.load(...)['params'] with strict=True, and srbench loads the same "
        "dict strictly: the 882 tensors of the file are exactly the 882 parameters of the organizers' class "
        "(no buffers; the DIV2K mean is a plain attribute there, a non-persistent buffer here). "
        "Input RGB in [0, 1] (data_range 1.0, img_range 1.0), DIV2K mean subtracted and added back. "
        "The position bias is computed as a box filter of the offset table instead of the authors' "
        "(L x L)-sized gather (same values, ~1 GB less memory per 64-px block); see the module docstring. "
        "Inputs need at least ~17 px per side (the 64-px windows' two-step reflect padding, as in the "
        "organizers' code). Sanity here: Set5 x4 Y-PSNR 32.57 dB / SSIM 0.9000 (bicubic 28.42). "
        "The challenge report's per-team figures (RGB PSNR on DIV2K_LSDIR, runtime, "
        "FLOPs, rank) could not be read in this session, so no published rows are given yet."
    ),
    config={"embed_dim": 60, "depths": (6, 6, 6, 6), "num_heads": 6, "base_window": (8, 8),
            "hier_win_ratios": HIER_WIN_RATIOS, "windows": (4, 8, 16, 32, 48, 64), "mlp_ratio": 2.0,
            "img_range": 1.0, "rgb_mean": (0.4488, 0.4371, 0.4040), "upsampler": "conv3x3 + PixelShuffle(4)",
            "params": N_PARAMS},
    challenge=entry(54, "HiT-SRF"),
))
