"""ESRNet, team 38's NTIRE 2025 ESR entry: SPAN (28 channels, folded convs) with a seventh one-conv block
added, at a weight of 1e-5, to the tail.

Forward pass (input RGB in [0, 1]; the output is used as [0, 1]):

    x  <- (x - mean_DIV2K) * 255
    f0 = conv_1(x); out_k = SPAB_k(out_{k-1}) (k = 1..6; out_0 = f0)
    tail = conv_2(out_6) + 1e-5 * block_7(out_6)                     block_7: one folded 3x3 conv
    SR = PixelShuffle(4)(conv3x3(conv_cat(cat[f0, tail, out_1, SiLU(c1_r(out_5)) of block 6])))

Facts of the organizers' code (``models/team38_ESRNet.py``, class ``ESRNet(3, 3, upscale=4,
feature_channels=28)``) that a re-implementation must keep:

* ``block_7`` reads ``out_6`` (not ``conv_2``'s output) and is scaled by the constant ``self.scale = 1e-5``;
* as in SPAN, the fourth concatenated tensor is block 6's ``c1_r`` output after SiLU (the in-place
  ``nn.SiLU(inplace=True)`` activates the tensor the block returns); computed explicitly here;
* the mean is a plain attribute (not state) and the unused ``rgb_std`` argument is never applied;
* the file holds only the ``FastConv`` (deployed, eval_conv) form; the module's ``FastConv2`` training
  class (1x1 -> 3x3 -> 1x1 plus 1x1 shortcut) is not used by ESRNet.

Source: Amazingren/NTIRE2025_ESR@b69fb668c0362deb696eecbfdebfaa5c2fcdfcb4:models/team38_ESRNet.py (MIT).
"""

from __future__ import annotations

import torch
from torch import nn

from registry import ModelCard, register
from registry.ops.ntire25 import REPORT, entry, weight_file
from registry.ops.ntire25_span_a import MeanShift, SingleConvBlock
from registry.span import SPAB, FoldedConv

B7_SCALE = 1e-5


class ESRNet(nn.Module):
    """SPAN ch28 + ``block_7`` (one folded conv on out_6, added to conv_2's output at 1e-5)."""

    def __init__(self, scale: int = 4, ch: int = 28, in_ch: int = 3, out_ch: int = 3):
        super().__init__()
        self.shift = MeanShift(255.0)
        self.conv_1 = FoldedConv(in_ch, ch)
        for k in range(1, 7):
            self.add_module(f"block_{k}", SPAB(ch))
        self.block_7 = SingleConvBlock(ch)
        self.conv_cat = nn.Conv2d(4 * ch, ch, 1)
        self.conv_2 = FoldedConv(ch, ch)
        self.upsampler = nn.Sequential(nn.Conv2d(ch, out_ch * scale * scale, 3, padding=1), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0 = self.conv_1(self.shift(x))
        out_1, _ = self.block_1(f0)
        h = out_1
        for k in range(2, 6):
            h, _ = getattr(self, f"block_{k}")(h)
        out_6, tap_6 = self.block_6(h)
        tail = self.conv_2(out_6) + self.block_7(out_6) * B7_SCALE
        return self.upsampler(self.conv_cat(torch.cat([f0, tail, out_1, tap_6], 1)))


def build_esrnet(scale: int) -> nn.Module:
    return ESRNet(scale=scale, ch=28)


ESRNET_NTIRE25 = register(ModelCard(
    name="ESRNet-ntire25",
    family="ESRNet",
    kind="cnn",
    paper=REPORT,
    scales=(4,),
    build=build_esrnet,
    weights=(weight_file(
        "team38_ESRNet.pth", "28fb50392bb9dfeda234822226119cf8d24141b93818932ebcf14ef17f4331f5",
        notes=("raw state_dict, 46 tensors, 157,772 parameters; deployed form (eval_conv only); test_demo loads "
               "it strictly.")),),
    published=(),
    notes=(
        "NTIRE 2025 ESR submission of team 38: ESRNet, 'modified from SPAN': SPAN with 28 channels and folded "
        "convs plus block_7, a single folded 3x3 conv on the 6th block's output whose result is added to "
        "conv_2's output multiplied by 1e-5 (a constant in the authors' forward, so block_7 barely moves the "
        "output). Input RGB in [0, 1] is mean-shifted and multiplied by 255 inside; the output is used as [0, 1] "
        "(test_demo data_range=1.0). The file is the deployed form and loads strictly, as in test_demo. No "
        "published row: the report's PSNR table was not reachable from srbench's sources."
    ),
    config={"feature_channels": 28, "blocks": 6, "extra_block": "block_7: conv3x3 x 1e-5", "img_range": 255.0,
            "rgb_mean": (0.4488, 0.4371, 0.4040), "upsampler": "conv3x3 + PixelShuffle(4)", "params": 157772,
            "fvcore_flops_256": 10296229888},
    challenge=entry(38, "ESRNet"),
))
