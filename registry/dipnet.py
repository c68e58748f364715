"""DIPNet (CVPR Workshops 2023, NTIRE 2023 ESR, team MegSR): a distilled, re-parameterised and
pruned RLFN.

The released network is an RLFN with 44 channels (38 inside each block), 4 blocks, and no biases in
any convolution outside ESA (conv_1, the three 3x3 and the 1x1 of each block, conv_2, the upsampler).
Forward pass follows xiumu00/DIPNet ``models/DIPNet.py``.
"""

from __future__ import annotations

from registry import ChallengeEntry, ModelCard, Paper, Published, WeightFile, register
from registry.rlfn import RLFN


class DIPNet(RLFN):
    """RLFN(feature 44, mid 38, 4 blocks, ESA 16) without biases outside ESA."""

    def __init__(self, upscale: int = 4, in_channels: int = 3, feature_channels: int = 44,
                 mid_channels: int = 38, num_blocks: int = 4, out_channels: int = 3):
        super().__init__(upscale=upscale, in_channels=in_channels, feature_channels=feature_channels,
                         mid_channels=mid_channels, num_blocks=num_blocks, out_channels=out_channels,
                         esa_channels=16, bias=False)


DIPNET_CARD = register(ModelCard(
    name="DIPNet",
    challenge=ChallengeEntry("NTIRE 2023 ESR", 2023, None, "MegSR", "DIPNet", "NTIRE 2023 ESR challenge report"),
    family="DIPNet",
    kind="cnn",
    paper=Paper(title="DIPNet: Efficiency Distillation and Iterative Pruning for Image Super-Resolution",
                venue="CVPR Workshops", year=2023, url="https://arxiv.org/abs/2304.07018"),
    scales=(4,),
    build=lambda scale: DIPNet(upscale=scale),
    weights=(
        WeightFile(file="DIPNet_x4.pth",
                   sha256="7495450802b78cd15f4892851b2479de6605b24f1df1dbbfcaa5227201d61cc1",
                   scales=(4,),
                   url=("https://raw.githubusercontent.com/xiumu00/DIPNet/"
                        "69f43a7873a866a492ee316bc579e56b6f861170/model_zoo/DIPNet.pth"),
                   license="MIT (NTIRE 2023 ESR organizers template)", input_range=1.0,
                   source="xiumu00/DIPNet@69f43a7873a8:model_zoo/DIPNet.pth"),
    ),
    published=(
        Published(dataset="DIV2K_valid (0801-0900, 100 imgs)", scale=4, psnr=29.036044, ssim=None,
                  source="xiumu00/DIPNet results.json / results.txt (29.04)", metric="ntire_rgb",
                  notes="17.31 ms val runtime; 0.243M params; 14.90G FLOPs; 72.97M acts; 495.91MB; 39 conv"),
    ),
    notes=("NTIRE 2023 Efficient SR entry (fastest runtime of the challenge): an RLFN-style network "
           "(44 channels, 38 inside each block, 4 blocks, 243,252 params) obtained by distillation, "
           "re-parameterisation and iterative pruning. Input RGB in [0, 1] (repository test_demo "
           "data_range=1.0). Its only published number is NTIRE RGB PSNR on DIV2K valid (border 4), not "
           "comparable with Y-channel tables. Byte-identical to Amazingren/NTIRE2024_ESR team45_VRTDIP.pth. "
           "On the classic test sets it measures below RLFN-ntire (srbench-1 x4 Y-PSNR Set5 31.81 vs 32.10, "
           "Urban100 25.76 vs 26.10) although its DIV2K-valid RGB PSNR is higher (29.04 vs 29.00); the "
           "network matches the authors' results.json counts (243,252 params, 39 convolutions), so this "
           "is the released model's behaviour, not a wiring error."),
    config={"nf": 44, "mid": 38, "blocks": 4, "esa_channels": 16, "bias": "ESA only",
            "activation": "LeakyReLU 0.05", "upsampler": "conv3x3 (no bias) + PixelShuffle"},
))
