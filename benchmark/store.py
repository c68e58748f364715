"""The results store: parquet tables under the results directory; the only writer of those files.

Tables: ``images`` (one row per image), ``summary`` (per model, variant, dataset, degradation, scale,
gray), ``profile`` (efficiency), ``runs`` (environment and options of every run), ``cards`` (the model
cards the results were measured with). Their keys and columns are declared in :mod:`benchmark.schema`,
and every write is checked against it.

Every write is a keyed upsert under an exclusive lock: read the table, drop the rows whose key the
new rows carry, append, write a temporary file in the same directory, fsync, rename over the old
one. A crash leaves either the old or the new table, never a half-written one; concurrent writers
queue on the lock, so rows are never lost or interleaved.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from benchmark import schema
from benchmark.fsutil import give_normal_mode
from benchmark.schema import SCHEMA_VERSION

_META_KEY = b"srbench_schema"
TABLES = tuple(schema.TABLES)
LOCK_NAME = ".srbench.lock"


ENV_VAR = "SRBENCH_RESULTS"


def default_results_dir() -> Path:
    """``$SRBENCH_RESULTS``, else ``$XDG_DATA_HOME/srbench/results`` (``~/.local/share/srbench/results``).

    Commands write here unless ``--results`` names a folder, so a run in a clone of the repository
    never touches its canonical ``results/`` (that folder is written only when named explicitly).
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "srbench" / "results"


def results_dir(option: str | Path | None = None) -> Path:
    """``--results``, else :func:`default_results_dir`."""
    return Path(option) if option else default_results_dir()


class StoreError(Exception):
    """The results directory cannot be read or written; the message names it."""


def table_path(results_dir: str | Path, table: str) -> Path:
    if table not in schema.TABLES:
        raise StoreError(f"unknown results table {table!r} (tables: {', '.join(TABLES)})")
    return Path(results_dir) / f"{table}.parquet"


def check_writable(results_dir: str | Path) -> Path:
    """Create the directory if needed and prove we can write there, before any work starts."""
    d = Path(results_dir)
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".probe-", dir=d)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise StoreError(f"results directory {d} is not writable: {e.strerror or e}") from e
    return d


@contextmanager
def locked(results_dir: str | Path) -> Iterator[None]:
    d = check_writable(results_dir)
    with open(d / LOCK_NAME, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read(results_dir: str | Path, table: str) -> pd.DataFrame:
    """The table as a DataFrame (empty when it does not exist yet)."""
    return read_file(table_path(results_dir, table), table)


def read_file(p: Path, table: str) -> pd.DataFrame:
    """A parquet file holding rows of ``table`` (the store's, or a bundle's), as :func:`read` reads it."""
    p = Path(p)
    if not p.exists():
        return pd.DataFrame()
    try:
        t = pq.read_table(p)
    except (OSError, pa.ArrowInvalid) as e:
        raise StoreError(f"{p}: not a readable parquet table ({e}); move it aside and rerun") from e
    meta = t.schema.metadata or {}
    version = json.loads(meta.get(_META_KEY, b'{"version": 0}')).get("version", 0)
    if version != SCHEMA_VERSION:
        # Only one schema exists so far; a future version adds a migration here.
        raise StoreError(f"{p}: results schema version {version}, this srbench reads version "
                         f"{SCHEMA_VERSION}; re-run or use the srbench version that wrote it")
    df = t.to_pandas()
    for k, v in schema.table(table).defaults.items():  # key columns newer than the file: their default
        if k not in df.columns and len(df):
            df[k] = v
    return df


def _write_atomic(p: Path, df: pd.DataFrame) -> None:
    t = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
    meta = dict(t.schema.metadata or {})
    meta[_META_KEY] = json.dumps({"version": SCHEMA_VERSION}).encode()
    t = t.replace_schema_metadata(meta)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.stem}-", suffix=".parquet.tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            pq.write_table(t, f, compression="zstd")  # the canonical tables stay small enough to track
            f.flush()
            os.fsync(f.fileno())
        give_normal_mode(tmp)
        os.replace(tmp, p)
    except OSError as e:
        raise StoreError(f"{p}: cannot write ({e.strerror or e}); the previous table is untouched") from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_file(p: Path, table: str, rows: pd.DataFrame) -> Path:
    """Write ``rows`` of ``table`` to the parquet file ``p`` (not a results folder's table: a bundle's),
    checked against the schema and written atomically like the store's own tables."""
    try:
        rows = schema.conform(table, rows)
    except schema.SchemaError as e:
        raise StoreError(f"{p}: {e}") from None
    _write_atomic(Path(p), rows)
    return Path(p)


def upsert(results_dir: str | Path, table: str, rows: pd.DataFrame) -> Path:
    """Insert ``rows``, replacing any existing rows with the same key (the table's declared key,
    :mod:`benchmark.schema`); rows that do not fit the table's schema are refused."""
    p = table_path(results_dir, table)
    declared = list(schema.table(table).key)
    try:
        rows = schema.conform(table, rows)
    except schema.SchemaError as e:
        raise StoreError(str(e)) from None
    if rows.duplicated(subset=declared).any():
        raise StoreError(f"{table}: new rows repeat a key")
    with locked(results_dir):
        old = read(results_dir, table)
        if len(old):
            for k in declared:  # a key column new to this table: old rows get a null there
                if k not in old.columns:
                    old[k] = None
            new_keys = pd.MultiIndex.from_frame(rows[declared].astype(str))
            old_keys = pd.MultiIndex.from_frame(old[declared].astype(str))
            old = old[~old_keys.isin(new_keys)]
            merged = pd.concat([old, rows], ignore_index=True) if len(old) else rows
        else:
            merged = rows
        try:
            merged = schema.conform(table, merged)
        except schema.SchemaError as e:
            raise StoreError(f"{p}: {e}") from None
        _write_atomic(p, merged)
    return p


def delete(results_dir: str | Path, table: str, where: dict[str, object]) -> int:
    """Remove rows whose columns equal ``where``; returns how many were removed."""
    p = table_path(results_dir, table)
    with locked(results_dir):
        old = read(results_dir, table)
        if not len(old):
            return 0
        mask = pd.Series(True, index=old.index)
        for k, v in where.items():
            mask &= old[k].astype(str) == str(v)
        if mask.any():
            _write_atomic(p, old[~mask])
        return int(mask.sum())
