"""Card snapshots: the registry's model cards written into the results (table ``cards``).

A results folder then says by itself what each measured model is (paper, checkpoints with sha256 and
licence, published numbers, challenge entry), as it was when it was measured, so that the site and
the published-vs-reproduced comparison read the results alone and need neither torch nor the registry.
``run`` and ``profile`` snapshot the cards they measure; :func:`card_record` reads a snapshot back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from benchmark import store


def _weights(card) -> list[dict]:
    return [{"file": w.file, "variant": w.variant or card.name, "scales": list(w.scales), "sha256": w.sha256,
             "url": w.url, "license": w.license, "input_range": w.input_range, "source": w.source,
             "notes": w.notes, "state_key": w.state_key or "", "strip_prefix": w.strip_prefix or ""}
            for w in card.weights]


def snapshot(cards: Iterable, modules: dict[str, str] | None = None) -> pd.DataFrame:
    """One ``cards`` row per card (``modules``: card name -> the module that registered it)."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rows = []
    for c in cards:
        rows.append({
            "model": c.name, "family": c.family, "kind": c.kind,
            "paper": json.dumps(asdict(c.paper) if c.paper else None),
            "scales": ",".join(str(s) for s in c.scales), "colour": c.colour, "input_range": float(c.input_range),
            "notes": c.notes, "config": json.dumps(c.config, default=str),
            "weights": json.dumps(_weights(c)),
            "published": json.dumps([asdict(p) for p in c.published]),
            "challenge": json.dumps(asdict(c.challenge) if c.challenge else None),
            "variants": json.dumps(c.variants()), "architecture_only": bool(c.architecture_only),
            "module": (modules or {}).get(c.name, ""), "snapshot_at": now,
            "origin": c.origin,
        })
    return pd.DataFrame(rows)


def store_cards(results_dir: str | Path, cards: Iterable, modules: dict[str, str] | None = None) -> None:
    """Upsert the snapshots of ``cards`` (the newest snapshot of a model replaces the older one)."""
    df = snapshot(cards, modules)
    if not df.empty:
        store.upsert(results_dir, "cards", df)


def card_record(row) -> dict:
    """A ``cards`` row with its JSON columns decoded (paper, config, weights, published, ...)."""
    out = dict(row)
    for k in ("paper", "config", "weights", "published", "challenge", "variants"):
        v = out.get(k)
        out[k] = json.loads(v) if isinstance(v, str) and v else ([] if k != "paper" and k != "challenge" else None)
    out["scales"] = [int(s) for s in str(out.get("scales") or "").split(",") if s]
    return out


def load_cards(results_dir: str | Path) -> dict[str, dict]:
    """model name -> decoded card record, for every card snapshotted in ``results_dir``."""
    df = store.read(results_dir, "cards")
    return {} if df.empty else {str(r["model"]): card_record(r) for _, r in df.iterrows()}
