"""Checkpoint files: where they live, checking them, loading them safely, downloading them.

Every load checks sha256 before unpickling anything, and unpickles with ``weights_only=True``,
so a swapped or malicious file is refused by name and never executed.

A few small, freely licensed checkpoints ship inside the package (``registry/shipped/``, see its
README) so that a fresh install evaluates real models; a file in the weights folder always wins over
the shipped copy, and the shipped copy is sha256-checked like any other.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch

ENV_VAR = "SRBENCH_WEIGHTS"
SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"


@dataclass(frozen=True)
class WeightFile:
    """One official checkpoint file.

    ``variant`` names a second checkpoint of the same model and scale (its file stem, e.g.
    ``BSRN-S-ntire22``); ``None`` means the model's default checkpoint, whose variant is the model name.
    """

    file: str
    sha256: str
    scales: tuple[int, ...]
    url: str
    license: str
    input_range: float = 1.0  # 1.0: the net sees [0, 1]; 255.0: it sees [0, 255]
    variant: str | None = None
    state_key: str | None = None  # 'params' / 'params_ema' for BasicSR-wrapped files
    strip_prefix: str | None = None  # e.g. 'module.' for DataParallel checkpoints
    source: str = ""  # repo@commit:path, for the card
    notes: str = ""


class WeightsError(Exception):
    """A checkpoint is missing, altered or unreadable; the message names the file."""


class CheckpointMismatch(WeightsError, RuntimeError):
    """A checkpoint's tensors do not fit the network (names or shapes); the message names the first ones."""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_weights_dir() -> Path:
    """``$XDG_CACHE_HOME/srbench/weights``, i.e. ``~/.cache/srbench/weights`` by default."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "srbench" / "weights"


def weights_dir(option: str | Path | None = None) -> Path:
    """``--weights-dir``, else ``$SRBENCH_WEIGHTS``, else the per-user cache."""
    if option:
        return Path(option)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else default_weights_dir()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def weight_path(wf: WeightFile, directory: str | Path | None = None) -> Path:
    """Where the checkpoint is read from: the weights folder's file, else the shipped copy when the
    package has one, else the weights folder's path (where it is missing, and where a fetch puts it)."""
    own = weights_dir(directory) / wf.file
    if not own.is_file() and (SHIPPED_DIR / wf.file).is_file():
        return SHIPPED_DIR / wf.file
    return own


def is_shipped(wf: WeightFile, directory: str | Path | None = None) -> bool:
    """True when the checkpoint is read from the copy inside the package (none in the weights folder)."""
    return weight_path(wf, directory) == SHIPPED_DIR / wf.file


def verify(wf: WeightFile, directory: str | Path | None = None) -> str:
    """'ok', 'missing' or 'altered' for one checkpoint."""
    p = weight_path(wf, directory)
    if not p.is_file():
        return "missing"
    return "ok" if sha256_file(p) == wf.sha256 else "altered"


def load_state_dict(wf: WeightFile, directory: str | Path | None = None) -> tuple[OrderedDict, str]:
    """The checkpoint's state dict, unwrapped and de-prefixed, and its sha256.

    Raises :class:`WeightsError` naming the file when it is absent, its hash differs, or it holds
    anything but tensors.
    """
    p = weight_path(wf, directory)
    if not p.is_file():
        raise WeightsError(f"{p}: checkpoint not found (set --weights-dir or {ENV_VAR}, "
                           f"or run 'srbench weights fetch')")
    digest = sha256_file(p)
    if digest != wf.sha256:
        raise WeightsError(f"{p}: sha256 {digest[:12]}... differs from the card's {wf.sha256[:12]}...; refusing it")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # weights_only refuses pickled code with an UnpicklingError
        raise WeightsError(f"{p}: {_refusal(e)}") from e
    obj, _ = find_state_dict(obj, wf.state_key, p)
    state = OrderedDict()
    for k, v in obj.items():
        if wf.strip_prefix and k.startswith(wf.strip_prefix):
            k = k[len(wf.strip_prefix):]
        state[k] = v
    return state, digest


# Where training frameworks keep the weights inside a checkpoint (BasicSR: params_ema / params).
STATE_KEYS = ("params_ema", "params", "state_dict")


def find_state_dict(obj, state_key: str | None, path) -> tuple[dict, str | None]:
    """The state dict inside a loaded checkpoint, and the key it was under (None: the file itself).

    ``state_key`` None: the file is the state dict; a name: that entry; ``'auto'``: the file itself when
    it holds only tensors, else its one entry among :data:`STATE_KEYS` (two of them is ambiguous: the
    error asks for the key rather than guessing which of EMA and raw weights was meant)."""
    import torch

    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: expected a state dict, found {type(obj).__name__}")
    if state_key == "auto":
        if all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj, None
        found = [k for k in STATE_KEYS if isinstance(obj.get(k), dict)]
        if len(found) != 1:
            what = f"both {' and '.join(repr(k) for k in found)}" if found else \
                f"no state dict under {', '.join(STATE_KEYS)} (its entries: {', '.join(map(str, list(obj)[:6]))})"
            raise WeightsError(f"{path}: holds {what}; say which with --state-key")
        state_key = found[0]
    if state_key is not None:
        if state_key not in obj:
            raise WeightsError(f"{path}: expected a '{state_key}' entry (it has: {', '.join(map(str, list(obj)[:6]))})")
        obj = obj[state_key]
        if not isinstance(obj, dict):
            raise WeightsError(f"{path}: '{state_key}' holds {type(obj).__name__}, not a state dict")
    return obj, state_key


def _refusal(e: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, in one whole sentence (torch's own message
    is a paragraph of advice to load it with pickle, which srbench never does)."""
    import re

    text = str(e)
    m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if "weights_only" in text.lower() or "Unsupported" in text:
        what = f" (it holds the Python object {m.group(1)})" if m else ""
        return (f"refused: the file needs pickle to load{what}; srbench loads only plain tensor checkpoints "
                f"(torch.load with weights_only=True), never code from a checkpoint")
    first = text.strip().splitlines()[0] if text.strip() else type(e).__name__
    return f"not a readable tensor checkpoint ({type(e).__name__}: {first.rstrip('.')})"


def fetch(wf: WeightFile, directory: str | Path | None = None, url: str | None = None,
          timeout: float = 60.0) -> Path:
    """Download one checkpoint to the weights directory, checking sha256 before it lands.

    The file is written to a temporary name and moved into place only when its hash matches, so
    an interrupted or wrong download never leaves a file that looks valid.
    """
    dest = weights_dir(directory) / wf.file  # never the shipped copy: a fetch fills the weights folder
    if dest.is_file() and sha256_file(dest) == wf.sha256:
        return dest
    src = url or wf.url
    if not src:
        raise WeightsError(f"{wf.file}: no download URL on the card")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".part-", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(src, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out)
        digest = sha256_file(tmp)
        if digest != wf.sha256:
            raise WeightsError(f"{wf.file}: downloaded from {src} but sha256 {digest[:12]}... "
                               f"differs from {wf.sha256[:12]}...; not kept")
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make the checkpoint private
        os.replace(tmp, dest)
    except OSError as e:
        raise WeightsError(f"{wf.file}: download from {src} failed: {e}") from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest
