"""The challenge view: challenge entries grouped by challenge and year, scored by the challenge's own
rule on srbench's own measurements (one device), next to their standard-set accuracy.

The question it answers, which a challenge report cannot: does the efficiency ranking survive on the
standard sets? Everything comes from a results folder (card snapshots, ``profile``, ``summary``).

Scoring rules, with their sources (a year without a rule here is shown unscored, never guessed):

- NTIRE 2025 ESR: per metric ``score = exp(2 * metric / metric_baseline)`` for runtime, FLOPs and
  params, ``final = 0.7 * runtime + 0.15 * FLOPs + 0.15 * params``, baseline EFDN; lower is better.
  Source: "The Tenth NTIRE 2025 Efficient Super-Resolution Challenge Report" (arXiv 2504.10686), the
  scoring function of its evaluation section; the organizers' repository (Amazingren/NTIRE2025_ESR)
  names EFDN as the baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmark import results as res
from benchmark.cards import load_cards

STANDARD = ("Set5", "Set14", "B100", "Urban100")


@dataclass(frozen=True)
class Rule:
    challenge: str
    baseline: str  # model name of the baseline the metrics are divided by
    weights: dict  # metric -> weight; metrics: runtime_ms, flops, params
    text: str  # the rule as written in the source
    source: str


RULES = {
    "NTIRE 2025 ESR": Rule(
        "NTIRE 2025 ESR", "EFDN", {"runtime_ms": 0.7, "flops": 0.15, "params": 0.15},
        "Score_m = exp(2 × m / m_EFDN) for m in {runtime, FLOPs, params}; "
        "Score = 0.7 Score_runtime + 0.15 Score_FLOPs + 0.15 Score_params (lower is better)",
        "The Tenth NTIRE 2025 Efficient Super-Resolution Challenge Report, arXiv 2504.10686 "
        "(https://arxiv.org/abs/2504.10686); baseline EFDN per Amazingren/NTIRE2025_ESR"),
}


def score(rule: Rule, row: dict, base: dict) -> float:
    """The rule's final score of ``row`` against ``base`` (NaN when a figure is missing)."""
    total = 0.0
    for m, w in rule.weights.items():
        x, b = row.get(m), base.get(m)
        if x is None or b is None or pd.isna(x) or pd.isna(b) or not b:
            return math.nan
        total += w * math.exp(2.0 * float(x) / float(b))
    return total


def _efficiency(results_dir: Path) -> tuple[pd.DataFrame, str]:
    """Params/FLOPs and the runtime on ONE device: the device (label) that times the most x4 models."""
    eff = res.efficiency(results_dir, 4)
    if eff.empty:
        return eff, ""
    timed = eff[eff["runtime_ms"].notna()]
    device = timed["device_label"].value_counts().idxmax() if not timed.empty else ""
    counts = eff.sort_values("params", na_position="last").drop_duplicates("variant").set_index("variant")
    on_dev = eff[eff["device_label"] == device].set_index("variant")
    out = counts[["model", "params", "flops"]].copy()
    out["runtime_ms"] = on_dev["runtime_ms"].reindex(out.index)
    out["busy"] = on_dev["busy"].reindex(out.index) if "busy" in on_dev.columns else False
    return out, device


def challenge_view(results_dir: str | Path) -> list[dict]:
    """One group per (challenge, year): rule, device, baseline, and per entry its figures, score, our
    efficiency rank, and PSNR (and rank) on each standard set at x4 (bicubic, Y, gray 'rgb')."""
    results_dir = Path(results_dir)
    cards = load_cards(results_dir)
    eff, device = _efficiency(results_dir)
    lb = res.leaderboard(results_dir, 4, "bicubic", "rgb", include_unevaluated=False)
    acc = lb.set_index("variant") if not lb.empty else pd.DataFrame()
    groups: dict[tuple[str, int], list[dict]] = {}
    for name, card in cards.items():
        ch = card.get("challenge")
        if not ch:
            continue
        row = {"model": name, "team": ch.get("team"), "team_name": ch.get("team_name", ""),
               "solution": ch.get("solution", ""), "official_rank": ch.get("rank"), "kind": card.get("kind", ""),
               "params": math.nan, "flops": math.nan, "runtime_ms": math.nan, "busy": False, "score": math.nan}
        if name in eff.index:
            row.update({k: eff.loc[name, k] for k in ("params", "flops", "runtime_ms")})
            row["busy"] = str(eff.loc[name, "busy"]) == "True"
        for s in STANDARD:
            row[f"psnr:{s}"] = acc.loc[name].get(f"psnr:{s}") if name in acc.index else math.nan
        groups.setdefault((ch["challenge"], int(ch["year"])), []).append(row)
    out = []
    for (challenge, year), rows in sorted(groups.items(), key=lambda kv: (-kv[0][1], kv[0][0])):
        rule = RULES.get(challenge)
        base = None
        if rule is not None and rule.baseline in eff.index:
            base = {k: eff.loc[rule.baseline, k] for k in ("params", "flops", "runtime_ms")}
            for r in rows:
                r["score"] = score(rule, r, base)
        _rank(rows, "score" if base else None, "eff_rank")
        for s in STANDARD:
            _rank(rows, f"psnr:{s}", f"rank:{s}", descending=True)
        rows.sort(key=lambda r: (r.get("eff_rank") or 10**6, r["model"].lower()))
        base_acc = {s: acc.loc[rule.baseline].get(f"psnr:{s}") if rule and rule.baseline in acc.index else math.nan
                    for s in STANDARD}
        out.append({"challenge": challenge, "year": year, "rule": rule, "device": device, "baseline": base,
                    "baseline_psnr": base_acc, "rows": rows, "sets": STANDARD,
                    "agreement": _agreement(rows)})
    return out


def _rank(rows: list[dict], key: str | None, into: str, descending: bool = False) -> None:
    have = [r for r in rows if key and not pd.isna(r.get(key, math.nan))]
    have.sort(key=lambda r: r[key], reverse=descending)
    for i, r in enumerate(have, 1):
        r[into] = i
    for r in rows:
        r.setdefault(into, None)


def _agreement(rows: list[dict]) -> dict:
    """Kendall's tau between the efficiency-score order and the PSNR order on each set (scored rows)."""
    out = {}
    for s in STANDARD:
        pairs = [(r["eff_rank"], r[f"rank:{s}"]) for r in rows if r.get("eff_rank") and r.get(f"rank:{s}")]
        n = len(pairs)
        if n < 3:
            continue
        conc = disc = 0
        for i in range(n):
            for j in range(i + 1, n):
                d = (pairs[i][0] - pairs[j][0]) * (pairs[i][1] - pairs[j][1])
                conc += d > 0
                disc += d < 0
        out[s] = (conc - disc) / (n * (n - 1) / 2)
    return out
