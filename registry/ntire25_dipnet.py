"""DIPNet_slim_v2 (NTIRE 2025 ESR, team 15): a slimmer, re-parameterised DIPNet / RLFN-style network.

The network (32 channels, 4 blocks) as submitted, in its deployed form: every SPAN-style ``Conv3XC``
(trained as 1x1 -> 3x3 -> 1x1 plus a 1x1 shortcut) is stored folded into one bias-free 3x3
``eval_conv``. Forward pass (RGB in [0, 1] in and out, no mean shift):

    f0 = conv_1(x)                                        (folded 3x3, no bias)
    block_k (k = 1..4): h = SiLU(c1_r(in)); h = SiLU(c2_r(h)); h = SiLU(c3_r(h)); h = h + in
                        out = ESA(c5(h))                   (c5: 1x1 no bias; no skip around c5/ESA)
    SR = PixelShuffle(4)(up(conv_2(out_4) + f0))          (conv_2: plain 1x1 no bias; up: folded 3x3)

    ESA: c1_ = conv1(x); v = maxpool7/3(conv2_s2(c1_)); c3 = bilinear(conv3(v))  (conv3 folded, with bias)
         x * sigmoid(conv4(c3 + conv_f(c1_)))               (no ReLUs, no conv_max / conv3_)

Facts of the organizers' code a re-implementation must keep: SiLU follows the third conv too (before the
skip); ``conv_2`` is a plain 1x1 while ``conv_1`` and the upsampler conv are folded 3x3 convs; the ESA's
conv3 has a bias and lives under ``esa.conv3.eval_conv``. The organizers' constructor runs a warm-up
forward on ``.cuda()``; srbench's does not.

Source: Amazingren/NTIRE2025_ESR@b69fb668c0362deb696eecbfdebfaa5c2fcdfcb4:models/team15_DIPNet_slim_v2.py
(class ``DIPNet_slim_v2``), checkpoint ``model_zoo/team15_DIPNet_slim_v2.pt``.
"""

from __future__ import annotations

from registry import ModelCard, register
from registry.ops.ntire25 import REPORT, entry, weight_file
from registry.ops.ntire25_span_b import RRFBNet

PARAMS = 154_336
# The organizers' FLOP counter (fvcore FlopCountAnalysis(...).total() on 1x3x256x256, test_demo.py) run on
# their own class and this file in a scratch folder: 9.0624 G.
ORGANIZERS_FVCORE_GFLOPS = 9.062352896


class DIPNetSlimV2(RRFBNet):
    """DIPNet_slim_v2 as deployed: 4 x RRFB (3 folded convs, skip), ESA with conv_f and a folded conv3."""

    def __init__(self, scale: int = 4, ch: int = 32):
        super().__init__(blocks=((3, True),) * 4, conv_2="1x1", ch=ch, scale=scale,
                         esa_conv_f=True, esa_folded_conv3=True)


def build_dipnet_slim_v2(scale: int) -> DIPNetSlimV2:
    return DIPNetSlimV2(scale=scale)


DIPNET_SLIM_V2_NTIRE25 = register(ModelCard(
    name="DIPNet_slim_v2-ntire25",
    family="DIPNet",
    kind="cnn",
    paper=REPORT,
    scales=(4,),
    build=build_dipnet_slim_v2,
    weights=(weight_file(
        "team15_DIPNet_slim_v2.pt", "eca9bfbedfff866eaf4eeea405cdfeeeaa2381ce61d4cf97e476ee6aed1a27a6",
        notes=f"team 15; deployed form (folded eval_conv only), raw state_dict, {PARAMS:,} parameters, "
              "59 tensors, float32"),),
    published=(),
    notes=(
        "NTIRE 2025 ESR entry of team 15 (solution DIPNet_slim_v2): a 32-channel, 4-block RLFN/DIPNet-style "
        "network with SiLU and SPAN-style re-parameterised convs, submitted in deployed form (each Conv3XC "
        "is the single folded 3x3 eval_conv; the training branches sk/conv are not in the file and not in the "
        "organizers' class either). test_demo.py builds DIPNet_slim_v2(3, 3, upscale=4, feature_channels=32), "
        "loads the file at the top level with strict=True and uses data_range=1.0 (RGB [0, 1] in and out, no "
        "mean shift); srbench loads it the same way (strict, weights_only). Not NTIRE 2023's DIPNet (card "
        "'DIPNet': 44 channels, LeakyReLU, plain convs). The organizers' per-team PSNR/runtime for this entry "
        "(the report's table) is not recorded here: the log in their repository covers only the EFDN "
        "baseline, and the report's tables were not available to srbench when this card was written. srbench "
        "run (CPU, fp32): Set5 x4 Y-PSNR 32.04 dB (Bicubic 28.43)."
    ),
    config={"feature_channels": 32, "blocks": 4, "block": "RRFB: 3 x (folded 3x3 + SiLU), skip, 1x1 c5, ESA",
            "esa_channels": 16, "activation": "SiLU", "conv_2": "1x1 (no bias)",
            "upsampler": "folded 3x3 (no bias) + PixelShuffle(4)", "input_range": 1.0, "params": PARAMS,
            "flops_256_organizers_fvcore_G": round(ORGANIZERS_FVCORE_GFLOPS, 4)},
    challenge=entry(15, "DIPNet_slim_v2"),
))
