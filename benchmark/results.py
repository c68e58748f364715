"""Reading results: a small API over the parquet store, the leaderboard, and ``srbench results``.

    from benchmark import results
    results.load()                                         # every summary row (a DataFrame)
    results.load(table="summary", scale=4, dataset="Set5") # filters: column=value or column=[values]
    results.load(table="images", variant="IMDN", dataset="Set14")
    results.load(table="profile", device="cuda")
    results.leaderboard("results", scale=4, degradation="bicubic", gray="rgb")

``leaderboard`` gives one row per model variant of one *track* (scale, degradation, gray convention,
metric, tta, protocol): Y-channel PSNR/SSIM per test set (``psnr:<Set>``, ``ssim:<Set>``), params and
FLOPs (device-independent counts) and runtime/memory measured on ONE efficiency device, named in the
frame's ``attrs`` and in the ``eff_device`` column. Rows measured under another protocol, gray convention,
metric, self-ensemble, precision or device are never merged into the same column: pick them with the arguments.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from benchmark import store
from benchmark.cards import load_cards
from protocol import PROTOCOL_VERSION

__all__ = ["load", "leaderboard", "efficiency", "tracks", "ordered_sets", "device_label",
           "ResultsError", "STANDARD_SET_ORDER", "CANONICAL_PROFILE"]

STANDARD_SET_ORDER = ("Set5", "Set14", "B100", "Urban100", "Manga109")
# The efficiency settings a leaderboard column holds (others are shown on the model pages only).
CANONICAL_PROFILE = {"precision": "fp32", "channels_last": False, "compiled": False, "input_size": "256x256"}


class ResultsError(store.StoreError):
    """A results query that cannot be answered as asked; the message names the option to change."""


# ------------------------------------------------------------------------------------------- load


def _match(series: pd.Series, value) -> pd.Series:
    """Rows of ``series`` equal to ``value`` (or to any of a list of values), comparing as text when
    types differ (so ``scale=4`` and ``scale="4"`` both match an integer column)."""
    values = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
    mask = pd.Series(False, index=series.index)
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            mask |= series.isna()
            continue
        try:
            mask |= series == v
        except (TypeError, ValueError):
            pass
        mask |= series.astype(str).str.lower() == str(v).lower()
    return mask


def load(results_dir: str | Path = "results", table: str = "summary", **filters) -> pd.DataFrame:
    """Rows of one results table, filtered by column values.

    ``table``: ``summary`` (per model, variant, dataset, degradation, scale, gray; mean PSNR/SSIM),
    ``images`` (one row per image), ``profile`` (efficiency) or ``runs`` (each run's environment).
    ``filters``: ``column=value`` or ``column=[v1, v2]``; text compares case-insensitively. A column
    the table does not have raises :class:`ResultsError` naming the columns it has. A table that does
    not exist yet gives an empty frame.
    """
    df = store.read(results_dir, table)
    if df.empty:
        return df
    unknown = [k for k in filters if k not in df.columns]
    if unknown:
        raise ResultsError(f"{table}: no column {', '.join(map(repr, unknown))} to filter on "
                           f"(columns: {', '.join(df.columns)})")
    mask = pd.Series(True, index=df.index)
    for k, v in filters.items():
        mask &= _match(df[k], v)
    return df[mask].reset_index(drop=True)


# ------------------------------------------------------------------------------------ helpers


def ordered_sets(names: Iterable[str]) -> list[str]:
    """Test sets in the literature's order (Set5, Set14, B100, Urban100, Manga109), then the rest."""
    names = set(names)
    std = [s for s in STANDARD_SET_ORDER if s in names]
    return std + sorted(names - set(std), key=str.lower)


def device_label(row) -> str:
    """How an efficiency device is named: the GPU's name or the CPU with its threads, then the row's source if any."""
    name = str(row.get("device_name") or row.get("device") or "?")
    threads = row.get("threads")
    if not str(row.get("device", "")).startswith("cuda") and threads is not None and not pd.isna(threads):
        name += f", {int(threads)} thread{'s' if int(threads) != 1 else ''}"
    src = row.get("source")  # rows from a bundle (benchmark.export) never share a column with ours
    return name + (f" · {src}" if isinstance(src, str) and src else "")


def tracks(results_dir: str | Path = "results") -> pd.DataFrame:
    """The (scale, degradation, gray, metric, tta, protocol) combinations in the summary, with row counts."""
    s = store.read(results_dir, "summary")
    cols = ["scale", "degradation", "gray", "metric", "tta", "protocol", "n_rows", "n_variants"]
    if s.empty:
        return pd.DataFrame(columns=cols)
    g = s.groupby(cols[:6], dropna=False)
    out = g.size().rename("n_rows").to_frame().join(g["variant"].nunique().rename("n_variants")).reset_index()
    out["_d"] = out["degradation"].map(lambda d: f"{int(d != 'bicubic')}{d}")
    out = out.sort_values(["protocol", "metric", "tta", "_d", "scale", "gray"]).drop(columns="_d")
    return out.reset_index(drop=True)[cols]


def _resolve_protocol(df: pd.DataFrame, protocol: str | None, what: str) -> str:
    have = sorted(df["protocol"].dropna().unique()) if "protocol" in df else []
    if protocol is not None:
        return protocol
    if not have or PROTOCOL_VERSION in have:
        return PROTOCOL_VERSION
    if len(have) == 1:
        return have[0]
    raise ResultsError(f"{what} holds protocols {', '.join(have)} but not {PROTOCOL_VERSION}: choose one "
                       f"with --protocol")


def efficiency(results_dir: str | Path = "results", scale: int | None = None,
               protocol: str | None = None) -> pd.DataFrame:
    """Canonical efficiency rows (fp32, no channels_last, not compiled, 256x256 LR), one per
    (variant, scale, device label) -- the newest when a measurement was repeated -- with a
    ``device_label`` column. Params/FLOPs do not depend on the device; runtime/memory do."""
    p = store.read(results_dir, "profile")
    if p.empty:
        return p
    if "status" in p.columns:  # error rows (a model that failed or timed out) hold no figures
        p = p[p["status"].isna() | (p["status"] == "ok")]
    if scale is not None:
        p = p[p["scale"].astype(int) == int(scale)]
    if p.empty:
        return p
    proto = _resolve_protocol(p, protocol, "profile.parquet")
    p = p[p["protocol"] == proto]
    for k, v in CANONICAL_PROFILE.items():
        if k in p.columns:
            p = p[_match(p[k], v)]
    if p.empty:
        return p
    p = p.copy()
    p["device_label"] = [device_label(r) for _, r in p.iterrows()]
    order = "measured_at" if "measured_at" in p.columns else None
    if order:
        p = p.sort_values(order, kind="stable")
    p = p.drop_duplicates(["variant", "scale", "device_label"], keep="last")
    return p.sort_values(["variant", "scale", "device_label"]).reset_index(drop=True)


def _device_rank(labels: Sequence[str], p: pd.DataFrame) -> list[str]:
    """Efficiency devices that hold a runtime or memory figure (rows from ``--no-timing`` runs carry
    counts only), GPUs first, then by how many variants they cover, then by name."""
    timed = p[[c for c in ("runtime_ms", "memory_mb") if c in p.columns]].notna().any(axis=1) \
        if {"runtime_ms", "memory_mb"} & set(p.columns) else pd.Series(False, index=p.index)
    p = p[timed]
    labels = [d for d in labels if d in set(p["device_label"])]
    cover = p.groupby("device_label")["variant"].nunique()
    is_gpu = p.groupby("device_label")["device"].first().astype(str).str.startswith("cuda")
    return sorted(labels, key=lambda d: (not bool(is_gpu.get(d, False)), -int(cover.get(d, 0)), d))


def efficiency_devices(results_dir: str | Path = "results", scale: int | None = None,
                       protocol: str | None = None) -> list[str]:
    """Device labels that have canonical efficiency rows, preferred first (GPUs, widest coverage)."""
    p = efficiency(results_dir, scale, protocol)
    if p.empty:
        return []
    return _device_rank(list(p["device_label"].unique()), p)


# ---------------------------------------------------------------------------------- leaderboard

LEADERBOARD_BASE = ["model", "variant", "family", "kind", "origin", "has_weights", "weights_sha256"]
EFF_COLUMNS = ["params", "flops", "runtime_ms", "runtime_p10_ms", "runtime_p90_ms", "memory_mb"]


def _card_info(cards: dict[str, dict], model: str) -> dict:
    """The model's card snapshot in the results (``registered`` False when the results hold none)."""
    card = cards.get(model)
    if card is None:
        return {"family": "", "kind": "", "architecture_only": False, "registered": False, "origin": "zoo"}
    return {"family": card["family"], "kind": card["kind"], "architecture_only": bool(card["architecture_only"]),
            "registered": True, "origin": card.get("origin") or "zoo"}


def leaderboard(results_dir: str | Path = "results", scale: int = 4, degradation: str = "bicubic",
                gray: str = "rgb", protocol: str | None = None, device: str | None = None,
                include_unevaluated: bool = True, metric: str = "y", tta: str = "none") -> pd.DataFrame:
    """One row per model variant of the track (scale, degradation, gray, metric, tta, protocol).

    Columns: model, variant, family, kind, has_weights, weights_sha256, ``psnr:<Set>`` and
    ``ssim:<Set>`` per test set (sets in the literature's order), ``acc_device`` (where the accuracy
    was measured; accuracy does not depend on it beyond float rounding), params, flops (fvcore, one
    multiply-add = one FLOP, 1x3x256x256 LR), runtime_ms (median), runtime_p10_ms, runtime_p90_ms,
    memory_mb (MiB) and ``eff_device``. Runtime and memory come from ONE device: ``device`` (a device
    label, a substring of it such as ``H100`` or ``cpu``), else the preferred one (a GPU, the widest
    coverage). ``include_unevaluated`` adds variants that have efficiency rows at this scale but no
    accuracy in any track (architecture-only models; not on a tta 'x8' track). ``attrs`` holds: track,
    protocol, sets, eff_device, eff_devices (all available), memory_kind, acc_devices, notes.
    """
    proto_df = load(results_dir, "summary")
    notes: list[str] = []
    if not proto_df.empty:
        s = proto_df[_match(proto_df["scale"], int(scale)) & _match(proto_df["degradation"], degradation)
                     & _match(proto_df["gray"], gray) & _match(proto_df["metric"], metric)
                     & _match(proto_df["tta"], tta)]
    else:
        s = proto_df
    proto = _resolve_protocol(s if not s.empty else store.read(results_dir, "profile"), protocol,
                              "summary.parquet")
    if not s.empty:
        s = s[s["protocol"] == proto]
        if "status" in s.columns:  # items with failed images: their mean is not the set's score
            bad = s[s["status"].notna() & (s["status"] != "ok")]
            for _, r in bad.sort_values(["variant", "dataset"]).iterrows():
                n_err = r.get("n_errors")
                what = f"{int(n_err)}/{int(r['n_images'])} images failed" if not pd.isna(n_err) else "errors"
                notes.append(f"{r['variant']} on {r['dataset']}: run {r['status']} ({what}); not shown")
            s = s[s["status"].isna() | (s["status"] == "ok")]
        # the same variant measured with two checkpoints (weights changed): keep the newest, say so
        if "finished_at" in s.columns:
            s = s.sort_values("finished_at", kind="stable")
        newest = s.drop_duplicates(["variant"], keep="last")[["variant", "weights_sha256"]]
        stale = s.merge(newest, on=["variant", "weights_sha256"], how="left", indicator=True)
        dropped = stale[stale["_merge"] == "left_only"]["variant"].unique()
        for v in sorted(dropped):
            notes.append(f"{v}: rows from an older checkpoint (another sha256) left out")
        s = s.merge(newest, on=["variant", "weights_sha256"])
    sets = ordered_sets(s["dataset"].unique()) if not s.empty else []

    rows: dict[str, dict] = {}
    for _, r in (s.sort_values(["variant", "dataset"]) if not s.empty else s).iterrows():
        row = rows.setdefault(r["variant"], {
            "model": r["model"], "variant": r["variant"], "weights_sha256": r.get("weights_sha256", ""),
            "_acc_devices": set()})
        row[f"psnr:{r['dataset']}"] = float(r["psnr"])
        row[f"ssim:{r['dataset']}"] = float(r["ssim"])
        row["_acc_devices"].add(str(r.get("device", "")))

    eff = efficiency(results_dir, scale, protocol=proto if not s.empty else protocol)
    devices = _device_rank(list(eff["device_label"].unique()), eff) if not eff.empty else []
    chosen = None
    if device is not None:
        hits = [d for d in devices if device.lower() == d.lower()] or \
               [d for d in devices if device.lower() in d.lower()]
        if not hits:
            raise ResultsError(f"--device {device!r}: no efficiency rows at x{scale} on it "
                               f"(devices: {', '.join(devices) or 'none'})")
        if len(hits) > 1:
            raise ResultsError(f"--device {device!r} matches several devices: {'; '.join(hits)}")
        chosen = hits[0]
    elif devices:
        chosen = devices[0]
    memory_kind = ""
    evaluated = set(proto_df[proto_df["protocol"] == proto]["variant"]) if not proto_df.empty else set()
    if not eff.empty:
        has = eff["params"].isna() if "params" in eff.columns else pd.Series(True, index=eff.index)
        counts = (eff.assign(_no_counts=has).sort_values(["_no_counts", "device_label"])
                  .drop_duplicates("variant", keep="first").set_index("variant"))
        on_dev = eff[eff["device_label"] == chosen].set_index("variant") if chosen else eff.iloc[0:0]
        if len(on_dev) and "memory_kind" in on_dev:
            memory_kind = ", ".join(sorted(set(on_dev["memory_kind"].dropna().astype(str)) - {""}))
        for v in counts.index:
            if v not in rows:
                # efficiency-only rows: variants with no accuracy in any track of this protocol
                # (architecture-only models), never a measured model that merely lacks this track
                if not include_unevaluated or tta != "none" or v in evaluated:
                    continue
                rows[v] = {"model": counts.loc[v, "model"], "variant": v,
                           "weights_sha256": counts.loc[v].get("weights_sha256", "") or "", "_acc_devices": set()}
            row = rows[v]
            row["params"] = counts.loc[v].get("params", float("nan"))
            row["flops"] = counts.loc[v].get("flops", float("nan"))
            if v in on_dev.index:
                d = on_dev.loc[v]
                for k in ("runtime_ms", "runtime_p10_ms", "runtime_p90_ms", "memory_mb"):
                    row[k] = d.get(k, float("nan"))
                row["eff_device"] = chosen

    out_rows = []
    cards = load_cards(results_dir)
    for row in rows.values():
        info = _card_info(cards, row["model"])
        row["family"], row["kind"], row["origin"] = info["family"], info["kind"], info["origin"]
        if info["registered"]:
            row["has_weights"] = not info["architecture_only"]
        else:
            row["has_weights"] = bool(row.get("weights_sha256")) or any(k.startswith("psnr:") for k in row)
        row["acc_device"] = "; ".join(sorted(d for d in row.pop("_acc_devices") if d))
        out_rows.append(row)
    cols = (LEADERBOARD_BASE + [f"{m}:{d}" for d in sets for m in ("psnr", "ssim")] + ["acc_device"]
            + EFF_COLUMNS + ["eff_device"])
    df = pd.DataFrame(out_rows, columns=cols)
    for c in cols:
        if c.startswith(("psnr:", "ssim:")) or c in EFF_COLUMNS:
            df[c] = pd.to_numeric(df[c], errors="coerce")
    df["has_weights"] = df["has_weights"].fillna(False).astype(bool)
    # default order: PSNR on the first set (best first), unevaluated rows last, then name
    key = f"psnr:{sets[0]}" if sets else None
    if key:
        df = df.sort_values([key, "variant"], ascending=[False, True], na_position="last", kind="stable")
    else:
        df = df.sort_values("variant", kind="stable")
    df = df.reset_index(drop=True)
    acc_devices = sorted(set(s["device"].dropna().astype(str))) if not s.empty and "device" in s else []
    df.attrs.update(track={"scale": int(scale), "degradation": degradation, "gray": gray, "tta": tta}, protocol=proto,
                    sets=sets, eff_device=chosen or "", eff_devices=devices, memory_kind=memory_kind,
                    acc_devices=acc_devices, notes=notes)
    return df
