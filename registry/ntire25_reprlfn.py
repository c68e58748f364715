"""RepRLFN, NTIRE 2025 ESR team 25: RLFN (4 blocks, 48 channels) with re-parameterised 3x3 convolutions.

The network is the RLFN trunk (Kong et al., CVPR Workshops 2022) whose three block convolutions are
trained as RepVGG-style branch sums (3x3 + 3x1 + 1x3 + 1x1 + identity) and folded into one 3x3
``rbr_reparam`` conv for inference. The challenge file holds only the folded convs; this module is the
deployed network, written after the forward pass of the organizers' code (``models/team25_RepRLFN.py``,
class ``RepRLFN`` with ``deploy=True``):

    f0 = conv_1(x)                                          (3x3, 3 -> 48; input RGB in [0, 1])
    block_k (k = 1..4): h = a(a(c1_r(in))); h = a(a(c2_r(h))); h = a(a(c3_r(h))) + in
                        out = ESA(c5(h))                    (c5: 1x1; ESA with conv_f, 15 channels)
    SR = PixelShuffle(4)(conv3x3(conv_2(out_4) + f0))
    a = LeakyReLU(0.05)

Facts of that code a re-implementation must keep:

* Every block conv is followed by *two* LeakyReLU(0.05): the ``RepBlock`` applies one to its output and
  ``RepRLFB`` applies another (``self.act``), so negative responses are scaled by 0.05 ** 2 = 0.0025. The
  same double activation is in the training form (``act(sum of branches + identity)`` then ``act``), so
  the deployed file was trained with it.
* ESA has 15 channels (not RLFN's 16) and keeps ``conv_f`` (RLFN's reduced ESA: ``ESALite``).
* The 1x1 ``c5`` and the ESA are plain convs; only ``c1_r``/``c2_r``/``c3_r`` are re-parameterised.

Source: Amazingren/NTIRE2025_ESR@b69fb668c0362deb696eecbfdebfaa5c2fcdfcb4:models/team25_RepRLFN.py.
"""

from __future__ import annotations

import torch
from torch import nn

from registry import ModelCard, register
from registry.ops.blocks import ESALite, conv_layer, lrelu, pixelshuffle_block
from registry.ops.ntire25 import REPORT, entry, weight_file
from registry.ops.ntire25_rep import NamedConv

N_PARAMS = 325_020


class RepRLFB(nn.Module):
    """The deployed RepRLFB: 3 x (folded 3x3 + LeakyReLU twice), skip, 1x1, ESA(15)."""

    def __init__(self, channels: int = 48, esa_channels: int = 15):
        super().__init__()
        self.c1_r = NamedConv("rbr_reparam", channels, channels, 3)
        self.c2_r = NamedConv("rbr_reparam", channels, channels, 3)
        self.c3_r = NamedConv("rbr_reparam", channels, channels, 3)
        self.c5 = conv_layer(channels, channels, 1)
        self.esa = ESALite(channels, esa_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = lrelu(lrelu(self.c1_r(x)))
        h = lrelu(lrelu(self.c2_r(h)))
        h = lrelu(lrelu(self.c3_r(h))) + x
        return self.esa(self.c5(h))


class RepRLFN(nn.Module):
    """conv_1 -> block_1..block_4 -> conv_2 + long skip -> conv3x3 + PixelShuffle."""

    def __init__(self, upscale: int = 4, in_channels: int = 3, out_channels: int = 3, feature_channels: int = 48,
                 num_blocks: int = 4, esa_channels: int = 15):
        super().__init__()
        self.num_blocks = num_blocks
        self.conv_1 = conv_layer(in_channels, feature_channels, 3)
        for i in range(1, num_blocks + 1):
            setattr(self, f"block_{i}", RepRLFB(feature_channels, esa_channels))
        self.conv_2 = conv_layer(feature_channels, feature_channels, 3)
        self.upsampler = pixelshuffle_block(feature_channels, out_channels, upscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0 = self.conv_1(x)
        h = f0
        for i in range(1, self.num_blocks + 1):
            h = getattr(self, f"block_{i}")(h)
        return self.upsampler(self.conv_2(h) + f0)


def build(scale: int) -> RepRLFN:
    return RepRLFN(upscale=scale)


REPRLFN_NTIRE25 = register(ModelCard(
    name="RepRLFN-ntire25",
    family="RepRLFN",
    kind="cnn",
    paper=REPORT,
    scales=(4,),
    build=build,
    weights=(weight_file(
        "team25_RepRLFN.pth", "be8a1994bcf92bf13b59103804b263c7c914cb9fa8f7e517695962f17cc5b83e",
        notes=f"team 25; deployed form (c1_r/c2_r/c3_r folded into rbr_reparam), {N_PARAMS:,} parameters; "
              "a raw state_dict loaded strictly at the top level by the organizers' test_demo.py (data_range 1.0)"),),
    published=(),
    challenge=entry(25, "RepRLFN"),
    notes=(
        "NTIRE 2025 ESR entry of team 25: RLFN with 48 channels, 4 blocks, ESA of 15 channels, the three 3x3 "
        "convolutions of each block re-parameterised (3x3 + 3x1 + 1x3 + 1x1 + identity during training). The "
        "file is the deployed form: 78 tensors, every one a parameter of this network, loaded with "
        "strict=True exactly as the organizers' test_demo.py does (RepRLFN(), deploy=True by default); input "
        "RGB in [0, 1], output used directly. Each block conv is followed by LeakyReLU(0.05) twice (once in "
        "the RepBlock, once in the RLFB), as in the authors' code. The challenge report's team name, rank and "
        "DIV2K_LSDIR PSNR could not be read here (its tables were not reachable), so none is stated; the "
        "organizers' log (NTIRE2025-EfficientSR.log) holds only the EFDN baseline."
    ),
    config={"feature_channels": 48, "blocks": 4, "esa_channels": 15, "activation": "LeakyReLU 0.05, applied twice",
            "upsampler": "conv3x3 + PixelShuffle(4)", "params": N_PARAMS,
            # fvcore at 1x3x256x256 on the organizers' class (the harness's counter), measured, not the report's.
            "flops_fvcore_256_G": 20.3107},
))
