"""The model registry: one module per family, each registering its cards at import.

    import registry
    registry.names()                      # every model name
    card = registry.get("rlfn-ntire")     # lookup is case-insensitive; variants resolve to their model
    net = card.build_model(scale=4)       # an SRModel: RGB [0, 1] in and out

To add a model to the zoo, drop ``registry/<family>.py`` that defines the network and calls
:func:`register`. A model from outside the repository registers itself with :func:`register_model`
from a plugin module (``srbench --plugin``, ``$SRBENCH_PLUGINS``, or the ``srbench.models`` entry point
group); see :mod:`registry.plugins`.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

from registry.base import ChallengeEntry, ModelCard, Paper, Published, SRModel, WeightFile

__all__ = ["ChallengeEntry", "ModelCard", "Paper", "Published", "SRModel", "WeightFile", "register", "get", "names",
           "cards", "resolve", "module_of", "UnknownModel", "register_model", "load_plugin", "PluginError"]

_CARDS: dict[str, ModelCard] = {}
_MODULES: dict[str, str] = {}  # card name (lower case) -> the module that registered it
_LOADED = False
# Modules in this package that are not model families.
_NOT_FAMILIES = {"base", "weights", "ops", "select", "plugins"}


class UnknownModel(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def register(card: ModelCard, *, source: str | None = None) -> ModelCard:
    """Add a card to the registry. ``source`` says how another process recreates it (default: the
    calling module's name): a worker process or a Ray task loads the same source and finds the same card
    (see :func:`registry.plugins.load_sources`)."""
    key = card.name.lower()
    if key in _CARDS and _CARDS[key] is not card:
        raise DuplicateModel(card.name, _MODULES.get(key, ""))
    _CARDS[key] = card
    _MODULES[key] = source if source is not None else sys._getframe(1).f_globals.get("__name__", "")
    return card


class DuplicateModel(ValueError):
    def __init__(self, name: str, where: str):
        super().__init__(f"model {name!r} is registered twice (first by {where or 'unknown'})")
        self.name, self.where = name, where


def module_of(name: str) -> str:
    """How a worker recreates the model ``name``: the module that registered it, a plugin file's path,
    or an ad-hoc model's spec ('' when unknown)."""
    _load_all()
    return _MODULES.get(resolve(name)[0].name.lower(), "")


def _load_all() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        for mod in pkgutil.iter_modules(__path__):
            if mod.name.startswith("_") or mod.name in _NOT_FAMILIES:
                continue
            importlib.import_module(f"{__name__}.{mod.name}")
    # Then the models from outside the repository: $SRBENCH_PLUGINS and installed packages' entry points
    # (after the zoo, so that a plugin reusing a zoo name is reported as the plugin's fault). Like the
    # families, registry.plugins is found by name: it imports this module, not the other way round.
    importlib.import_module(f"{__name__}.plugins").load_installed()


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


def __getattr__(attr: str):
    # The plugin API, importable as registry.register_model etc. without a cycle at import time.
    if attr in ("register_model", "load_plugin", "PluginError"):
        return getattr(importlib.import_module(f"{__name__}.plugins"), attr)
    raise AttributeError(f"module 'registry' has no attribute {attr!r}")
