"""Test sets in the Hugging Face layout: ``srbench data fetch --datasets Set5 --source hf:<repo or folder>``.

The layout: parquet files with ``HR`` and ``LR`` image columns, each image as the ``datasets``
library stores an ``Image`` feature, a struct of ``bytes`` (the encoded file) and ``path`` (its file
name; the file itself when ``bytes`` is empty, as ``Dataset.to_parquet`` leaves images given by path).
Only ``HR`` is read: srbench makes every LR image from HR by the protocol's MATLAB-exact bicubic, so a
published LR can never move a number. An image is named by the stem of its ``path``, else by a
``name``, ``image`` or ``filename`` column.

The files of one set are those whose path names it (``Set5/test-0.parquet``, ``data/Set5-00000.parquet``),
or every file when none names a known set. Every image must be one the manifest lists, with its sha256
(or, re-encoded losslessly, its pixels), and every listed image must be there: all are checked before
:func:`benchmark.data.fetch` stages and swaps the set in, so a bad source writes nothing.

``<repo>`` is a local folder, or a Hub dataset id (``owner/name``) fetched with
``huggingface_hub.snapshot_download`` (``pip install 'srbench[hf]'``).
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from benchmark import data as data_mod
from benchmark.data import DataError

PREFIX = "hf:"
NAME_COLUMNS = ("name", "image", "filename")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def source_folder(spec: str) -> Path:
    """The local folder of ``hf:<repo or folder>`` (a Hub repo is downloaded first)."""
    where = spec[len(PREFIX):] if spec.startswith(PREFIX) else spec
    folder = Path(where).expanduser()
    if folder.is_dir():
        return folder
    if not _REPO_ID.match(where):
        raise DataError(f"{PREFIX}{where}: neither a local folder nor a Hugging Face dataset id (owner/name)")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise DataError(f"{PREFIX}{where}: reading from the Hugging Face Hub needs huggingface_hub "
                        f"(pip install 'srbench[hf]')") from None
    try:
        return Path(snapshot_download(repo_id=where, repo_type="dataset", allow_patterns=["*.parquet", "**/*.parquet"]))
    except Exception as e:  # network, authentication, a missing repo: the Hub's errors are many types
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise DataError(f"{PREFIX}{where}: cannot download from the Hugging Face Hub "
                        f"({type(e).__name__}: {first[:160]})") from None


def _files_of(folder: Path, name: str) -> list[Path]:
    files = sorted(p for p in folder.rglob("*.parquet") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise DataError(f"{folder}: no parquet files (expected the layout: parquet with HR and LR image columns)")

    def names(p: Path, set_name: str) -> bool:
        parts = [x.lower() for x in p.relative_to(folder).parts]
        return any(x == set_name.lower() or re.match(rf"{re.escape(set_name.lower())}[-_.]", x) for x in parts)

    mine = [p for p in files if names(p, name)]
    if mine:
        return mine
    if any(names(p, other) for p in files for other in data_mod.KNOWN_SETS):
        raise DataError(f"{folder}: no parquet file names {name} (the files name other sets)")
    return files


def _image_bytes(cell, parquet: Path, row: int) -> tuple[bytes, str | None]:
    if not isinstance(cell, dict) or not ({"bytes", "path"} & set(cell)):
        raise DataError(f"{parquet}: row {row}: HR is not an image struct (bytes, path) as datasets stores an Image")
    path = cell.get("path")
    if cell.get("bytes"):
        return cell["bytes"], path
    for p in ([Path(path), parquet.parent / path] if path else []):
        if p.is_file():
            return p.read_bytes(), path
    raise DataError(f"{parquet}: row {row}: HR image has no bytes and its path {path!r} is not a file")


def read_images(folder: Path, name: str) -> dict[str, bytes]:
    """image name -> HR file bytes, for the set ``name`` in ``folder``; DataError names what is wrong."""
    import pyarrow.parquet as pq

    out: dict[str, bytes] = {}
    for f in _files_of(folder, name):
        try:
            columns = pq.read_schema(f).names
        except OSError as e:
            raise DataError(f"{f}: not a readable parquet file ({e})") from None
        hr = next((c for c in columns if c.lower() == "hr"), None)
        if hr is None:
            raise DataError(f"{f}: no HR image column (it has: {', '.join(columns)}); the layout is parquet with "
                            f"HR and LR image columns")
        name_col = next((c for c in columns if c.lower() in NAME_COLUMNS), None)
        t = pq.read_table(f, columns=[hr] + ([name_col] if name_col else []))
        cells, labels = t.column(hr).to_pylist(), t.column(name_col).to_pylist() if name_col else None
        for i, cell in enumerate(cells):
            blob, path = _image_bytes(cell, f, i)
            stem = Path(str(labels[i])).stem if labels else Path(path).stem if path else None
            if not stem:
                raise DataError(f"{f}: row {i}: the HR image has no path and the file no name column "
                                f"({'/'.join(NAME_COLUMNS)}); cannot tell which image it is")
            if stem in out:
                raise DataError(f"{f}: image {stem} appears twice")
            out[stem] = blob
    return out


def _checked(name: str, entry, blob: bytes, where: str) -> bytes:
    """The PNG bytes to write for ``entry``: ``blob`` itself, or re-encoded when only its pixels match."""
    digest = hashlib.sha256(blob).hexdigest()
    if digest == entry.sha256:
        return blob
    try:
        with Image.open(io.BytesIO(blob)) as im:
            arr = np.asarray(im)
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise DataError(f"{where}: {name}/{entry.name}: not a decodable image ({e}); nothing was written") from None
    if data_mod.pixels_sha256(arr) != entry.pixels_sha256:
        raise DataError(f"{where}: {name}/{entry.name}: sha256 {digest[:12]}... (and its pixels) differ from the "
                        f"manifest's {entry.sha256[:12]}...; nothing was written")
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def fetch_hf(name: str, spec: str, root: str | Path | None = None) -> list[Path]:
    """Write the known set ``name`` from the HF-layout source ``spec`` to ``<root>/<name>/HR``, checked
    against the manifest first (see the module doc); returns the files written."""
    entries = data_mod.manifest().get(name)
    if entries is None or name not in data_mod.KNOWN_SETS or name in data_mod.NAMES_ONLY:
        return data_mod.fetch(name, root)  # its own error: unknown, or not redistributable
    folder = source_folder(spec)
    images = read_images(folder, name)
    missing = sorted(set(entries) - set(images))
    extra = sorted(set(images) - set(entries))
    if missing or extra:
        what = "; ".join(x for x in (f"missing {', '.join(missing[:5])}" if missing else "",
                                     f"not in the manifest: {', '.join(extra[:5])}" if extra else "") if x)
        raise DataError(f"{spec}: {name} does not match the manifest ({what}); nothing was written")
    checked = {e.name: _checked(name, e, images[e.name], spec) for e in entries.values()}

    def write(entry, target: Path) -> None:
        target.write_bytes(checked[entry.name])

    return data_mod.fetch(name, root, get=write)
