"""TSR (NTIRE 2025 ESR, team 31) and TSSR (team 58): a plain SPAN-like residual CNN of four 4-conv blocks.

Both files hold the deployed form: every re-parameterised conv is one folded 3x3 ``eval_conv`` *with* a
bias. The two entries share the organizers' code line for line except ``conv_2`` (TSR: folded 3x3; TSSR: a
plain 1x1 ``nn.Conv2d`` with bias). Forward pass (RGB in [0, 1] in and out, no mean shift):

    f0 = conv_1(x)                                                   (folded 3x3, bias)
    block_k (k = 0..3, ``blocks.k``): h = SiLU(c1_r(in)); h = SiLU(c2_r(h)); h = SiLU(ext(h))
                                      out = SiLU(c3_r(h)) + in        (ext: ``_extern_conv_block.0``)
    SR = PixelShuffle(4)(conv3x3(conv_2(out_3) + f0))                (upsampler.0: plain 3x3 with bias)

Facts of the organizers' code a re-implementation must keep: the "extern" conv sits between c2_r and c3_r
(it is registered first in the module, so it comes first in the file, but runs third); SiLU follows c3_r
before the skip; there is no attention at all (``use_attn = False`` is never used); the constructor
arguments ``feature_channels``/``num_block``/``bias`` are overridden inside the class (32 channels, 4 blocks,
one extern conv, biases on), so ``TSR()`` / ``TSSR()`` is the network. The organizers' ``TSR.to(device)``
runs 50 warm-up forwards at 256x256; srbench's class has no such override.

Source: Amazingren/NTIRE2025_ESR@b69fb668c0362deb696eecbfdebfaa5c2fcdfcb4:models/team31_TSR.py (class
``TSR``) and models/team58_TSSR.py (class ``TSSR``); checkpoints model_zoo/team31_TSR.pth, team58_TSSR.pth.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from registry import ModelCard, register
from registry.ops.ntire25 import REPORT, entry, weight_file
from registry.ops.ntire25_span_b import EvalConv

PARAMS = {"TSR": 171_984, "TSSR": 163_792}
# fvcore FlopCountAnalysis(...).total() on 1x3x256x256 (the counter test_demo.py uses), run on the
# organizers' classes with these files in a scratch folder.
ORGANIZERS_FVCORE_GFLOPS = {"TSR": 11.23024896, "TSSR": 10.693378048}


class REECB(nn.Module):
    """c1_r -> SiLU -> c2_r -> SiLU -> extern convs (each + SiLU) -> c3_r -> SiLU, + input. Folded 3x3s."""

    def __init__(self, ch: int = 32, extern_conv: int = 1, bias: bool = True):
        super().__init__()
        self._extern_conv_block = nn.ModuleList(EvalConv(ch, ch, bias=bias) for _ in range(extern_conv))
        self.c1_r = EvalConv(ch, ch, bias=bias)
        self.c2_r = EvalConv(ch, ch, bias=bias)
        self.c3_r = EvalConv(ch, ch, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.c2_r(F.silu(self.c1_r(x))))
        for conv in self._extern_conv_block:
            h = F.silu(conv(h))
        return F.silu(self.c3_r(h)) + x


class TSR(nn.Module):
    """TSR / TSSR deployed: folded conv_1, 4 REECBs, conv_2 (``"folded3x3"``: TSR; ``"1x1"``: TSSR),
    long skip, plain 3x3 + PixelShuffle."""

    def __init__(self, scale: int = 4, ch: int = 32, num_block: int = 4, extern_conv: int = 1,
                 conv_2: str = "folded3x3", in_ch: int = 3):
        super().__init__()
        self.conv_1 = EvalConv(in_ch, ch, bias=True)
        self.blocks = nn.Sequential(*(REECB(ch, extern_conv) for _ in range(num_block)))
        if conv_2 == "folded3x3":
            self.conv_2 = EvalConv(ch, ch, bias=True)
        elif conv_2 == "1x1":
            self.conv_2 = nn.Conv2d(ch, ch, 1)
        else:
            raise ValueError(f"conv_2 must be 'folded3x3' or '1x1', not {conv_2!r}")
        # The organizers' output channels equal the input channels (out_channels = in_channels).
        self.upsampler = nn.Sequential(nn.Conv2d(ch, in_ch * scale * scale, 3, padding=1), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0 = self.conv_1(x)
        return self.upsampler(self.conv_2(self.blocks(f0)) + f0)


def build_tsr(scale: int, conv_2: str = "folded3x3") -> TSR:
    return TSR(scale=scale, conv_2=conv_2)


_COMMON = (
    "32 channels, 4 residual blocks of four folded 3x3 convs with SiLU (c1_r, c2_r, one 'extern' conv, c3_r), "
    "no attention, deployed form (the files hold only the folded eval_conv weights with biases; the "
    "training-time branches are not in the file nor in the organizers' class). test_demo.py builds the "
    "class with no arguments, loads the file at the top level with strict=True and uses data_range=1.0 "
    "(RGB [0, 1] in and out, no mean shift); srbench loads it the same way (strict, weights_only). The "
    "organizers' per-team PSNR/runtime (the report's table) is not recorded here: their log covers only the "
    "EFDN baseline and the report's tables were not available to srbench when this card was written."
)


def _card(solution: str, team: int, file: str, sha256: str, conv_2: str, n_tensors: int, extra: str,
          set5: str) -> ModelCard:
    params = PARAMS[solution]
    return ModelCard(
        name=f"{solution}-ntire25",
        family="TSR",
        kind="cnn",
        paper=REPORT,
        scales=(4,),
        build=functools.partial(build_tsr, conv_2=conv_2),
        weights=(weight_file(file, sha256, notes=f"team {team}; deployed form (folded eval_conv with bias), raw "
                                                 f"state_dict, {params:,} parameters, {n_tensors} tensors, float32"),),
        published=(),
        notes=(f"NTIRE 2025 ESR entry of team {team} (solution {solution}): " + _COMMON + " " + extra
               + f" srbench run (CPU, fp32): Set5 x4 Y-PSNR {set5} dB (Bicubic 28.43)."),
        config={"feature_channels": 32, "blocks": 4, "convs_per_block": 4, "activation": "SiLU",
                "conv_2": "folded 3x3 (bias)" if conv_2 == "folded3x3" else "1x1 (bias)",
                "upsampler": "conv3x3 (bias) + PixelShuffle(4)", "input_range": 1.0, "params": params,
                "flops_256_organizers_fvcore_G": round(ORGANIZERS_FVCORE_GFLOPS[solution], 4)},
        challenge=entry(team, solution),
    )


TSR_NTIRE25 = register(_card(
    "TSR", 31, "team31_TSR.pth", "be2a548500672826be378179a7ef535e49186e5fa8c07e0692672c8bc809e535",
    "folded3x3", 38, "conv_2 is a folded 3x3 conv.", "31.88"))

TSSR_NTIRE25 = register(_card(
    "TSSR", 58, "team58_TSSR.pth", "8603e89aee24ef28f8df21e4b18f72b6cc301bd4afc5d3d1de03583ba4a95622",
    "1x1", 38, "Identical to team 31's TSR code except conv_2, a plain 1x1 conv (8,192 parameters fewer); the "
    "organizers' test_demo names this entry '58_TSR'. The weights differ from team 31's file throughout.",
    "31.94"))
