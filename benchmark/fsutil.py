"""File-system helpers for srbench's atomic writes.

A temporary file from ``tempfile.mkstemp`` is created ``0600`` and a folder from ``mkdtemp`` ``0700``;
renamed into place, they would keep those modes, and the other users of a shared results folder
could no longer read what srbench wrote. :func:`give_normal_mode` gives them the mode any other
file or folder made there would have (``0666`` / ``0777`` less the process's umask).
"""

from __future__ import annotations

import os
import re
import threading
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
