"""Degradations: HR -> LR, and the on-disk LR cache (PROTOCOL section 2).

``bicubic``: mod-crop, then MATLAB ``imresize(HR, 1/s, 'bicubic')``, rounded once to uint8.
``jpegQ`` (jpeg10 ... jpeg40): the bicubic LR, then Pillow JPEG at quality Q (4:2:0, baseline, no
optimisation), decoded back to uint8; single-channel images are encoded as grayscale JPEG.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, features

from benchmark.fsutil import give_normal_mode
from protocol import PROTOCOL_VERSION
from protocol.imresize import imresize_uint8

STANDARD_DEGRADATIONS = ("bicubic", "jpeg10", "jpeg20", "jpeg30", "jpeg40")
CACHE_ENV = "SRBENCH_CACHE"
_JPEG = re.compile(r"^jpeg(\d{1,3})$")


class DegradationError(ValueError):
    pass


def parse_degradation(name: str) -> tuple[str, int | None]:
    """'bicubic' -> ('bicubic', None); 'jpeg30' -> ('jpeg', 30)."""
    key = name.strip().lower()
    if key == "bicubic":
        return "bicubic", None
    m = _JPEG.match(key)
    if m and 1 <= int(m.group(1)) <= 100:
        return "jpeg", int(m.group(1))
    raise DegradationError(f"unknown degradation {name!r} (use bicubic or jpegQ with Q in 1..100, "
                           f"e.g. {', '.join(STANDARD_DEGRADATIONS)})")


def jpeg_encoder() -> str:
    """The JPEG encoder's identity, recorded with every JPEG result."""
    import PIL

    return f"Pillow {PIL.__version__} / libjpeg-turbo {features.version('jpg') or 'unknown'}"


def mod_crop(hr: np.ndarray, scale: int) -> np.ndarray:
    """Cut (H, W, C) to multiples of ``scale``, keeping the top-left region."""
    h, w = hr.shape[0] - hr.shape[0] % scale, hr.shape[1] - hr.shape[1] % scale
    return hr[:h, :w]


def bicubic_lr(hr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB bicubic LR of a mod-cropped uint8 (H, W, C) image, as uint8 (H/s, W/s, C)."""
    if hr.shape[0] % scale or hr.shape[1] % scale:
        raise DegradationError(f"HR size {hr.shape[1]}x{hr.shape[0]} is not a multiple of x{scale}")
    chw = torch.from_numpy(np.ascontiguousarray(hr.transpose(2, 0, 1)))
    return imresize_uint8(chw, 1.0 / scale).numpy().transpose(1, 2, 0).copy()


def jpeg_roundtrip(img: np.ndarray, quality: int, gray: bool) -> np.ndarray:
    """Encode (H, W, 3) uint8 as JPEG at ``quality`` and decode it; gray images go as 1 channel."""
    src = Image.fromarray(img[:, :, 0] if gray else img, mode="L" if gray else "RGB")
    buf = io.BytesIO()
    # subsampling=2 is 4:2:0; optimize/progressive off: plain baseline as the protocol says.
    src.save(buf, format="JPEG", quality=quality, subsampling=2, optimize=False, progressive=False)
    buf.seek(0)
    with Image.open(buf) as im:
        arr = np.asarray(im.convert("L") if gray else im.convert("RGB"))
    if gray:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr)


def make_lr(hr: np.ndarray, degradation: str, scale: int, gray: bool = False) -> np.ndarray:
    """LR for a mod-cropped HR (H, W, 3) uint8; ``gray`` marks replicated single-channel images."""
    kind, quality = parse_degradation(degradation)
    lr = bicubic_lr(hr, scale)
    if kind == "jpeg":
        lr = jpeg_roundtrip(lr, quality, gray)
    return lr


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/srbench/lr``, i.e. ``~/.cache/srbench/lr`` by default."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "srbench" / "lr"


class LRCache:
    """LR images on disk, keyed by (HR sha256, degradation, scale, protocol version).

    Each entry is a PNG plus a sidecar holding the PNG's sha256; an entry whose bytes do not match
    its sidecar (a crash mid-write, disk damage, a stray edit) is rebuilt, never used.
    """

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root or os.environ.get(CACHE_ENV) or default_cache_dir())
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(hr_sha256: str, degradation: str, scale: int) -> str:
        raw = f"{hr_sha256}|{degradation.lower()}|x{scale}|{PROTOCOL_VERSION}"
        return hashlib.sha256(raw.encode()).hexdigest()

    def _paths(self, key: str) -> tuple[Path, Path]:
        d = self.root / key[:2]
        return d / f"{key}.png", d / f"{key}.sha256"

    def get(self, hr_sha256: str, degradation: str, scale: int) -> np.ndarray | None:
        png, side = self._paths(self.key(hr_sha256, degradation, scale))
        try:
            data = png.read_bytes()
            want = side.read_text().strip()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != want:
            return None
        try:
            with Image.open(io.BytesIO(data)) as im:
                return np.ascontiguousarray(np.asarray(im.convert("RGB")))
        except OSError:
            return None

    def put(self, hr_sha256: str, degradation: str, scale: int, lr: np.ndarray) -> None:
        png, side = self._paths(self.key(hr_sha256, degradation, scale))
        buf = io.BytesIO()
        Image.fromarray(lr).save(buf, format="PNG", compress_level=1)
        data = buf.getvalue()
        try:
            png.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(png, data)
            _atomic_write(side, hashlib.sha256(data).hexdigest().encode())
        except OSError:
            pass  # a read-only cache costs speed, not correctness

    def lr_for(self, hr: np.ndarray, hr_sha256: str, degradation: str, scale: int,
               gray: bool = False) -> np.ndarray:
        """The cached LR, or make it (from the mod-cropped HR) and cache it."""
        cached = self.get(hr_sha256, degradation, scale)
        expect = (hr.shape[0] // scale, hr.shape[1] // scale)
        if cached is not None and cached.shape[:2] == expect:
            self.hits += 1
            return cached
        self.misses += 1
        lr = make_lr(hr, degradation, scale, gray)
        self.put(hr_sha256, degradation, scale, lr)
        return lr


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        give_normal_mode(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
