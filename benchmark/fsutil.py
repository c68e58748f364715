"""File-system helpers for srbench's atomic writes.

A temporary file from ``tempfile.mkstemp`` is created ``0600`` and a folder from ``mkdtemp`` ``0700``;
renamed into place, they would keep those modes, and the other users of a shared results folder
could no longer read what srbench wrote. :func:`give_normal_mode` gives them the mode any other
file or folder made there would have (``0666`` / ``0777`` less the process's umask).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask (read from /proc where possible: setting it to read it is not thread-safe)."""
    try:
        m = re.search(r"^Umask:\s+([0-7]+)", Path("/proc/self/status").read_text(), re.M)
        if m:
            return int(m.group(1), 8)
    except OSError:
        pass
    with _LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def give_normal_mode(path: str | Path) -> None:
    """chmod a temporary file or folder to the mode a plain ``open``/``mkdir`` would have given it."""
    base = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, base & ~current_umask())


@contextmanager
def replaced_folder(out: Path, cannot: Callable[[OSError], Exception]):
    """Write a whole folder (a site, a bundle) in a temporary sibling, then swap it in for ``out``: readers
    see the old folder or the new one, never half of one, and a failure leaves the old one as it was.
    ``cannot(error)`` is the exception to raise when the temporary folder cannot be made there."""
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-new-", dir=out.parent))
    except OSError as e:
        raise cannot(e) from None
    old = None
    try:
        give_normal_mode(tmp)
        yield tmp
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}-old-", dir=out.parent))
            os.rmdir(old)
            os.rename(out, old)
        try:
            os.rename(tmp, out)
        except OSError:
            if old is not None:
                os.rename(old, out)
                old = None
            raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists():
            shutil.rmtree(old, ignore_errors=True)
