"""Several results folders and bundles on one site: ``srbench site --results results/ --results bundle/``.

:func:`combined` merges the sources, in the order given, into one temporary results folder that the
site renders as it renders any other:

* the first plain results folder is the canonical source: its rows are taken as they are, so the
  site of one results folder is byte for byte what it was;
* every other source's summary and profile rows carry its label in ``source`` (a bundle's label, a
  further results folder's name). A profile row's device label names its source
  (:func:`benchmark.results.device_label`) and so does a summary row's device: each leaderboard
  column holds one device label, so a runtime measured elsewhere gets columns of its own and never
  lands in the canonical device's, even on hardware of the same name;
* a row whose key an earlier source already gave is left out (the earlier one is shown), and a
  source's rows under another protocol than the site shows are left out by the tracks as ever; both
  are said, in the warnings and on the about page.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark import schema, store
from benchmark.export import LABELLED, Source, is_bundle, open_source
from benchmark.results import device_label
from benchmark.site.tracks import primary_protocol

CANONICAL = "canonical"


@dataclass
class Combined:
    folder: Path  # the results folder to render
    sources: list[dict] = field(default_factory=list)  # for the about page; empty for one results folder
    warnings: list[str] = field(default_factory=list)


def _labels(sources: Sequence[Source]) -> list[str]:
    out, canonical_seen = [], False
    for s in sources:
        if s.kind == "bundle":
            out.append(s.label)
        elif not canonical_seen:
            out.append("")
            canonical_seen = True
        else:
            out.append(f"results {s.path.name}")
    return out


def _labelled(table: str, df: pd.DataFrame, label: str) -> pd.DataFrame:
    if not label or table not in LABELLED or df.empty:
        return df
    df = df.assign(source=label)
    if table == "summary":
        dev = df["device"] if "device" in df.columns else pd.Series([None] * len(df), index=df.index)
        df["device"] = [f"{d} · {label}" if isinstance(d, str) and d else label for d in dev]
    return df


@contextmanager
def combined(paths: Sequence[str | Path]) -> Iterator[Combined]:
    """The folder to render for ``paths`` (one results folder: itself; else a merged temporary copy)."""
    if len(paths) == 1 and not is_bundle(paths[0]):
        yield Combined(Path(paths[0]))
        return
    sources = [open_source(p) for p in paths]
    labels = _labels(sources)
    names = [lab or CANONICAL for lab in labels]
    warnings: list[str] = []
    counts = [{"rows": 0, "left_out": 0, "other_protocol": 0} for _ in sources]
    with tempfile.TemporaryDirectory(prefix="srbench-site-sources-") as tmp:
        folder = Path(tmp)
        merged: dict[str, pd.DataFrame] = {}
        for table in store.TABLES:
            t = schema.table(table)
            parts = []
            for i, (src, label) in enumerate(zip(sources, labels, strict=True)):
                df = src.read(table)
                if df.empty:
                    continue
                extra = [c for c in df.columns if c not in t.columns]
                if extra:  # written by a newer srbench: shown without what this one cannot read
                    warnings.append(f"{names[i]}: {table} columns {', '.join(extra)} are not known here; left out")
                    df = df.drop(columns=extra)
                parts.append(schema.conform(table, _labelled(table, df, label)).assign(_source=i))
            if not parts:
                continue
            df = pd.concat(parts, ignore_index=True)
            dup = df[list(t.key)].astype(str).duplicated(keep="first")
            for i, n in (df[dup].groupby("_source").size().items() if table in LABELLED else []):
                counts[i]["left_out"] += int(n) if table == "summary" else 0
                warnings.append(f"{names[i]}: {n} {table} row(s) already given by an earlier source (same key); "
                                f"the earlier shown")
            merged[table] = df[~dup]
        protocol = primary_protocol(merged.get("summary", pd.DataFrame()), merged.get("profile", pd.DataFrame()))
        devices: dict[int, set[str]] = {i: set() for i in range(len(sources))}
        for table, df in merged.items():
            if table in LABELLED:
                for i, g in df.groupby("_source"):
                    devices[i] |= set(g["device"].dropna().astype(str)) if table == "summary" else \
                        {device_label(r) for _, r in g.iterrows()}
            if table == "summary":
                for i, g in df.groupby("_source"):
                    counts[i]["rows"] = len(g)
                    other = int((g["protocol"] != protocol).sum())
                    counts[i]["other_protocol"] = other
                    if other:
                        warnings.append(f"{names[i]}: {other} summary row(s) under another protocol than "
                                        f"{protocol}; not shown")
            store.upsert(folder, table, df.drop(columns="_source"))
        canonical = next((s for s, lab in zip(sources, labels, strict=True) if s.kind == "results" and not lab), None)
        if canonical is not None and (canonical.path / "visuals").is_dir():
            os.symlink((canonical.path / "visuals").resolve(), folder / "visuals")
        shown = []
        for i, (src, name, c) in enumerate(zip(sources, names, counts, strict=True)):
            info = src.info
            shown.append({"label": name, "kind": src.kind, "name": src.path.name, "canonical": name == CANONICAL,
                          "created_at": str(info.get("created_at", "")),
                          "srbench": str(info.get("srbench_version", "")),
                          "devices": "; ".join(sorted(devices[i])), **c})
        yield Combined(folder, shown, warnings)
