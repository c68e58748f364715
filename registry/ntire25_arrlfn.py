"""ARRLFN, NTIRE 2025 ESR team 30: one x2 RLFN-style network with RRRB blocks, applied twice for x4.

The network (``models/team30_ARRLFN.py`` of the organizers' repository, class ``ARRLFN``) wraps a 12-channel
x2 RLFN (``self.model``) whose 3x3 convolutions are FMEN's RRRBs (1x1 expand -> 3x3 -> 1x1 reduce with
inner and outer identities, Du et al., CVPR Workshops 2022), folded into one 3x3 ``conv_fused`` for
inference. For x4 the *same* x2 network (same weights) is run twice:

    SR = net(net(x))                                         (input RGB in [0, 1]; no clamp in between)
    net(x):  f0 = conv1(x)                                   (3x3, 3 -> 12)
             block_k (k = 0..2): h = a(RRRB_0(in)); h = a(RRRB_1(h)); h = a(RRRB_2(h)) + in
                                 out = ESA'(conv(h))         (conv: 1x1; ESA' without conv_f, 32 channels,
                                                              its conv3 also a folded RRRB)
             out = PixelShuffle(2)(conv_up(conv2(out_2) + f0))     (conv2: 1x1; conv_up: 3x3, 12 -> 12)
    a = LeakyReLU(0.05)

Facts of that code a re-implementation must keep:

* x4 is the x2 network applied to its own output; the first pass's output (a 2x RGB image) is not clamped.
* The ESA has no ``conv_f``: ``conv4(up(conv3(...)) + conv1(x))``; it *widens* 12 -> 32 channels inside.
* The file holds only the fused convs: the organizers' ``ARRLFN.load_state_dict`` first calls
  ``fuse_model()`` (which deletes the RRRB branches and the ``fuse_ones`` helper buffer) and then loads
  strictly, so the file's 54 keys are exactly the fused network's.

Source: Amazingren/NTIRE2025_ESR@b69fb668c0362deb696eecbfdebfaa5c2fcdfcb4:models/team30_ARRLFN.py.
"""

from __future__ import annotations

import torch
from torch import nn

from registry import ModelCard, register
from registry.ops.blocks import lrelu
from registry.ops.ntire25 import REPORT, entry, weight_file
from registry.ops.ntire25_rep import ESANoF, NamedConv

N_PARAMS = 71_964


class RLFB(nn.Module):
    """n folded RRRBs (each + LeakyReLU 0.05), skip, 1x1 ``conv``, ESA without conv_f (conv3 folded)."""

    def __init__(self, n_feats: int = 12, n_rrrb: int = 3, esa_c: int = 32):
        super().__init__()
        self.RRRBs = nn.ModuleList([NamedConv("conv_fused", n_feats, n_feats, 3) for _ in range(n_rrrb)])
        self.conv = nn.Conv2d(n_feats, n_feats, 1)
        self.esa = ESANoF(n_feats, esa_c, conv3=NamedConv("conv_fused", esa_c, esa_c, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for rrrb in self.RRRBs:
            h = lrelu(rrrb(h))
        return self.esa(self.conv(h + x))


class RLFNx2(nn.Module):
    """The x2 network: conv1 -> blocks -> conv2 (1x1) + long skip -> conv_up (3x3) -> PixelShuffle(2)."""

    def __init__(self, in_c: int = 3, n_feats: int = 12, n_rrrb: int = 3, n_blocks: int = 3, esa_c: int = 32,
                 scale: int = 2):
        super().__init__()
        self.conv1 = nn.Conv2d(in_c, n_feats, 3, padding=1)
        self.blocks = nn.ModuleList([RLFB(n_feats, n_rrrb, esa_c) for _ in range(n_blocks)])
        self.conv2 = nn.Conv2d(n_feats, n_feats, 1)
        self.conv_up = nn.Conv2d(n_feats, in_c * scale ** 2, 3, padding=1)
        self.upsample = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0 = self.conv1(x)
        h = f0
        for block in self.blocks:
            h = block(h)
        return self.upsample(self.conv_up(self.conv2(h) + f0))


class ARRLFN(nn.Module):
    """x4 = the x2 network ``model`` applied twice (shared weights); x2 = once."""

    def __init__(self, scale: int = 4):
        super().__init__()
        if scale not in (2, 4):
            raise ValueError(f"ARRLFN upscales by 2 or 4, not {scale}")
        self.model = RLFNx2()
        self.passes = 2 if scale == 4 else 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(self.passes):
            x = self.model(x)
        return x


def build(scale: int) -> ARRLFN:
    return ARRLFN(scale=scale)


ARRLFN_NTIRE25 = register(ModelCard(
    name="ARRLFN-ntire25",
    family="ARRLFN",
    kind="cnn",
    paper=REPORT,
    scales=(4,),
    build=build,
    weights=(weight_file(
        "team30_ARRLFN.pth", "ecfdb052345fdfe93417f23180d936639dd621b51e67fbbbef4e5ad9a7a56970",
        notes=f"team 30; deployed form (every RRRB fused into conv_fused), {N_PARAMS:,} parameters of ONE x2 "
              "network that is run twice for x4; raw state_dict, loaded strictly at the top level by "
              "test_demo.py (data_range 1.0)"),),
    published=(),
    challenge=entry(30, "ARRLFN"),
    notes=(
        "NTIRE 2025 ESR entry of team 30: a 12-channel x2 RLFN (3 blocks of 3 FMEN-style RRRBs, ESA of 32 "
        "channels without conv_f whose conv3 is also an RRRB) that is applied twice, with the same weights, "
        "for x4; the intermediate 2x image is not clamped. The file is the fused form (54 tensors, all "
        "parameters): the organizers' ARRLFN.load_state_dict calls fuse_model() on the fresh network before "
        "loading strictly, so the training branches and the fuse_ones buffer never meet the file; srbench's "
        "class is the fused network itself. Input RGB in [0, 1]. The parameter count is that of the shared x2 "
        "network; FLOPs count both passes (the second at 2x resolution). The challenge report's team name, "
        "rank and DIV2K_LSDIR PSNR could not be read here, so none is stated. "
        "LOW ACCURACY, investigated: srbench measures Set5 x4 Y-PSNR 27.88 dB, BELOW bicubic (28.43). srbench's "
        "forward equals the organizers' own ARRLFN class bit for bit on the golden input (float difference 0), "
        "so the number is the checkpoint's, not the port's. Alternatives tried on Set5 (all worse or no "
        "better): input in [0, 255] 22.46; BGR channel order 27.85; clamping and quantising the 2x "
        "intermediate 27.88; one pass on a bicubic-x2 input 28.24; one pass then bicubic x2 28.04; as an x2 "
        "model alone it scores 33.02 dB at Set5 x2, also below bicubic x2 (~33.66). No DIV2K/LSDIR mean shift "
        "is in the code and subtracting one (32.39 at x2) does not help. Most likely the published file is "
        "not a well-trained model (an early or mismatched checkpoint); it is kept as submitted."
    ),
    config={"feature_channels": 12, "blocks": 3, "rrrb_per_block": 3, "esa_channels": 32, "passes_for_x4": 2,
            "activation": "LeakyReLU 0.05", "upsampler": "conv3x3 + PixelShuffle(2), twice", "params": N_PARAMS,
            # fvcore at 1x3x256x256 on the organizers' class (the harness's counter), measured, not the report's.
            "flops_fvcore_256_G": 7.9031},
))
