"""IESRNet (NTIRE 2025 ESR, team 21): a 32-channel RLFN/DIPNet-style network with re-parameterised convs,
submitted in deployed form (each ``Conv3XC`` is one folded, bias-free 3x3 ``eval_conv``).

Forward pass (RGB in [0, 1] in and out, no mean shift):

    f0 = conv_1(x)                                             (folded 3x3, no bias)
    block_1, block_4: h = SiLU(c1_r(in)); h = SiLU(c2_r(h)); h = SiLU(c3_r(h)) + in; out = ESA(c5(h))
    block_2, block_3: h = SiLU(c1_r(in)); h = SiLU(c3_r(h));                        out = ESA(c5(h))
                      (two convs, no c2_r, and *no* skip from the block input)
    SR = PixelShuffle(4)(up(conv_2(out_4) + f0))               (conv_2 and up: folded 3x3, no bias)

    ESA: c1_ = conv1(x); v = maxpool7/3(conv2_s2(c1_)); c3 = bilinear(conv3(v))   (plain conv3)
         x * sigmoid(conv4(c3 + c1_))                                             (no conv_f)

Facts of the organizers' code a re-implementation must keep: the two middle blocks have two convs and no
residual; the ESA has no ``conv_f`` (the conv1 output is added as is); ``conv_2`` is a folded 3x3 (not the
1x1 of DIPNet_slim_v2); SiLU follows the last conv of each block before the skip. The organizers'
constructor runs a warm-up forward on ``.cuda()``; srbench's does not.

Source: Amazingren/NTIRE2025_ESR@b69fb668c0362deb696eecbfdebfaa5c2fcdfcb4:models/team21_IESRNet.py
(class ``IESRNet``), checkpoint ``model_zoo/team21_IESRNet.pt``.
"""

from __future__ import annotations

from registry import ModelCard, register
from registry.ops.ntire25 import REPORT, entry, weight_file
from registry.ops.ntire25_span_b import RRFBNet

PARAMS = 143_008
# fvcore FlopCountAnalysis(...).total() on 1x3x256x256 (the counter test_demo.py uses), run on the
# organizers' class with this file in a scratch folder.
ORGANIZERS_FVCORE_GFLOPS = 8.324155392


class IESRNet(RRFBNet):
    """IESRNet as deployed: RRFB(3 convs, skip), 2 x RRFB(2 convs, no skip), RRFB(3 convs, skip)."""

    def __init__(self, scale: int = 4, ch: int = 32):
        super().__init__(blocks=((3, True), (2, False), (2, False), (3, True)), conv_2="folded3x3", ch=ch,
                         scale=scale, esa_conv_f=False, esa_folded_conv3=False)


def build_iesrnet(scale: int) -> IESRNet:
    return IESRNet(scale=scale)


IESRNET_NTIRE25 = register(ModelCard(
    name="IESRNet-ntire25",
    family="IESRNet",
    kind="cnn",
    paper=REPORT,
    scales=(4,),
    build=build_iesrnet,
    weights=(weight_file(
        "team21_IESRNet.pt", "829f8aaefdb63677abc5aa7501edb932f64427e3585199ad62aeb25e8fb90e4e",
        notes=f"team 21; deployed form (folded eval_conv only), raw state_dict, {PARAMS:,} "
              "parameters, 49 tensors, float32"),),
    published=(),
    notes=(
        "NTIRE 2025 ESR entry of team 21 (solution IESRNet): a 32-channel, 4-block network of the "
        "RLFN/DIPNet line with SiLU and SPAN-style re-parameterised convs, in deployed form (the training "
        "branches are not in the file nor in the organizers' class). Blocks 2 and 3 are two-conv blocks "
        "without a residual; its ESA has no conv_f. test_demo.py builds IESRNet(3, 3, upscale=4, "
        "feature_channels=32), loads the file at the top level with strict=True and uses data_range=1.0 "
        "(RGB [0, 1] in and out, no mean shift); srbench loads it the same way (strict, weights_only). The "
        "organizers' per-team PSNR/runtime (the report's table) is not recorded here: their log covers only "
        "the EFDN baseline and the report's tables were not available to srbench when this card was written. "
        "srbench run (CPU, fp32): Set5 x4 Y-PSNR 31.91 dB (Bicubic 28.43)."
    ),
    config={"feature_channels": 32, "blocks": 4,
            "block": ("1, 4: 3 x (folded 3x3 + SiLU) + skip; 2, 3: 2 x (folded 3x3 + SiLU), no skip; "
                      "then 1x1 c5, ESA"),
            "esa_channels": 16, "esa": "no conv_f", "activation": "SiLU", "conv_2": "folded 3x3 (no bias)",
            "upsampler": "folded 3x3 (no bias) + PixelShuffle(4)", "input_range": 1.0, "params": PARAMS,
            "flops_256_organizers_fvcore_G": round(ORGANIZERS_FVCORE_GFLOPS, 4)},
    challenge=entry(21, "IESRNet"),
))
