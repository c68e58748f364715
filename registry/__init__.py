"""The model registry: one module per family, each registering its cards at import.

    import registry
    registry.names()                      # every model name
    card = registry.get("rlfn-ntire")     # lookup is case-insensitive; variants resolve to their model
    net = card.build_model(scale=4)       # an SRModel: RGB [0, 1] in and out

To add a model, drop ``registry/<family>.py`` that defines the network and calls :func:`register`.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

from registry.base import ChallengeEntry, ModelCard, Paper, Published, SRModel, WeightFile

__all__ = ["ChallengeEntry", "ModelCard", "Paper", "Published", "SRModel", "WeightFile", "register", "get", "names",
           "cards", "resolve", "module_of", "UnknownModel"]

_CARDS: dict[str, ModelCard] = {}
_MODULES: dict[str, str] = {}  # card name (lower case) -> the module that registered it
_LOADED = False
# Modules in this package that are not model families.
_NOT_FAMILIES = {"base", "weights", "ops"}


class UnknownModel(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def register(card: ModelCard) -> ModelCard:
    """Add a card to the registry; the calling module is recorded as the card's home, so that a worker
    process (or a Ray task) imports the same module and finds the same card."""
    key = card.name.lower()
    if key in _CARDS and _CARDS[key] is not card:
        raise ValueError(f"model {card.name!r} is registered twice")
    _CARDS[key] = card
    _MODULES[key] = sys._getframe(1).f_globals.get("__name__", "")
    return card


def module_of(name: str) -> str:
    """The module that registered the model ``name`` ('' when unknown)."""
    _load_all()
    return _MODULES.get(resolve(name)[0].name.lower(), "")


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for mod in pkgutil.iter_modules(__path__):
        if mod.name.startswith("_") or mod.name in _NOT_FAMILIES:
            continue
        importlib.import_module(f"{__name__}.{mod.name}")


def cards() -> list[ModelCard]:
    _load_all()
    return sorted(_CARDS.values(), key=lambda c: (c.kind != "baseline", c.name.lower()))


def names() -> list[str]:
    return [c.name for c in cards()]


def resolve(name: str) -> tuple[ModelCard, str | None]:
    """A model or variant name -> (card, variant or None for 'all of the model's variants')."""
    _load_all()
    key = name.strip().lower()
    if key in _CARDS:
        return _CARDS[key], None
    for card in _CARDS.values():
        for v in card.variants():
            if v.lower() == key:
                return card, v
    raise UnknownModel(f"unknown model {name!r} (known: {', '.join(names())})")


def get(name: str) -> ModelCard:
    """The card for a model (or for the model a variant belongs to); case-insensitive."""
    return resolve(name)[0]
