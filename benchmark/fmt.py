"""The one number formatter for what users read: terminal tables, ``check`` reports and the site.

    num(31.9876, 2)           -> '31.99'
    num(0.0312, 3, signed=True) -> '+0.031'
    num(float('nan'), 2)      -> ''        (missing: blank, or ``empty``)
    num(433_000, 3, div=1e6)  -> '0.433'   (units are the caller's: M params, G FLOPs, ...)
"""

from __future__ import annotations

import math


def missing(x) -> bool:
    """None, NaN, pandas NA, or an empty string."""
    if x is None or (isinstance(x, str) and not x):
        return True
    try:
        return bool(math.isnan(x))
    except TypeError:
        return str(x) in ("<NA>", "NaT", "nan")


def num(x, digits: int = 2, div: float = 1.0, *, signed: bool = False, empty: str = "") -> str:
    """``x / div`` with ``digits`` decimals (``+`` for positive values when ``signed``); ``empty`` if missing."""
    if missing(x):
        return empty
    v = float(x) / div
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


# What a profile row's ``memory_kind`` means, in words (the parquet keeps the short name).
MEMORY_LABELS = {
    "cpu_peak_rss_minus_baseline": "peak resident memory above the process's baseline (a fresh process per model)",
    "cpu_peak_rss_minus_baseline_unreset": "peak resident memory above the baseline (peak mark not reset: "
                                           "checkpoint loading included)",
    "cuda_max_allocated": "peak CUDA memory allocated (torch.cuda.max_memory_allocated)",
}


def memory_label(kinds: str) -> str:
    """``memory_kind`` (one name, or several joined by ', ') in words."""
    parts = [k.strip() for k in str(kinds or "").split(",") if k.strip()]
    return "; ".join(MEMORY_LABELS.get(k, k) for k in parts)


def busy_warnings(rows) -> list[str]:
    """One line per row timed while other processes used the machine (the row's ``busy`` flag)."""
    if rows.empty or "busy" not in rows.columns:
        return []
    out = []
    for _, r in rows[rows["busy"].fillna(False).astype(bool)].iterrows():
        out.append(f"{r['variant']} x{int(r['scale'])}: timed while other processes used "
                   f"{num(r['load_other_cores'], 2)} cores (flagged busy in the row); its runtime is not "
                   f"comparable: measure again on an idle machine")
    return out


def failure_summary(failures: list[str], total: int, what: str) -> list[str]:
    """The end-of-run failure list: a count line, then one line per failed job."""
    if not failures:
        return []
    return [f"\n{len(failures)} of {total} {what} had errors (status/error columns):", *(f"  {f}" for f in failures)]
