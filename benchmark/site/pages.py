"""The site's pages: model pages, the model list, the about page, and rendering them all.

Everything comes from the results folder: the tables, the card snapshots (``cards``) and the visual
comparisons that ``srbench visuals`` stored under ``results/visuals/``; nothing here imports torch
or the registry.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from benchmark import results as res
from benchmark import store
from benchmark.cards import load_cards
from benchmark.challenges import challenge_view
from benchmark.compare import SETS_WITH_GRAY, attach_published, published_table
from benchmark.fmt import memory_label
from benchmark.site.tracks import _nan, build_tracks, fmt, fmt_delta, primary_protocol, slug, sortval, track_plots

HERE = Path(__file__).resolve().parent
MARKER = ".srbench-site"
PUB_TOLERANCE = 0.03  # dB: |ours - published| above this is highlighted as 'does not reproduce'
VISUALS = "visuals"  # the folder under results/ that ``srbench visuals`` writes


class SiteError(store.StoreError):
    """The site cannot be rendered or checked as asked; the message names the folder or option."""


def card_dict(card: dict | None) -> dict:
    """A card snapshot as the model page shows it."""
    if not card:
        return {}
    name = card["model"]
    return {
        "name": name, "family": card["family"], "kind": card["kind"], "notes": card["notes"],
        "origin": card.get("origin") or "zoo",
        "paper": card["paper"], "scales": ", ".join(f"×{s}" for s in card["scales"]), "colour": card["colour"],
        "architecture_only": bool(card["architecture_only"]),
        "config": [(str(k), json.dumps(v) if not isinstance(v, str) else v) for k, v in card["config"].items()],
        "weights": [{**{k: w.get(k, "") for k in ("file", "sha256", "license", "url", "input_range", "source",
                                                 "notes")},
                     "variant": w.get("variant") or name, "scales": ", ".join(f"×{s}" for s in w["scales"]),
                     "quirks": ", ".join(x for x in (f"state key '{w['state_key']}'" if w.get("state_key") else "",
                                                     f"strip prefix '{w['strip_prefix']}'" if w.get("strip_prefix")
                                                     else "") if x)}
                    for w in card["weights"]],
        "variants": card["variants"],
    }


def copy_visuals(results_dir: Path, models: list[str], out: Path, enabled: bool,
                 shown_as: Path | None = None) -> dict[str, dict]:
    """Per model: the visual comparison ``srbench visuals`` stored with the results (PNGs copied into
    ``out/visuals``), or a note saying why there is none (naming ``shown_as``, the folder the user gave)."""
    if not enabled:
        return {m: {"note": "visual comparisons were turned off when the site was rendered (--no-visuals)"}
                for m in models}
    index = results_dir / VISUALS / "index.json"
    if not index.is_file():
        return {m: {"note": f"No visual comparison: the results hold none (run 'srbench visuals --results "
                            f"{shown_as or results_dir}' to add them)."} for m in models}
    stored = json.loads(index.read_text())
    files: set[str] = set()
    out_vis = {}
    for m in models:
        entry = stored.get(m) or {"note": "No visual comparison: this model had none when 'srbench visuals' ran."}
        for f in [entry.get("hr"), (entry.get("bicubic") or {}).get("file"),
                  *(p["file"] for p in entry.get("panels", []))]:
            if f:
                files.add(f)
        out_vis[m] = entry
    for f in sorted(files):
        dest = out / f
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(results_dir / f, dest)
    return out_vis


def model_context(model: str, cards: dict[str, dict], summary: pd.DataFrame, images: pd.DataFrame,
                  profile: pd.DataFrame, protocol: str, visual: dict | None) -> dict:
    card = cards.get(model)
    s = summary[(summary["model"] == model) & (summary["protocol"] == protocol)] if not summary.empty else summary
    groups = []
    matched = set()
    if not s.empty:
        ap = attach_published(s, cards)
        keys = ["variant", "scale", "degradation", "gray", "weights_sha256", "metric", "tta"]
        for k, g in sorted(ap.groupby(keys), key=lambda kv: (kv[0][0] != model, kv[0][5] != "y", kv[0][0], kv[0][1],
                                                               kv[0][6], kv[0][2] != "bicubic", kv[0][2], kv[0][3],
                                                               kv[0][4])):
            variant, scale, deg, gray, sha, metric, tta = k
            order = res.ordered_sets(g["dataset"])
            g = g.set_index("dataset").loc[order].reset_index()
            rows = []
            for _, r in g.iterrows():
                if not _nan(r["pub_psnr"]) and metric == "y":
                    matched.add((variant, r["dataset"], int(scale), deg, gray if r["dataset"] in SETS_WITH_GRAY
                                 else "*", tta))
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
                           "commits": commits, "metric": metric, "tta": tta,
                           "id": f"acc-{slug(variant)}-x{int(scale)}-{slug(deg)}-{slug(gray)}"
                                 + ("" if metric == "y" else f"-{slug(metric)}")
                                 + ("" if tta == "none" else f"-self-ensemble-{slug(tta)}")})
    pub = published_table({model: card} if card else {})
    unmeasured, ntire = [], []
    for _, p in pub.iterrows():
        if p["metric"] == "y":
            key_gray = p["gray"] if p["dataset"] in SETS_WITH_GRAY else "*"
            if (p["variant"], p["dataset"], int(p["scale"]), p["degradation"], key_gray, p["tta"]) not in matched:
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
        cols = ("variant", "scale", "device_label", "precision", "channels_last", "compiled", "input_size", "params",
                "flops", "activations", "num_conv", "runtime_ms", "runtime_p10_ms", "runtime_p90_ms", "memory_mb",
                "memory_kind", "torch_version", "measured_at", "flops_uncounted", "runs", "warmup_runs",
                "load_other_cores")
        if "status" in pm.columns:  # error rows (a model that failed or timed out) carry no figures
            pm = pm[pm["status"].isna() | (pm["status"] == "ok")]
        for _, r in pm.sort_values([c for c in sort_cols if c in pm.columns]).iterrows():
            eff.append({**{k: r.get(k) for k in cols}, "busy": str(r.get("busy")) == "True"})
    per_image = []
    im = images[images["model"] == model] if not images.empty else images
    if not im.empty:
        im = im[im["protocol"] == protocol]
        keys = ["variant", "scale", "degradation", "gray", "weights_sha256", "dataset", "metric", "tta"]
        groups_im = sorted(im.groupby(keys), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] != "bicubic", kv[0][2],
                                                             kv[0][3], res.ordered_sets(
                                                                 [kv[0][5], *res.STANDARD_SET_ORDER]).index(kv[0][5]),
                                                             kv[0][6] != "y", kv[0][7]))
        for (variant, scale, deg, gray, _sha, ds, metric, tta), g in groups_im:
            g = g.sort_values("image")
            per_image.append({"variant": variant, "scale": int(scale), "degradation": deg, "gray": gray,
                              "dataset": ds, "n": len(g), "metric": metric, "tta": tta,
                              "rows": [{"image": r["image"], "psnr": r["psnr"], "ssim": r["ssim"],
                                        "gray_image": bool(r.get("gray_image", False))} for _, r in g.iterrows()]})
    return {"model": model, "slug": slug(model), "card": card_dict(card), "groups": groups, "unmeasured": unmeasured,
            "ntire": ntire, "eff": eff, "per_image": per_image, "visual": visual, "tolerance": PUB_TOLERANCE}


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
        cols = [c for c in ("device_name", "device", "threads", "source", "precision", "torch_version", "cuda_version",
                            "driver_version", "srbench_version", "git_commit", "protocol") if c in profile.columns]
        text = {c: profile[c].astype(object).where(profile[c].notna(), "").astype(str) for c in cols}
        g = profile.assign(**text).groupby(cols)
        for k, grp in sorted(g, key=lambda kv: tuple(str(x) for x in kv[0])):
            d = dict(zip(cols, k, strict=True))
            d["n_rows"] = len(grp)
            d["label"] = res.device_label({"device": d.get("device"), "device_name": d.get("device_name"),
                                           "source": d.get("source"),
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
    env.filters.update(fmt=fmt, fmt_delta=fmt_delta, sortval=sortval, slug=slug, isnan=_nan, memory_label=memory_label)
    env.tests["isnan"] = _nan
    return env


def _version() -> str:
    import benchmark

    return getattr(benchmark, "__version__", "")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def render_into(results_dir: Path, out: Path, visuals: bool = True, *, shown_as: Path | None = None,
                sources: list[dict] | None = None) -> dict:
    """Render every page of the site for ``results_dir`` into the (empty) folder ``out``; ``shown_as``:
    the folder named in notes (``results_dir`` may be a merge of ``sources``, :mod:`.sources`)."""
    summary = store.read(results_dir, "summary")
    images = store.read(results_dir, "images")
    profile = store.read(results_dir, "profile")
    runs = store.read(results_dir, "runs")
    if summary.empty and profile.empty:
        raise SiteError(f"{results_dir}: no results to show (no summary.parquet or profile.parquet); "
                        f"run 'srbench run' and 'srbench profile' first")
    protocol = primary_protocol(summary, profile)
    cards = load_cards(results_dir)
    tracks = build_tracks(results_dir, protocol, cards)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    (out / "data").mkdir(parents=True, exist_ok=True)
    for tr in tracks:
        track_plots(tr, out / "plots")
        table = tr.table
        if any(r["source"] for r in tr.rows):  # rows from elsewhere: the CSV says whose they are
            table = table.assign(source=[r["source"] for r in tr.rows])
        table.to_csv(out / "data" / f"{tr.slug}.csv", index=False, float_format="%.6g", lineterminator="\n")
    default = next((t for t in tracks if (t.scale, t.degradation, t.gray, t.metric, t.tta)
                    == (4, "bicubic", "rgb", "y", "none")),
                   tracks[0] if tracks else None)

    models_in_results = set()
    for df in (summary, profile):
        if not df.empty:
            models_in_results |= set(df["model"].astype(str))
    models = sorted(set(cards) | models_in_results, key=lambda m: (
        (cards[m]["kind"] != "baseline") if m in cards else True, m.lower()))
    vis = copy_visuals(results_dir, models, out, visuals, shown_as)
    env = _jinja()
    groups = challenge_view(results_dir) if not summary.empty else []
    common = {"version": _version(), "protocol": protocol, "tracks": tracks, "default": default,
              "has_challenges": bool(groups),
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
        ctx = model_context(m, cards, summary, images, profile, protocol, vis.get(m))
        _write(out / "models" / f"{slug(m)}.html", model_tpl.render(**common, root="../", page="model", m=ctx))
    listing = []
    for m in models:
        card = cards.get(m)
        if card is None:
            listing.append({"name": m, "slug": slug(m), "family": "", "kind": "", "paper": "", "scales": "",
                            "weights": "not registered"})
            continue
        n = len(card["weights"])
        w = ("architecture only" if card["architecture_only"] else "none needed" if not n
             else f"{n} file{'s' if n != 1 else ''}")
        paper = card["paper"]
        listing.append({"name": m, "slug": slug(m), "family": card["family"], "kind": card["kind"],
                        "paper": f"{paper['venue']} {paper['year']}" if paper else "",
                        "scales": ", ".join(f"×{x}" for x in card["scales"]), "weights": w})
    _write(out / "models" / "index.html", env.get_template("models.html").render(**common, root="../", page="models",
                                                                                 models=listing))
    if groups:
        _write(out / "challenges.html", env.get_template("challenges.html").render(**common, root="",
                                                                                  page="challenges", groups=groups))
    about = env.get_template("about.html")
    _write(out / "about.html", about.render(**common, root="", page="about", envs=_environments(runs, profile, summary),
                                            n_models=len(models), sources=sources or []))
    _write(out / MARKER, f"srbench site\nversion {_version()}\nprotocol {protocol}\n")
    return {"tracks": len(tracks), "models": len(models),
            "visuals": sum(len(v.get("panels", [])) for v in vis.values())}
