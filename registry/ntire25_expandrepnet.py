"""ExpandRepNet, NTIRE 2025 ESR team 39: a SAFMN-like CNN (36 channels, 6 blocks) with folded convolutions.

The network (``models/team39_ExpandRepNet.py`` of the organizers' repository, class ``ExpandRepNet`` built as
``ExpandRepNet(dim=36, n_blocks=6, ffn_scale=1.5, upscaling_factor=4)``) is the deployed form: every 3x3
and 1x1 convolution outside the depth-wise one is a single ``eval_conv`` (the training-time expansion has
been folded away). Forward pass:

    res = bilinear_x4(x)                                     (align_corners=False; input RGB in [0, 1])
    h = to_feat(x)                                           (3x3, 3 -> 36)
    block_k (k = 0..5):  (Cell)  x0, x1 = split(proj(in), [12, 24])          (proj: 3x3)
                                 m = up(dw3x3(adaptive_max_pool(x0, (h//8, w//8))))   (bilinear)
                                 c = out(GELU(cat[x1, GELU(m) * x0]))        (out: 1x1)
                         (CCM)   out = conv2(GELU(conv1(c))) + in           (conv1: 3x3 36 -> 54; conv2: 1x1)
    SR = PixelShuffle(4)(to_img(h_6)) + res                  (to_img: 3x3, 36 -> 48)

Facts of that code a re-implementation must keep:

* The residual of a block is around Cell *and* CCM together (no residual inside either).
* The modulation branch is the first ``dim // 3 = 12`` channels of the proj output; the concatenation puts
  the 24 untouched channels *first*. GELU is the exact (erf) one, applied to the modulation map and again
  to the whole concatenation before ``out``.
* ``adaptive_max_pool2d`` to (h // 8, w // 8): the input must be at least 8x8 LR pixels; the bilinear
  upsampling back is align_corners=False (PyTorch's default, which the authors' call relies on).
* The depth-wise conv has no bias; every ``eval_conv`` has one.
* The global skip is a bilinear x4 of the input (not bicubic).

Source: Amazingren/NTIRE2025_ESR@b69fb668c0362deb696eecbfdebfaa5c2fcdfcb4:models/team39_ExpandRepNet.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from registry import ModelCard, register
from registry.ops.ntire25 import REPORT, entry, weight_file
from registry.ops.ntire25_rep import NamedConv

N_PARAMS = 212_628


class Cell(nn.Module):
    """Spatially-adaptive modulation on ``dim // ratio`` channels (SAFMN-style, one scale)."""

    def __init__(self, dim: int, ratio: int = 3):
        super().__init__()
        self.dim = dim
        self.chunk_dim = dim // ratio
        self.proj = NamedConv("eval_conv", dim, dim, 3)
        self.dwconv = nn.Conv2d(self.chunk_dim, self.chunk_dim, 3, padding=1, groups=self.chunk_dim, bias=False)
        self.out = NamedConv("eval_conv", dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x0, x1 = self.proj(x).split([self.chunk_dim, self.dim - self.chunk_dim], dim=1)
        m = self.dwconv(F.adaptive_max_pool2d(x0, (h // 8, w // 8)))
        m = F.interpolate(m, size=(h, w), mode="bilinear", align_corners=False)
        return self.out(F.gelu(torch.cat([x1, F.gelu(m) * x0], dim=1)))


class CCM(nn.Module):
    """3x3 (dim -> dim * ffn_scale) -> GELU -> 1x1 back."""

    def __init__(self, dim: int, ffn_scale: float = 1.5):
        super().__init__()
        hidden = int(dim * ffn_scale)
        self.conv1 = NamedConv("eval_conv", dim, hidden, 3)
        self.conv2 = NamedConv("eval_conv", hidden, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.gelu(self.conv1(x)))


class REB(nn.Module):
    def __init__(self, dim: int, ffn_scale: float = 1.5):
        super().__init__()
        self.conv1 = Cell(dim, ratio=3)
        self.conv2 = CCM(dim, ffn_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x)) + x


class ExpandRepNet(nn.Module):
    def __init__(self, dim: int = 36, n_blocks: int = 6, ffn_scale: float = 1.5, upscaling_factor: int = 4):
        super().__init__()
        self.scale = upscaling_factor
        self.to_feat = NamedConv("eval_conv", 3, dim, 3)
        self.feats = nn.Sequential(*[REB(dim, ffn_scale) for _ in range(n_blocks)])
        self.to_img = nn.Sequential(NamedConv("eval_conv", dim, 3 * upscaling_factor ** 2, 3),
                                    nn.PixelShuffle(upscaling_factor))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return self.to_img(self.feats(self.to_feat(x))) + res


def build(scale: int) -> ExpandRepNet:
    return ExpandRepNet(dim=36, n_blocks=6, ffn_scale=1.5, upscaling_factor=scale)


EXPANDREPNET_NTIRE25 = register(ModelCard(
    name="ExpandRepNet-ntire25",
    family="ExpandRepNet",
    kind="cnn",
    paper=REPORT,
    scales=(4,),
    build=build,
    weights=(weight_file(
        "team39_ExpandRepNet.pth", "7220c6a005c4b1e59077409f04140445df88b50664c79b349b733a7f92e05214",
        notes=f"team 39; deployed form (eval_conv only), {N_PARAMS:,} parameters; raw state_dict, loaded "
              "strictly at the top level by test_demo.py (data_range 1.0)"),),
    published=(),
    challenge=entry(39, "ExpandRepNet"),
    notes=(
        "NTIRE 2025 ESR entry of team 39: a SAFMN-like network (36 channels, 6 blocks of a single-scale "
        "modulation cell on 12 channels + a 3x3/1x1 conv FFN of 54 hidden channels, GELU) with a bilinear x4 "
        "global skip. The file is the deployed form (58 tensors, all parameters; every conv but the "
        "depth-wise one is a folded eval_conv), loaded strictly as test_demo.py does. Input RGB in [0, 1]; "
        "LR inputs must be at least 8x8 (adaptive max-pool to h//8 x w//8). The organizers' file's __main__ "
        "loads a 'params_ema' key of another file; the challenge file itself is a raw state_dict. The "
        "challenge report's team name, rank and DIV2K_LSDIR PSNR could not be read here, so none is stated."
    ),
    config={"dim": 36, "blocks": 6, "ffn_scale": 1.5, "modulation_channels": 12, "activation": "GELU (erf)",
            "upsampler": "conv3x3 + PixelShuffle(4) + bilinear x4 skip", "params": N_PARAMS,
            # fvcore at 1x3x256x256 on the organizers' class (the harness's counter), measured, not the report's.
            "flops_fvcore_256_G": 13.8552},
))
