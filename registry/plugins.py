"""Models from outside the repository: the plugin API, plugin loading, and ad-hoc (command-line) models.

A plugin is any Python module (a file or an importable module) that calls :func:`register_model`::

    import registry
    registry.register_model("MyNet", lambda scale: MyNet(upscale=scale), scales=(4,),
                            checkpoints={4: "/path/to/mynet_x4.pth"}, license="MIT")

srbench loads plugins from ``srbench --plugin PATH.py|MODULE`` (repeatable), from ``$SRBENCH_PLUGINS``
(comma-separated) and from the ``srbench.models`` entry-point group of installed packages, always after
the zoo, so a plugin that reuses a zoo name is refused by name. Every card remembers its *source* (the
module name, the plugin file's path, or an ad-hoc spec), and a worker process or a Ray task loads the
same source (:func:`load_sources`) before it builds the model: every executor sees the same models.

An ad-hoc model (``--arch PATH.py:CALLABLE --checkpoint FILE``) is a card made here from a callable and a
checkpoint (:func:`register_adhoc`); its source is the spec itself, as JSON.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import registry
from registry.base import ModelCard, Paper
from registry.weights import WeightFile, sha256_file, weight_path

ENV_VAR = "SRBENCH_PLUGINS"
ENTRY_POINT_GROUP = "srbench.models"
ADHOC_PREFIX = "adhoc:"
UNSTATED_LICENSE = "not stated (user-supplied checkpoint)"

_FILE_MODULES: dict[str, str] = {}  # synthetic module name -> the plugin file it was loaded from
_LOADED: set[str] = set()  # plugin specs loaded in this process
_INSTALLED = False


class PluginError(Exception):
    """A plugin or ad-hoc model cannot be loaded; the message names it."""


def _first_line(e: BaseException) -> str:
    text = str(e).strip().strip("'\"").splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")


def _who(source: str) -> str:
    """Who registered a card, for an error message."""
    if source.startswith("registry."):
        return "the zoo"
    return "another --arch model" if source.startswith(ADHOC_PREFIX) else source or "another module"


def _caller_source(depth: int = 2) -> str:
    name = sys._getframe(depth).f_globals.get("__name__", "")
    return _FILE_MODULES.get(name, name)


# ----------------------------------------------------------------------------------- the public API

def register_model(name: str, build: Callable, *, scales, checkpoints: Mapping | None = None,
                   input_range: float = 1.0, kind: str = "other", family: str | None = None,
                   license: str = UNSTATED_LICENSE, state_key: str | None = "auto", paper=None,
                   origin: str = "plugin", **card_fields) -> ModelCard:
    """Register a model from any module; returns its card.

    ``build(scale)`` returns the network (an ``nn.Module`` taking and returning RGB in ``[0, 1]``, or in
    ``[0, 255]`` with ``input_range=255``). ``checkpoints`` maps scale -> path (absolute, or relative to
    the weights folder), or -> ``(path, sha256)``: a given sha256 is verified before every load, a
    missing one is computed now and recorded with every result. ``state_key``: where the state dict is
    in the file (``'auto'``: the file itself, or its only ``params_ema``/``params``/``state_dict`` entry).
    Other keyword arguments are :class:`~registry.base.ModelCard` fields (``published``, ``notes``, ...).
    """
    scales = tuple(int(s) for s in scales)
    by_path: dict[tuple[str, str], list[int]] = {}
    for scale, spec in (checkpoints or {}).items():
        path, sha = (spec, "") if isinstance(spec, (str, os.PathLike)) else (spec[0], spec[1] if len(spec) > 1 else "")
        by_path.setdefault((str(path), sha or ""), []).append(int(scale))
    weights = []
    for (path, sha), ckpt_scales in by_path.items():
        if sha and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha.lower())):
            raise PluginError(f"model {name}: checkpoint {path}: sha256 must be 64 hex digits, not {sha!r}")
        wf = WeightFile(file=path, sha256=sha.lower(), scales=tuple(sorted(ckpt_scales)), url="", license=license,
                        input_range=float(input_range), state_key=state_key, source=path)
        if not sha:  # computed and recorded: every row then names exactly the file that was measured
            p = weight_path(wf)
            wf = WeightFile(**{**asdict(wf), "sha256": sha256_file(p) if p.is_file() else ""})
        weights.append(wf)
    if isinstance(paper, Mapping):
        paper = Paper(**paper)
    try:
        card = ModelCard(name=name, family=family or name, kind=kind, paper=paper, scales=scales, build=build,
                         weights=tuple(weights), input_range=float(input_range), origin=origin, **card_fields)
    except (TypeError, ValueError) as e:
        raise PluginError(f"model {name}: {_first_line(e)}") from None
    registry._load_all()  # the zoo first: a clash is then this card's fault, named as such
    try:
        return registry.register(card, source=_caller_source())
    except registry.DuplicateModel as e:
        whose = _who(e.where)
        raise PluginError(f"model {name!r} is already registered by {whose}; choose another name") from None


def load_plugin(spec: str):
    """Import a plugin: a ``.py`` file's path or a module name. Loading the same spec twice is a no-op."""
    spec = spec.strip()
    if not spec or spec in _LOADED:
        return None
    _LOADED.add(spec)  # first: loading the zoo below reads $SRBENCH_PLUGINS again, which may name this spec
    registry._load_all()
    before = set(registry._CARDS)
    try:
        if spec.endswith(".py") or os.sep in spec:
            return _import_file(spec)
        return importlib.import_module(spec)
    except Exception as e:
        _LOADED.discard(spec)
        for key in set(registry._CARDS) - before:  # a plugin that failed half-way registers nothing
            registry._CARDS.pop(key, None)
            registry._MODULES.pop(key, None)
        if isinstance(e, PluginError):
            raise PluginError(f"plugin {spec}: {e}") from None
        # the plugin's own bug: name the plugin and its error, in one line
        raise PluginError(f"plugin {spec} failed to import: {_first_line(e)}") from None


def _import_file(path: str):
    p = Path(path).expanduser().absolute()
    if not p.is_file():
        raise PluginError(f"file {p} not found")
    name = f"srbench_ext_{p.stem}_{hashlib.sha1(str(p).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    _FILE_MODULES[name] = str(p)
    spec = importlib.util.spec_from_file_location(name, p)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load_installed() -> None:
    """The plugins named by ``$SRBENCH_PLUGINS`` (those not loaded yet: cheap to call often) and, once,
    the ``srbench.models`` entry points of installed packages."""
    global _INSTALLED
    for spec in filter(None, (s.strip() for s in os.environ.get(ENV_VAR, "").split(","))):
        if spec in _LOADED:
            continue
        try:
            load_plugin(spec)
        except PluginError as e:
            raise PluginError(f"{e} (from ${ENV_VAR})") from None
    if _INSTALLED:
        return
    _INSTALLED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.value in _LOADED:
            continue
        _LOADED.add(ep.value)
        try:
            obj = ep.load()  # importing the module registers its models ...
            if callable(obj) and not isinstance(obj, type):
                obj()  # ... or the entry point names a function that does
        except PluginError as e:
            raise PluginError(f"entry point {ep.name} ({ep.value}): {e}") from None
        except Exception as e:
            raise PluginError(f"entry point {ep.name} ({ep.value}) failed to load: {_first_line(e)}") from None


def load_sources(sources) -> None:
    """What a worker does before building a model: load the sources that registered it (module names,
    plugin files, ad-hoc specs), so that this process has the same cards as the one that planned."""
    for src in sources:
        if not src or src == "__main__":
            continue
        if src.startswith(ADHOC_PREFIX):
            spec = AdhocSpec.from_source(src)
            if spec.name.lower() not in registry._CARDS:
                register_adhoc(spec)
        elif src.endswith(".py") or os.sep in src:
            load_plugin(src)
        else:
            importlib.import_module(src)


# ------------------------------------------------------------------------------------ ad-hoc models

@dataclass(frozen=True)
class AdhocSpec:
    """``--arch``/``--checkpoint`` and their companions, with absolute paths (picklable, JSON-able)."""

    arch: str  # PATH.py:CALLABLE or package.module:CALLABLE
    checkpoint: str
    name: str
    scales: tuple[int, ...]
    arch_kwargs: dict = field(default_factory=dict)
    input_range: float = 1.0
    state_key: str = "auto"
    sha256: str = ""  # filled at registration; a worker checks the file against it

    def source(self) -> str:
        return ADHOC_PREFIX + json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_source(cls, src: str) -> AdhocSpec:
        d = json.loads(src[len(ADHOC_PREFIX):])
        return cls(**{**d, "scales": tuple(d["scales"])})


def load_callable(arch: str) -> Callable:
    """``PATH.py:CALLABLE`` or ``package.module:CALLABLE`` -> the callable; PluginError naming what is missing."""
    where, sep, attr = arch.rpartition(":")
    if not sep or not where or not attr:
        raise PluginError(f"--arch {arch!r}: expected PATH.py:CALLABLE or package.module:CALLABLE")
    try:
        if where.endswith(".py") or os.sep in where:
            if not Path(where).expanduser().is_file():
                raise PluginError(f"--arch {arch}: file {Path(where).expanduser().absolute()} not found")
            module = _import_file(where)
        else:
            module = importlib.import_module(where)
    except PluginError:
        raise
    except Exception as e:
        raise PluginError(f"--arch {arch}: {where} failed to import: {_first_line(e)}") from None
    obj = getattr(module, attr, None)
    if obj is None or not callable(obj):
        raise PluginError(f"--arch {arch}: {where} has no callable {attr!r}")
    return obj


def register_adhoc(spec: AdhocSpec) -> ModelCard:
    """A card for an ad-hoc model (origin 'cli'); the callable is called with ``scale=`` plus the kwargs."""
    from torch import nn

    key = spec.name.lower()
    if registry._MODULES.get(key) == spec.source():  # the same model given again (in one process): the same card
        return registry._CARDS[key]
    fn = load_callable(spec.arch)

    def build(scale: int) -> nn.Module:
        try:
            net = fn(scale=scale, **spec.arch_kwargs)
        except Exception as e:
            raise PluginError(f"--arch {spec.arch}: calling it with scale={scale}"
                              f"{''.join(f', {k}={v!r}' for k, v in spec.arch_kwargs.items())} raised "
                              f"{_first_line(e)}") from None
        if not isinstance(net, nn.Module):
            raise PluginError(f"--arch {spec.arch}: returned {type(net).__name__}, not a torch.nn.Module")
        return net

    wf = WeightFile(file=spec.checkpoint, sha256=spec.sha256, scales=spec.scales, url="", license=UNSTATED_LICENSE,
                    input_range=spec.input_range, state_key=spec.state_key, source=spec.checkpoint)
    card = ModelCard(name=spec.name, family=spec.name, kind="other", paper=None, scales=spec.scales, build=build,
                     weights=(wf,), input_range=spec.input_range, origin="cli",
                     notes=f"given on the command line: --arch {spec.arch} --checkpoint {spec.checkpoint}",
                     config=dict(spec.arch_kwargs))
    try:
        return registry.register(card, source=spec.source())
    except registry.DuplicateModel as e:
        whose = _who(e.where)
        raise PluginError(f"--name {spec.name}: a model of that name is already registered by {whose}; "
                          f"pass another --name") from None
