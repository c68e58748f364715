"""Model selection: the one place that turns model names and scales into what will be built.

    chosen, skipped = select(["IMDN", "RLFN-ntire"], [4], need_weights=True, weights_dir=...)

``run``, ``check``, ``profile``, ``list`` and ``weights verify/fetch`` all use it. Names are resolved
case-insensitively, a variant name selects that checkpoint alone, and ``"all"`` selects every
registered card. Explicitly named models are strict (an unsupported scale, a missing or altered
checkpoint raise :class:`SelectionError` naming it); under ``"all"`` those are skipped, each with a
one-line reason, except an altered checkpoint, which is always an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import registry
from registry.base import ModelCard
from registry.weights import WeightFile, verify, weight_path


class SelectionError(ValueError):
    """The requested models cannot be selected; the message names the model, scale or file."""


@dataclass(frozen=True)
class Skip:
    """Something ``"all"`` left out, and why: ``reason`` is 'architecture_only', 'no_scale' or 'missing'
    (its checkpoint is not on disk; ``path`` says where it was looked for)."""

    reason: str
    name: str  # model or variant
    scale: int | None = None
    path: str = ""

    def __str__(self) -> str:
        if self.reason == "architecture_only":
            return f"model {self.name} is architecture only (no published weights): no accuracy to measure"
        if self.reason == "no_scale":
            return f"model {self.name} has no x{self.scale}"
        return f"model {self.name} x{self.scale}: checkpoint {self.path} is missing"


@dataclass(frozen=True)
class Selection:
    card: ModelCard
    variant: str
    scale: int
    weights: WeightFile | None  # None: the card needs no checkpoint (baseline, architecture only)
    module: str  # the module that registered the card (workers import it)

    @property
    def model(self) -> str:
        return self.card.name

    @property
    def sha256(self) -> str:
        return self.weights.sha256 if self.weights is not None else ""


def _unique(items: list, key) -> list:
    seen: set = set()
    return [x for x in items if not (key(x) in seen or seen.add(key(x)))]


def parse_names(models: str | Sequence[str]) -> list[str] | None:
    """``"all"`` -> None; ``"A,B"`` or ``["A", "B"]`` -> the names; an empty list is an error."""
    if isinstance(models, str):
        if models.strip().lower() == "all":
            return None
        names = [n.strip() for n in models.split(",") if n.strip()]
    else:
        names = [n.strip() for n in models if n.strip()]
        if [n.lower() for n in names] == ["all"]:
            return None
    if not names:
        raise SelectionError("--models is empty")
    return names


def resolve_names(models: str | Sequence[str]) -> list[tuple[ModelCard, str | None]]:
    """(card, variant or None) per requested name; every registered card for ``"all"``."""
    names = parse_names(models)
    if names is None:
        return [(c, None) for c in registry.cards()]
    try:
        out = [registry.resolve(n) for n in names]
    except registry.UnknownModel as e:
        raise SelectionError(str(e)) from None
    return _unique(out, lambda o: (o[0].name, o[1]))  # a name given twice is selected once


def select(models: str | Sequence[str], scales: Sequence[int], *, need_weights: bool = True, weights_dir=None,
           all_variants: bool = True, strict: bool | None = None) -> tuple[list[Selection], list[Skip]]:
    """The (card, variant, scale) selections for ``models`` at ``scales``, and what was skipped.

    ``need_weights``: accuracy work; architecture-only cards are refused (named) or skipped ('all'),
    and each checkpoint is verified on disk. Without it (efficiency work) every card is selected and
    the checkpoint is used when present. ``all_variants``: every checkpoint of a card, or only its
    default one (a variant named explicitly is always selected alone). ``strict`` (default: whether
    models were named) makes an unsupported scale or a missing checkpoint an error instead of a skip.
    """
    explicit = parse_names(models) is not None if strict is None else strict
    chosen: list[Selection] = []
    skipped: list[Skip] = []
    for card, variant in resolve_names(models):
        if need_weights and card.architecture_only:
            skip = Skip("architecture_only", card.name)
            if explicit:
                raise SelectionError(f"{skip}; use 'srbench profile' for its efficiency")
            skipped.append(skip)
            continue
        for scale in scales:
            if scale not in card.scales:
                if explicit:
                    try:
                        card.check_scale(scale)
                    except ValueError as e:
                        raise SelectionError(str(e)) from None
                skipped.append(Skip("no_scale", card.name, scale))
                continue
            names = [variant] if variant else card.variants(scale)
            for v in names if all_variants or variant else names[:1]:
                try:
                    wf = card.weight_file(scale, v)
                except KeyError as e:  # a variant named for a scale it has no checkpoint at
                    raise SelectionError(str(e).strip("'\"")) from None
                if wf is not None and need_weights:
                    state = verify(wf, weights_dir)
                    if state != "ok":
                        msg = f"model {v} x{scale}: checkpoint {weight_path(wf, weights_dir)} is {state}"
                        if explicit or state == "altered":
                            raise SelectionError(msg)
                        skipped.append(Skip("missing", v, scale, str(weight_path(wf, weights_dir))))
                        continue
                chosen.append(Selection(card, v, scale, wf, registry.module_of(card.name)))
    return _unique(chosen, lambda s: (s.model, s.variant, s.scale)), skipped


def skip_summary(skips: Sequence[Skip], weights_dir=None) -> list[str]:
    """One line per reason, in place of one line per model: what was left out, how many, and how to
    get it (the missing checkpoints' folder and the fetch command)."""
    from registry.weights import weights_dir as resolve_weights_dir

    def some(names: list[str], n: int = 8) -> str:  # a line, not a paragraph
        return ", ".join(names[:n]) + (f", ... (+{len(names) - n} more)" if len(names) > n else "")

    lines = []
    by = {r: [s for s in skips if s.reason == r] for r in ("missing", "no_scale", "architecture_only")}
    if by["missing"]:
        names = some([f"{s.name} x{s.scale}" for s in by["missing"]])
        lines.append(f"{len(by['missing'])} checkpoint(s) not in {resolve_weights_dir(weights_dir)}: {names} "
                     f"(run 'srbench weights fetch', or point --weights-dir / $SRBENCH_WEIGHTS at them)")
    for scale in sorted({s.scale for s in by["no_scale"]}):
        names = [s.name for s in by["no_scale"] if s.scale == scale]
        lines.append(f"{len(names)} model(s) without x{scale}: {some(names)}")
    if by["architecture_only"]:
        names = ", ".join(s.name for s in by["architecture_only"])
        lines.append(f"{len(by['architecture_only'])} architecture-only model(s), no checkpoint to evaluate: "
                     f"{names} (their efficiency: 'srbench profile')")
    return lines


def weight_files(models: str | Sequence[str]) -> list[tuple[ModelCard, WeightFile]]:
    """Every checkpoint file of the requested models (for ``weights verify`` / ``weights fetch``)."""
    return [(card, wf) for card, _ in resolve_names(models) for wf in card.weights]
