"""The regression gate: ``srbench check`` re-evaluates what a reference results folder holds.

    srbench check --reference results/                   # every reference row this machine can redo
    srbench check --models IMDN,RLFN-ntire --datasets Set5,Set14 --scale 4
    srbench check --published                            # also: do the papers' numbers still reproduce?

The reference is a results folder or a bundle (``srbench export``: what someone else measured).
Each selected reference summary row (current protocol) is evaluated again through the same path as
``srbench run`` (:func:`registry.select.select`, :func:`benchmark.plan.plan`,
:func:`benchmark.evaluate.execute`) into a temporary results folder, and compared:

* with the reference: a PSNR that moved by more than 0.005 dB or an SSIM by more than 0.0005 fails;
* with ``--published``: a published Y-channel PSNR (compared under its own gray convention, and a
  self-ensembled one with the ``--self-ensemble`` rows only, see :mod:`benchmark.compare`) that is
  more than 0.03 dB away fails, unless its card marks it as known not to reproduce
  (``Published.known_issue``, a non-empty reason). A published number of a checked set with no row
  run its way (a self-ensembled number, no ``tta == 'x8'`` row) is listed as not measured.

Reference rows are re-evaluated the way they were run: a ``tta == 'x8'`` row with the self-ensemble.

Reference rows this machine cannot redo (test set or checkpoint missing, model no longer registered,
another protocol, a partial reference row) are listed as skipped; ``--strict`` makes them fail too.
Exit status: 0 when every checked row holds, 1 when one moved (a table names model, variant, set,
scale, reference, now and delta), 1 for bad input (one line).
"""

from __future__ import annotations

import math
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click
import pandas as pd

import registry
from benchmark import data as data_mod
from benchmark import store
from benchmark.export import is_bundle, open_source
from benchmark.external import adhoc_models, adhoc_options
from benchmark.fmt import num
from benchmark.plan import PlanError
from protocol import PROTOCOL_VERSION
from registry.select import SelectionError, resolve_names, select

__all__ = ["CheckReport", "run_check", "format_report", "check_command", "PSNR_TOL", "SSIM_TOL", "PUB_TOL"]

PSNR_TOL = 0.005  # dB, against the reference
SSIM_TOL = 0.0005
PUB_TOL = 0.03  # dB, against a published Y-channel number (published to 2 decimals)
ITEM_KEY = ["model", "variant", "dataset", "degradation", "scale", "gray", "metric", "tta"]


@dataclass
class CheckReport:
    rows: pd.DataFrame  # one row per comparison (what='reference' or 'published')
    skipped: list[str] = field(default_factory=list)
    strict: bool = False
    # published numbers of the checked rows' sets with no row run their way (a self-ensembled "+" number
    # and no --self-ensemble row yet): reported, never a failure, --strict or not
    unmeasured: list[str] = field(default_factory=list)

    @property
    def failures(self) -> pd.DataFrame:
        return self.rows[self.rows["status"] == "FAIL"] if not self.rows.empty else self.rows

    @property
    def ok(self) -> bool:
        return self.failures.empty and not (self.strict and self.skipped)


def _select(ref: pd.DataFrame, models: str | None, datasets: Sequence[str] | None, scales: Sequence[int] | None,
            degradations: Sequence[str] | None, skipped: list[str]) -> pd.DataFrame:
    if "protocol" in ref.columns:
        other = ref[ref["protocol"] != PROTOCOL_VERSION]
        for proto, n in sorted(other.groupby("protocol").size().items()):
            skipped.append(f"{n} reference row(s) under protocol {proto}: this srbench measures {PROTOCOL_VERSION}")
        ref = ref[ref["protocol"] == PROTOCOL_VERSION]
    if models and models.strip().lower() != "all":
        mask = pd.Series(False, index=ref.index)
        for name in [n.strip() for n in models.split(",") if n.strip()]:
            try:
                ((card, variant),) = resolve_names([name])
            except SelectionError as e:
                raise PlanError(str(e)) from None
            m = ref["model"].str.lower() == card.name.lower()
            if variant is not None:
                m &= ref["variant"].str.lower() == variant.lower()
            if not m.any():
                raise PlanError(f"model {name}: not in the reference results")
            mask |= m
        ref = ref[mask]
    if datasets:
        want = {d.lower() for d in datasets}
        missing = want - set(ref["dataset"].str.lower())
        if missing:
            raise PlanError(f"dataset(s) {', '.join(sorted(missing))}: not in the reference results "
                            f"(it holds {', '.join(sorted(set(ref['dataset'])))})")
        ref = ref[ref["dataset"].str.lower().isin(want)]
    if scales:
        ref = ref[ref["scale"].astype(int).isin([int(s) for s in scales])]
    if degradations:
        ref = ref[ref["degradation"].str.lower().isin([d.lower() for d in degradations])]
    if "status" in ref.columns:
        bad = ref[ref["status"].notna() & (ref["status"] != "ok")]
        for _, r in bad.iterrows():
            skipped.append(f"{r['variant']} x{r['scale']} {r['dataset']} {r['degradation']}: the reference row is "
                           f"{r['status']}, nothing to compare with")
        ref = ref[ref["status"].isna() | (ref["status"] == "ok")]
    return ref


def _available(ref: pd.DataFrame, data_root, weights_dir, explicit_datasets: bool, explicit_models: bool,
               skipped: list[str]) -> tuple[pd.DataFrame, dict, dict]:
    """Drop the rows whose set or checkpoint is missing here (an error when named explicitly); returns
    the rows kept, their selections by (model, variant, scale) and their test sets by name."""
    keep = pd.Series(True, index=ref.index)
    sets: dict[str, data_mod.Dataset] = {}
    for ds in sorted(ref["dataset"].unique()):
        try:
            sets[ds] = data_mod.load(ds, data_root)
        except data_mod.DataError as e:
            if explicit_datasets:
                raise PlanError(str(e)) from None
            skipped.append(f"dataset {ds}: {e}; its {int((ref['dataset'] == ds).sum())} row(s) not checked")
            keep &= ref["dataset"] != ds
    selections = {}
    for (model, variant, scale), _ in ref.groupby(["model", "variant", "scale"]):
        where = (ref["model"] == model) & (ref["variant"] == variant) & (ref["scale"] == scale)
        try:
            registry.resolve(variant)
        except registry.UnknownModel as e:
            chosen, why = [], [f"{variant} x{scale}: {e}"]  # a model this srbench no longer has
        else:
            try:  # strict=False: a missing checkpoint is skipped; an altered one is always an error
                chosen, why = select([variant], [int(scale)], need_weights=True, weights_dir=weights_dir,
                                     strict=explicit_models)
            except SelectionError as e:
                raise PlanError(str(e)) from None
        chosen = [c for c in chosen if c.model == model]
        if not chosen:
            skipped += [f"{m}; not checked" for m in why] or [f"{variant} x{scale}: not registered here; not checked"]
            keep &= ~where
            continue
        selections[(model, variant, int(scale))] = chosen[0]
    return ref[keep], selections, sets


def run_check(reference: str | Path = "results", *, models: str | None = None, datasets: Sequence[str] | None = None,
              scales: Sequence[int] | None = None, degradations: Sequence[str] | None = None, published: bool = False,
              data_root=None, weights_dir=None, device: str = "auto", cache_dir=None, strict: bool = False,
              psnr_tol: float = PSNR_TOL, ssim_tol: float = SSIM_TOL, pub_tol: float = PUB_TOL,
              progress: Callable[[int], None] | None = None, log: Callable[[str], None] | None = None) -> CheckReport:
    """Re-evaluate the reference's rows (or the selected subset) and compare; see the module docstring."""
    from benchmark.cards import load_cards
    from benchmark.compare import attach_published
    from benchmark.envinfo import resolve_device
    from benchmark.evaluate import RunOptions, execute
    from benchmark.plan import plan

    reference = Path(reference)
    if not reference.is_dir():
        raise PlanError(f"reference results {reference} do not exist")
    if is_bundle(reference) or not store.table_path(reference, "summary").is_file():
        ref = open_source(reference).read("summary")  # a bundle; anything else is named as neither
    else:
        ref = store.read(reference, "summary")
    if ref.empty:
        raise PlanError(f"reference results {reference}: no summary rows to check")
    skipped: list[str] = []
    ref = _select(ref, models, datasets, scales, degradations, skipped)
    ref, selections, sets = _available(ref, data_root, weights_dir, bool(datasets),
                                       bool(models and models.lower() != "all"), skipped)
    if ref.empty:
        return CheckReport(pd.DataFrame(), skipped, strict)
    try:
        dev = resolve_device(device)
    except ValueError as e:
        raise PlanError(str(e)) from None

    # the newest reference row per item (a reference may hold two checkpoints of one variant)
    if "finished_at" in ref.columns:
        ref = ref.sort_values("finished_at", kind="stable")
    ref = ref.drop_duplicates(ITEM_KEY, keep="last")
    wanted = {tuple(r) for r in ref[ITEM_KEY].astype(str).itertuples(index=False)}
    now_parts = []
    cards: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="srbench-check-") as tmp:
        for (gray, scale, deg, metric, tta), g in ref.groupby(["gray", "scale", "degradation", "metric", "tta"]):
            pairs = sorted(set(zip(g["model"], g["variant"], strict=True)))
            chosen = [selections[(m, v, int(scale))] for m, v in pairs]
            p = plan(chosen, [sets[d] for d in sorted(g["dataset"].unique())], [deg], gray, metric=metric, tta=tta)
            p.items = [i for i in p.items if (i.model, i.variant, i.dataset, i.degradation, str(i.scale), i.gray,
                                              i.metric, i.tta) in wanted]
            if not p.items:
                continue
            opts = RunOptions(Path(tmp), dev, weights_dir, cache_dir,
                              argv={"check": str(reference), "scale": int(scale), "degradation": deg, "gray": gray,
                                    "metric": metric, "tta": tta})
            now_parts.append(execute(p, opts, progress, log))
        cards = load_cards(tmp)
    now = pd.concat([n for n in now_parts if not n.empty], ignore_index=True) if now_parts else pd.DataFrame()

    rows = []
    now_idx = {tuple(str(r[k]) for k in ITEM_KEY): r for _, r in now.iterrows()} if not now.empty else {}
    for _, r in ref.sort_values(ITEM_KEY).iterrows():
        k = tuple(str(r[c]) for c in ITEM_KEY)
        n = now_idx.get(k)
        base = {c: r[c] for c in ITEM_KEY}
        if n is None:
            rows.append({**base, "what": "reference", "reference": r["psnr"], "now": math.nan, "delta": math.nan,
                         "ref_ssim": r["ssim"], "now_ssim": math.nan, "d_ssim": math.nan, "status": "FAIL",
                         "note": "not evaluated"})
            continue
        status_now = n.get("status", "ok")
        d, ds = float(n["psnr"]) - float(r["psnr"]), float(n["ssim"]) - float(r["ssim"])
        note = []
        if isinstance(status_now, str) and status_now != "ok":
            note.append(f"now {status_now}: {n.get('error', '')}")
        if str(n.get("weights_sha256", "")) != str(r.get("weights_sha256", "")):
            note.append("checkpoint differs from the reference's")
        moved = not (abs(d) <= psnr_tol and abs(ds) <= ssim_tol)  # NaN counts as moved
        failed_now = isinstance(status_now, str) and status_now != "ok"
        rows.append({**base, "what": "reference", "reference": float(r["psnr"]), "now": float(n["psnr"]), "delta": d,
                     "ref_ssim": float(r["ssim"]), "now_ssim": float(n["ssim"]), "d_ssim": ds,
                     "status": "FAIL" if moved or failed_now else "ok", "note": "; ".join(note)})
    if published and not now.empty:
        ap = attach_published(now[now["status"].fillna("ok") == "ok"], cards)
        for _, a in ap.sort_values(ITEM_KEY).iterrows():
            if pd.isna(a["pub_psnr"]):
                continue
            reason = str(a["pub_known_issue"] or "")
            off = not abs(float(a["d_psnr"])) <= pub_tol
            status = ("known" if reason else "FAIL") if off else "ok"
            rows.append({**{c: a[c] for c in ITEM_KEY}, "what": "published", "reference": float(a["pub_psnr"]),
                         "now": float(a["psnr"]), "delta": float(a["d_psnr"]),
                         "ref_ssim": a["pub_ssim"], "now_ssim": float(a["ssim"]), "d_ssim": a["d_ssim"],
                         "status": status, "note": reason if off else ""})
    cols = ITEM_KEY + ["what", "reference", "now", "delta", "ref_ssim", "now_ssim", "d_ssim", "status", "note"]
    unmeasured = _unmeasured_published(now, cards) if published and not now.empty else []
    return CheckReport(pd.DataFrame(rows, columns=cols), skipped, strict, unmeasured)


def _unmeasured_published(now: pd.DataFrame, cards: dict[str, dict]) -> list[str]:
    """The published numbers of the evaluated (variant, set, scale, degradation, metric) whose tta no row
    has: e.g. a paper's self-ensembled number where only single-pass rows were checked."""
    from benchmark.compare import published_table

    pub = published_table(cards)
    have = {tuple(str(r[k]) for k in ITEM_KEY if k != "gray") for _, r in now.iterrows()}
    evaluated = {k[:-1] for k in have}
    out = []
    for _, p in pub.iterrows():
        k = tuple(str(p[c]) for c in ITEM_KEY if c != "gray")
        if k[:-1] in evaluated and k not in have:
            how = "self-ensembled (x8)" if p["tta"] == "x8" else "single-pass"
            run = " --self-ensemble" if p["tta"] == "x8" else ""
            line = (f"{p['variant']} x{p['scale']} {p['dataset']} {p['degradation']}: the {how} published "
                    f"{num(p['psnr'], 2)} dB has no row run that way (srbench run{run})")
            if line not in out:
                out.append(line)
    return out


def _f(x, digits: int, signed: bool = False) -> str:
    return num(x, digits, signed=signed, empty="-")


def format_report(rep: CheckReport, only_failures: bool = False) -> str:
    lines = []
    df = rep.rows
    if not df.empty:
        show = rep.failures if only_failures else df
        head = (f"{'status':<6} {'model':<14} {'variant':<18} {'dataset':<10} {'x':>2} {'degr.':<8} {'gray':<4} "
                f"{'tta':<4} {'vs':<9} {'reference':>9} {'now':>9} {'delta':>8} {'ref SSIM':>8} {'now SSIM':>8} "
                f"{'dSSIM':>8}  note")
        lines += [head, "-" * len(head)]
        for _, r in show.iterrows():
            lines.append(
                f"{r['status']:<6} {str(r['model'])[:14]:<14} {str(r['variant'])[:18]:<18} "
                f"{str(r['dataset'])[:10]:<10} {int(r['scale']):>2} {str(r['degradation'])[:8]:<8} "
                f"{str(r['gray']):<4} {str(r['tta']):<4} {r['what']:<9} "
                f"{_f(r['reference'], 3):>9} {_f(r['now'], 3):>9} {_f(r['delta'], 3, True):>8} "
                f"{_f(r['ref_ssim'], 4):>8} {_f(r['now_ssim'], 4):>8} {_f(r['d_ssim'], 4, True):>8}  {r['note']}")
    for s in rep.skipped:
        lines.append(f"skipped: {s}")
    for s in rep.unmeasured:
        lines.append(f"not measured: {s}")
    n_ref = int((df["what"] == "reference").sum()) if not df.empty else 0
    n_pub = int((df["what"] == "published").sum()) if not df.empty else 0
    n_known = int((df["status"] == "known").sum()) if not df.empty else 0
    nf = len(rep.failures)
    tol = f"tolerances: {PSNR_TOL} dB / {SSIM_TOL} SSIM against the reference, {PUB_TOL} dB against papers"
    if nf:
        lines.append(f"FAILED: {nf} of {len(df)} comparison(s) moved beyond tolerance "
                     f"({n_ref} against the reference, {n_pub} against papers; {tol})")
    elif rep.strict and rep.skipped:
        lines.append(f"FAILED (--strict): {len(rep.skipped)} reference row group(s) could not be checked here")
    elif df.empty:
        lines.append("nothing was checked" + (" (everything was skipped)" if rep.skipped else ""))
    else:
        lines.append(f"OK: {n_ref} reference row(s) reproduced" + (f", {n_pub} published number(s) checked"
                                                                   f" ({n_known} known not to reproduce)"
                                                                   if n_pub else "") + f"; {tol}")
    return "\n".join(lines)


def _list(value: str | None) -> list[str] | None:
    if not value:
        return None
    out = [v.strip() for v in value.split(",") if v.strip()]
    return out or None


@click.command("check")
@click.option("--reference", type=click.Path(file_okay=False), default=None,
              help=f"the results folder or bundle (srbench export) whose numbers must hold here "
                   f"(default: {store.default_results_dir()})")
@click.option("--published", is_flag=True, help="also fail when a paper's Y-channel PSNR no longer reproduces "
              f"within {PUB_TOL} dB (unless its card marks it known_issue)")
@click.option("--models", default=None, help="comma list of models or variants (default: all the reference holds)")
@click.option("--datasets", default=None, help="comma list of sets (default: all the reference holds)")
@click.option("--scale", "scales", default=None, help="comma list of scales (default: all)")
@click.option("--degradation", "degradations", default=None, help="comma list of degradations (default: all)")
@click.option("--data-root", type=click.Path(file_okay=False), default=None)
@click.option("--weights-dir", type=click.Path(file_okay=False), default=None)
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None)
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--strict", is_flag=True, help="fail when a reference row cannot be checked here (missing set/weights)")
@click.option("--failures-only", is_flag=True, help="print only the rows that failed")
@adhoc_options
def check_command(reference, published, models, datasets, scales, degradations, data_root, weights_dir, cache_dir,
                  device, strict, failures_only, arch, checkpoint, adhoc_name, arch_kwargs, input_range,
                  state_key) -> None:
    """Re-evaluate the reference results and fail when a number moved (the regression gate).

    An external model's rows are re-evaluated with ``--arch/--checkpoint`` (its rows' names and sha256
    must match) or with the plugin that registered it (``srbench --plugin``)."""
    try:
        scale_list = [int(s) for s in _list(scales) or []] or None
    except ValueError:
        raise PlanError(f"--scale: expected integers like 2,3,4, got {scales!r}") from None
    external = adhoc_models(arch, checkpoint, adhoc_name, arch_kwargs, input_range, state_key, scale_list or [4])
    if external:
        models = ",".join([models, *external]) if models else ",".join(external)
    rep = run_check(store.results_dir(reference), models=models, datasets=_list(datasets), scales=scale_list,
                    degradations=_list(degradations), published=published, data_root=data_root,
                    weights_dir=weights_dir, device=device, cache_dir=cache_dir, strict=strict,
                    log=lambda m: click.echo(f"warning: {m}", err=True))
    click.echo(format_report(rep, only_failures=failures_only))
    if not rep.ok:
        sys.exit(1)
