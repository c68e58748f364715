"""The run journal: what an interrupted run had finished, so that rerunning it does only the rest.

Layout, under the results directory::

    .journal/<run key>/meta.json        run id, start time, options, attempts (written atomically)
    .journal/<run key>/lock             flock held by the run writing this journal (pid inside)
    .journal/<run key>/done.jsonl       one line per finished work item, with its summary row
    .journal/<run key>/<item key>.jsonl one line per finished image of an unfinished work item

The run key is a hash of what decides the results (the planned work items, the tile options and the
protocol), so the same command line finds its journal again; another command line gets another key.
Lines are appended with one ``write`` each and flushed at once, which a killed process cannot undo;
they are fsync'd at least every ``FSYNC_EVERY`` seconds and when an item ends, so a power cut costs at
most that much work. A torn last line (a crash mid-write) is cut off when the file is opened again.

When a run finishes, its rows are in the parquet tables (written by :mod:`benchmark.store`) and the
journal folder is removed; a folder left behind means an interrupted run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from benchmark.fsutil import give_normal_mode

JOURNAL_DIR = ".journal"
FSYNC_EVERY = 1.0  # seconds
_VERSION = 1


class JournalBusy(Exception):
    """Another process is running the same work into the same results directory."""


def digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_lines(path: Path) -> tuple[list[dict], int]:
    """The complete, parseable JSON lines of ``path`` and the byte length they cover."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    out: list[dict] = []
    good = 0
    pos = 0
    while pos < len(raw):
        nl = raw.find(b"\n", pos)
        if nl < 0:
            break  # torn last line: no newline yet
        try:
            rec = json.loads(raw[pos:nl])
        except ValueError:
            break  # garbage: stop here, everything after it is suspect
        if not isinstance(rec, dict):
            break
        out.append(rec)
        pos = good = nl + 1
    return out, good


class LineLog:
    """An append-only JSON-lines file, cut back to its last complete line when opened."""

    def __init__(self, path: Path):
        self.path = path
        self.records, good = _read_lines(path)
        if path.exists() and path.stat().st_size != good:
            with open(path, "r+b") as f:
                f.truncate(good)
        self._f = None
        self._synced = time.monotonic()

    def append(self, rec: dict, sync: bool = False) -> None:
        if self._f is None:
            self._f = open(self.path, "ab", buffering=0)
        line = json.dumps(rec, separators=(",", ":"), allow_nan=True).encode() + b"\n"
        self._f.write(line)  # unbuffered: one write() per line
        self.records.append(rec)
        now = time.monotonic()
        if sync or now - self._synced >= FSYNC_EVERY:
            os.fsync(self._f.fileno())
            self._synced = now

    def close(self) -> None:
        if self._f is not None:
            try:
                os.fsync(self._f.fileno())
            finally:
                self._f.close()
                self._f = None

    def remove(self) -> None:
        self.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


class RunJournal:
    """The journal of one run (one run key) in one results directory; holds its lock while open."""

    def __init__(self, results_dir: str | Path, run_key: str, meta: dict, fresh: bool = False):
        self.root = Path(results_dir) / JOURNAL_DIR
        self.dir = self.root / run_key
        self.key = run_key
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.dir / "lock", "a+")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.seek(0)
            pid = self._lock.read().strip() or "?"
            self._lock.close()
            raise JournalBusy(f"another srbench run with the same work is writing to {self.dir} (pid {pid}); "
                              f"wait for it to end") from None
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(str(os.getpid()))
        self._lock.flush()
        self.discarded: str | None = None
        old = None if fresh else self._read_meta()
        if old is None and any(p.suffix == ".jsonl" for p in self.dir.iterdir()):
            self.discarded = "started over" if fresh else "its meta.json was unreadable; started over"
            for p in self.dir.glob("*.jsonl"):
                p.unlink()
        self.resumed = old is not None
        self.meta = {**meta, "version": _VERSION, "attempts": 1}
        if old is not None:
            self.meta.update({k: old[k] for k in ("run_id", "started_at") if k in old})
            self.meta["attempts"] = int(old.get("attempts", 1)) + 1
        self._write_meta()
        self.done = LineLog(self.dir / "done.jsonl")

    # ------------------------------------------------------------------ meta
    def _read_meta(self) -> dict | None:
        try:
            m = json.loads((self.dir / "meta.json").read_text())
        except (OSError, ValueError):
            return None
        return m if isinstance(m, dict) and m.get("version") == _VERSION and "run_id" in m else None

    def _write_meta(self) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".meta-", dir=self.dir)
        with os.fdopen(fd, "w") as f:
            json.dump(self.meta, f, default=str)
            f.flush()
            os.fsync(f.fileno())
        give_normal_mode(tmp)
        os.replace(tmp, self.dir / "meta.json")
        _fsync_dir(self.dir)

    # ----------------------------------------------------------------- items
    def done_items(self) -> dict[str, dict]:
        """item key -> the summary row stored when it finished."""
        return {r["item"]: r.get("summary", {}) for r in self.done.records if "item" in r}

    def item_log(self, item_key: str) -> LineLog:
        return LineLog(self.dir / f"{item_key}.jsonl")

    def mark_done(self, item_key: str, summary: dict) -> None:
        self.done.append({"item": item_key, "summary": summary}, sync=True)

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Release the lock, keeping the journal (the run did not finish)."""
        self.done.close()
        if not self._lock.closed:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()

    def finish(self) -> None:
        """The run is complete and stored: remove the journal."""
        self.done.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        try:
            self.root.rmdir()  # only when no other run's journal is there
        except OSError:
            pass
        self.close()


def interrupted_runs(results_dir: str | Path, except_key: str | None = None) -> Iterable[tuple[Path, dict]]:
    """Journals of other interrupted runs in ``results_dir``: (folder, meta)."""
    root = Path(results_dir) / JOURNAL_DIR
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.iterdir()):
        if not d.is_dir() or d.name == except_key:
            continue
        try:
            meta = json.loads((d / "meta.json").read_text())
        except (OSError, ValueError):
            meta = {}
        out.append((d, meta))
    return out
