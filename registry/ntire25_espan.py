"""ESPAN (Expanded SPAN), team 36's NTIRE 2025 ESR entry, in deployed form (folded convs).

Forward pass (input RGB in [0, 1], used as it is; the output is [0, 1]):

    f0 = conv_1(x)                                    a folded 9x9 conv, 3 -> 32 channels
    out_k = SPAB_k(out_{k-1}), k = 1..5 (out_0 = f0)  SPAN blocks: c1_r, SiLU, c2_r, SiLU, c3_r, attention
    t = teacher_block_seq(out_5)                      two convs: c1_r, SiLU, c2_r, then the same attention
    SR = tea_upsampler(tea_conv_cat(cat[f0, tea_conv_2(t), out_1, t]))
                          (1x1 128 -> 32; tea_upsampler: folded 3x3 32 -> 48 + PixelShuffle(4))

Facts of the organizers' code (``models/team36_espan.py``, class ``ESPAN(num_in_ch=3, num_out_ch=3,
feature_channels=32, mid_channels=32, upscale=4, bias=True, teacher_feature_channels=32,
teacher_extra_depth=1, use_fast_op=False)`` in test_demo) that a re-implementation must keep:

* no mean shift and no x255 (test_demo ``data_range=1.0``);
* the attention is ``(h + x) * (sigmoid(h) - 0.5)`` (``use_fast_op=False``: the plain PyTorch form; the
  fast form is a CUDA jiterator kernel of the same formula);
* the concatenation order is [f0, tea_conv_2(t), out_1, t]: the 4th tensor is the teacher block's output
  (not a block's c1_r tap as in SPAN);
* the "tea_" layers are the deployed network (the student's tail was removed in training, the paper's
  self-distillation with progressive learning); the upsampler's conv is itself a folded conv
  (``tea_upsampler.0.eval_conv``);
* the authors' constructor runs a 512x512 warm-up forward on ``.cuda()``; srbench's does not.

Source: Amazingren/NTIRE2025_ESR@b69fb668c0362deb696eecbfdebfaa5c2fcdfcb4:models/team36_espan.py (MIT).
"""

from __future__ import annotations

import torch
from torch import nn

from registry import ModelCard, Paper, register
from registry.ops.ntire25 import entry, weight_file
from registry.ops.ntire25_span_a import SPAB2, EvalConv
from registry.span import SPAB, FoldedConv


class ESPAN(nn.Module):
    """ESPAN inference network: 9x9 head, 5 SPAN blocks, a two-conv block, 1x1 fusion, folded upsampler."""

    def __init__(self, scale: int = 4, ch: int = 32, in_ch: int = 3, out_ch: int = 3, blocks: int = 5):
        super().__init__()
        self.blocks = blocks
        self.conv_1 = EvalConv(in_ch, ch, 9)
        for k in range(1, blocks + 1):
            self.add_module(f"block_{k}", SPAB(ch))
        self.teacher_block_seq = SPAB2(ch)
        self.tea_conv_cat = nn.Conv2d(4 * ch, ch, 1)
        self.tea_conv_2 = FoldedConv(ch, ch)
        self.tea_upsampler = nn.Sequential(FoldedConv(ch, out_ch * scale * scale), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0 = self.conv_1(x)
        out_1, _ = self.block_1(f0)
        h = out_1
        for k in range(2, self.blocks + 1):
            h, _ = getattr(self, f"block_{k}")(h)
        t = self.teacher_block_seq(h)
        return self.tea_upsampler(self.tea_conv_cat(torch.cat([f0, self.tea_conv_2(t), out_1, t], 1)))


def build_espan(scale: int) -> nn.Module:
    return ESPAN(scale=scale, ch=32)


ESPAN_NTIRE25 = register(ModelCard(
    name="ESPAN-ntire25",
    family="ESPAN",
    kind="cnn",
    paper=Paper(title="Expanded SPAN for Efficient Super-Resolution", venue="CVPR 2025 Workshops", year=2025,
                url="https://openaccess.thecvf.com/content/CVPR2025W/NTIRE/html/"
                    "Wang_Expanded_SPAN_for_Efficient_Super-Resolution_CVPRW_2025_paper.html"),
    scales=(4,),
    build=build_espan,
    weights=(weight_file(
        "team36_espan.pth", "f54d2668aef25cd490ff0ced3c47ba2978fa7cb341264a5339b239ef602ea59c",
        notes=("raw state_dict, 42 tensors, 192,272 parameters; deployed form (every conv but the 1x1 fusion is a "
               "folded eval_conv; no training branches); test_demo loads it strictly.")),),
    published=(),
    notes=(
        "NTIRE 2025 ESR submission of team 36: ESPAN (Expanded SPAN, Wang et al., CVPR 2025 Workshops). 32 "
        "channels, a folded 9x9 first conv, 5 SPAN blocks and one two-conv block (the self-distillation "
        "'teacher' tail that was kept), all in re-parameterised (deployed) form; the file loads strictly, as in "
        "test_demo (use_fast_op=False there: the attention in plain PyTorch, which srbench uses too). The net "
        "sees RGB in [0, 1] with no mean shift. The authors' constructor runs a 512x512 .cuda() warm-up forward; "
        "srbench's does not. No published row: the report's PSNR table was not reachable from srbench's "
        "sources (the ESPAN paper reports Y-PSNR of its own trained models, not of this file)."
    ),
    config={"feature_channels": 32, "mid_channels": 32, "blocks": 5, "teacher_blocks": 1, "head": "conv9x9",
            "img_range": 1.0, "rgb_mean": None, "upsampler": "folded conv3x3 (32 -> 48) + PixelShuffle(4)",
            "params": 192272, "fvcore_flops_256": 12555649024},
    challenge=entry(36, "ESPAN"),
))
