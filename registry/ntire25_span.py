"""SPAN as submitted to the NTIRE 2025 ESR challenge: team 46 (also team 51, same file) and team 23's DSCF.

Both are SPAN's inference network (folded convs, 6 blocks; see :mod:`registry.span`, whose blocks are
reused here) and read RGB in [0, 1]:

    x  <- (x - mean_DIV2K) * 255                       (the output is used as [0, 1] directly)
    f0 = conv_1(x); out_k = SPAB_k(out_{k-1}) (k = 1..6; out_0 = f0)
    tail = conv_cat(cat[f0, conv_2(out_6), out_1, SiLU(c1_r(out_5)) of block 6])
    SR = PixelShuffle(4)(conv3x3(tail))

* ``SPAN-ntire25`` (team 46, ``models/team46_SPAN.py:SPAN(3, 3, upscale=4, feature_channels=28)``):
  28 channels, but ``conv_cat`` narrows the concatenation to **20** channels (not 28) and the
  upsampler's conv reads those 20: the one layout difference from the NTIRE 2024 SPAN-ntire24.
* ``DSCF-ntire25`` (team 23, ``models/team23_DSCF.py:DSCF(3, 3, feature_channels=26, upscale=4)``):
  exactly SPAN with 26 channels (the NTIRE 2024 SPAN-tiny layout, same 44 tensor names and shapes);
  the weights are SPAN-tiny's fine-tuned with ConvLoRA + distillation (DSCLoRA), the LoRA updates
  already merged into the plain convs.

Facts of the organizers' code a re-implementation must keep: the mean is subtracted and the input
multiplied by 255 inside, the output is not divided back (``data_range=1.0`` in ``test_demo.py``); the
fourth concatenated tensor is block 6's ``c1_r`` output *after* SiLU (the authors' in-place
``nn.SiLU(inplace=True)`` activates the tensor they return; computed explicitly here); the mean is a
plain attribute, not state.

Source: Amazingren/NTIRE2025_ESR@b69fb668c0362deb696eecbfdebfaa5c2fcdfcb4:models/team46_SPAN.py and
models/team23_DSCF.py (MIT); loading as in its test_demo.py (model ids 46 and 23).
"""

from __future__ import annotations

from torch import nn

from registry import ModelCard, Paper, register
from registry.ops.ntire25 import entry, weight_file
from registry.span import SPAN


class SPANNarrowCat(SPAN):
    """SPAN whose 1x1 ``conv_cat`` maps the 4*ch concatenation to ``cat_ch`` channels (team 46: 20),
    which the upsampler's 3x3 conv then reads; otherwise :class:`registry.span.SPAN` (same forward)."""

    def __init__(self, ch: int = 28, cat_ch: int = 20, scale: int = 4, in_ch: int = 3, out_ch: int = 3):
        super().__init__(ch=ch, scale=scale, in_ch=in_ch, out_ch=out_ch)
        self.conv_cat = nn.Conv2d(4 * ch, cat_ch, 1)
        self.upsampler = nn.Sequential(nn.Conv2d(cat_ch, out_ch * scale * scale, 3, padding=1),
                                       nn.PixelShuffle(scale))


def build_span_ntire25(scale: int) -> nn.Module:
    return SPANNarrowCat(ch=28, cat_ch=20, scale=scale)


def build_dscf(scale: int) -> nn.Module:
    return SPAN(ch=26, scale=scale)


_SPAN_FORWARD = (
    "Forward as the organizers ran it: input RGB in [0, 1] is mean-shifted (DIV2K mean) and multiplied by 255 "
    "inside, the output is used as [0, 1] directly (test_demo data_range=1.0); the fourth concatenated tensor is "
    "SiLU(c1_r) of block 6 (the authors' in-place SiLU activates the tensor they return)."
)

SPAN_NTIRE25 = register(ModelCard(
    name="SPAN-ntire25",
    family="SPAN",
    kind="cnn",
    paper=Paper(title="Swift Parameter-free Attention Network for Efficient Super-Resolution",
                venue="CVPR 2024 Workshops", year=2024, url="https://arxiv.org/abs/2311.12770"),
    scales=(4,),
    build=build_span_ntire25,
    weights=(weight_file(
        "team46_span.pth", "b212c077015e97d8ea5b1f279dc3d990ce4c9fdd80c3f829e2b2711562086d7f",
        state_key="params_ema",
        notes=("BasicSR file {params, params_ema}; test_demo loads params_ema (strict=True). Deployed form "
               "(eval_conv only), 44 tensors, 146,328 parameters. Same bytes as model_zoo/team51_span.pth: teams "
               "46 and 51 submitted one file.")),),
    published=(),
    notes=(
        "NTIRE 2025 ESR submission of team 46 (and, byte for byte, of team 51: model_zoo/team51_span.pth is the "
        "same file, so srbench has one card, filed under team 46). SPAN with 28 channels and folded convs "
        "(Conv3XC's training branches are not in the file), 6 blocks; unlike SPAN-ntire24 its conv_cat maps the "
        "112-channel concatenation to 20 channels and the upsampler's conv reads 20. The file is BasicSR's "
        "{params, params_ema}: the organizers' test_demo.py loads params_ema with strict=True (the params copy "
        "differs by up to 2.6e-4); srbench loads the same. " + _SPAN_FORWARD + " The organizers' own figures "
        "(NTIRE2025-EfficientSR.log holds only the EFDN baseline) and the report's PSNR table were not "
        "reachable from srbench's sources, so no published row is given."
    ),
    config={"feature_channels": 28, "blocks": 6, "conv_cat_out": 20, "img_range": 255.0,
            "rgb_mean": (0.4488, 0.4371, 0.4040), "upsampler": "conv3x3 (20 -> 48) + PixelShuffle(4)",
            "params": 146328, "fvcore_flops_256": 9548595200},
    challenge=entry(46, "SPAN"),
))

DSCF_NTIRE25 = register(ModelCard(
    name="DSCF-ntire25",
    family="SPAN",
    kind="cnn",
    paper=Paper(title="Distillation-Supervised Convolutional Low-Rank Adaptation for Efficient Image "
                      "Super-Resolution", venue="arXiv preprint (NTIRE 2025 ESR entry)", year=2025,
                url="https://arxiv.org/abs/2504.11271"),
    scales=(4,),
    build=build_dscf,
    weights=(weight_file(
        "team23_DSCF.pth", "239e76bc4e4e738491c3963805c0a79f524400acf5fbde34b2cb1a855dd62cb1",
        notes=("raw state_dict, 44 tensors, 130,828 parameters: SPAN ch26 in deployed form with the ConvLoRA "
               "updates merged (no lora_A/lora_B tensors). test_demo loads it with strict=False, which hides "
               "nothing (see the card notes).")),),
    published=(),
    notes=(
        "NTIRE 2025 ESR submission of team 23 (DSCLoRA; its paper says it ranked first in the overall-performance "
        "track). The network is exactly SPAN with 26 channels, i.e. the NTIRE 2024 SPAN-tiny layout (same 44 "
        "names and shapes as SPANtiny-ntire24's file); the weights are fine-tuned from it (they differ by up to "
        "0.009), the low-rank updates merged into the plain convs, so the file is the inference form. "
        "Strict loading: the organizers' test_demo.py loads this file with load_state_dict(strict=False). With "
        "their class (models/team23_DSCF.py:DSCF(3, 3, feature_channels=26, upscale=4)) there are no missing and "
        "no unexpected keys (checked by running their class on CPU against the file: 44 = 44 keys): the "
        "Lora_Conv2d replacement is commented out in that class, so strict=False hid nothing; srbench loads "
        "strictly. Their constructor also runs a warm-up forward on .cuda(); srbench's does not. "
        + _SPAN_FORWARD + " No published row: the report's PSNR table was not reachable from srbench's sources."
    ),
    config={"feature_channels": 26, "blocks": 6, "img_range": 255.0, "rgb_mean": (0.4488, 0.4371, 0.4040),
            "upsampler": "conv3x3 + PixelShuffle(4)", "training": "ConvLoRA + spatial-affinity distillation "
            "from SPAN (merged)", "params": 130828, "fvcore_flops_256": 8535015424},
    challenge=entry(23, "DSCF (DSCLoRA)", rank=1),
))
