"""Regenerate benchmark/manifests/datasets.tsv from the shared data's MANIFEST.tsv.

Run once by a maintainer when the canonical test sets change:
    python tools/make_dataset_manifest.py ../shared/datasets manga109_names.txt
It records, per file, the file sha256 (the bytes we verified) and a pixel sha256 (of the decoded
uint8 array, so a losslessly re-encoded PNG is still recognised), plus the public URL a user can
download it from. Manga109 may not be redistributed: only its 109 public page names are listed.
"""

import csv
import hashlib
import sys
from pathlib import Path

import numpy as np
from PIL import Image

# Where each source repository's files can be fetched (raw files at the pinned commit).
RAW = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"


def pixel_sha256(path: Path) -> str:
    with Image.open(path) as im:
        arr = np.asarray(im)
    h = hashlib.sha256(f"{arr.shape}|{arr.dtype}|".encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def main(shared_datasets: str, manga_names: str) -> None:
    root = Path(shared_datasets)
    out = Path(__file__).resolve().parent.parent / "benchmark" / "manifests" / "datasets.tsv"
    rows = []
    jpeg = {r["id"]: r for r in csv.DictReader(open(root / "B100_SOURCE_JPEGS.tsv"), delimiter="\t")}
    for r in csv.DictReader(open(root / "MANIFEST.tsv"), delimiter="\t"):
        repo, commit = r["source_repo"].split("@")
        name = Path(r["file"]).stem
        src_sha = ""
        if r["dataset"] == "B100":
            src_sha = jpeg[name]["source_jpeg_sha256"]  # the JPEG the PNG is decoded from
        rows.append([r["dataset"], name, r["width"], r["height"], r["mode"], r["sha256"],
                     pixel_sha256(root / Path(r["file"]).relative_to("datasets")),
                     RAW.format(repo=repo, commit=commit, path=r["source_path"]), src_sha])
    for name in Path(manga_names).read_text().split():
        w, h = ("742", "1072") if name == "PrayerHaNemurenai" else ("827", "1170")
        rows.append(["Manga109", name, w, h, "RGB", "", "", "", ""])
    with open(out, "w", newline="") as f:
        wr = csv.writer(f, delimiter="\t", lineterminator="\n")
        wr.writerow(["dataset", "name", "width", "height", "mode", "sha256", "pixels_sha256", "url",
                     "source_sha256"])
        wr.writerows(rows)
    print(f"wrote {len(rows)} rows to {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
