"""Model cards and the adapter that turns a card into a ready network.

A *card* says what a model is (paper, scales, checkpoints, published numbers) without building
anything, like timm's pretrained configs; ``ModelCard.build_model`` turns a card plus a scale into an
``SRModel``: an ``nn.Module`` that takes and returns RGB in [0, 1] (N, 3, h, w) float tensors,
whatever range or colour space the checkpoint expects inside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from protocol.colour import rgb_to_ycbcr, ycbcr_to_rgb
from protocol.imresize import imresize_matlab
from registry.weights import CheckpointMismatch, WeightFile, load_state_dict

KINDS = ("baseline", "cnn", "mamba", "transformer", "other")
ORIGINS = ("zoo", "plugin", "cli")


@dataclass(frozen=True)
class Paper:
    title: str
    venue: str
    year: int
    url: str


@dataclass(frozen=True)
class Published:
    """A number a paper or challenge report claims for a model."""

    dataset: str
    scale: int
    psnr: float
    ssim: float | None
    source: str
    degradation: str = "bicubic"
    # 'y': Y-channel PSNR/SSIM with border = scale (the SR literature);
    # 'ntire_rgb': RGB PSNR on uint8 with border 4 (NTIRE ESR reports), never compared with 'y'.
    metric: str = "y"
    gray: str = "rgb"  # the single-channel convention the source used (see PROTOCOL)
    variant: str | None = None
    notes: str = ""
    # Non-empty when the number is known not to reproduce under this protocol, with the reason;
    # `srbench check --published` then reports it instead of failing.
    known_issue: str = ""
    # 'none': one forward pass; 'x8': the source self-ensembled it (the papers' "+" rows: 8 rotations/flips
    # averaged). Compared only with rows run the same way (`srbench run --self-ensemble` for 'x8').
    tta: str = "none"


@dataclass(frozen=True)
class ChallengeEntry:
    """Where a checkpoint was submitted to a challenge (NTIRE ESR), for the challenge view."""

    challenge: str  # e.g. "NTIRE 2025 ESR"
    year: int
    team: int | None  # the team number in the organizers' repository (models/teamNN_*.py); None: not numbered
    team_name: str
    solution: str  # the solution's own name (e.g. "ESPAN")
    report: str  # factsheet / challenge report reference (URL or citation)
    rank: int | None = None  # the organizers' final ranking, where published


@dataclass(frozen=True)
class ModelCard:
    name: str
    family: str
    kind: str
    paper: Paper | None
    scales: tuple[int, ...]
    # scale -> the bare network as its authors wrote it (untrained).
    build: Callable[[int], nn.Module]
    weights: tuple[WeightFile, ...] = ()
    published: tuple[Published, ...] = ()
    colour: str = "rgb"  # 'rgb': the net maps RGB to RGB; 'y': it maps Y to Y (CbCr is bicubic)
    input_range: float = 1.0  # for architecture-only cards; checkpoints carry their own
    notes: str = ""
    config: dict = field(default_factory=dict)  # the published configuration, shown on the card
    challenge: ChallengeEntry | None = None  # set for challenge submissions (NTIRE ESR entries)
    # 'zoo': written in registry/; 'plugin': registered by a user's module (registry.register_model);
    # 'cli': given on the command line (--arch/--checkpoint). Results and the site label the last two external.
    origin: str = "zoo"

    def __post_init__(self):
        if self.origin not in ORIGINS:
            raise ValueError(f"model card {self.name}: origin must be one of {ORIGINS}, not {self.origin!r}")
        if self.kind not in KINDS:
            raise ValueError(f"model card {self.name}: kind must be one of {KINDS}, not {self.kind!r}")
        for w in self.weights:
            bad = set(w.scales) - set(self.scales)
            if bad:
                raise ValueError(f"model card {self.name}: {w.file} covers scales {bad} not in {self.scales}")
        for p in self.published:
            if p.tta not in ("none", "x8"):
                raise ValueError(f"model card {self.name}: published {p.dataset} x{p.scale} has tta {p.tta!r}, "
                                 f"not 'none' or 'x8'")

    @property
    def external(self) -> bool:
        """True for a model brought from outside the repository (a plugin, or --arch on the command line)."""
        return self.origin != "zoo"

    @property
    def architecture_only(self) -> bool:
        """True when no checkpoint is published: efficiency columns only, never accuracy."""
        return self.kind != "baseline" and not self.weights

    def variants(self, scale: int | None = None) -> list[str]:
        """Variant names, default first; an architecture-only card has the single variant ``name``."""
        out: list[str] = []
        for w in self.weights:
            if scale is None or scale in w.scales:
                v = w.variant or self.name
                if v not in out:
                    out.append(v)
        if not self.weights and (scale is None or scale in self.scales):
            out.append(self.name)
        out.sort(key=lambda v: v != self.name)
        return out

    def weight_file(self, scale: int, variant: str | None = None) -> WeightFile | None:
        """The checkpoint for (scale, variant); ``None`` for a weightless card."""
        self.check_scale(scale)
        if not self.weights:
            return None
        want = variant or self.name
        for w in self.weights:
            if scale in w.scales and (w.variant or self.name).lower() == want.lower():
                return w
        have = ", ".join(self.variants(scale)) or "none"
        raise KeyError(f"model {self.name}: no checkpoint for variant {want!r} at x{scale} (has: {have})")

    def check_scale(self, scale: int) -> None:
        if scale not in self.scales:
            s = ", ".join(f"x{s}" for s in self.scales)
            raise ValueError(f"model {self.name} does not support scale x{scale} (supports {s})")

    def build_model(
        self,
        scale: int,
        variant: str | None = None,
        weights_dir: str | Path | None = None,
        pretrained: bool = True,
    ) -> SRModel:
        """Build the network for ``scale`` and load its checkpoint (sha256-checked, strict)."""
        self.check_scale(scale)
        wf = self.weight_file(scale, variant)
        net = self.build(scale)
        sha = ""
        input_range = self.input_range
        if wf is not None:
            input_range = wf.input_range
            if pretrained:
                state, sha = load_state_dict(wf, weights_dir)
                mismatch = state_mismatch(net, state)
                if mismatch:
                    raise CheckpointMismatch(f"{wf.file}: does not fit {self.name} x{scale}: {mismatch}")
                try:
                    net.load_state_dict(state, strict=True)
                except RuntimeError as e:
                    first = str(e).splitlines()[0:3]
                    raise CheckpointMismatch(f"{wf.file}: does not fit {self.name} x{scale}: {' '.join(first)}") from e
        net.eval()
        name = (wf.variant if wf and wf.variant else self.name) if wf else self.name
        return SRModel(net, scale=scale, input_range=input_range, colour=self.colour,
                       model=self.name, variant=name, weights_sha256=sha)


def state_mismatch(net: nn.Module, state: dict) -> str:
    """'' when ``state`` fits ``net`` exactly; else one line: the counts and the first missing, unexpected
    and wrongly shaped tensor names (torch's own message lists them all, a screenful)."""
    want = net.state_dict()
    missing = [k for k in want if k not in state]
    unexpected = [k for k in state if k not in want]
    shape = [k for k in want
             if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(want[k].shape)]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (first {missing[0]!r})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (first {unexpected[0]!r})")
    if shape:
        k = shape[0]
        parts.append(f"{len(shape)} of another shape (first {k!r}: {tuple(state[k].shape)} in the file, "
                     f"{tuple(want[k].shape)} in the network)")
    return "; ".join(parts)


class SRModel(nn.Module):
    """A network behind the one contract the harness knows: RGB [0, 1] in, RGB [0, 1] out.

    It hides each checkpoint's own conventions (0-255 inputs, Y-only networks), so the runner,
    profiler and site never special-case a model.
    """

    def __init__(self, net: nn.Module, *, scale: int, input_range: float = 1.0, colour: str = "rgb",
                 model: str = "", variant: str = "", weights_sha256: str = ""):
        super().__init__()
        if colour not in ("rgb", "y"):
            raise ValueError(f"colour must be 'rgb' or 'y', not {colour!r}")
        self.net = net
        self.scale = scale
        self.input_range = float(input_range)
        self.colour = colour
        self.model_name = model
        self.variant = variant
        self.weights_sha256 = weights_sha256

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.colour == "y":
            ycc = rgb_to_ycbcr(x)
            y = self.net(ycc[:, :1] * self.input_range) / self.input_range
            # CbCr are upsampled with the protocol's bicubic, the usual practice for Y-only nets.
            cbcr = imresize_matlab(ycc[:, 1:].double(), scale=self.scale).to(y.dtype)
            return ycbcr_to_rgb(torch.cat([y, cbcr], 1))
        if self.input_range != 1.0:
            return self.net(x * self.input_range) / self.input_range
        return self.net(x)
