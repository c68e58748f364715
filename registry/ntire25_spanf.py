"""SPANF, team 24's NTIRE 2025 ESR entry: SPAN without the mean shift and with a nearest-neighbour
up-sampling branch, in deployed form (folded convs).

Forward pass (input RGB in [0, 1], used as it is; the output is [0, 1]):

    near = conv_near(x)                    grouped 3x3 conv, 3 -> 48 channels (groups=3, no bias)
    out_1 = block_1(x)                     3 -> 32 channels: c1_r, SiLU, c2_r, SiLU, c3_r (no attention)
    out_k = SPAB_k(out_{k-1}), k = 2..5    SPAN blocks with attention (h3 + x) * (sigmoid(h3) - 0.5)
    SR = PixelShuffle(4)(conv_2(conv_cat(cat[near, out_5, out_1])))     conv_cat 1x1 112 -> 32; conv_2 3x3 32 -> 48

Facts of the organizers' code (``models/team24_SPANF.py``, class ``SPANF(3, 3, upscale=4,
feature_channels=32)``) that a re-implementation must keep:

* ``block_1`` reads the raw image (3 channels), not a feature map: its input and output widths differ,
  so the authors' block skips the attention and returns ``c3_r``'s output; only 5 blocks in all;
* no mean subtraction and no x255: the network sees [0, 1] (test_demo ``data_range=1.0``);
* ``conv_near`` is a parameter in the file: each of its 48 kernels is the one-hot centre tap, so it copies
  every input channel 16 times (nearest-neighbour up-sampling once shuffled): a learned-looking layer
  that the file keeps at its initialisation;
* the last conv (``conv_2``) makes the 48 = 3 x 4 x 4 channels itself: there is no separate upsampler conv.
* the authors' constructor runs a warm-up forward on ``.cuda()``; srbench's does not.

Source: Amazingren/NTIRE2025_ESR@b69fb668c0362deb696eecbfdebfaa5c2fcdfcb4:models/team24_SPANF.py (MIT).
"""

from __future__ import annotations

import torch
from torch import nn

from registry import ModelCard, register
from registry.ops.ntire25 import REPORT, entry, weight_file
from registry.ops.ntire25_span_a import SPABIO
from registry.span import FoldedConv


class SPANF(nn.Module):
    """SPANF inference network: near-copy branch + 5 SPAN blocks (the first 3 -> ch) + conv_cat + conv_2."""

    def __init__(self, scale: int = 4, ch: int = 32, in_ch: int = 3, blocks: int = 5):
        super().__init__()
        self.blocks = blocks
        up = in_ch * scale * scale
        self.conv_near = nn.Conv2d(in_ch, up, 3, padding=1, groups=in_ch, bias=False)
        self.block_1 = SPABIO(in_ch, ch, ch)
        for k in range(2, blocks + 1):
            self.add_module(f"block_{k}", SPABIO(ch))
        self.conv_cat = nn.Conv2d(2 * ch + up, ch, 1)
        self.conv_2 = FoldedConv(ch, up)
        self.depth_to_space = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        near = self.conv_near(x)
        out_1, _ = self.block_1(x)
        h = out_1
        for k in range(2, self.blocks + 1):
            h, _ = getattr(self, f"block_{k}")(h)
        return self.depth_to_space(self.conv_2(self.conv_cat(torch.cat([near, h, out_1], 1))))


def build_spanf(scale: int) -> nn.Module:
    return SPANF(scale=scale, ch=32)


SPANF_NTIRE25 = register(ModelCard(
    name="SPANF-ntire25",
    family="SPANF",
    kind="cnn",
    paper=REPORT,
    scales=(4,),
    build=build_spanf,
    weights=(weight_file(
        "team24_spanf.pth", "1508c566008654646bea1edff537c83dd7a6fe8f6ffda3f25f9eb7ba09cbbcd3",
        notes=("raw state_dict, 35 tensors, 148,288 parameters; deployed form (eval_conv only); test_demo loads "
               "it strictly (strict=True).")),),
    published=(),
    notes=(
        "NTIRE 2025 ESR submission of team 24: SPANF, a SPAN variant with 32 channels and 5 blocks, no input "
        "mean shift (the net sees RGB in [0, 1]), the first block reading the image itself (3 -> 32 channels, "
        "hence no attention in it, as in the authors' code), and a nearest-neighbour branch: conv_near, a "
        "grouped 3x3 conv whose 48 kernels in the file are exactly the one-hot centre tap (each input channel "
        "copied 16 times), concatenated with the features before conv_cat; conv_2 then outputs the 48 channels "
        "that PixelShuffle(4) turns into RGB. The file is the re-parameterised (deployed) form and loads "
        "strictly, as in test_demo. The authors' constructor runs a .cuda() warm-up forward; srbench's does not. "
        "No published row: the organizers' log holds only the EFDN baseline and the report's PSNR table was not "
        "reachable from srbench's sources."
    ),
    config={"feature_channels": 32, "blocks": 5, "near_branch": "grouped conv3x3 3 -> 48 (nearest copy)",
            "img_range": 1.0, "rgb_mean": None, "upsampler": "conv_2 3x3 (32 -> 48) + PixelShuffle(4)",
            "params": 148288, "fvcore_flops_256": 9681502208},
    challenge=entry(24, "SPANF"),
))
