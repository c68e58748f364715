"""Bundles: the results of chosen models in one folder, to share them (``srbench export``).

    srbench export --models IMDN,MyNet --results results/ --out bundle/ --source-label "submitted by A. Author"
    srbench site --results results/ --results bundle/ --out site/     # shown next to the canonical rows
    srbench check --reference bundle/                                 # re-evaluate what it claims, here

A bundle is a folder:

* ``bundle.json``: format and format version, the source label, created_at, the srbench version,
  the protocols, the devices the rows were measured on, the models, the weights sha256 per variant,
  the environments of the runs, and the tables with their row counts;
* ``data/summary-train.parquet``: the summary rows, what ``datasets.load_dataset("parquet",
  data_dir=BUNDLE)`` loads. Its name carries the split keyword ``train`` because, with none, the
  ``datasets`` library reads every file under ``data_dir`` as parquet (``bundle.json`` included);
  with one, only the files that carry it;
* ``tables/{images,runs,profile,cards}.parquet``: the per-image rows, the runs, the efficiency rows and
  the card snapshots, written and read through the schema (:mod:`benchmark.schema`) like the store's;
* ``README.md``: a Hugging Face dataset card whose YAML header declares one config per table (the
  summary the default), so the folder is ready for ``push_to_hub`` / ``huggingface-cli upload``.

Every summary and profile row carries the label in its ``source`` column (a row that already had one,
re-exported, keeps it). :func:`open_source` reads a results folder or a bundle alike, for ``site`` and
``check``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import click
import pandas as pd

from benchmark import store
from benchmark.fsutil import replaced_folder

__all__ = ["ExportError", "Source", "open_source", "is_bundle", "export", "dataset_card", "export_command",
           "BUNDLE_FILE", "TABLE_FILES", "FORMAT", "FORMAT_VERSION"]

FORMAT = "srbench-bundle"
FORMAT_VERSION = 1
BUNDLE_FILE = "bundle.json"
TABLE_FILES = {"summary": "data/summary-train.parquet", "images": "tables/images.parquet",
               "runs": "tables/runs.parquet", "profile": "tables/profile.parquet", "cards": "tables/cards.parquet"}
LABELLED = ("summary", "profile")  # the tables with a ``source`` column
HF_TAGS = ("super-resolution", "image-super-resolution", "benchmark", "srbench")


class ExportError(store.StoreError):
    """A bundle cannot be written or read as asked; the message names the folder, file or model."""


# ------------------------------------------------------------------------------ reading sources


@dataclass(frozen=True)
class Source:
    """A results folder (``kind`` 'results', no label) or a bundle (``kind`` 'bundle', its label)."""

    path: Path
    kind: str
    label: str = ""
    info: dict = field(default_factory=dict, compare=False)  # bundle.json

    def read(self, table: str) -> pd.DataFrame:
        if self.kind == "results":
            return store.read(self.path, table)
        return store.read_file(self.path / TABLE_FILES[table], table)


def is_bundle(path: str | Path) -> bool:
    return (Path(path) / BUNDLE_FILE).is_file()


def open_source(path: str | Path) -> Source:
    """The results folder or bundle at ``path``; anything else is an :class:`ExportError` naming it."""
    p = Path(path)
    if not p.is_dir():
        raise ExportError(f"{p}: no such folder (expected a results folder or an srbench bundle)")
    if is_bundle(p):
        try:
            info = json.loads((p / BUNDLE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ExportError(f"{p / BUNDLE_FILE}: not readable JSON ({e})") from None
        if not isinstance(info, dict) or info.get("format") != FORMAT:
            raise ExportError(f"{p / BUNDLE_FILE}: not an srbench bundle manifest (format {FORMAT!r} expected)")
        if int(info.get("format_version", 0)) > FORMAT_VERSION:
            raise ExportError(f"{p}: bundle format version {info.get('format_version')}, this srbench reads up "
                              f"to {FORMAT_VERSION}; upgrade srbench")
        missing = [f for f in (TABLE_FILES["summary"],) if not (p / f).is_file()]
        if missing:
            raise ExportError(f"{p}: bundle without {missing[0]}")
        return Source(p, "bundle", str(info.get("source_label") or p.name), info)
    if any(store.table_path(p, t).is_file() for t in ("summary", "profile")):
        return Source(p, "results")
    raise ExportError(f"{p}: neither a results folder (no summary.parquet or profile.parquet) nor an srbench "
                      f"bundle (no {BUNDLE_FILE})")


# --------------------------------------------------------------------------------------- export


def _selected(frames: dict[str, pd.DataFrame], models: str | None, where: Path) -> pd.Series | None:
    """Lower-case names asked for (None: all), each checked to name a model or variant in the rows."""
    if not models or models.strip().lower() == "all":
        return None
    names = [n.strip() for n in models.split(",") if n.strip()]
    if not names:
        raise ExportError("--models is empty")
    have: set[str] = set()
    for t in ("summary", "profile"):
        df = frames[t]
        if not df.empty:
            have |= set(df["model"].astype(str)) | set(df["variant"].astype(str))
    lower = {h.lower() for h in have}
    for n in names:
        if n.lower() not in lower:
            raise ExportError(f"model {n}: not in the results {where} (they hold: {', '.join(sorted(have))})")
    return pd.Series([n.lower() for n in names])


def _rows_of(df: pd.DataFrame, names: pd.Series | None) -> pd.DataFrame:
    if df.empty or names is None:
        return df
    mask = df["model"].astype(str).str.lower().isin(names) | df["variant"].astype(str).str.lower().isin(names)
    return df[mask].reset_index(drop=True)


def _environments(runs: pd.DataFrame, profile: pd.DataFrame) -> list[dict]:
    seen, out = set(), []
    for df in (runs, profile):
        for text in (df["environment"].dropna() if "environment" in df.columns else []):
            try:
                env = json.loads(text)
            except (TypeError, ValueError):
                continue
            key = json.dumps(env, sort_keys=True)
            if isinstance(env, dict) and key not in seen:
                seen.add(key)
                out.append(env)
    return out


def _manifest(tables: dict[str, pd.DataFrame], label: str, license_id: str) -> dict:
    import benchmark
    from benchmark.results import device_label

    s, p = tables["summary"], tables["profile"]
    devices = set(s["device"].dropna().astype(str)) if "device" in s.columns else set()
    devices |= {device_label({**r, "source": None}) for _, r in p.iterrows()}  # the hardware, not who ran it
    weights: dict[str, set[str]] = {}
    models: dict[str, set[str]] = {}
    for df in (s, p):
        for _, r in df.iterrows():
            models.setdefault(str(r["model"]), set()).add(str(r["variant"]))
            if isinstance(r.get("weights_sha256"), str) and r["weights_sha256"]:
                weights.setdefault(str(r["variant"]), set()).add(r["weights_sha256"])
    cards = {str(r["model"]): r for _, r in tables["cards"].iterrows()}
    protocols = set()
    for df in (s, p):
        if "protocol" in df.columns:
            protocols |= set(df["protocol"].dropna().astype(str))
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "source_label": label,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "srbench_version": benchmark.__version__, "license": license_id, "protocols": sorted(protocols),
        "devices": sorted(devices),
        "models": [{"model": m, "variants": sorted(v), "origin": str(cards[m].get("origin") or "") if m in cards
                    else ""} for m, v in sorted(models.items())],
        "weights_sha256": {v: sorted(h) for v, h in sorted(weights.items())},
        "environments": _environments(tables["runs"], p),
        "tables": {t: {"file": TABLE_FILES[t], "rows": int(len(df))} for t, df in tables.items()},
    }


def _yaml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def dataset_card(info: dict) -> str:
    """The bundle's README.md: a Hugging Face dataset card (YAML header, then how to load and check it)."""
    n = info["tables"]["summary"]["rows"]
    size = "n<1K" if n < 1000 else "1K<n<10K" if n < 10_000 else "10K<n<100K"
    title = _yaml_str("srbench results, " + info["source_label"])
    head = ["---", f"license: {info['license']}", f"pretty_name: {title}",
            "task_categories:", "- image-to-image", "tags:", *[f"- {t}" for t in HF_TAGS], "size_categories:",
            f"- {size}", "configs:"]
    for t, meta in info["tables"].items():
        if meta["rows"] or t == "summary":
            head += [f"- config_name: {t}", f"  data_files: {meta['file']}"] + (["  default: true"] if t == "summary"
                                                                                else [])
    head.append("---")
    models = ", ".join(m["model"] for m in info["models"])
    counts = ", ".join(f"{t} {m['rows']}" for t, m in info["tables"].items())
    body = f"""
# srbench results: {info['source_label']}

Measured with srbench {info['srbench_version']} under protocol
{', '.join(f'`{p}`' for p in info['protocols']) or '-'}; exported {info['created_at']}.

* Models: {models or '-'}
* Devices: {'; '.join(info['devices']) or '-'}
* Rows: {counts}
* Checkpoints (sha256 per variant) and the environments of the runs: `bundle.json`

Accuracy is PSNR (dB) and SSIM (`metric` `y`: on the Y channel; `ntire_rgb`: on RGB), border = scale,
mean over each set's images (`summary`; per image in `images`). Runtime and memory (`profile`) hold
for the device named in each row only.

## Load

```python
from datasets import load_dataset

summary = load_dataset("parquet", data_dir="THIS_FOLDER")["train"]   # the summary rows
profile = load_dataset("THIS_FOLDER", "profile")["train"]            # a folder or Hub repo: one config per table
```

## Publish

```bash
huggingface-cli upload YOUR_NAME/YOUR_DATASET THIS_FOLDER --repo-type dataset
```

## Reproduce

```bash
srbench check --reference THIS_FOLDER                  # re-evaluates the summary rows here; fails on a moved number
srbench site --results results/ --results THIS_FOLDER  # these rows next to the canonical ones, labelled
```
"""
    return "\n".join(head) + "\n" + body


def export(results_dir: str | Path, out: str | Path, *, models: str | None = None, source_label: str,
           license_id: str = "cc-by-4.0") -> dict:
    """Write the bundle of ``models`` (comma list; None/'all': every model) from ``results_dir`` to ``out``
    (replaced atomically; a folder that is neither absent, empty nor a bundle is refused); returns the
    manifest written as ``bundle.json``."""
    results_dir, out = Path(results_dir), Path(out)
    label = (source_label or "").strip()
    if not label:
        raise ExportError("--source-label is empty: say who measured the rows (e.g. 'submitted by A. Author')")
    if not results_dir.is_dir():
        raise ExportError(f"results directory {results_dir} does not exist")
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not is_bundle(out))):
        raise ExportError(f"{out} exists and is not an srbench bundle (no {BUNDLE_FILE}); refusing to replace it")
    frames = {t: store.read(results_dir, t) for t in TABLE_FILES}
    names = _selected(frames, models, results_dir)
    tables = {t: _rows_of(frames[t], names) for t in ("summary", "images", "profile")}
    if tables["summary"].empty:
        raise ExportError(f"{results_dir}: no summary rows to export"
                          + (f" for {models}" if names is not None else "") + " (run 'srbench run' first)")
    for t in LABELLED:
        df = tables[t]
        if not df.empty:
            old = df["source"] if "source" in df.columns else pd.Series([None] * len(df), index=df.index)
            tables[t] = df.assign(source=old.where(old.notna() & (old.astype(str) != ""), label))
    run_ids = set()
    for df in tables.values():
        if "run_id" in df.columns:
            run_ids |= set(df["run_id"].dropna().astype(str))
    runs = frames["runs"]
    tables["runs"] = runs[runs["run_id"].astype(str).isin(run_ids)].reset_index(drop=True) if not runs.empty else runs
    chosen_models = set(tables["summary"]["model"].astype(str))
    if not tables["profile"].empty:
        chosen_models |= set(tables["profile"]["model"].astype(str))
    cards = frames["cards"]
    tables["cards"] = cards[cards["model"].astype(str).isin(chosen_models)].reset_index(drop=True) \
        if not cards.empty else cards
    tables = {t: tables[t] for t in TABLE_FILES}
    info = _manifest(tables, label, license_id)

    with replaced_folder(out, lambda e: ExportError(f"{out}: cannot write the bundle there ({e.strerror or e})")) \
            as tmp:
        for t, df in tables.items():
            if len(df) or t == "summary":
                (tmp / TABLE_FILES[t]).parent.mkdir(parents=True, exist_ok=True)
                store.write_file(tmp / TABLE_FILES[t], t, df)
        (tmp / BUNDLE_FILE).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(dataset_card(info), encoding="utf-8")
    return info


@click.command("export")
@click.option("--models", default="all", show_default=True, help="all, or a comma list of models or variants")
@click.option("--results", "results_dir", type=click.Path(file_okay=False), default=None,
              help=f"results folder to export from (default ${store.ENV_VAR}, else {store.default_results_dir()})")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="the bundle folder to write")
@click.option("--source-label", required=True, help="who measured the rows, e.g. 'submitted by A. Author (Lab)'")
@click.option("--license", "license_id", default="cc-by-4.0", show_default=True,
              help="the licence of the rows, as the dataset card's YAML header names it")
def export_command(models, results_dir, out_dir, source_label, license_id) -> None:
    """Write a bundle of results to share: rows, runs, card snapshots, environments, checkpoints' sha256,
    and a Hugging Face dataset card (the folder loads with datasets.load_dataset and is ready to upload)."""
    info = export(store.results_dir(results_dir), out_dir, models=models, source_label=source_label,
                  license_id=license_id)
    rows = ", ".join(f"{m['rows']} {t}" for t, m in info["tables"].items() if m["rows"])
    click.echo(f"bundle written to {out_dir} ({info['source_label']}): {len(info['models'])} model(s), {rows}; "
               f"devices: {'; '.join(info['devices']) or '-'}")
