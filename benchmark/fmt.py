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
