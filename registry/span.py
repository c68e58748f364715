"""SPAN, as deployed by the NTIRE 2024 ESR winners (team 38 XiaomiMM: SPAN ch28; team 39: SPAN-tiny ch26).

SPAN (Swift Parameter-free Attention Network, Wan et al., CVPR 2024 workshops) trains every 3x3 conv as a
re-parameterisable "Conv3XC" (1x1 -> 3x3 -> 1x1 plus a 1x1 shortcut) and folds it into one plain 3x3
``eval_conv`` for inference. The challenge files hold only the folded convs ("slim"); this module is the
inference network those files were exported from, written after the forward pass of the challenge
code (``models/team38_SPAN.py`` / ``team39_SPANtiny.py`` in Amazingren/NTIRE2024_ESR, class ``SPAN30``):

    x  <- (x - mean_DIV2K) * 255           (input is RGB in [0, 1]; the output is *not* rescaled)
    f0 = conv_1(x)
    block_k (k = 1..6): h1 = SiLU(c1_r(in)); h2 = SiLU(c2_r(h1)); h3 = c3_r(h2)
                        out = (h3 + in) * (sigmoid(h3) - 0.5)          (parameter-free attention)
    tail = conv_cat(cat[f0, conv_2(out_6), out_1, h1 of block 6]) ; SR = PixelShuffle(conv3x3(tail))

Two facts of that code that a re-implementation must keep:

* The attention output is ``(h3 + in) * (sigmoid(h3) - 0.5)``; there is no extra residual.
* The fourth tensor of the concatenation is the ``c1_r`` output of block 6 *after* SiLU: the authors'
  block applies ``nn.SiLU(inplace=True)`` to the conv output and then returns that same tensor object,
  so the "pre-activation" tap is in fact activated. We compute it explicitly (no in-place ops).

About ``strict=False`` in the challenge's ``test_demo.py`` (see the card notes): with the deployed
``SPAN30`` class it hid nothing; with the paper's ``SPAN`` class it would have hidden 160 missing keys.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from registry import ChallengeEntry, register
from registry.base import ModelCard, Paper, WeightFile

# DIV2K RGB mean used by SPAN (BasicSR convention).
DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


class FoldedConv(nn.Module):
    """The inference form of SPAN's re-parameterised conv: one 3x3 conv named ``eval_conv``."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.eval_conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.eval_conv(x)


class SPAB(nn.Module):
    """Swift parameter-free attention block; returns (output, SiLU(c1_r(x)))."""

    def __init__(self, ch: int):
        super().__init__()
        self.c1_r = FoldedConv(ch, ch)
        self.c2_r = FoldedConv(ch, ch)
        self.c3_r = FoldedConv(ch, ch)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h1 = F.silu(self.c1_r(x))
        h2 = F.silu(self.c2_r(h1))
        h3 = self.c3_r(h2)
        att = torch.sigmoid(h3) - 0.5
        return (h3 + x) * att, h1


class SPAN(nn.Module):
    """SPAN inference network (folded convs), 6 blocks, ``ch`` feature channels."""

    def __init__(self, ch: int = 28, scale: int = 4, in_ch: int = 3, out_ch: int = 3,
                 img_range: float = 255.0, rgb_mean: tuple[float, float, float] = DIV2K_MEAN):
        super().__init__()
        self.img_range = img_range
        # Not part of the checkpoint (a plain attribute in the authors' code): a non-persistent buffer.
        self.register_buffer("mean", torch.tensor(rgb_mean).view(1, 3, 1, 1), persistent=False)
        self.conv_1 = FoldedConv(in_ch, ch)
        for k in range(1, 7):
            self.add_module(f"block_{k}", SPAB(ch))
        self.conv_cat = nn.Conv2d(4 * ch, ch, 1)
        self.conv_2 = FoldedConv(ch, ch)
        self.upsampler = nn.Sequential(nn.Conv2d(ch, out_ch * scale * scale, 3, padding=1),
                                       nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean.to(x.dtype)) * self.img_range
        f0 = self.conv_1(x)
        out_1, _ = self.block_1(f0)
        h = out_1
        for k in range(2, 6):
            h, _ = getattr(self, f"block_{k}")(h)
        out_6, tap_6 = self.block_6(h)
        tail = self.conv_cat(torch.cat([f0, self.conv_2(out_6), out_1, tap_6], 1))
        return self.upsampler(tail)


_SRC_REPO = "Amazingren/NTIRE2024_ESR"
_SRC_COMMIT = "6404fa48dde4a4adbf241a51debdc661aef20449"


def _url(path: str) -> str:
    return f"https://raw.githubusercontent.com/{_SRC_REPO}/{_SRC_COMMIT}/{path}"


_PAPER = Paper(
    title="Swift Parameter-free Attention Network for Efficient Super-Resolution",
    venue="CVPR 2024 Workshops (NTIRE 2024 ESR challenge winner)",
    year=2024,
    url="https://arxiv.org/abs/2311.12770",
)

_STRICT_NOTE = (
    "Strict loading: the challenge's test_demo.py loaded these files with load_state_dict(strict=False). "
    "With the class it actually instantiated (SPAN30 in models/team38_SPAN.py / team39_SPANtiny.py, whose "
    "Conv3XC keeps only eval_conv, the sk/conv training branches being commented out, and whose RGB mean "
    "is a plain attribute, not a buffer) the model has exactly the 44 keys of the file, so strict=False "
    "hid nothing: no missing and no unexpected keys; this card loads the same file with strict=True. "
    "strict=False would have mattered with the paper's SPAN class (hongyuanyu/SPAN basicsr/archs/"
    "span_arch.py): its Conv3XC also holds sk.{weight,bias} and conv.{0,1,2}.{weight,bias}, so 20 convs x 8 "
    "= 160 keys would be silently missing, and in eval mode its forward calls update_params(), which "
    "overwrites each loaded eval_conv with the fold of the randomly initialised branches. "
    "Forward details kept from the deployed code: input RGB in [0, 1] is mean-subtracted and multiplied by "
    "255 inside, the output is used as [0, 1] directly (data_range=1.0 in test_demo), and the fourth "
    "concatenated tensor is SiLU(c1_r) of block 6 (nn.SiLU(inplace=True) activates the returned tensor)."
)


def _card(name: str, ch: int, file: str, sha: str, source_path: str, n_params: int, team: str,
          challenge: ChallengeEntry) -> ModelCard:
    return ModelCard(
        name=name,
        family="SPAN",
        kind="cnn",
        paper=_PAPER,
        scales=(4,),
        build=lambda scale, ch=ch: SPAN(ch=ch, scale=scale),
        weights=(
            WeightFile(
                file=file,
                sha256=sha,
                scales=(4,),
                url=_url(source_path),
                license="MIT (Copyright 2024 BinRen; NTIRE2024_ESR repository)",
                input_range=1.0,
                source=f"{_SRC_REPO}@{_SRC_COMMIT}:{source_path}",
                notes=f"{team}; re-parameterised (eval_conv only), {n_params} parameters",
            ),
        ),
        published=(),
        notes=(
            f"NTIRE 2024 ESR challenge checkpoint of {team}: SPAN with {ch} channels and folded convs. It is "
            "NOT the SPAN paper's model (48/52 channels, weights only on Google Drive), so the paper's table "
            "does not apply, and no Y-channel benchmark numbers were published for this checkpoint (the "
            "challenge report gives RGB PSNR on DIV2K/LSDIR validation/test images, which srbench does not "
            "hold). " + _STRICT_NOTE
        ),
        challenge=challenge,
        config={"feature_channels": ch, "blocks": 6, "img_range": 255.0, "rgb_mean": DIV2K_MEAN,
                "upsampler": "conv3x3 + PixelShuffle(4)", "params": n_params},
    )


SPAN_NTIRE24 = register(_card(
    "SPAN-ntire24", 28, "SPAN-ntire24_x4.pth",
    "6c80f05048313289c6526e5fc9726688d7bb3dfdd6ae3c8b1e7dd09f601e5971",
    "model_zoo/team38_span_ch28_slim.pth", 150688, "team 38 (XiaomiMM), winner, SPAN ch28",
    ChallengeEntry("NTIRE 2024 ESR", 2024, 38, "XiaomiMM", "SPAN",
                   "NTIRE 2024 ESR challenge report (organizers' repository Amazingren/NTIRE2024_ESR)", rank=1)))

SPANTINY_NTIRE24 = register(_card(
    "SPANtiny-ntire24", 26, "SPANtiny-ntire24_x4.pth",
    "30bf224aee5d3fb9cbc7a3bf164a294f957f65c45f5b271052947097922040a5",
    "model_zoo/team39_spantiny_ch26_slim.pth", 130828, "team 39, SPAN-tiny ch26",
    ChallengeEntry("NTIRE 2024 ESR", 2024, 39, "team 39", "SPAN-tiny",
                   "NTIRE 2024 ESR challenge report (organizers' repository Amazingren/NTIRE2024_ESR)")))
