"""The contract a model must keep before the harness trusts its numbers: ``srbench validate NAME``.

    results = validate_card(registry.get("SPAN-ntire24"))   # one CheckResult per check per build
    failed = [r for r in results if r.status == FAIL]

Per card: ``fields`` (the card's own fields are well-formed). Per scale and checkpoint variant:

* ``build``: the network builds at the scale;
* ``load``: the checkpoint passes its sha256 and loads strictly (``ModelCard.build_model``); a card
  without a checkpoint on disk is *skipped*, never failed;
* ``shape``: on a real LR image (a 96 x 120 crop of the Demo set's astronaut, mod-cropped and
  degraded with the protocol's bicubic) the output is one float tensor of ``scale`` x the input;
* ``range``: the output is finite and within [-RANGE_SLACK, 1 + RANGE_SLACK]. The slack is there because
  a network's float output overshoots [0, 1] a little at edges (ringing) before the harness clamps it;
  a model fed the wrong input range (0-255 instead of 0-1) misses by orders of magnitude. An
  untrained network (no checkpoint) is only checked for finiteness;
* ``determinism``: two forwards of the same input are bit-identical (every registered model is, on
  the CPU; a model that is not gives numbers that depend on the run);
* ``flops``: a trace at FLOPS_SIZE has no op the FLOP counter cannot classify (see ``benchmark.flops``)
  and counts some FLOPs for any model but the baseline.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import click
import numpy as np
import torch

import registry
from benchmark import data as data_mod
from benchmark.commands import _int_list
from benchmark.degrade import STANDARD_DEGRADATIONS, bicubic_lr, mod_crop
from benchmark.external import adhoc_models, adhoc_options
from benchmark.flops import count_flops
from benchmark.infer import to_input
from benchmark.schema import METRICS
from protocol import GRAY_CONVENTIONS
from registry.base import KINDS, ModelCard
from registry.weights import WeightsError, verify, weight_path

PASS, FAIL, SKIP = "pass", "FAIL", "skipped"
CHECKS = ("fields", "build", "load", "shape", "range", "determinism", "flops")
FORWARD_CHECKS = ("shape", "range", "determinism")
RANGE_SLACK = 0.25
FLOPS_SIZE = (32, 32)  # LR pixels traced for the FLOP check: op classification does not depend on size
DEMO_IMAGE, CROP = "astronaut", (slice(40, 136), slice(180, 300))  # 96 x 120 HR, divisible by 2, 3, 4
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_URL = re.compile(r"^https?://\S+$")


@dataclass(frozen=True)
class CheckResult:
    """One check of one build of the card ``model``: ``variant`` is the checkpoint variant built (the
    card's name for an architecture-only card and for ``fields``); ``scale`` is ``None`` for ``fields``."""

    model: str
    variant: str
    scale: int | None
    check: str
    status: str  # PASS, FAIL or SKIP
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status == FAIL


# ------------------------------------------------------------------------------------- card fields


def card_problems(card: ModelCard) -> list[str]:
    """What is wrong with the card's fields, one phrase each ([] for a valid card)."""
    bad: list[str] = []
    if not card.name or card.name != card.name.strip() or any(c in card.name for c in ",/\\"):
        bad.append(f"name {card.name!r} is empty, padded or has ',', '/' or '\\' (names are comma-listed and paths)")
    if not card.family.strip():
        bad.append("family is empty")
    if card.kind not in KINDS:
        bad.append(f"kind {card.kind!r} is not one of {', '.join(KINDS)}")
    if not card.scales or any(not isinstance(s, int) or s < 1 for s in card.scales) \
            or len(set(card.scales)) != len(card.scales):
        bad.append(f"scales {card.scales!r} must be distinct positive integers")
    if card.colour not in ("rgb", "y"):
        bad.append(f"colour {card.colour!r} is not 'rgb' or 'y'")
    if not card.input_range > 0:
        bad.append(f"input_range {card.input_range!r} must be positive")
    if card.paper is None:
        if card.kind != "baseline" and not card.external:  # a user's own model may not be published yet
            bad.append("paper is missing (only a baseline or an external model may have none)")
    else:
        if not _URL.match(card.paper.url or ""):
            bad.append(f"paper url {card.paper.url!r} is not an http(s) URL")
        if not card.paper.title.strip():
            bad.append("paper title is empty")
        if not 1950 <= card.paper.year <= 2100:
            bad.append(f"paper year {card.paper.year!r} is not a year")
    bad += _weight_problems(card)
    bad += _published_problems(card)
    return bad


def _weight_problems(card: ModelCard) -> list[str]:
    bad: list[str] = []
    seen: dict[tuple[str, int], str] = {}
    for w in card.weights:
        where = f"weights {w.file!r}"
        if not w.file or (Path(w.file).is_absolute() and not card.external) or ".." in Path(w.file).parts:
            bad.append(f"{where}: file must be a path relative to the weights folder")
        if not _SHA256.match(w.sha256 or ""):
            bad.append(f"{where}: sha256 {w.sha256!r} is not 64 lower-case hex digits")
        if not w.license.strip():
            bad.append(f"{where}: license is empty")
        if w.url and not _URL.match(w.url):
            bad.append(f"{where}: url {w.url!r} is not an http(s) URL")
        if not w.scales or set(w.scales) - set(card.scales):
            bad.append(f"{where}: scales {w.scales!r} are not among the card's {card.scales!r}")
        if not w.input_range > 0:
            bad.append(f"{where}: input_range {w.input_range!r} must be positive")
        variant = w.variant or card.name
        for s in w.scales:
            other = seen.setdefault((variant.lower(), s), w.file)
            if other != w.file:
                bad.append(f"variant {variant!r} x{s} names two checkpoints ({other}, {w.file})")
    for v in card.variants():
        owner = _registered_owner(v)
        if owner is not None and owner is not card:
            bad.append(f"variant {v!r} resolves to the model {owner.name!r}, not to this card")
    return bad


def _registered_owner(name: str) -> ModelCard | None:
    try:
        return registry.resolve(name)[0]
    except registry.UnknownModel:
        return None  # an unregistered card (validated before registering): nothing to collide with


def _published_problems(card: ModelCard) -> list[str]:
    bad: list[str] = []
    variants = {v.lower() for v in card.variants()}
    for p in card.published:
        where = f"published {p.dataset} x{p.scale}"
        if p.metric not in METRICS:
            bad.append(f"{where}: metric {p.metric!r} is not one of {', '.join(METRICS)}")
        elif p.metric == "y" and p.dataset not in data_mod.KNOWN_SETS:
            bad.append(f"{where}: Y-channel numbers must be on a known set ({', '.join(data_mod.KNOWN_SETS)})")
        if not p.dataset.strip():
            bad.append(f"{where}: dataset is empty")
        if p.scale not in card.scales:
            bad.append(f"{where}: scale is not among the card's {card.scales!r}")
        if p.degradation not in STANDARD_DEGRADATIONS:
            bad.append(f"{where}: degradation {p.degradation!r} is not one of {', '.join(STANDARD_DEGRADATIONS)}")
        if p.gray not in GRAY_CONVENTIONS:
            bad.append(f"{where}: gray {p.gray!r} is not one of {', '.join(GRAY_CONVENTIONS)}")
        if not (math.isfinite(p.psnr) and 10 < p.psnr < 60):
            bad.append(f"{where}: PSNR {p.psnr!r} is not a plausible dB value")
        if p.ssim is not None and not 0 < p.ssim <= 1:
            bad.append(f"{where}: SSIM {p.ssim!r} is not in (0, 1]")
        if not p.source.strip():
            bad.append(f"{where}: source is empty")
        if p.variant is not None and p.variant.lower() not in variants:
            bad.append(f"{where}: variant {p.variant!r} is not one of the card's ({', '.join(card.variants())})")
    return bad


# ------------------------------------------------------------------------------- per-build checks


@cache
def _demo_hr() -> np.ndarray:
    ref = next(r for r in data_mod.load(data_mod.DEMO).images if r.name == DEMO_IMAGE)
    return np.ascontiguousarray(data_mod.read_hr(ref).pixels[CROP])


def demo_lr(scale: int) -> torch.Tensor:
    """The validation input at ``scale``: float (1, 3, h, w) in [0, 1], the protocol's bicubic LR."""
    return to_input(bicubic_lr(mod_crop(_demo_hr(), scale), scale), torch.device("cpu"))


def _error(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def _load(card: ModelCard, scale: int, variant: str, weights_dir, result) -> tuple[CheckResult, torch.nn.Module | None]:
    wf = card.weight_file(scale, variant)
    if wf is None:
        return result("load", SKIP, "architecture only" if card.architecture_only else "no checkpoint needed"), None
    if verify(wf, weights_dir) == "missing":
        return result("load", SKIP, f"no checkpoint: {weight_path(wf, weights_dir)}"), None
    try:
        model = card.build_model(scale, variant, weights_dir)
    except (WeightsError, RuntimeError) as e:
        return result("load", FAIL, str(e).strip()), None
    return result("load", PASS, f"{wf.file} strict, sha256 {wf.sha256[:12]}..."), model


def _forward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(x)


def _forward_checks(model, scale: int, trained: bool, checks, result) -> list[CheckResult]:
    x = demo_lr(scale)
    want = (1, 3, x.shape[2] * scale, x.shape[3] * scale)
    try:
        first = _forward(model, x)
    except Exception as e:  # noqa: BLE001 - a model raising is a failed contract, not a crash here
        return [result(c, FAIL, f"forward raised {_error(e)}") if c == "shape" else result(c, SKIP, "no output")
                for c in FORWARD_CHECKS if c in checks]
    out: list[CheckResult] = []
    shaped = isinstance(first, torch.Tensor) and first.is_floating_point() and tuple(first.shape) == want
    if "shape" in checks:
        got = f"{tuple(first.shape)} {first.dtype}" if isinstance(first, torch.Tensor) else type(first).__name__
        out.append(result("shape", PASS if shaped else FAIL,
                          f"{tuple(x.shape)} -> {got}" + ("" if shaped else f", expected {want} float")))
    if not shaped:
        return out + [result(c, SKIP, "no usable output") for c in ("range", "determinism") if c in checks]
    if "range" in checks:
        out.append(_range_check(first, trained, result))
    if "determinism" in checks:
        second = _forward(model, x)
        if torch.equal(first, second):
            out.append(result("determinism", PASS, "two forwards bit-identical"))
        else:
            diff = float((first - second).abs().nan_to_num(math.inf).max())
            out.append(result("determinism", FAIL, f"two forwards of one input differ (max |difference| {diff:.3g})"))
    return out


def _range_check(y: torch.Tensor, trained: bool, result) -> CheckResult:
    finite = torch.isfinite(y)
    if not finite.all():
        return result("range", FAIL, f"{int((~finite).sum())} NaN/Inf values in the output")
    lo, hi = float(y.min()), float(y.max())
    span = f"output in [{lo:.3f}, {hi:.3f}]"
    if not trained:
        return result("range", SKIP, f"untrained network: checked finite only ({span})")
    ok = -RANGE_SLACK <= lo and hi <= 1 + RANGE_SLACK
    return result("range", PASS if ok else FAIL,
                  span + ("" if ok else f", outside [{-RANGE_SLACK}, {1 + RANGE_SLACK}] (is the input range right?)"))


def _flops_check(model, card: ModelCard, result) -> CheckResult:
    try:
        rep = count_flops(model, size=FLOPS_SIZE)
    except Exception as e:  # noqa: BLE001 - an untraceable model fails this check, named
        return result("flops", FAIL, f"trace failed: {_error(e)}")
    size = f"{FLOPS_SIZE[0]}x{FLOPS_SIZE[1]}"
    if rep.unknown:
        ops = ", ".join(f"{k} x{n}" for k, n in sorted(rep.unknown.items()))
        return result("flops", FAIL, f"ops the FLOP counter cannot classify: {ops}")
    if rep.flops <= 0 and card.kind != "baseline":
        return result("flops", FAIL, f"counted 0 FLOPs at {size}: nothing was classified as work")
    return result("flops", PASS, f"{rep.flops / 1e6:.1f} MFLOPs at {size}, every op classified")


def _validate_build(card: ModelCard, scale: int, variant: str, weights_dir, checks) -> list[CheckResult]:
    def result(check: str, status: str, detail: str = "") -> CheckResult:
        return CheckResult(card.name, variant, scale, check, status, detail)

    try:
        model = card.build_model(scale, variant, weights_dir, pretrained=False)
    except Exception as e:  # noqa: BLE001 - a card whose build raises fails its contract, named
        return [result("build", FAIL, _error(e))] + [result(c, SKIP, "not built") for c in CHECKS[2:] if c in checks]
    out = [result("build", PASS, f"{sum(p.numel() for p in model.parameters())} parameters")]
    trained = card.kind == "baseline"
    forward = any(c in checks for c in FORWARD_CHECKS)
    if "load" in checks or forward:
        load, loaded = _load(card, scale, variant, weights_dir, result)
        if "load" in checks:
            out.append(load)
        if loaded is not None:
            model, trained = loaded, True
    if forward:
        out += _forward_checks(model, scale, trained, checks, result)
    if "flops" in checks:
        out.append(_flops_check(model, card, result))
    return out


def validate_card(card: ModelCard, scales: Sequence[int] | None = None, weights_dir: str | Path | None = None,
                  checks: Sequence[str] = CHECKS, variant: str | None = None) -> list[CheckResult]:
    """Run the contract's ``checks`` on ``card`` at ``scales`` (default: all of its scales; scales the
    card lacks are left out) for each checkpoint variant (or only ``variant``); see the module docstring."""
    unknown = set(checks) - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown checks {sorted(unknown)} (known: {', '.join(CHECKS)})")
    out: list[CheckResult] = []
    if "fields" in checks:
        problems = card_problems(card)
        out.append(CheckResult(card.name, card.name, None, "fields", FAIL if problems else PASS, "; ".join(problems)))
    if set(checks) <= {"fields"}:
        return out
    chosen = [s for s in (scales or card.scales) if s in card.scales]
    if not chosen:
        have = ", ".join(f"x{s}" for s in card.scales)
        asked = ", ".join(f"x{s}" for s in scales or ())
        return out + [CheckResult(card.name, card.name, None, "build", SKIP, f"no {asked} (has {have})")]
    for scale in chosen:
        for v in [variant] if variant else card.variants(scale):
            out += _validate_build(card, scale, v, weights_dir, checks)
    return out


# --------------------------------------------------------------------------------------- the command


def format_table(results: Sequence[CheckResult]) -> str:
    """One row per build (variant and scale), one column per check ('fields' is the card's); then each
    check that did not pass, with why; then the count."""
    fields = {r.model: r.status for r in results if r.check == "fields"}
    rows: dict[tuple[str, str, int | None], dict[str, str]] = {}
    for r in results:
        cells = rows.setdefault((r.model, r.variant, r.scale), {})
        if r.check != "fields":
            cells[r.check] = r.status
    built = {m for m, _, s in rows if s is not None}
    order = [k for k in rows if k[2] is not None or k[0] not in built]  # a card's own row only when it has no build
    width = max([len("model")] + [len(v) for _, v, _ in order])
    cols = {c: max(len(c), len(SKIP)) for c in CHECKS}
    lines = [f"{'model':<{width}}  {'scale':<5}  " + "  ".join(f"{c:<{n}}" for c, n in cols.items())]
    for model, variant, scale in order:
        cells = {"fields": fields.get(model, ""), **rows[(model, variant, scale)]}
        sc = f"x{scale}" if scale else "-"
        lines.append(f"{variant:<{width}}  {sc:<5}  " + "  ".join(f"{cells.get(c, ''):<{n}}" for c, n in cols.items()))
    lines = [ln.rstrip() for ln in lines]
    notes = [r for r in results if r.status != PASS]
    if notes:
        lines.append("")
        lines += [f"{r.status}: {r.variant}{f' x{r.scale}' if r.scale else ''} {r.check}: {r.detail}" for r in notes]
    n_fail = sum(r.failed for r in results)
    n_skip = sum(r.status == SKIP for r in results)
    lines += ["", f"{n_fail} of {len(results)} checks failed" if n_fail else
              f"all {len(results) - n_skip} checks passed ({n_skip} skipped)"]
    return "\n".join(lines)


@click.command("validate")
@click.argument("names", nargs=-1)
@click.option("--scale", "scales", default=None, callback=lambda ctx, p, v: v and _int_list(ctx, p, v),
              help="comma list of scales (default: each card's own)")
@click.option("--weights-dir", type=click.Path(file_okay=False), default=None)
@adhoc_options
@click.pass_context
def validate_command(ctx, names, scales, weights_dir, arch, checkpoint, adhoc_name, arch_kwargs, input_range,
                     state_key) -> None:
    """Check that models keep the harness's contract (NAME: a model, a variant, or 'all').

    Builds each at each scale, checks the output's shape, range and determinism on a real LR image, a
    strict checkpoint load, that the FLOP counter classifies every op, and the card's fields; exit 1
    if any check fails."""
    from registry.select import resolve_names

    names = [*names, *adhoc_models(arch, checkpoint, adhoc_name, arch_kwargs, input_range, state_key, scales or [4])]
    if not names:
        raise click.UsageError("name a model (or 'all'), or give --arch/--checkpoint")
    results: list[CheckResult] = []
    for card, variant in resolve_names(list(names)):
        results += validate_card(card, scales, weights_dir, variant=variant)
    click.echo(format_table(results))
    if any(r.failed for r in results):
        ctx.exit(1)
