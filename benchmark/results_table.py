"""``srbench results``: one track's leaderboard (:func:`benchmark.results.leaderboard`) as a text table,
with its units, devices and protocol in the header."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from benchmark import store
from benchmark.fmt import memory_label, num
from benchmark.results import ResultsError, leaderboard, tracks
from protocol import PROTOCOL_VERSION


def format_leaderboard(df: pd.DataFrame) -> str:
    """The leaderboard as a fixed-width text table with units, device and protocol in the header."""
    a = df.attrs
    t = a.get("track", {})
    sc = t.get("scale", "?")
    lines = [
        f"Leaderboard x{sc}, degradation {t.get('degradation', '?')}, gray convention '{t.get('gray', '?')}', "
        f"protocol {a.get('protocol', '?')}",
        f"Accuracy: Y-channel PSNR (dB) / SSIM, border {sc} px, mean over each set's images"
        + (", x8 self-ensemble (one pass's efficiency below; it costs 8)" if t.get("tta") == "x8" else "") + "; "
        f"measured on: {'; '.join(a.get('acc_devices', [])) or '-'}",
    ]
    if a.get("eff_device"):
        mem = memory_label(a.get("memory_kind")) or "?"
        lines.append(f"Efficiency: Params (M); FLOPs (G; fvcore, 1 multiply-add = 1 FLOP, 1x3x256x256 LR input); "
                     f"Time (ms, median of timed forward passes, fp32) and Mem (MiB, {mem}) on {a['eff_device']}")
        others = [d for d in a.get("eff_devices", []) if d != a["eff_device"]]
        if others:
            lines.append(f"  also measured on: {'; '.join(others)} (choose with --device)")
    else:
        lines.append("Efficiency: no profile rows at this scale (run 'srbench profile')")
    if df.empty:
        lines.append("(no results for this track)")
        return "\n".join(lines)
    sets = a.get("sets", [])
    head = f"{'model':<18} {'kind':<8} " + " ".join(f"{s[:14]:>14}" for s in sets) + \
        f" {'Params[M]':>9} {'FLOPs[G]':>8} {'Time[ms]':>9} {'Mem[MiB]':>9}"
    sub = f"{'':<18} {'':<8} " + " ".join(f"{'PSNR / SSIM':>14}" for _ in sets)
    lines += ["", head, sub, "-" * len(head)]
    for _, r in df.iterrows():
        cells = []
        for s in sets:
            p, q = r.get(f"psnr:{s}"), r.get(f"ssim:{s}")
            cells.append(f"{num(p, 2) + ' / ' + num(q, 4) if not pd.isna(p) else '-':>14}")
        name = str(r["variant"]) + ("" if r["has_weights"] else " *") + (" [ext]" if r["origin"] != "zoo" else "")
        lines.append(f"{name:<18} {str(r['kind'])[:8]:<8} " + " ".join(cells) +
                     f" {num(r['params'], 3, 1e6):>9} {num(r['flops'], 2, 1e9):>8} {num(r['runtime_ms'], 2):>9} "
                     f"{num(r['memory_mb'], 1):>9}")
    if not df["has_weights"].all():
        lines.append("* no published checkpoint (architecture only): efficiency, no accuracy")
    lines += [f"[ext] {r.variant}: external ({'a plugin' if r.origin == 'plugin' else '--arch'}), not part of the "
              f"zoo; checkpoint sha256 {str(r.weights_sha256 or '-')[:16]}"
              for r in df[df["origin"] != "zoo"].itertuples()]
    for n in a.get("notes", []):
        lines.append(f"note: {n}")
    return "\n".join(lines)


@click.command("results")
@click.option("--results", "results_dir", type=click.Path(file_okay=False), default=None,
              help=f"results folder (default ${store.ENV_VAR}, else {store.default_results_dir()})")
@click.option("--scale", default=4, show_default=True, type=int)
@click.option("--degradation", default="bicubic", show_default=True)
@click.option("--gray", type=click.Choice(["rgb", "y"]), default="rgb", show_default=True,
              help="single-channel convention of the rows to show")
@click.option("--metric", type=click.Choice(["y", "ntire_rgb"]), default="y", show_default=True,
              help="y: Y-channel PSNR/SSIM; ntire_rgb: the NTIRE ESR challenges' RGB PSNR/SSIM")
@click.option("--self-ensemble", is_flag=True, help="the x8 self-ensemble track (rows run with --self-ensemble)")
@click.option("--protocol", default=None, help=f"protocol version (default {PROTOCOL_VERSION} when present)")
@click.option("--device", default=None,
              help="efficiency device (a name or part of it, e.g. H100 or cpu; default: a GPU if measured)")
@click.option("--format", "fmt", type=click.Choice(["table", "csv"]), default="table", show_default=True)
def results_command(results_dir, scale, degradation, gray, metric, self_ensemble, protocol, device, fmt) -> None:
    """Print the leaderboard of one track (scale x degradation) from the results directory."""
    results_dir = store.results_dir(results_dir)
    if not Path(results_dir).is_dir():
        raise ResultsError(f"results directory {results_dir} does not exist (run 'srbench run' first)")
    tta = "x8" if self_ensemble else "none"
    df = leaderboard(results_dir, scale, degradation.lower(), gray, protocol, device, metric=metric, tta=tta)
    if df.empty:
        have = ", ".join(f"x{r.scale} {r.degradation} gray={r.gray} metric={r.metric} tta={r.tta} ({r.protocol})"
                         for r in tracks(results_dir).itertuples())
        raise ResultsError(f"no results for x{scale} {degradation} gray={gray} metric={metric} tta={tta} in "
                           f"{results_dir} (tracks there: {have or 'none'})")
    if fmt == "csv":
        click.echo(df.to_csv(index=False), nl=False)
        return
    click.echo(format_leaderboard(df))
