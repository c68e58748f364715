"""Per-image score differences between two results folders, over the rows they share.

    python tools/diff_scores.py results /tmp/rerun              # every shared (item, image) row
    python tools/diff_scores.py results /tmp/rerun --worst 10    # and the ten largest PSNR changes

For a change to the harness that must not move any score (e.g. issue #17: <= 1e-6 dB, <= 1e-7 SSIM):
re-run part of the zoo into a scratch folder with the new code, then compare it with the canonical
rows here. Rows are matched on the ``images`` table's full key (model, variant, set, degradation,
scale, gray convention, metric, self-ensemble, weights sha256, protocol, image); only rows that are
``ok`` in both count. Prints the maxima and exits 0; it judges nothing itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmark import schema, store  # noqa: E402


@click.command()
@click.argument("a", type=click.Path(exists=True, file_okay=False))
@click.argument("b", type=click.Path(exists=True, file_okay=False))
@click.option("--worst", default=0, type=int, help="also list the N rows whose PSNR moved most")
def main(a: str, b: str, worst: int) -> None:
    key = list(schema.IMAGES.key)
    ia, ib = (store.read(p, "images") for p in (a, b))
    ia, ib = (t[t["status"] == "ok"] for t in (ia, ib))
    both = ia.merge(ib, on=key, suffixes=("_a", "_b"))
    if both.empty:
        click.echo(f"no ok rows shared by {a} and {b}")
        return
    both["d_psnr"] = (both["psnr_b"] - both["psnr_a"]).abs()
    both["d_ssim"] = (both["ssim_b"] - both["ssim_a"]).abs()
    items = both.groupby(["variant", "dataset", "degradation", "scale"]).size()
    click.echo(f"{len(both)} shared image rows in {len(items)} items ({both['variant'].nunique()} models)")
    click.echo(f"max |dPSNR| {both['d_psnr'].max():.3g} dB   max |dSSIM| {both['d_ssim'].max():.3g}   "
               f"rows with any change: {int(((both['d_psnr'] > 0) | (both['d_ssim'] > 0)).sum())}")
    per_model = both.groupby("variant")[["d_psnr", "d_ssim"]].max()
    moved = per_model[(per_model["d_psnr"] > 0) | (per_model["d_ssim"] > 0)]
    for name, r in moved.sort_values("d_psnr", ascending=False).iterrows():
        click.echo(f"  {name:<28} max |dPSNR| {r['d_psnr']:.3g} dB  max |dSSIM| {r['d_ssim']:.3g}")
    if worst:
        cols = ["variant", "dataset", "image", "psnr_a", "psnr_b", "d_psnr", "d_ssim"]
        click.echo(both.nlargest(worst, "d_psnr")[cols].to_string(index=False))


if __name__ == "__main__":
    main()
