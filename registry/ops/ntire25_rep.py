"""Blocks shared by srbench's NTIRE 2025 ESR re-parameterised CNN entries (RepRLFN, ARRLFN, ExpandRepNet,
EECNet, RCUNet; ``registry/ntire25_*.py``).

Their checkpoints are all *deployed* forms: each re-parameterisable branch group has already been folded
into one plain convolution, stored under a name that differs from team to team (``rbr_reparam``,
``conv_fused``, ``eval_conv``, ``rep_conv``). :class:`NamedConv` holds such a folded convolution under the
attribute the file uses, so the files load with ``strict=True``.

:class:`ESANoF` is the Enhanced Spatial Attention variant without the ``conv_f`` 1x1 (ARRLFN, EECNet): the
skip from ``conv1`` is added to the upsampled branch *unprojected*. The RLFN-style ESA with ``conv_f`` is
``registry.ops.blocks.ESALite``.

:func:`ntire25_weight_file` and :func:`ntire25_challenge` build the parts of these cards that only differ by
file, team and solution (the organizers' repository, commit, licence and report).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from registry.base import ChallengeEntry, Paper, WeightFile

__all__ = ["NamedConv", "ESANoF", "REPORT", "SRC_REPO", "SRC_COMMIT", "ntire25_weight_file", "ntire25_challenge"]

SRC_REPO = "Amazingren/NTIRE2025_ESR"
SRC_COMMIT = "b69fb668c0362deb696eecbfdebfaa5c2fcdfcb4"
REPORT_URL = "https://arxiv.org/abs/2504.10686"
REPORT = Paper(title="The Tenth NTIRE 2025 Efficient Super-Resolution Challenge Report", venue="CVPR 2025 Workshops",
               year=2025, url=REPORT_URL)
# The team names and final ranks are in the report's tables, which could not be read when these cards were
# written (only the report's first page was reachable); they are left unstated rather than guessed.
TEAM_NAME_UNVERIFIED = "not verified (see the card notes)"


def ntire25_weight_file(file: str, sha256: str, notes: str, input_range: float = 1.0,
                        state_key: str | None = None) -> WeightFile:
    """The card's checkpoint: ``ntire2025/<file>``, byte-identical to the organizers' ``model_zoo/<file>``."""
    return WeightFile(
        file=f"ntire2025/{file}",
        sha256=sha256,
        scales=(4,),
        url=f"https://raw.githubusercontent.com/{SRC_REPO}/{SRC_COMMIT}/model_zoo/{file}",
        license="MIT (Copyright 2025 BinRen; NTIRE2025_ESR repository)",
        input_range=input_range,
        state_key=state_key,
        source=f"{SRC_REPO}@{SRC_COMMIT}:model_zoo/{file}",
        notes=notes,
    )


def ntire25_challenge(team: int, solution: str, team_name: str = TEAM_NAME_UNVERIFIED,
                      rank: int | None = None) -> ChallengeEntry:
    return ChallengeEntry(challenge="NTIRE 2025 ESR", year=2025, team=team, team_name=team_name, solution=solution,
                          report=REPORT_URL, rank=rank)


class NamedConv(nn.Module):
    """One 'same'-padded convolution stored as ``self.<attr>`` (the folded conv of a re-parameterised block).

    ``NamedConv("eval_conv", 36, 54, 3)`` has the keys ``eval_conv.weight`` and ``eval_conv.bias``.
    """

    def __init__(self, attr: str, c_in: int, c_out: int, kernel_size: int = 3, bias: bool = True):
        super().__init__()
        self.attr = attr
        setattr(self, attr, nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, self.attr)(x)


class ESANoF(nn.Module):
    """ESA without ``conv_f``: x * sigmoid(conv4(up(conv3(maxpool_7/3(conv2_s2(c1)))) + c1)), c1 = conv1(x).

    conv1: 1x1 C -> f; conv2: 3x3, stride 2, no padding; max-pool kernel 7 stride 3; conv3: a 3x3
    'same' conv (or any module given as ``conv3``, e.g. a folded :class:`NamedConv`); bilinear
    (align_corners=False) back to the input size; conv4: 1x1 f -> C. The input must be at least 15x15.
    """

    def __init__(self, n_feats: int, f: int, conv3: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(n_feats, f, 1)
        self.conv2 = nn.Conv2d(f, f, 3, stride=2, padding=0)
        self.conv3 = conv3 if conv3 is not None else nn.Conv2d(f, f, 3, padding=1)
        self.conv4 = nn.Conv2d(f, n_feats, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1_ = self.conv1(x)
        v = F.max_pool2d(self.conv2(c1_), kernel_size=7, stride=3)
        c3 = F.interpolate(self.conv3(v), size=(x.shape[2], x.shape[3]), mode="bilinear", align_corners=False)
        return x * torch.sigmoid(self.conv4(c3 + c1_))
