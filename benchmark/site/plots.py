"""Pareto plots (PSNR against params, FLOPs, runtime) as deterministic SVG, rendered at build time."""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

KIND_COLOURS = {"cnn": "#1f77b4", "mamba": "#d95f02", "transformer": "#2ca02c", "baseline": "#7f7f7f",
                "": "#9467bd"}


@dataclass(frozen=True)
class Point:
    label: str
    x: float
    y: float
    kind: str


def pareto_front(points: Sequence[Point]) -> list[Point]:
    """Points no other point beats on both axes (smaller x, higher y), in increasing x."""
    pts = sorted((p for p in points if _ok(p.x) and _ok(p.y)), key=lambda p: (p.x, -p.y, p.label))
    front, best = [], -math.inf
    for p in pts:
        if p.y > best:
            front.append(p)
            best = p.y
    return front


def _ok(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _mpl():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update({
        "svg.hashsalt": "srbench",  # fixed ids: the same data gives the same bytes
        "svg.fonttype": "none",  # text stays text (small files, the page's font)
        "font.family": "sans-serif",
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
    })
    return plt


def _tick_text(v: float, _pos=None) -> str:
    """Plain tick labels (no mathtext): 0.5, 3, 20, 100, 1k, 20k, 1M, 1G."""
    if v <= 0:
        return ""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:g}{suffix}"
    return f"{v:g}"


def _plain_log_ticks(ax) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(_tick_text))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _overlaps(a, b) -> bool:
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def pareto_svg(points: Sequence[Point], xlabel: str, ylabel: str, title: str,
               reference: Point | None = None) -> str:
    """An SVG scatter of ``points`` (log x) with the Pareto frontier marked; ``reference`` (e.g. bicubic,
    whose x is 0) is drawn as a dashed horizontal line."""
    plt = _mpl()
    pts = [p for p in points if _ok(p.x) and _ok(p.y) and p.x > 0]
    front = pareto_front(pts)
    on_front = {p.label for p in front}
    fig, ax = plt.subplots(figsize=(5.6, 3.9), dpi=100)
    # a fixed layout (no tight_layout): one draw less, and the same box whatever the labels
    fig.subplots_adjust(left=0.11, right=0.98, bottom=0.13, top=0.92)
    try:
        if not pts:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
        else:
            for kind in sorted({p.kind for p in pts}):
                sel = [p for p in pts if p.kind == kind]
                ax.scatter([p.x for p in sel], [p.y for p in sel], s=28, c=KIND_COLOURS.get(kind, "#9467bd"),
                           label=kind or "other", zorder=3, edgecolors="white", linewidths=0.6)
            if front:
                xs, ys = [p.x for p in front], [p.y for p in front]
                ax.step(xs, ys, where="post", color="#222222", lw=1.0, ls="-", zorder=2, label="Pareto frontier")
                ax.scatter(xs, ys, s=60, facecolors="none", edgecolors="#222222", linewidths=1.1, zorder=4)
            ax.set_xscale("log")
            _plain_log_ticks(ax)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(True, which="major", color="#e5e5e5", lw=0.6, zorder=0)
            # The y range holds the bulk of the models: a point far below them (an old, tiny model)
            # would squash the rest into a line, so it is named under the axis instead (the frontier
            # line still rises from it).
            ys = np.asarray(sorted(p.y for p in pts))
            q1, med, q3 = np.percentile(ys, [25, 50, 75])
            floor = med - max(0.5, 4.0 * (q3 - q1))
            shown = [p for p in pts if p.y >= floor]
            below = sorted((p for p in pts if p.y < floor), key=lambda p: (-p.y, p.label))
            ylo = min(p.y for p in shown)
            yhi = max(p.y for p in shown)
            spread = max(yhi - ylo, 0.2)
            under = [f"{p.label} {p.y:.2f} dB" for p in below]
            if reference is not None and _ok(reference.y) and reference.y < ylo - 1.5 * spread:
                under.append(f"{reference.label} {reference.y:.2f} dB")
            elif reference is not None and _ok(reference.y):
                ax.axhline(reference.y, color="#7f7f7f", ls="--", lw=0.8, zorder=1)
                ax.annotate(reference.label, (0.01, reference.y), xycoords=("axes fraction", "data"),
                            xytext=(2, 2), textcoords="offset points", fontsize=7, color="#555555")
                ylo = min(ylo, reference.y)
            if under:
                ax.annotate("below the axis: " + ", ".join(under), (0.01, 0.02), xycoords="axes fraction",
                            fontsize=7, color="#555555")
            pts = shown
            pad = max(0.05, (yhi - ylo) * 0.08)
            ax.set_ylim(ylo - pad * (2.5 if under else 1.0), yhi + pad * 1.6)
            xlo = min(p.x for p in [*pts, *below])
            xhi = max(p.x for p in [*pts, *below])
            ax.set_xlim(xlo / 1.35, xhi * 1.6)
            ax.set_title(title, fontsize=9, loc="left")
            ax.legend(fontsize=7, loc="best", frameon=False)
            _place_labels(fig, ax, pts, on_front)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "srbench"})
    finally:
        plt.close(fig)
    svg = buf.getvalue()
    fp = data_fingerprint(points, xlabel, ylabel, title, reference)
    return svg.replace("<svg ", f"<!-- {_FP_TAG}{fp} -->\n<svg ", 1)


_FP_TAG = "srbench-plot-data sha256="


def data_fingerprint(points: Sequence[Point], xlabel: str, ylabel: str, title: str,
                     reference: Point | None = None) -> str:
    """sha256 of everything a plot shows (points at full precision, labels, title).

    ``srbench site --check`` compares it when two SVGs differ in bytes: another matplotlib release
    writes the same plot with other bytes, and that must not fail CI, while changed data must."""
    def pt(p):
        return None if p is None else [p.label, repr(float(p.x)), repr(float(p.y)), p.kind]
    blob = json.dumps([[pt(p) for p in points], xlabel, ylabel, title, pt(reference)], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def svg_fingerprint(svg_text: str) -> str | None:
    """The data fingerprint written into an SVG by :func:`pareto_svg`, or None."""
    m = re.search(re.escape(_FP_TAG) + r"([0-9a-f]{64})", svg_text[:4096])
    return m.group(1) if m else None


def _place_labels(fig, ax, pts: Sequence[Point], on_front: set[str]) -> None:
    """Greedy label placement: each label takes the first candidate offset that overlaps nothing."""
    trans = ax.transData  # valid without drawing: the layout and the limits are fixed
    placed: list[tuple[float, float, float, float]] = []
    # the markers themselves are obstacles
    for p in pts:
        x, y = trans.transform((p.x, p.y))
        placed.append((x - 4, y - 4, x + 4, y + 4))
    cands = [(5, 3, "left"), (5, -10, "left"), (-5, 3, "right"), (-5, -10, "right"), (5, 10, "left"),
             (-5, 10, "right"), (5, -17, "left"), (-5, -17, "right")]
    bbox = ax.get_window_extent()
    for p in sorted(pts, key=lambda p: (p.label not in on_front, -p.y, p.label)):
        x, y = trans.transform((p.x, p.y))
        w, h = (6.0 if p.label in on_front else 5.4) * len(p.label) + 2, 10.0
        chosen = None
        for dx, dy, ha in cands:
            x0 = x + dx if ha == "left" else x + dx - w
            box = (x0, y + dy, x0 + w, y + dy + h)
            inside = box[0] >= bbox.x0 and box[2] <= bbox.x1 and box[1] >= bbox.y0 and box[3] <= bbox.y1
            if inside and not any(_overlaps(box, b) for b in placed):
                chosen = (dx, dy, ha, box)
                break
        if chosen is None:
            continue  # no room: the point stays unlabelled rather than covered (its name is in the table)
        dx, dy, ha, box = chosen
        placed.append(box)
        ax.annotate(p.label, (p.x, p.y), xytext=(dx, dy), textcoords="offset points", ha=ha, va="bottom",
                    fontsize=7, fontweight="bold" if p.label in on_front else "normal", color="#222222",
                    zorder=5)
