"""The static leaderboard site: ``srbench site [--results DIR] [--out site/] [--check]``.

``render(results_dir, out_dir)`` writes a self-contained site (no CDN, no external script or style,
relative links only, so it works from ``file://`` and any static host):

* ``index.html`` and one ``lb-x<s>-<degradation>[-gray-y].html`` per track: the leaderboard, with
  PSNR/SSIM per set, params, FLOPs, runtime and memory per device (each device its own columns),
  the delta to the paper, sortable and filterable by ``static/site.js``; Pareto plots (SVG);
* ``models/<slug>.html``: a page per model (card, checkpoints, published vs reproduced, NTIRE rows,
  efficiency, per-image results, a visual comparison on one crop);
* ``about.html``: the protocol in short, the environments the numbers came from, adding a model;
* ``data/<track>.csv``: each leaderboard as CSV.

Rendering is deterministic: the same results (and checkpoints and test image for the visuals) give
the same bytes, with no timestamps but those in the data, so CI can run ``srbench site --check``,
which renders to a temporary folder and names every file that differs from ``--out``. The site is
rendered into a temporary folder beside ``--out`` and swapped in, so a reader never sees half a site.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import click
import pandas as pd

from benchmark import results as res
from benchmark import store
from benchmark.protocol import PROTOCOL_VERSION

__all__ = ["render", "check", "site_command", "SiteError", "MARKER", "slug"]

HERE = Path(__file__).resolve().parent
MARKER = ".srbench-site"
PUB_TOLERANCE = 0.03  # dB: |ours - published| above this is highlighted as 'does not reproduce'


class SiteError(store.StoreError):
    """The site cannot be rendered or checked as asked; the message names the folder or option."""


# ----------------------------------------------------------------------------------- formatting


def _nan(x) -> bool:
    if x is None:
        return True
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def fmt(x, digits: int = 2, div: float = 1.0) -> str:
    return "" if _nan(x) else f"{float(x) / div:.{digits}f}"


def fmt_delta(x, digits: int = 2) -> str:
    if _nan(x):
        return ""
    return f"{float(x):+.{digits}f}"  # keeps the sign of a tiny delta: -0.00 is below the paper


def sortval(x) -> str:
    """A cell's sort key for site.js: the full-precision number, or '' (always sorted last)."""
    return "" if _nan(x) else repr(float(x))


def slug(name: str) -> str:
    s = str(name).lower().replace("+", "-plus")
    s = re.sub(r"[^a-z0-9]+", "-", s).strip("-")
    return s or "x"


def track_slug(scale: int, degradation: str, gray: str) -> str:
    return f"lb-x{int(scale)}-{slug(degradation)}" + ("" if gray == "rgb" else f"-gray-{slug(gray)}")


# ------------------------------------------------------------------------------------ the model


@dataclass
class Track:
    scale: int
    degradation: str
    gray: str
    protocol: str
    slug: str
    label: str
    table: pd.DataFrame = field(repr=False, default=None)
    sets: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    memory_kinds: dict[str, str] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    plots: list[dict] = field(default_factory=list)
    plot_set: str = ""
    notes: list[str] = field(default_factory=list)
    acc_devices: list[str] = field(default_factory=list)


def _primary_protocol(summary: pd.DataFrame, profile: pd.DataFrame) -> str:
    have = set()
    for df in (summary, profile):
        if not df.empty and "protocol" in df:
            have |= set(df["protocol"].dropna().astype(str))
    if not have or PROTOCOL_VERSION in have:
        return PROTOCOL_VERSION
    return sorted(have)[-1]


def _cards() -> dict[str, object]:
    import registry

    return {c.name: c for c in registry.cards()}


def _published_rows(model: str) -> pd.DataFrame:
    from benchmark.compare import published_table

    pub = published_table()
    return pub[pub["model"] == model]


def _build_tracks(results_dir: Path, protocol: str, cards: dict) -> list[Track]:
    from benchmark.compare import attach_published

    t = res.tracks(results_dir)
    t = t[t["protocol"] == protocol] if not t.empty else t
    summary = res.load(results_dir, "summary", protocol=protocol) if not t.empty else pd.DataFrame()
    out = []
    for r in t.itertuples():
        tr = Track(int(r.scale), str(r.degradation), str(r.gray), protocol,
                   track_slug(r.scale, r.degradation, r.gray),
                   f"×{int(r.scale)} {r.degradation}" + ("" if r.gray == "rgb" else f" · gray {r.gray}"))
        lb = res.leaderboard(results_dir, tr.scale, tr.degradation, tr.gray, protocol=protocol)
        tr.table, tr.sets, tr.notes = lb, list(lb.attrs["sets"]), list(lb.attrs["notes"])
        tr.acc_devices = list(lb.attrs["acc_devices"])
        eff = res.efficiency(results_dir, tr.scale, protocol)
        tr.devices = res._device_rank(list(eff["device_label"].unique()), eff) if not eff.empty else []
        for d in tr.devices:
            kinds = sorted(set(eff[eff["device_label"] == d].get("memory_kind", pd.Series(dtype=str))
                               .dropna().astype(str)) - {""})
            tr.memory_kinds[d] = ", ".join(kinds)
        eff_idx = {(e["variant"], e["device_label"]): e for _, e in eff.iterrows()} if not eff.empty else {}
        # published deltas of the rows of this track
        s = summary[(summary["scale"].astype(int) == tr.scale) & (summary["degradation"] == tr.degradation)
                    & (summary["gray"] == tr.gray)]
        # (set, ours - published, published, the card's known-issue reason or '')
        deltas: dict[str, list[tuple[str, float, float, str]]] = {}
        if not s.empty:
            lb_keys = set(zip(lb["variant"], lb["weights_sha256"], strict=True))
            s = s[[k in lb_keys for k in zip(s["variant"], s["weights_sha256"], strict=True)]]
            ap = attach_published(s)
            for _, a in ap.iterrows():
                if not _nan(a["pub_psnr"]):
                    deltas.setdefault(a["variant"], []).append((a["dataset"], float(a["d_psnr"]), float(a["pub_psnr"]),
                                                                str(a["pub_known_issue"] or "")))
        for _, row in lb.iterrows():
            card = cards.get(row["model"])
            cells = []
            for ds in tr.sets:
                cells.append({"psnr": row.get(f"psnr:{ds}"), "ssim": row.get(f"ssim:{ds}")})
            dev_cells = []
            for d in tr.devices:
                e = eff_idx.get((row["variant"], d))
                dev_cells.append({"runtime": None if e is None else e.get("runtime_ms"),
                                  "p10": None if e is None else e.get("runtime_p10_ms"),
                                  "p90": None if e is None else e.get("runtime_p90_ms"),
                                  "memory": None if e is None else e.get("memory_mb")})
            dl = sorted(deltas.get(row["variant"], []), key=lambda x: res.ordered_sets([x[0]] + tr.sets).index(x[0]))
            worst = max(dl, key=lambda x: (abs(x[1]), x[0])) if dl else None
            tr.rows.append({
                "model": row["model"], "variant": row["variant"], "family": row["family"] or "other",
                "kind": row["kind"] or "other", "has_weights": bool(row["has_weights"]),
                "page": f"models/{slug(row['model'])}.html", "anchor": f"v-{slug(row['variant'])}",
                "sets": cells, "params": row["params"], "flops": row["flops"], "devices": dev_cells,
                "worst": worst, "deltas": dl, "registered": card is not None,
            })
        out.append(tr)
    return out


def _track_plots(tr: Track, plot_dir: Path) -> None:
    from benchmark.site.plots import Point, pareto_svg

    # The plots use one set: the hardest standard set the track has (where models differ most).
    for ds in ("Urban100", "Manga109", "B100", "Set14", "Set5", *tr.sets):
        if ds in tr.sets:
            tr.plot_set = ds
            break
    if not tr.plot_set:
        return
    i = tr.sets.index(tr.plot_set)
    ref = None
    for r in tr.rows:
        if r["kind"] == "baseline" and not _nan(r["sets"][i]["psnr"]):
            ref = Point(r["variant"], 0.0, float(r["sets"][i]["psnr"]), "baseline")
    ylabel = f"PSNR (dB), {tr.plot_set} ×{tr.scale}, Y"
    axes = [("params", "Params", lambda r: r["params"], "params (log scale)")]
    axes.append(("flops", "FLOPs", lambda r: r["flops"], "FLOPs at 1×3×256×256 LR (fvcore, log scale)"))
    if tr.devices:
        axes.append(("runtime", "Runtime", lambda r: r["devices"][0]["runtime"],
                     f"runtime (ms, log scale) on {tr.devices[0]}"))
    for key, name, get, xlabel in axes:
        pts = []
        for r in tr.rows:
            x, y = get(r), r["sets"][i]["psnr"]
            if r["kind"] == "baseline" or _nan(x) or _nan(y) or float(x) <= 0:
                continue
            pts.append(Point(r["variant"], float(x), float(y), r["kind"]))
        if len(pts) < 1:
            continue
        svg = pareto_svg(pts, xlabel, ylabel, f"PSNR vs {name} · {tr.label}", reference=ref)
        fname = f"{tr.slug}-{key}.svg"
        (plot_dir / fname).write_text(svg, encoding="utf-8")
        from benchmark.site.plots import pareto_front

        front = [p.label for p in pareto_front(pts)]
        tr.plots.append({"file": f"plots/{fname}", "name": name, "front": front, "n": len(pts)})


# ------------------------------------------------------------------------------------- model pages


def _card_dict(card) -> dict:
    if card is None:
        return {}
    return {
        "name": card.name, "family": card.family, "kind": card.kind, "notes": card.notes,
        "paper": None if card.paper is None else {"title": card.paper.title, "venue": card.paper.venue,
                                                  "year": card.paper.year, "url": card.paper.url},
        "scales": ", ".join(f"×{s}" for s in card.scales), "colour": card.colour,
        "architecture_only": card.architecture_only,
        "config": [(str(k), json.dumps(v) if not isinstance(v, str) else v) for k, v in card.config.items()],
        "weights": [{"file": w.file, "variant": w.variant or card.name, "scales": ", ".join(f"×{s}" for s in w.scales),
                     "sha256": w.sha256, "license": w.license, "url": w.url, "input_range": w.input_range,
                     "source": w.source, "notes": w.notes,
                     "quirks": ", ".join(x for x in (f"state key '{w.state_key}'" if w.state_key else "",
                                                     f"strip prefix '{w.strip_prefix}'" if w.strip_prefix else "")
                                         if x)}
                    for w in card.weights],
        "variants": card.variants(),
    }


def _model_context(model: str, card, summary: pd.DataFrame, images: pd.DataFrame, profile: pd.DataFrame,
                   protocol: str, visual: dict | None) -> dict:
    from benchmark.compare import SETS_WITH_GRAY, attach_published

    s = summary[(summary["model"] == model) & (summary["protocol"] == protocol)] if not summary.empty else summary
    groups = []
    matched = set()
    if not s.empty:
        ap = attach_published(s)
        keys = ["variant", "scale", "degradation", "gray", "weights_sha256"]
        for k, g in sorted(ap.groupby(keys), key=lambda kv: (kv[0][0] != model, kv[0][0], kv[0][1],
                                                               kv[0][2] != "bicubic", kv[0][2], kv[0][3], kv[0][4])):
            variant, scale, deg, gray, sha = k
            order = res.ordered_sets(g["dataset"])
            g = g.set_index("dataset").loc[order].reset_index()
            rows = []
            for _, r in g.iterrows():
                if not _nan(r["pub_psnr"]):
                    matched.add((variant, r["dataset"], int(scale), deg, gray if r["dataset"] in SETS_WITH_GRAY
                                 else "*"))
                rows.append({"dataset": r["dataset"], "psnr": r["psnr"], "ssim": r["ssim"], "n": r.get("n_images"),
                             "pub_psnr": r["pub_psnr"], "pub_ssim": r["pub_ssim"], "d_psnr": r["d_psnr"],
                             "d_ssim": r["d_ssim"], "source": r["pub_source"],
                             "off": (not _nan(r["d_psnr"])) and abs(float(r["d_psnr"])) > PUB_TOLERANCE,
                             "known": str(r["pub_known_issue"] or ""),
                             "device": r.get("device", ""), "finished_at": r.get("finished_at", "")})
            devices = sorted(set(str(x) for x in g.get("device", pd.Series(dtype=str)).dropna()))
            commits = sorted(set(str(x) for x in g.get("git_commit", pd.Series(dtype=str)).dropna()))
            groups.append({"variant": variant, "anchor": f"v-{slug(variant)}", "scale": int(scale),
                           "degradation": deg, "gray": gray, "sha": sha, "rows": rows, "devices": devices,
                           "commits": commits, "id": f"acc-{slug(variant)}-x{int(scale)}-{slug(deg)}-{slug(gray)}"})
    pub = _published_rows(model)
    unmeasured, ntire = [], []
    for _, p in pub.iterrows():
        if p["metric"] == "y":
            key_gray = p["gray"] if p["dataset"] in SETS_WITH_GRAY else "*"
            if (p["variant"], p["dataset"], int(p["scale"]), p["degradation"], key_gray) not in matched:
                unmeasured.append(dict(p))
        else:
            ntire.append(dict(p))
    unmeasured.sort(key=lambda p: (p["variant"], p["scale"], p["degradation"], p["gray"],
                                   res.ordered_sets([p["dataset"], *res.STANDARD_SET_ORDER]).index(p["dataset"])))
    ntire.sort(key=lambda p: (p["variant"], p["scale"], p["dataset"], p["source"]))
    eff = []
    pm = profile[profile["model"] == model] if not profile.empty else profile
    if not pm.empty:
        pm = pm[pm["protocol"] == protocol].copy()
        pm["device_label"] = [res.device_label(r) for _, r in pm.iterrows()]
        sort_cols = ["variant", "scale", "device_label", "precision", "channels_last", "compiled", "input_size"]
        for _, r in pm.sort_values([c for c in sort_cols if c in pm.columns]).iterrows():
            eff.append({k: r.get(k) for k in ("variant", "scale", "device_label", "precision", "channels_last",
                                              "compiled", "input_size", "params", "flops", "activations",
                                              "num_conv", "runtime_ms", "runtime_p10_ms", "runtime_p90_ms",
                                              "memory_mb", "memory_kind", "torch_version", "measured_at",
                                              "flops_uncounted", "runs", "warmup_runs")})
    per_image = []
    im = images[images["model"] == model] if not images.empty else images
    if not im.empty:
        im = im[im["protocol"] == protocol]
        keys = ["variant", "scale", "degradation", "gray", "weights_sha256", "dataset"]
        groups_im = sorted(im.groupby(keys), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] != "bicubic", kv[0][2],
                                                             kv[0][3], res.ordered_sets(
                                                                 [kv[0][5], *res.STANDARD_SET_ORDER]).index(kv[0][5])))
        for (variant, scale, deg, gray, _sha, ds), g in groups_im:
            g = g.sort_values("image")
            per_image.append({"variant": variant, "scale": int(scale), "degradation": deg, "gray": gray,
                              "dataset": ds, "n": len(g),
                              "rows": [{"image": r["image"], "psnr": r["psnr"], "ssim": r["ssim"],
                                        "gray_image": bool(r.get("gray_image", False))} for _, r in g.iterrows()]})
    return {"model": model, "slug": slug(model), "card": _card_dict(card), "groups": groups, "unmeasured": unmeasured,
            "ntire": ntire, "eff": eff, "per_image": per_image, "visual": visual, "tolerance": PUB_TOLERANCE}


def _visuals(cards: dict, models: list[str], out: Path, data_root, weights_dir, enabled: bool) -> dict[str, dict]:
    """Per model: {'note': str, 'scale', 'image', 'hr', 'bicubic', 'panels': [...]}, PNGs written under out."""
    from benchmark.site import visuals as vis
    from registry.weights import WeightsError, verify

    result: dict[str, dict] = {}
    if not enabled:
        for m in models:
            result[m] = {"note": "visual comparisons were turned off when the site was rendered (--no-visuals)"}
        return result
    src, why = vis.find_source(data_root)
    if src is None:
        for m in models:
            result[m] = {"note": f"No visual comparison: {why}."}
        return result
    v = vis.Visuals(src)
    vdir = out / "visuals"
    vdir.mkdir(exist_ok=True)
    (vdir / "hr.png").write_bytes(v.hr_panel().png)
    base: dict[int, dict] = {}

    def bicubic(scale: int) -> dict:
        if scale not in base:
            bcard = cards.get("Bicubic")
            name = f"x{scale}-bicubic.png"
            panel = v.run(bcard.build_model(scale), scale)
            (vdir / name).write_bytes(panel.png)
            base[scale] = {"file": f"visuals/{name}", "psnr": panel.psnr}
        return base[scale]

    where = {"dataset": src.dataset, "image": src.image, "y": src.origin[0], "x": src.origin[1],
             "size": vis.CROP, "context": vis.CONTEXT}
    for m in models:
        card = cards.get(m)
        if card is None:
            result[m] = {"note": "No visual comparison: this model is not in the registry of this srbench."}
            continue
        scale = 4 if 4 in card.scales else max((s for s in card.scales if s <= 4), default=min(card.scales))
        entry = {"scale": scale, **where, "hr": "visuals/hr.png", "panels": [], "notes": []}
        if "Bicubic" not in cards:
            result[m] = {"note": "No visual comparison: the Bicubic baseline is not registered."}
            continue
        entry["bicubic"] = bicubic(scale)
        if card.kind == "baseline":
            result[m] = entry
            continue
        if card.architecture_only:
            entry["notes"].append("no published checkpoint: nothing to show but HR and bicubic")
            result[m] = entry
            continue
        for variant in card.variants(scale):
            wf = card.weight_file(scale, variant)
            if wf is not None and verify(wf, weights_dir) != "ok":
                entry["notes"].append(f"{variant} ×{scale}: checkpoint {wf.file} was not available when the site "
                                      f"was rendered; no output shown")
                continue
            try:
                model = card.build_model(scale, variant, weights_dir)
                panel = v.run(model, scale)
            except (WeightsError, RuntimeError, ValueError, KeyError) as e:
                entry["notes"].append(f"{variant} ×{scale}: the model failed on the crop ({type(e).__name__})")
                continue
            name = f"x{scale}-{slug(variant)}.png"
            (vdir / name).write_bytes(panel.png)
            entry["panels"].append({"variant": variant, "file": f"visuals/{name}", "psnr": panel.psnr,
                                    "sha": (wf.sha256[:12] if wf else "")})
        result[m] = entry
    return result


# --------------------------------------------------------------------------------------- about


def _environments(runs: pd.DataFrame, profile: pd.DataFrame, summary: pd.DataFrame) -> dict:
    env_rows = []
    if not runs.empty:
        for _, r in runs.sort_values(["started_at", "run_id"]).iterrows():
            try:
                env = json.loads(r.get("environment") or "{}")
            except (TypeError, ValueError):
                env = {}
            try:
                opts = json.loads(r.get("options") or "{}")
            except (TypeError, ValueError):
                opts = {}
            env_rows.append({"run_id": r["run_id"], "started_at": r.get("started_at", ""),
                             "finished_at": r.get("finished_at", ""), "n_items": r.get("n_items", ""),
                             "device": env.get("device", ""), "torch": env.get("torch_version", ""),
                             "cuda": env.get("cuda", ""), "driver": env.get("driver", ""),
                             "python": env.get("python", ""), "srbench": env.get("srbench_version", ""),
                             "commit": env.get("git_commit", ""), "threads": env.get("threads", ""),
                             "options": ", ".join(f"{k}={v}" for k, v in sorted(opts.items()))})
    prof_rows = []
    if not profile.empty:
        cols = [c for c in ("device_name", "device", "threads", "precision", "torch_version", "cuda_version",
                            "driver_version", "srbench_version", "git_commit", "protocol") if c in profile.columns]
        g = profile.fillna("").astype({c: str for c in cols}).groupby(cols)
        for k, grp in sorted(g, key=lambda kv: tuple(str(x) for x in kv[0])):
            d = dict(zip(cols, k, strict=True))
            d["n_rows"] = len(grp)
            d["label"] = res.device_label({"device": d.get("device"), "device_name": d.get("device_name"),
                                           "threads": int(float(d["threads"])) if d.get("threads") not in ("", None)
                                           else None})
            if "measured_at" in grp:
                d["from"], d["to"] = str(grp["measured_at"].min()), str(grp["measured_at"].max())
            prof_rows.append(d)
    protocols = []
    if not summary.empty:
        for p, n in sorted(summary.groupby("protocol").size().items()):
            protocols.append({"protocol": p, "n": int(n)})
    return {"runs": env_rows, "profile": prof_rows, "protocols": protocols}


# ------------------------------------------------------------------------------------- rendering


def _jinja():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                             autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    env.filters.update(fmt=fmt, fmt_delta=fmt_delta, sortval=sortval, slug=slug, isnan=_nan)
    env.tests["isnan"] = _nan
    return env


def _version() -> str:
    import benchmark

    return getattr(benchmark, "__version__", "")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def _render_into(results_dir: Path, out: Path, data_root=None, weights_dir=None, visuals: bool = True) -> dict:
    summary = store.read(results_dir, "summary")
    images = store.read(results_dir, "images")
    profile = store.read(results_dir, "profile")
    runs = store.read(results_dir, "runs")
    if summary.empty and profile.empty:
        raise SiteError(f"{results_dir}: no results to show (no summary.parquet or profile.parquet); "
                        f"run 'srbench run' and 'srbench profile' first")
    protocol = _primary_protocol(summary, profile)
    cards = _cards()
    tracks = _build_tracks(results_dir, protocol, cards)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    (out / "data").mkdir(parents=True, exist_ok=True)
    for tr in tracks:
        _track_plots(tr, out / "plots")
        tr.table.to_csv(out / "data" / f"{tr.slug}.csv", index=False, float_format="%.6g", lineterminator="\n")
    default = next((t for t in tracks if (t.scale, t.degradation, t.gray) == (4, "bicubic", "rgb")),
                   tracks[0] if tracks else None)

    models_in_results = set()
    for df in (summary, profile):
        if not df.empty:
            models_in_results |= set(df["model"].astype(str))
    models = sorted(set(cards) | models_in_results, key=lambda m: (
        (cards[m].kind != "baseline") if m in cards else True, m.lower()))
    vis = _visuals(cards, models, out, data_root, weights_dir, visuals)
    env = _jinja()
    common = {"version": _version(), "protocol": protocol, "tracks": tracks, "default": default,
              "nav_models": [{"name": m, "slug": slug(m)} for m in models]}
    static = out / "static"
    static.mkdir(exist_ok=True)
    for f in sorted((HERE / "static").iterdir()):
        if f.is_file():
            shutil.copyfile(f, static / f.name)
    lb = env.get_template("leaderboard.html")
    for tr in tracks:
        _write(out / f"{tr.slug}.html", lb.render(**common, root="", page=tr.slug, track=tr))
    if default is not None:
        _write(out / "index.html", lb.render(**common, root="", page="index", track=default))
    else:
        _write(out / "index.html", env.get_template("empty.html").render(**common, root="", page="index"))
    model_tpl = env.get_template("model.html")
    for m in models:
        ctx = _model_context(m, cards.get(m), summary, images, profile, protocol, vis.get(m))
        _write(out / "models" / f"{slug(m)}.html", model_tpl.render(**common, root="../", page="model", m=ctx))
    listing = []
    for m in models:
        card = cards.get(m)
        if card is None:
            listing.append({"name": m, "slug": slug(m), "family": "", "kind": "", "paper": "", "scales": "",
                            "weights": "not registered"})
            continue
        w = ("architecture only" if card.architecture_only else "none needed" if not card.weights
             else f"{len(card.weights)} file{'s' if len(card.weights) != 1 else ''}")
        listing.append({"name": m, "slug": slug(m), "family": card.family, "kind": card.kind,
                        "paper": f"{card.paper.venue} {card.paper.year}" if card.paper else "",
                        "scales": ", ".join(f"×{x}" for x in card.scales), "weights": w})
    _write(out / "models" / "index.html", env.get_template("models.html").render(**common, root="../", page="models",
                                                                                 models=listing))
    about = env.get_template("about.html")
    _write(out / "about.html", about.render(**common, root="", page="about", envs=_environments(runs, profile, summary),
                                            n_models=len(models)))
    _write(out / MARKER, f"srbench site\nversion {_version()}\nprotocol {protocol}\n")
    return {"tracks": len(tracks), "models": len(models),
            "visuals": sum(len(v.get("panels", [])) for v in vis.values())}


def render(results_dir: str | Path = "results", out_dir: str | Path = "site", *, data_root=None, weights_dir=None,
           visuals: bool = True) -> dict:
    """Render the site for ``results_dir`` into ``out_dir`` (replaced atomically); returns counts.

    ``out_dir`` may be absent, empty, or a site rendered before (it holds ``.srbench-site``); any
    other folder is refused rather than overwritten.
    """
    results_dir, out = Path(results_dir), Path(out_dir)
    if not results_dir.is_dir():
        raise SiteError(f"results directory {results_dir} does not exist (run 'srbench run' first)")
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise SiteError(f"{out} exists and is not a srbench site (no {MARKER}); refusing to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-new-", dir=out.parent))
    old = None
    try:
        os.chmod(tmp, 0o755)
        info = _render_into(results_dir, tmp, data_root, weights_dir, visuals)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}-old-", dir=out.parent))
            os.rmdir(old)
            os.rename(out, old)
        try:
            os.rename(tmp, out)
        except OSError:
            if old is not None:
                os.rename(old, out)
                old = None
            raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists():
            shutil.rmtree(old, ignore_errors=True)
    return info


def _png_close(a: Path, b: Path, tol: int = 1) -> bool:
    """PNG visuals: equal when their pixels differ by at most ``tol`` (model arithmetic may round
    differently on another CPU)."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(a) as ia, Image.open(b) as ib:
            x, y = np.asarray(ia.convert("RGB"), dtype=np.int16), np.asarray(ib.convert("RGB"), dtype=np.int16)
    except OSError:
        return False
    return x.shape == y.shape and int(np.abs(x - y).max(initial=0)) <= tol


def _same_plot_data(a: Path, b: Path) -> bool:
    """Two plot SVGs that show the same data (matplotlib releases differ in the bytes they write)."""
    from benchmark.site.plots import svg_fingerprint

    fa = svg_fingerprint(a.read_text(errors="replace"))
    return fa is not None and fa == svg_fingerprint(b.read_text(errors="replace"))


def _files(d: Path) -> set[str]:
    return {str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()}


def diff_trees(expected: Path, actual: Path) -> list[str]:
    """Human-readable differences between a fresh render (``expected``) and a site on disk."""
    want, have = _files(expected), _files(actual)
    out = [f"missing: {f}" for f in sorted(want - have)]
    out += [f"not rendered any more: {f}" for f in sorted(have - want)]
    for f in sorted(want & have):
        a, b = expected / f, actual / f
        if filecmp.cmp(a, b, shallow=False):
            continue
        if f.startswith("visuals/") and f.endswith(".png") and _png_close(a, b):
            continue
        if f.endswith(".svg") and _same_plot_data(a, b):
            continue
        out.append(f"differs: {f}")
    return out


def check(results_dir: str | Path = "results", out_dir: str | Path = "site", *, data_root=None, weights_dir=None,
          visuals: bool = True) -> list[str]:
    """Render to a temporary folder and compare with ``out_dir``; returns the differences (empty: up to date)."""
    out = Path(out_dir)
    if not out.is_dir():
        return [f"missing: {out} (no site rendered yet)"]
    with tempfile.TemporaryDirectory(prefix="srbench-site-check-") as t:
        fresh = Path(t) / "site"
        render(results_dir, fresh, data_root=data_root, weights_dir=weights_dir, visuals=visuals)
        return diff_trees(fresh, out)


@click.command("site")
@click.option("--results", "results_dir", type=click.Path(file_okay=False), default="results", show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="site", show_default=True)
@click.option("--check", "check_only", is_flag=True,
              help="render to a temporary folder and compare with --out; exit 1 naming the files that differ")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="test sets root, for the visual comparisons (default $SRBENCH_DATA)")
@click.option("--weights-dir", type=click.Path(file_okay=False), default=None,
              help="checkpoints folder, for the visual comparisons (default $SRBENCH_WEIGHTS)")
@click.option("--no-visuals", is_flag=True, help="do not run models for the visual comparisons")
def site_command(results_dir, out_dir, check_only, data_root, weights_dir, no_visuals) -> None:
    """Render the static leaderboard site (self-contained HTML, no CDN) from the results directory."""
    if check_only:
        diffs = check(results_dir, out_dir, data_root=data_root, weights_dir=weights_dir, visuals=not no_visuals)
        if diffs:
            click.echo(f"{out_dir} is out of date with {results_dir} ({len(diffs)} file(s)); "
                       f"run 'srbench site --results {results_dir} --out {out_dir}':")
            for d in diffs:
                click.echo(f"  {d}")
            raise SystemExit(1)
        click.echo(f"{out_dir} is up to date with {results_dir}")
        return
    info = render(results_dir, out_dir, data_root=data_root, weights_dir=weights_dir, visuals=not no_visuals)
    click.echo(f"site written to {out_dir}: {info['tracks']} leaderboard(s), {info['models']} model pages, "
               f"{info['visuals']} visual(s); open {Path(out_dir) / 'index.html'}")

