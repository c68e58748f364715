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
           all_variants: bool = True, strict: bool | None = None) -> tuple[list[Selection], list[str]]:
    """The (card, variant, scale) selections for ``models`` at ``scales``, and what was skipped.

    ``need_weights``: accuracy work; architecture-only cards are refused (named) or skipped ('all'),
    and each checkpoint is verified on disk. Without it (efficiency work) every card is selected and
    the checkpoint is used when present. ``all_variants``: every checkpoint of a card, or only its
    default one (a variant named explicitly is always selected alone). ``strict`` (default: whether
    models were named) makes an unsupported scale or a missing checkpoint an error instead of a skip.
    """
    explicit = parse_names(models) is not None if strict is None else strict
    chosen: list[Selection] = []
    skipped: list[str] = []
    for card, variant in resolve_names(models):
        if need_weights and card.architecture_only:
            msg = f"model {card.name} is architecture only (no published weights): no accuracy to measure"
            if explicit:
                raise SelectionError(msg + "; use 'srbench profile' for its efficiency")
            skipped.append(msg)
            continue
        for scale in scales:
            if scale not in card.scales:
                if explicit:
                    try:
                        card.check_scale(scale)
                    except ValueError as e:
                        raise SelectionError(str(e)) from None
                if strict is False:
                    skipped.append(f"model {card.name} has no x{scale}")
                continue  # 'all' means every model that has this scale
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
                        skipped.append(msg + "; skipped")
                        continue
                chosen.append(Selection(card, v, scale, wf, registry.module_of(card.name)))
    return _unique(chosen, lambda s: (s.model, s.variant, s.scale)), skipped


def weight_files(models: str | Sequence[str]) -> list[tuple[ModelCard, WeightFile]]:
    """Every checkpoint file of the requested models (for ``weights verify`` / ``weights fetch``)."""
    return [(card, wf) for card, _ in resolve_names(models) for wf in card.weights]
