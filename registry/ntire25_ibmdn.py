"""DepthIBN (IBMDN), NTIRE 2025 ESR team 41: Involution & BSConv multi-depth distillation network.

The network of ``models/team41_DepthIBN.py:IBMDN`` in Amazingren/NTIRE2025_ESR@b69fb668 (checkpoint
``model_zoo/team41_DepthIBN.pth``, a raw state dict loaded strictly by ``test_demo.py``, data_range 1.0;
no mean shift). An RFDN/IMDN-style trunk of 48 channels and 6 blocks:

    f0 = fea_conv(x)                               (BSConvU 3 -> 48)
    B1, B2: distillation with BSConvS as c1_r..c3_r; B3, B4: c2_r is an involution;
    B5, B6: c1_r and c3_r are involutions           (each block: LeakyReLU 0.05, c4 = BSConvS, then
                                                     CCA(c5(cat)) -- *no* residual around the block)
    SR = PixelShuffle(conv3x3(LR_conv(LReLU(c(cat[B1..B6]))) + f0))

Facts of the organizers' code a re-implementation must keep:

* involution(48, k=3, stride 1), 16 channels per group (3 groups): the kernel is generated per pixel by
  conv1 (1x1 48 -> 12, BatchNorm, ReLU; mmcv ``ConvModule``, so the conv has no bias and the keys are
  ``conv1.conv`` / ``conv1.bn``) and conv2 (1x1 12 -> 27 with bias, ``conv2.conv``); the 3x3 zero-padded
  neighbourhoods (``nn.Unfold``) are weighted by it and summed. The BatchNorm runs in eval mode with the
  file's running statistics (as in test_demo, which calls model.eval()).
* BSConvS: pw1 (48 -> 12) -> pw2 (12 -> out), no biases, then a zero-padded depth-wise 3x3 with bias.
* The blocks return CCA(c5(.)) without adding their input (unlike RFDN); the CCA reduction is 16 (48 -> 3).
* The organizers' ``RFDB4`` (involutions everywhere) is defined but unused, and its ``forward`` is nested
  inside ``__init__``; IBMDN uses only RFDB1..3.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from registry import ModelCard, register
from registry.ops.blocks import CCALayer, conv_layer, lrelu, pixelshuffle_block
from registry.ops.ntire25 import REPORT, entry, weight_file
from registry.ops.ntire25_cnn_imdn import BSConvS, BSConvU, distill


class _ConvBNReLU(nn.Module):
    """mmcv ConvModule(1x1, norm=BN, act=ReLU): keys ``conv.weight`` (no bias) and ``bn.*``."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class _Conv(nn.Module):
    """mmcv ConvModule without norm or activation: key ``conv`` (with bias)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Involution(nn.Module):
    """Involution (Li et al., CVPR 2021), stride 1: per-pixel k x k kernels shared by groups of 16 channels."""

    def __init__(self, channels: int, kernel_size: int = 3, group_channels: int = 16, reduction: int = 4):
        super().__init__()
        self.k = kernel_size
        self.group_channels = group_channels
        self.groups = channels // group_channels
        self.conv1 = _ConvBNReLU(channels, channels // reduction)
        self.conv2 = _Conv(channels // reduction, kernel_size ** 2 * self.groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        kk = self.k * self.k
        weight = self.conv2(self.conv1(x)).view(n, self.groups, 1, kk, h, w)
        patches = F.unfold(x, self.k, padding=(self.k - 1) // 2).view(n, self.groups, self.group_channels, kk, h, w)
        return (weight * patches).sum(dim=3).view(n, c, h, w)


class IBMDB(nn.Module):
    """Distillation block; ``involutions`` names which of c1_r, c2_r, c3_r are involutions."""

    def __init__(self, ch: int, involutions: tuple[int, ...] = ()):
        super().__init__()
        dc = ch // 2
        for i in (1, 2, 3):
            setattr(self, f"c{i}_d", conv_layer(ch, dc, 1))
            setattr(self, f"c{i}_r", Involution(ch) if i in involutions else BSConvS(ch, ch))
        self.c4 = BSConvS(ch, dc)
        self.c5 = conv_layer(dc * 4, ch, 1)
        self.cca = CCALayer(ch, reduction=16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cca(distill(self, x, lrelu))


# Which residual convs of B1..B6 are involutions (the authors' RFDB1, RFDB1, RFDB2, RFDB2, RFDB3, RFDB3).
_LAYOUT = ((), (), (2,), (2,), (1, 3), (1, 3))


class IBMDN(nn.Module):
    def __init__(self, nf: int = 48, scale: int = 4):
        super().__init__()
        self.fea_conv = BSConvU(3, nf)
        for i, inv in enumerate(_LAYOUT, start=1):
            setattr(self, f"B{i}", IBMDB(nf, inv))
        self.c = nn.Sequential(conv_layer(nf * len(_LAYOUT), nf, 1), nn.LeakyReLU(0.05))
        self.LR_conv = BSConvU(nf, nf)
        self.upsampler = pixelshuffle_block(nf, 3, scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fea = self.fea_conv(x)
        outs, h = [], fea
        for i in range(1, len(_LAYOUT) + 1):
            h = getattr(self, f"B{i}")(h)
            outs.append(h)
        return self.upsampler(self.LR_conv(self.c(torch.cat(outs, dim=1))) + fea)


def build(scale: int) -> IBMDN:
    return IBMDN(scale=scale)


DEPTHIBN_NTIRE25 = register(ModelCard(
    name="DepthIBN-ntire25",
    family="IBMDN",
    kind="cnn",
    paper=REPORT,
    scales=(4,),
    build=build,
    weights=(weight_file(
        "team41_DepthIBN.pth", "06aa6ac22823e1b75404b281590fc1a18dd9cf98ead84c3c304c08ab82830d84",
        notes="team 41; raw state dict of 202 tensors, 121,266 elements = 121,116 parameters + 150 BatchNorm "
              "buffer elements (running mean/var of the six involutions' BN, 6 x 24, and 6 num_batches_tracked)"),),
    challenge=entry(41, "DepthIBN"),
    notes=(
        "NTIRE 2025 ESR checkpoint of team 41 (file and module DepthIBN, class IBMDN; test_demo.py names the "
        "run '41_EFDN_baseline', a copy-paste label), as the organizers run it: IBMDN() with its defaults "
        "(48 channels, 6 blocks), the file's top-level dict loaded with strict=True, RGB in [0, 1] "
        "(data_range 1.0), no mean shift. The file is the training form with BatchNorm inside each "
        "involution's kernel generator; srbench keeps the BatchNorm (eval mode, the file's running "
        "statistics), exactly what the organizers ran, rather than folding it. The team's method is the "
        "IBMDN of 'Involution & BSConv Multi-Depth Distillation Network' (Khatami-Rizi et al.); the card "
        "cites the challenge report since that paper's address was not verified here. The organizers' module "
        "imports mmcv only for ConvModule (conv -> BN -> ReLU), re-written here as plain modules with the same "
        "keys. Odd but faithful: on uniform-noise inputs the network overflows to inf/NaN (the organizers' class "
        "does the same; natural images are fine, Set5 x4 Y-PSNR 31.76 dB). No per-team PSNR in the organizers' "
        "repository, so no published row."
    ),
    config={"channels": 48, "blocks": 6, "involution": "k3, 16 ch/group, reduction 4, BN+ReLU",
            "activation": "LeakyReLU 0.05", "upsampler": "conv3x3 + PixelShuffle(4)", "params": 121116,
            "state_elements": 121266},
))
