"""RCUNet, NTIRE 2025 ESR team 37: 4 partial-channel RLFN-style blocks, 48 channels, no biases anywhere.

The network (``models/team37_RCUNet.py`` of the organizers' repository, class ``RCUNet()``) is a plain CNN
(no re-parameterisation; every convolution, the ESA's included, has ``bias=False``). Forward pass:

    f0 = conv_first(x)                                       (3x3, 3 -> 48; input RGB in [0, 1])
    block(in): x1, x2 = in[:, :30], in[:, 30:]
               o1 = a(conv2(a(conv1(x1))));  o2 = a(conv4(a(conv3(o1))))     (3x3, 30 -> 30)
               out = ESA(c5(cat[x2, o1, o2]))                               (c5: 1x1, 78 -> 48; ESA 16 ch)
    o1 = b1(f0); o2 = b2(o1); o3 = b3(o2) + o2; o4 = b4(o3) + o1
    SR = PixelShuffle(4)(conv_last(conv_tail(o4) + f0))      (3x3 each; conv_last 48 -> 48)
    a = LeakyReLU(0.01)

Facts of that code a re-implementation must keep:

* The activation is ``nn.LeakyReLU(inplace=True)`` with PyTorch's default slope 0.01, not RLFN's 0.05.
* Only the first 30 of the 48 channels go through the convs; the concatenation order is
  [untouched 18 channels, o1, o2].
* The block skips are crossed: b3 adds b2's output and b4 adds b1's output; b1 and b2 have none.
* The ESA (with conv_f, 16 channels, no biases) returns the mask and the block multiplies it with the
  c5 output: the same as RLFN's reduced ESA (``ESALite``) applied to the c5 output.

Source: Amazingren/NTIRE2025_ESR@b69fb668c0362deb696eecbfdebfaa5c2fcdfcb4:models/team37_RCUNet.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from registry import ModelCard, register
from registry.ops.blocks import ESALite, conv_layer
from registry.ops.ntire25 import REPORT, entry, weight_file

N_PARAMS = 212_944
SLOPE = 0.01  # nn.LeakyReLU()'s default, as the authors' block uses it


class RCUBlock(nn.Module):
    """Partial-channel block: 4 convs on the first ``mid`` channels, concat, 1x1, ESA; no biases."""

    def __init__(self, num_features: int = 48, mid_channels: int = 30, esa_channels: int = 16):
        super().__init__()
        self.mid = mid_channels
        self.conv1 = conv_layer(mid_channels, mid_channels, 3, bias=False)
        self.conv2 = conv_layer(mid_channels, mid_channels, 3, bias=False)
        self.conv3 = conv_layer(mid_channels, mid_channels, 3, bias=False)
        self.conv4 = conv_layer(mid_channels, mid_channels, 3, bias=False)
        self.c5 = conv_layer(num_features + mid_channels, num_features, 1, bias=False)
        self.esa = ESALite(num_features, esa_channels, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x[:, :self.mid], x[:, self.mid:]
        o1 = F.leaky_relu(self.conv2(F.leaky_relu(self.conv1(x1), SLOPE)), SLOPE)
        o2 = F.leaky_relu(self.conv4(F.leaky_relu(self.conv3(o1), SLOPE)), SLOPE)
        return self.esa(self.c5(torch.cat([x2, o1, o2], dim=1)))


class RCUNet(nn.Module):
    def __init__(self, in_channels: int = 3, out_channels: int = 3, upscale: int = 4, num_features: int = 48,
                 mid_channels: int = 30):
        super().__init__()
        self.conv_first = conv_layer(in_channels, num_features, 3, bias=False)
        self.b1 = RCUBlock(num_features, mid_channels)
        self.b2 = RCUBlock(num_features, mid_channels)
        self.b3 = RCUBlock(num_features, mid_channels)
        self.b4 = RCUBlock(num_features, mid_channels)
        self.conv_tail = conv_layer(num_features, num_features, 3, bias=False)
        self.conv_last = conv_layer(num_features, out_channels * upscale ** 2, 3, bias=False)
        self.upsampler = nn.PixelShuffle(upscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0 = self.conv_first(x)
        o1 = self.b1(f0)
        o2 = self.b2(o1)
        o3 = self.b3(o2) + o2
        o4 = self.b4(o3) + o1
        return self.upsampler(self.conv_last(self.conv_tail(o4) + f0))


def build(scale: int) -> RCUNet:
    return RCUNet(upscale=scale)


RCUNET_NTIRE25 = register(ModelCard(
    name="RCUNet-ntire25",
    family="RCUNet",
    kind="cnn",
    paper=REPORT,
    scales=(4,),
    build=build,
    weights=(weight_file(
        "team37_RCUNet.pth", "64d12f4283f9763f8a192401ec4473b946458df4f772f3dfb0ca93c285b1ae3e",
        notes=f"team 37; plain (not re-parameterised) network without biases, {N_PARAMS:,} parameters; raw "
              "state_dict, loaded strictly at the top level by test_demo.py (data_range 1.0)"),),
    published=(),
    challenge=entry(37, "RCUNet"),
    notes=(
        "NTIRE 2025 ESR entry of team 37: 48 channels, 4 blocks that convolve only the first 30 channels "
        "(two pairs of 3x3 + LeakyReLU 0.01), concatenate them with the 18 untouched ones, fuse with a 1x1 and "
        "apply RLFN's reduced ESA (16 channels); crossed block skips (b3 + b2's output, b4 + b1's output), "
        "a long skip, and 3x3 + PixelShuffle(4). No convolution has a bias. The file is the network as "
        "trained (43 tensors, all parameters; nothing to fold), loaded strictly as test_demo.py does. Input "
        "RGB in [0, 1]. The challenge report's team name, rank and DIV2K_LSDIR PSNR could not be read here, so "
        "none is stated."
    ),
    config={"num_features": 48, "mid_channels": 30, "blocks": 4, "esa_channels": 16, "bias": False,
            "activation": "LeakyReLU 0.01", "upsampler": "conv3x3 + PixelShuffle(4)", "params": N_PARAMS,
            # fvcore at 1x3x256x256 on the organizers' class (the harness's counter), measured, not the report's.
            "flops_fvcore_256_G": 12.9285},
))
