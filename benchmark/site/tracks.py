"""The site's leaderboard tracks: one per (scale, degradation, gray convention), from the results alone.

A :class:`Track` holds the rows of one leaderboard page (accuracy per set, efficiency per device, the
delta to the published number), and :func:`track_plots` draws its Pareto plots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark import results as res
from benchmark.compare import attach_published
from benchmark.fmt import missing, num
from benchmark.site.plots import Point, pareto_front, pareto_svg
from protocol import PROTOCOL_VERSION

# ----------------------------------------------------------------------------------- formatting


def _nan(x) -> bool:
    return missing(x)


def fmt(x, digits: int = 2, div: float = 1.0) -> str:
    return num(x, digits, div)


def fmt_delta(x, digits: int = 2) -> str:
    return num(x, digits, signed=True)  # keeps the sign of a tiny delta: -0.00 is below the paper


def sortval(x) -> str:
    """A cell's sort key for site.js: the full-precision number, or '' (always sorted last)."""
    return "" if _nan(x) else repr(float(x))


def slug(name: str) -> str:
    s = str(name).lower().replace("+", "-plus")
    s = re.sub(r"[^a-z0-9]+", "-", s).strip("-")
    return s or "x"


def track_slug(scale: int, degradation: str, gray: str, metric: str = "y", tta: str = "none") -> str:
    return (f"lb-x{int(scale)}-{slug(degradation)}" + ("" if gray == "rgb" else f"-gray-{slug(gray)}")
            + ("" if metric == "y" else f"-{slug(metric)}") + ("" if tta == "none" else f"-self-ensemble-{slug(tta)}"))


def track_label(scale: int, degradation: str, gray: str, metric: str = "y", tta: str = "none") -> str:
    return (f"×{int(scale)} {degradation}" + ("" if gray == "rgb" else f" · gray {gray}")
            + ("" if metric == "y" else " · NTIRE RGB PSNR") + ("" if tta == "none" else f" · self-ensemble {tta}"))


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
    metric: str = "y"
    tta: str = "none"  # 'x8': the self-ensemble track, never mixed with the single-pass one


def primary_protocol(summary: pd.DataFrame, profile: pd.DataFrame) -> str:
    have = set()
    for df in (summary, profile):
        if not df.empty and "protocol" in df:
            have |= set(df["protocol"].dropna().astype(str))
    if not have or PROTOCOL_VERSION in have:
        return PROTOCOL_VERSION
    return sorted(have)[-1]


def build_tracks(results_dir: Path, protocol: str, cards: dict[str, dict]) -> list[Track]:
    """Every leaderboard track of ``protocol`` in the results, with its rows, devices and deltas."""
    t = res.tracks(results_dir)
    t = t[t["protocol"] == protocol] if not t.empty else t
    summary = res.load(results_dir, "summary", protocol=protocol) if not t.empty else pd.DataFrame()
    out = []
    for r in t.itertuples():
        tr = Track(int(r.scale), str(r.degradation), str(r.gray), protocol,
                   track_slug(r.scale, r.degradation, r.gray, r.metric, r.tta),
                   track_label(r.scale, r.degradation, r.gray, r.metric, r.tta), metric=str(r.metric), tta=str(r.tta))
        lb = res.leaderboard(results_dir, tr.scale, tr.degradation, tr.gray, protocol=protocol, metric=tr.metric,
                             tta=tr.tta)
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
                    & (summary["gray"] == tr.gray) & (summary["metric"] == tr.metric) & (summary["tta"] == tr.tta)]
        # (set, ours - published, published, the card's known-issue reason or '')
        deltas: dict[str, list[tuple[str, float, float, str]]] = {}
        if not s.empty:
            lb_keys = set(zip(lb["variant"], lb["weights_sha256"], strict=True))
            s = s[[k in lb_keys for k in zip(s["variant"], s["weights_sha256"], strict=True)]]
            ap = attach_published(s, cards)
            for _, a in ap.iterrows():
                if not _nan(a["pub_psnr"]):
                    deltas.setdefault(a["variant"], []).append((a["dataset"], float(a["d_psnr"]), float(a["pub_psnr"]),
                                                                str(a["pub_known_issue"] or "")))
        # the row's source when it came from elsewhere (benchmark.site.sources); '' for ours
        sources: dict[str, str] = {}
        for df in (s, eff):
            if not df.empty and "source" in df.columns:
                for v, g in df.groupby("variant"):
                    sources.setdefault(v, "; ".join(sorted(set(g["source"].dropna().astype(str)) - {""})))
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
                "origin": row.get("origin") or "zoo", "weights_sha256": row.get("weights_sha256") or "",
                "source": sources.get(row["variant"], ""), "acc_device": row.get("acc_device") or "",
            })
        out.append(tr)
    return out


def track_plots(tr: Track, plot_dir: Path) -> None:
    """The track's Pareto plots (SVG) under ``plot_dir``, listed in ``tr.plots``."""

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
        front = [p.label for p in pareto_front(pts)]
        tr.plots.append({"file": f"plots/{fname}", "name": name, "front": front, "n": len(pts)})
