"""BVI-SRF as submitted to the NTIRE 2025 ESR challenge by team 28 (``BVI-SRF-ntire25``).

A slimmed HiT-SR (hierarchical-window transformer, ECCV 2024) trunk: 48 channels, a single stage of
5 blocks with windows of 64, 32, 8, 32 and 64 pixels (base 8 times ratios 8, 4, 1, 4, 8), each
block's correlation reduced to HiT-SR's *channel* self-correlation only, and U-shaped skips inside
the stage:

    t_0 = block_0(t); t_1 = block_1(t_0); t_2 = block_2(t_1)
    t_3 = block_3(convs(cat[t_2, t_1])); t_4 = block_4(convs(cat[t_3, t_0]))   (one shared Linear(96, 48))
    correlation, per window of L pixels: q, v = split(DFE(x)) (24 + 24 channels);
                 x = proj(((q^T v) / L) v^T)     (proj: Linear(24, 48); no softmax, no heads)

The outer network is HiT-SR's (:class:`registry.ops.ntire25_transformer.HiTNet`): DIV2K mean
shift, conv_first, LayerNorm'd tokens, the stage (+ 3x3 conv, + skip), LayerNorm, conv_after_body
+ skip, conv3x3 -> PixelShuffle(4), mean added back.

Facts of the organizers' code (models/team28_bvi_srf_arch.py, class BVI_SRF, built by test_demo.py
with its defaults and data_range 1.0) that this code keeps:

* ``num_heads=[6]`` is accepted but unused (the spatial branch and its position bias are gone, and so
  is the base window: SCC's constructor leaves it commented out).
* The two U-skips go through the *same* ``residual_group.convs`` Linear (one weight, used twice).
* Blocks are post-norm and reflect-pad to the window exactly as HiT-SR's (two-step padding when the
  64-px window exceeds the image; inputs need ~17 px per side); DFE's 3x3 conv sees the padded map.
* Input RGB in [0, 1] (img_range 1.0), output cropped to (4H, 4W), which it already is.

Source: Amazingren/NTIRE2025_ESR@b69fb668c0362deb696eecbfdebfaa5c2fcdfcb4:models/team28_bvi_srf_arch.py
(checkpoint model_zoo/team28_bvi_srfnet_g.pth).
"""

from __future__ import annotations

import torch
from torch import nn

from registry import ModelCard, register
from registry.ops.ntire25 import REPORT, entry, weight_file
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

HIER_WIN_RATIOS = (8, 4, 1, 4, 8)


class ChannelCorrelation(nn.Module):
    """BVI-SRF's correlation: DFE -> windows -> channel self-correlation of q, v halves -> proj."""

    def __init__(self, dim: int, window: tuple[int, int]):
        super().__init__()
        self.window = window
        self.qv = DFE(dim, dim)
        self.proj = nn.Linear(dim // 2, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        qv = window_partition(to_tokens(self.qv(x.permute(0, 3, 1, 2))).reshape(b, h, w, c), self.window)
        q, v = qv[..., : c // 2], qv[..., c // 2:]
        return self.proj(window_reverse(channel_self_correlation(q, v), self.window, h, w))


class SkipGroup(nn.Module):
    """The stage's blocks with U-shaped skips: block i >= depth - (depth-1)//2 first takes
    ``convs(cat[x, out[depth - i - 1]])`` (one Linear shared by every skip)."""

    def __init__(self, dim: int, depth: int, base_window: tuple[int, int], mlp_ratio: float,
                 ratios: tuple[float, ...]):
        super().__init__()
        self.depth = depth
        wins = [(int(base_window[0] * r), int(base_window[1] * r)) for r in ratios]
        self.blocks = nn.ModuleList(
            HiTBlock(dim, ChannelCorrelation(dim, wins[i]), wins[i], mlp_ratio) for i in range(depth))
        self.convs = nn.Linear(2 * dim, dim)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        outs: list[torch.Tensor] = []
        first_skip = self.depth - (self.depth - 1) // 2
        for i, blk in enumerate(self.blocks):
            if i >= first_skip:
                x = self.convs(torch.cat([x, outs[self.depth - i - 1]], -1))
            x = blk(x, size)
            outs.append(x)
        return x


class BVISRF(HiTNet):
    """BVI-SRF, NTIRE 2025 configuration: 48 channels, one stage of 5 blocks, windows 64/32/8/32/64."""

    def __init__(self, scale: int = 4, dim: int = 48, depth: int = 5, base_window: tuple[int, int] = (8, 8),
                 mlp_ratio: float = 2.0, ratios: tuple[float, ...] = HIER_WIN_RATIOS):
        stage = HiTStage(dim, SkipGroup(dim, depth, base_window, mlp_ratio, ratios))
        super().__init__([stage], dim, scale=scale, img_range=1.0)


# --------------------------------------------------------------------------------------------------
# Card

N_PARAMS = 154839


def build(scale: int) -> nn.Module:
    return BVISRF(scale=scale)


BVISRF_NTIRE25 = register(ModelCard(
    name="BVI-SRF-ntire25",
    family="BVI-SRF",
    kind="transformer",
    paper=REPORT,
    scales=(4,),
    build=build,
    weights=(
        weight_file(
            "team28_bvi_srfnet_g.pth", "3f57996fd52df0a41ca6b5ba1ff07d1a1c3b808a647c49c9c5f566e0733a7386",
            state_key="params",
            notes="team 28; BasicSR-style dict {'params': ...} (a generator's weights, '_g'), 114 tensors, "
                  "154,839 parameters, float32; no re-parameterisation (no training-only branches)"),
    ),
    published=(),
    notes=(
        "NTIRE 2025 ESR entry of team 28: a HiT-SR-derived transformer (one stage of 5 hierarchical-window "
        "blocks, windows 64/32/8/32/64, channel self-correlation only, U-shaped skips through one shared "
        "Linear). No separate paper: the card cites the challenge report. "
        "Loading: test_demo.py loads torch.load(...)['params'] with strict=True, and srbench loads the same "
        "dict strictly: the 114 tensors of the file are exactly the parameters of the organizers' class "
        "(num_heads is accepted there but builds nothing; the DIV2K mean is a plain attribute there, a "
        "non-persistent buffer here). Input RGB in [0, 1] (data_range 1.0). Inputs need at least ~17 px per "
        "side (the 64-px windows' two-step reflect padding, as in the organizers' code). Sanity here: Set5 x4 "
        "Y-PSNR 31.99 dB / SSIM 0.8912 (bicubic 28.42). The challenge "
        "report's per-team figures (RGB PSNR on DIV2K_LSDIR, runtime, FLOPs, rank) could not be read in "
        "this session, so no published rows are given yet."
    ),
    config={"embed_dim": 48, "depths": (5,), "base_window": (8, 8), "hier_win_ratios": HIER_WIN_RATIOS,
            "windows": (64, 32, 8, 32, 64), "mlp_ratio": 2.0, "correlation": "channel only (single head)",
            "img_range": 1.0, "rgb_mean": (0.4488, 0.4371, 0.4040), "upsampler": "conv3x3 + PixelShuffle(4)",
            "params": N_PARAMS},
    challenge=entry(28, "BVI-SRF"),
))
