"""Print published vs reproduced (Y PSNR/SSIM and their deltas) from a results folder, as markdown.

    python tools/published_table.py [RESULTS_DIR] [--gray rgb|y]

One row per (model, variant, scale), one column per standard set: ``ours / published (delta)``.
Rows a card marks ``known_issue`` carry a ``*``. Only rows whose source used this protocol's Y metric
are shown (see benchmark/compare.py for when a published number is comparable).
"""

from __future__ import annotations

import argparse

import pandas as pd

from benchmark import results
from benchmark.cards import load_cards
from benchmark.compare import attach_published

SETS = ["Set5", "Set14", "B100", "Urban100", "Manga109"]
LEGEND = """Published vs reproduced, {results}, bicubic degradation, gray convention '{gray}'.
Each cell: `ours vs published (ours - published)` Y-PSNR in dB `/` `ours vs published` SSIM; Y channel,
border = scale, srbench's protocol. `*`: the card marks that published number as a known issue (its
reason is on the model card and the site). Only Y-channel published numbers are shown (NTIRE RGB PSNR is not).
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("results_dir", nargs="?", default="results")
    ap.add_argument("--gray", default="rgb", choices=["rgb", "y"])
    args = ap.parse_args()
    s = results.load(args.results_dir, "summary")
    s = s[(s["gray"] == args.gray) & (s["degradation"] == "bicubic") & (s["status"].fillna("ok") == "ok")]
    a = attach_published(s, load_cards(args.results_dir))
    a = a[a["pub_psnr"].notna()]
    sets = [d for d in SETS if d in set(a["dataset"])]
    print(LEGEND.format(results=args.results_dir, gray=args.gray))
    print(f"| model | x | {' | '.join(sets)} |")
    print("|---|---|" + "---|" * len(sets))
    for (variant, tta, scale), g in a.groupby(["variant", "tta", "scale"], sort=True):
        cells = []
        for d in sets:
            r = g[g["dataset"] == d]
            if r.empty:
                cells.append("")
                continue
            r = r.iloc[0]
            star = "*" if r["pub_known_issue"] and abs(r["d_psnr"]) > 0.03 else ""
            ssim = "" if pd.isna(r["pub_ssim"]) else f"/{r['ssim']:.4f} vs {r['pub_ssim']:.4f}"
            cells.append(f"{r['psnr']:.2f} vs {r['pub_psnr']:.2f} ({r['d_psnr']:+.3f}){star}{ssim}")
        name = variant if tta == "none" else f"{variant} (self-ensemble {tta})"
        print(f"| {name} | {scale} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
