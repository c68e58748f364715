"""Published versus reproduced: lining up the cards' claimed numbers with measured ones.

A published number is compared only under the convention its source used: Y-channel rows
(``metric == 'y'``) against our Y PSNR, and only when the source's gray convention matches the run's
or the set has no single-channel image (then the two conventions give identical numbers).
NTIRE RGB-protocol rows are never compared with Y numbers.
"""

from __future__ import annotations

import pandas as pd

import registry

# Sets whose images include a single-channel one (Set14 bridge): here the gray convention matters.
SETS_WITH_GRAY = {"Set14"}


def published_table() -> pd.DataFrame:
    """Every published number on every card, one row each."""
    rows = []
    for card in registry.cards():
        for p in card.published:
            rows.append({
                "model": card.name, "variant": p.variant or card.name, "dataset": p.dataset,
                "scale": p.scale, "degradation": p.degradation, "metric": p.metric, "gray": p.gray,
                "psnr": p.psnr, "ssim": p.ssim, "source": p.source, "notes": p.notes,
                "known_issue": p.known_issue,
            })
    return pd.DataFrame(rows, columns=["model", "variant", "dataset", "scale", "degradation", "metric",
                                       "gray", "psnr", "ssim", "source", "notes", "known_issue"])


def attach_published(summary: pd.DataFrame) -> pd.DataFrame:
    """``summary`` plus ``pub_psnr``, ``pub_ssim``, ``pub_source``, ``pub_known_issue`` (the card's reason
    why that number is known not to reproduce, or ''), ``d_psnr``, ``d_ssim``.

    When a source lists several rows for one key (a paper table and the authors' own logs), the
    first one on the card is used.
    """
    out = summary.copy()
    pub = published_table()
    pub = pub[pub["metric"] == "y"]
    cols = {"pub_psnr": [], "pub_ssim": [], "pub_source": [], "pub_known_issue": []}
    for _, r in out.iterrows():
        m = pub[(pub["model"] == r["model"]) & (pub["variant"] == r["variant"]) &
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
