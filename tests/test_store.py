"""The parquet store: keyed upserts, atomic writes, concurrent writers, schema versions."""

import multiprocessing as mp
import os

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmark import schema, store
from benchmark.store import StoreError

KEY = {"variant": "v", "weights_sha256": "", "dataset": "Set5", "degradation": "bicubic", "scale": 4, "gray": "rgb",
       "protocol": "srbench-1"}


def _rows(model, n, value):
    return pd.DataFrame([{**KEY, "model": model, "image": f"i{k}", "psnr": value} for k in range(n)])


def test_upsert_replaces_rows_with_same_key(tmp_path):
    store.upsert(tmp_path, "images", _rows("A", 3, 1.0))
    store.upsert(tmp_path, "images", _rows("B", 2, 2.0))
    store.upsert(tmp_path, "images", _rows("A", 3, 5.0))
    df = store.read(tmp_path, "images")
    assert len(df) == 5
    assert set(df[df.model == "A"].psnr) == {5.0} and set(df[df.model == "B"].psnr) == {2.0}
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_failed_write_keeps_old_table(tmp_path, monkeypatch):
    store.upsert(tmp_path, "summary", _rows("A", 2, 1.0).drop(columns="image").assign(dataset=["Set5", "B100"]))
    before = (tmp_path / "summary.parquet").read_bytes()

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", boom)
    with pytest.raises(StoreError, match="summary.parquet"):
        store.upsert(tmp_path, "summary", _rows("B", 2, 1.0).drop(columns="image").assign(dataset=["Set5", "B100"]))
    assert (tmp_path / "summary.parquet").read_bytes() == before
    assert [p for p in os.listdir(tmp_path) if not p.startswith(".srbench")] == ["summary.parquet"]


def _writer(args):
    d, w = args
    for k in range(8):
        store.upsert(d, "images", pd.DataFrame([{**KEY, "model": f"w{w}", "image": f"i{k}", "psnr": float(k)}]))


def test_concurrent_writers_lose_nothing(tmp_path):
    with mp.get_context("fork").Pool(4) as pool:
        pool.map(_writer, [(str(tmp_path), w) for w in range(4)])
    df = store.read(tmp_path, "images")
    assert len(df) == 32 and not df.duplicated(["model", "image"]).any()


def test_schema_version_and_damage_are_refused(tmp_path):
    pq.write_table(pa.table({"a": [1]}), tmp_path / "summary.parquet")  # no srbench metadata
    with pytest.raises(StoreError, match="schema version 0"):
        store.read(tmp_path, "summary")
    (tmp_path / "images.parquet").write_bytes(b"PAR1 half written")
    with pytest.raises(StoreError, match="images.parquet"):
        store.read(tmp_path, "images")


def test_read_only_directory(readonly_dir):
    with pytest.raises(StoreError, match="not writable"):
        store.check_writable(readonly_dir)
    with pytest.raises(StoreError, match="not writable"):
        store.upsert(readonly_dir, "images", _rows("A", 1, 1.0))


def test_rows_must_fit_the_declared_schema(tmp_path):
    """A typo'd column, an empty key, a value of the wrong kind: refused by name, nothing written."""
    with pytest.raises(StoreError, match=r"columns \['pnsr'\] are not in the table's schema"):
        store.upsert(tmp_path, "images", _rows("A", 1, 1.0).rename(columns={"psnr": "pnsr"}))
    with pytest.raises(StoreError, match="key column 'model' has an empty value"):
        store.upsert(tmp_path, "images", _rows(None, 1, 1.0))
    with pytest.raises(StoreError, match="images.scale: expected whole numbers"):
        store.upsert(tmp_path, "images", _rows("A", 1, 1.0).assign(scale=2.5))
    with pytest.raises(StoreError, match="images.psnr: expected a number"):
        store.upsert(tmp_path, "images", _rows("A", 1, "high"))
    assert not (tmp_path / "images.parquet").exists()
    # declared columns a write leaves out are there, empty; whole-number columns stay integers
    store.upsert(tmp_path, "images", _rows("A", 2, 1.0))
    df = store.read(tmp_path, "images")
    assert list(df.columns) == list(schema.IMAGES.columns) and df["ssim"].isna().all()
    assert str(df["scale"].dtype) == "int64"


def test_unknown_table_and_missing_key(tmp_path):
    with pytest.raises(StoreError, match="unknown results table"):
        store.read(tmp_path, "other")
    with pytest.raises(StoreError, match="key columns"):
        store.upsert(tmp_path, "images", _rows("A", 1, 1.0).drop(columns="dataset"))
