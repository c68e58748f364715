"""Published versus reproduced: lining up the cards' claimed numbers with measured ones.

A published number is compared only under the convention its source used: Y-channel rows
(``metric == 'y'``) against our Y PSNR, and only when the source's gray convention matches the run's
or the set has no single-channel image (then the two conventions give identical numbers).
NTIRE RGB-protocol rows are never compared with Y numbers. A number the card marks as self-ensembled
(``tta == 'x8'``, the papers' "+" rows) is compared only with rows run with ``--self-ensemble``, and a
single-pass number (``tta == 'none'``) only with single-pass rows.

The published numbers come from the card snapshots stored with the results (:mod:`benchmark.cards`),
so a comparison needs only the results folder.
"""

from __future__ import annotations

import pandas as pd

# Sets whose images include a single-channel one (Set14 bridge): here the gray convention matters.
SETS_WITH_GRAY = {"Set14"}


PUBLISHED_COLUMNS = ["model", "variant", "dataset", "scale", "degradation", "metric", "tta", "gray", "psnr",
                     "ssim", "source", "notes", "known_issue"]


def published_table(cards: dict[str, dict]) -> pd.DataFrame:
    """Every published number on every card record (:func:`benchmark.cards.load_cards`), one row each."""
    rows = []
    for name, card in cards.items():
        for p in card["published"]:
            rows.append({**{k: p.get(k) for k in PUBLISHED_COLUMNS if k in p}, "model": name,
                         "variant": p.get("variant") or name,
                         "tta": p.get("tta") or "none"})  # card snapshots older than the field: one pass
    return pd.DataFrame(rows, columns=PUBLISHED_COLUMNS)


def attach_published(summary: pd.DataFrame, cards: dict[str, dict]) -> pd.DataFrame:
    """``summary`` plus ``pub_psnr``, ``pub_ssim``, ``pub_source``, ``pub_known_issue`` (the card's reason
    why that number is known not to reproduce, or ''), ``d_psnr``, ``d_ssim``.

    When a source lists several rows for one key (a paper table and the authors' own logs), the
    first one on the card is used.
    """
    out = summary.copy()
    pub = published_table(cards)
    cols = {"pub_psnr": [], "pub_ssim": [], "pub_source": [], "pub_known_issue": []}
    for _, r in out.iterrows():
        # a published number is compared only under its own metric: Y rows with Y rows, NTIRE RGB with RGB
        # and a self-ensembled one only with self-ensembled rows
        m = pub[(pub["metric"] == r.get("metric", "y")) & (pub["tta"] == (r.get("tta") or "none"))
                & (pub["model"] == r["model"])
                & (pub["variant"] == r["variant"]) &
                (pub["dataset"] == r["dataset"]) & (pub["scale"] == r["scale"]) &
                (pub["degradation"] == r["degradation"])]
        if r["dataset"] in SETS_WITH_GRAY:
            m = m[m["gray"] == r["gray"]]
        if len(m):
            cols["pub_psnr"].append(m.iloc[0]["psnr"])
            cols["pub_ssim"].append(m.iloc[0]["ssim"])
            cols["pub_source"].append(m.iloc[0]["source"])
            cols["pub_known_issue"].append(m.iloc[0]["known_issue"])
        else:
            cols["pub_psnr"].append(float("nan"))
            cols["pub_ssim"].append(float("nan"))
            cols["pub_source"].append("")
            cols["pub_known_issue"].append("")
    for k, v in cols.items():
        out[k] = v
    out["d_psnr"] = out["psnr"] - out["pub_psnr"]
    out["d_ssim"] = out["ssim"] - out["pub_ssim"]
    return out


def missing_reason(card: dict | None, dataset: str, scale: int, degradation: str = "bicubic",
                   tta: str = "none") -> str:
    """Why a measured row has no published number to compare with (for the blank cells' footnote)."""
    if card is None:
        return "no card in these results"
    pubs = card.get("published") or []
    if not pubs:
        return "the card publishes no numbers"
    y = [p for p in pubs if p.get("metric", "y") == "y"]
    if not y:
        return "the card publishes only NTIRE RGB PSNR (DIV2K/LSDIR), which is not comparable with Y PSNR"
    here = [p for p in y if p["dataset"] == dataset and int(p["scale"]) == int(scale)
            and p.get("degradation", "bicubic") == degradation]
    if not here:
        return f"no published {dataset} x{scale} {degradation} number"
    if not any((p.get("tta") or "none") == tta for p in here):
        return ("the published number is self-ensembled (x8): it is compared with the --self-ensemble rows"
                if tta == "none" else "the published number is a single pass: it is compared with the plain rows")
    return "the published number uses the other gray convention on this set"
