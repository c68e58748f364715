"""Test sets: finding them, checking them against the manifest, reading HR images, fetching them.

A set is a folder ``<data root>/<Name>/HR/*.png``. The known sets (Set5, Set14, B100, Urban100,
Manga109) are checked against ``manifests/datasets.tsv``; any other folder with that layout is a
custom set. When no known set is present, ``Demo`` (photographs shipped inside scikit-image's wheel)
lets the main command run anywhere, labelled as not a standard benchmark.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from benchmark.fsutil import give_normal_mode

ENV_VAR = "SRBENCH_DATA"
KNOWN_SETS = ("Set5", "Set14", "B100", "Urban100", "Manga109")
DEMO = "Demo"
# Manga109's terms forbid redistribution: we know its page names, never its bytes.
NAMES_ONLY = {"Manga109"}

# scikit-image sample photographs, pinned by sha256 (they ship in its wheel).
DEMO_IMAGES = {
    "astronaut": "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    "coffee": "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    "chelsea": "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    "camera": "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a",
    "motorcycle_left": "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179",
}


class DataError(Exception):
    """A set or image cannot be used; the message names it."""


@dataclass(frozen=True)
class ManifestEntry:
    dataset: str
    name: str
    width: int
    height: int
    mode: str
    sha256: str
    pixels_sha256: str
    url: str
    source_sha256: str


@dataclass(frozen=True)
class ImageRef:
    dataset: str
    name: str
    path: Path
    sha256: str  # of the file's bytes: the LR cache key


@dataclass(frozen=True)
class DatasetStatus:
    name: str
    path: Path
    kind: str  # 'standard', 'custom' or 'demo'
    state: str  # 'ok', 'missing files', 'altered files', 'no images'
    n_images: int
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dataset:
    name: str
    kind: str
    images: tuple[ImageRef, ...]

    @property
    def standard(self) -> bool:
        return self.kind == "standard"


@dataclass(frozen=True)
class HRImage:
    """An HR image as uint8 (H, W, 3); ``gray`` marks a single-channel source (replicated)."""

    ref: ImageRef
    pixels: np.ndarray
    gray: bool


def default_data_root() -> Path:
    """``$XDG_DATA_HOME/srbench/datasets``, i.e. ``~/.local/share/srbench/datasets`` by default."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "srbench" / "datasets"


def data_root(option: str | Path | None = None) -> Path:
    """``--data-root``, else ``$SRBENCH_DATA``, else the per-user default."""
    if option:
        return Path(option)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else default_data_root()


@lru_cache(maxsize=1)
def manifest() -> dict[str, dict[str, ManifestEntry]]:
    """dataset -> image name -> entry, from the package's own manifest."""
    out: dict[str, dict[str, ManifestEntry]] = {}
    text = resources.files("benchmark").joinpath("manifests/datasets.tsv").read_text()
    for r in csv.DictReader(text.splitlines(), delimiter="\t"):
        e = ManifestEntry(r["dataset"], r["name"], int(r["width"]), int(r["height"]), r["mode"],
                          r["sha256"], r["pixels_sha256"], r["url"], r["source_sha256"])
        out.setdefault(e.dataset, {})[e.name] = e
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def pixels_sha256(arr: np.ndarray) -> str:
    h = hashlib.sha256(f"{arr.shape}|{arr.dtype}|".encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _hr_files(folder: Path) -> list[Path]:
    hr = folder / "HR"
    if not hr.is_dir():
        return []
    return sorted(p for p in hr.iterdir() if p.suffix.lower() == ".png" and p.is_file())


def _demo_dir() -> Path:
    from skimage import data as skdata

    return Path(skdata.__file__).parent


def _check_known(name: str, files: list[Path]) -> tuple[str, tuple[str, ...], dict[str, str]]:
    """(state, problems, name -> file sha256) for a known set against the manifest."""
    expected = manifest()[name]
    found = {p.stem: p for p in files}
    problems: list[str] = []
    hashes: dict[str, str] = {}
    missing = sorted(set(expected) - set(found))
    if missing:
        problems += [f"missing {name}/HR/{m}.png" for m in missing]
    extra = sorted(set(found) - set(expected))
    problems += [f"unexpected {name}/HR/{m}.png" for m in extra]
    altered = False
    for stem, path in found.items():
        entry = expected.get(stem)
        digest = sha256_file(path)
        hashes[stem] = digest
        if entry is None or name in NAMES_ONLY:
            continue
        if digest != entry.sha256:
            # A losslessly re-encoded PNG (another zlib) has other bytes but the same pixels.
            try:
                with Image.open(path) as im:
                    same = pixels_sha256(np.asarray(im)) == entry.pixels_sha256
            except (OSError, UnidentifiedImageError, ValueError):
                same = False
            if not same:
                altered = True
                problems.append(f"altered {path}")
    if missing or extra:
        state = "missing files" if missing else "unexpected files"
    elif altered:
        state = "altered files"
    else:
        state = "ok"
    return state, tuple(problems), hashes


def scan(root: str | Path | None = None) -> list[DatasetStatus]:
    """Every set found under the data root (known sets first), with its state."""
    root = data_root(root)
    out: list[DatasetStatus] = []
    if root.is_dir():
        folders = {p.name: p for p in root.iterdir() if p.is_dir() and (p / "HR").is_dir()}
        for name in KNOWN_SETS:
            if name in folders:
                files = _hr_files(folders[name])
                state, problems, _ = _check_known(name, files) if files else ("no images", (), {})
                out.append(DatasetStatus(name, folders[name], "standard", state, len(files), problems))
        for name in sorted(set(folders) - set(KNOWN_SETS)):
            files = _hr_files(folders[name])
            state, problems = _check_custom(name, files) if files else ("no images", ())
            out.append(DatasetStatus(name, folders[name], "custom", state, len(files), problems))
    return out


def _check_custom(name: str, files: list[Path]) -> tuple[str, tuple[str, ...]]:
    """A custom set has no manifest: every image is decoded, and those that cannot be are named."""
    bad = []
    for f in files:
        try:
            with Image.open(f) as im:
                im.load()
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
            bad.append(f"unreadable {name}/HR/{f.name} ({type(e).__name__}: {str(e).splitlines()[0][:80]})")
    if bad:
        return f"{len(bad)} of {len(files)} images unreadable", tuple(bad)
    return "ok", ()


def demo_status() -> DatasetStatus:
    return DatasetStatus(DEMO, _demo_dir(), "demo", "ok", len(DEMO_IMAGES))


def load(name: str, root: str | Path | None = None) -> Dataset:
    """The set ``name`` (case-insensitive), checked; raises DataError naming what is wrong."""
    root = data_root(root)
    if name.lower() == DEMO.lower():
        return _load_demo()
    folder = None
    if root.is_dir():
        for p in root.iterdir():
            if p.name.lower() == name.lower() and (p / "HR").is_dir():
                folder = p
                break
    if folder is None:
        raise DataError(f"dataset {name!r} not found under {root} (expected {root}/{name}/HR/*.png)")
    files = _hr_files(folder)
    if not files:
        raise DataError(f"dataset {folder.name}: no PNG images in {folder / 'HR'}")
    if folder.name in KNOWN_SETS:
        state, problems, hashes = _check_known(folder.name, files)
        if state != "ok":
            raise DataError(f"dataset {folder.name} at {folder}: {state}: " + "; ".join(problems[:5])
                            + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""))
        kind = "standard"
    else:
        hashes = {p.stem: sha256_file(p) for p in files}
        kind = "custom"
    refs = tuple(ImageRef(folder.name, p.stem, p, hashes[p.stem]) for p in files)
    return Dataset(folder.name, kind, refs)


def _load_demo() -> Dataset:
    d = _demo_dir()
    refs = []
    for stem, sha in DEMO_IMAGES.items():
        p = d / f"{stem}.png"
        if not p.is_file():
            raise DataError(f"demo image {p} is missing from scikit-image's package")
        digest = sha256_file(p)
        if digest != sha:
            raise DataError(f"demo image {p}: sha256 {digest[:12]}... differs from the pinned {sha[:12]}...")
        refs.append(ImageRef(DEMO, stem, p, digest))
    return Dataset(DEMO, "demo", tuple(refs))


def read_hr(ref: ImageRef, min_size: int = 1) -> HRImage:
    """Decode an HR PNG to uint8 (H, W, 3); raises DataError naming the file when it cannot be used."""
    try:
        with Image.open(ref.path) as im:
            im.load()
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I", "F") or "16" in mode:
                raise DataError(f"{ref.path}: {mode} images (16-bit or float) are not supported; "
                                f"convert to 8-bit PNG")
            gray = mode in ("L", "LA", "1") or (mode == "P" and _palette_is_gray(im))
            if mode in ("LA", "RGBA", "PA") or (mode == "P" and "transparency" in im.info):
                # Alpha is not part of SR evaluation: it is dropped, never composited.
                pass
            arr = np.asarray(im.convert("L") if gray else im.convert("RGB"))
    except DataError:
        raise
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as e:
        raise DataError(f"{ref.path}: cannot decode image ({type(e).__name__}: {e})") from e
    if gray:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    h, w = arr.shape[:2]
    if h < min_size or w < min_size:
        raise DataError(f"{ref.path}: {w}x{h} is smaller than the scale x{min_size}")
    return HRImage(ref, np.array(arr, copy=True, order="C"), gray)


def _palette_is_gray(im: Image.Image) -> bool:
    pal = im.getpalette() or []
    rgb = np.asarray(pal[: 3 * 256]).reshape(-1, 3)
    return bool(len(rgb)) and bool((rgb[:, 0] == rgb[:, 1]).all() and (rgb[:, 1] == rgb[:, 2]).all())


def resolve_datasets(spec: str, root: str | Path | None = None) -> list[Dataset]:
    """``all`` -> every usable set found (or Demo when no standard set exists); else a comma list."""
    root_path = data_root(root)
    if spec.strip().lower() == "all":
        found = [s for s in scan(root_path) if s.state == "ok"]
        if not any(s.kind == "standard" for s in found):
            return [load(s.name, root_path) for s in found] + [_load_demo()]
        return [load(s.name, root_path) for s in found]
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise DataError("--datasets is empty")
    return [load(n, root_path) for n in names]


# ---------------------------------------------------------------- fetching (users with internet)

def fetch(name: str, root: str | Path | None = None, mirror: str | None = None,
          timeout: float = 60.0, get: Callable[[ManifestEntry, Path], None] | None = None) -> list[Path]:
    """Download a known set's HR images to ``<root>/<name>/HR``, checking each against the manifest.

    ``mirror`` replaces the URLs' ``scheme://host/`` part (a local mirror, or a test server).
    B100's public source is the BSDS300 JPEGs: they are checked by sha256 and decoded losslessly to
    PNG, whose pixels must match the manifest. Each file is written to a temporary name and moved
    into place only after its check passes. ``get(entry, path)``, when given, writes an entry's
    checked file instead of a download (another source, :mod:`benchmark.hfdata`).
    """
    entries = manifest().get(name)
    if entries is None or name not in KNOWN_SETS:
        raise DataError(f"unknown dataset {name!r} for fetch (known: {', '.join(KNOWN_SETS)})")
    if name in NAMES_ONLY:
        raise DataError(f"{name} may not be redistributed; obtain it from its owners and place it "
                        f"under <data root>/{name}/HR/")
    dest = data_root(root) / name / "HR"
    try:
        dest.parent.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{name}-fetch-", dir=dest.parent.parent))
    except OSError as err:
        raise DataError(f"{dest.parent.parent}: cannot write the data root ({err.strerror or err})") from None
    # Everything goes to a staging folder first, and replaces <root>/<name>/HR only once every file is
    # there and verified: a failed or interrupted fetch leaves nothing that looks like a set.
    written = []
    try:
        for e in entries.values():
            target = dest / f"{e.name}.png"
            staged = stage / target.name
            if target.is_file() and sha256_file(target) == e.sha256:
                shutil.copyfile(target, staged)
                continue
            if get is not None:
                get(e, staged)
            else:
                _download(e, mirror, staged, timeout)
            written.append(dest / target.name)
        give_normal_mode(stage)
        dest.parent.mkdir(exist_ok=True)
        old = dest.parent / f".{name}-HR-old"
        if dest.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.rename(dest, old)
        os.rename(stage, dest)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return written


def _download(e, mirror: str | None, target: Path, timeout: float) -> None:
    """One manifest file to ``target``, checked (a JPEG source: checked, then decoded to PNG)."""
    url = e.url
    if mirror:
        url = mirror.rstrip("/") + "/" + url.split("://", 1)[1].split("/", 1)[1]
    fd, tmp = tempfile.mkstemp(prefix=".part-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out)
        got = sha256_file(Path(tmp))
        if e.source_sha256:  # a JPEG source: check it, then decode to PNG
            if got != e.source_sha256:
                raise DataError(f"{url}: sha256 {got[:12]}... differs from {e.source_sha256[:12]}...")
            with Image.open(tmp) as im:
                arr = np.asarray(im.convert("RGB"))
            if pixels_sha256(arr) != e.pixels_sha256:
                raise DataError(f"{url}: decoded pixels differ from the manifest (another JPEG decoder?)")
            Image.fromarray(arr).save(tmp, format="PNG")
        elif got != e.sha256:
            raise DataError(f"{url}: sha256 {got[:12]}... differs from {e.sha256[:12]}...; not kept")
        give_normal_mode(tmp)
        os.replace(tmp, target)
    except OSError as err:
        raise DataError(f"{url}: download failed: {err}; nothing was written") from err
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
