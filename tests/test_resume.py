"""Resuming: a run killed at any point (SIGKILL included) and started again with the same arguments
does only the remaining work, per image, and ends with the tables an uninterrupted run gives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from benchmark import journal, store
from benchmark.cli import main
from benchmark.evaluate import IMAGES_KEY, SUMMARY_KEY, RunOptions, execute
from benchmark.journal import LineLog
from benchmark.plan import plan_request
from benchmark.schema import VOLATILE_COLUMNS

REPO = Path(__file__).resolve().parent.parent
N_IMAGES = 24
ARGS = ["--models", "bicubic", "--datasets", "Many", "--scale", "2", "--degradation", "bicubic,jpeg30",
        "--quiet"]


# ----------------------------------------------------------------------------------- the line log

def test_line_log_cuts_a_torn_last_line(tmp_path):
    p = tmp_path / "j.jsonl"
    log = LineLog(p)
    log.append({"a": 1})
    log.append({"a": 2, "x": float("nan")})
    log.close()
    good = p.read_bytes()
    with open(p, "ab") as f:
        f.write(b'{"a": 3, "psnr": 31.')  # the process died mid-write
    again = LineLog(p)
    assert [r["a"] for r in again.records] == [1, 2] and np.isnan(again.records[1]["x"])
    assert p.read_bytes() == good  # cut back to the last complete line
    again.append({"a": 4})
    again.close()
    assert [r["a"] for r in LineLog(p).records] == [1, 2, 4]
    p.write_bytes(good + b"garbage\n" + b'{"a": 5}\n')  # damage in the middle: stop there
    assert [r["a"] for r in LineLog(p).records] == [1, 2]


# ------------------------------------------------------------------------------ a small custom set

@pytest.fixture(scope="module")
def many(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    hr = root / "Many" / "HR"
    hr.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k in range(N_IMAGES):
        base = rng.integers(0, 256, (12, 12, 3)).astype(np.uint8)
        img = np.kron(base, np.ones((8, 8, 1), np.uint8))  # smooth-ish: blocks, so PSNR varies by image
        img = np.clip(img.astype(int) + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(hr / f"img{k:02d}.png")
    return root


def _cli(root, results, *extra):
    return CliRunner().invoke(main, ["run", *ARGS, "--data-root", str(root), "--results", str(results),
                                     "--cache-dir", str(results.parent / "cache"), *extra],
                              catch_exceptions=False)


def _stable(results, table, key):
    df = pd.read_parquet(results / f"{table}.parquet")
    df = df.drop(columns=[c for c in VOLATILE_COLUMNS if c in df.columns])
    return df.sort_values(key).reset_index(drop=True)


def _assert_same_tables(a, b):
    for table, key in (("summary", SUMMARY_KEY), ("images", IMAGES_KEY)):
        pd.testing.assert_frame_equal(_stable(a, table, key), _stable(b, table, key))


@pytest.fixture(scope="module")
def reference(many, tmp_path_factory):
    """The uninterrupted run."""
    results = tmp_path_factory.mktemp("ref") / "results"
    res = _cli(many, results)
    assert res.exit_code == 0, res.output
    return results


def _journal_state(results):
    """(item rows journaled, items done) after a kill: only complete lines count."""
    root = results / journal.JOURNAL_DIR
    rows = done = 0
    for d in root.iterdir() if root.is_dir() else []:
        finished = {r["item"] for r in journal._read_lines(d / "done.jsonl")[0]}  # read only: no repair
        done += len(finished)
        for p in d.glob("*.jsonl"):
            if p.name != "done.jsonl" and p.stem not in finished:  # a finished item's log may linger
                rows += sum(r.get("event") == "row" for r in journal._read_lines(p)[0])
    return rows, done


def _kill_when(results, cond, cache, root):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "benchmark.cli", "run", *ARGS, "--data-root", str(root), "--results",
           str(results), "--cache-dir", str(cache)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"the run ended before the kill point: {proc.stderr.read().decode()[-2000:]}")
            if cond(*_journal_state(results)):
                break
            time.sleep(0.005)
        else:
            pytest.fail("kill point not reached")
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


# kill points: as soon as the journal exists; mid first item; mid second item (first one stored)
@pytest.mark.parametrize("point", ["start", "item1", "item2"])
def test_sigkill_then_resume_equals_an_uninterrupted_run(point, many, reference, tmp_path):
    results = tmp_path / "results"
    cond = {"start": lambda rows, done: (results / journal.JOURNAL_DIR).is_dir(),
            "item1": lambda rows, done: done == 0 and rows >= 5,
            "item2": lambda rows, done: done == 1 and rows >= 3}[point]
    _kill_when(results, cond, tmp_path / "cache", many)
    rows, done = _journal_state(results)
    had_meta = any((results / journal.JOURNAL_DIR).glob("*/meta.json"))  # killed before it was written?
    if point == "item2":  # the first item is already in the tables, the second is not
        assert len(pd.read_parquet(results / "summary.parquet")) == 1
    res = _cli(many, results)
    assert res.exit_code == 0, res.output
    _assert_same_tables(results, reference)
    runs = pd.read_parquet(results / "runs.parquet")
    assert len(runs) == 1 and runs["status"].iloc[0] == "complete"
    assert runs["attempts"].iloc[0] == (2 if had_meta else 1)
    assert runs["resumed_images"].iloc[0] == rows + done * N_IMAGES  # only the rest was done again
    if rows or done:
        assert "resuming an interrupted run" in res.stderr
    assert not (results / journal.JOURNAL_DIR).exists()


# --------------------------------------------- crashes inside the driver, at the awkward moments

class _Crash(BaseException):
    """Stands for a kill: not an Exception, so nothing catches it on the way out."""


def _execute(root, results, **kw):
    p = plan_request("bicubic", "Many", [2], ["bicubic", "jpeg30"], data_root=root)
    opts = RunOptions(results, "cpu", cache_dir=results.parent / "cache", **kw)
    return execute(p, opts, log=lambda m: None)


@pytest.mark.parametrize("when", ["after images upsert", "after summary upsert", "after mark done"])
def test_crash_while_storing_an_item_then_resume(when, many, reference, tmp_path, monkeypatch):
    results = tmp_path / "results"
    real_upsert, real_mark = store.upsert, journal.RunJournal.mark_done
    calls = {"upsert": 0}

    def upsert(d, table, rows):
        out = real_upsert(d, table, rows)
        if table in ("images", "summary"):
            calls["upsert"] += 1
            if (when, table) in (("after images upsert", "images"), ("after summary upsert", "summary")):
                raise _Crash(when)
        return out

    def mark_done(self, key, summary):
        real_mark(self, key, summary)
        if when == "after mark done":
            raise _Crash(when)

    monkeypatch.setattr(store, "upsert", upsert)
    monkeypatch.setattr(journal.RunJournal, "mark_done", mark_done)
    with pytest.raises(_Crash):
        _execute(many, results)
    monkeypatch.undo()
    out = _execute(many, results)
    assert out.attrs["attempts"] == 2 and out.attrs["resumed_images"] == N_IMAGES  # item 1 was not re-run
    _assert_same_tables(results, reference)


def test_a_finished_run_is_redone_and_replaces_its_rows(many, reference, tmp_path):
    results = tmp_path / "results"
    first = _execute(many, results)
    again = _execute(many, results)
    assert first.attrs["run_id"] != again.attrs["run_id"] and again.attrs["resumed_images"] == 0
    _assert_same_tables(results, reference)
    assert len(pd.read_parquet(results / "images.parquet")) == 2 * N_IMAGES
    assert len(pd.read_parquet(results / "runs.parquet")) == 2


def _crash_before_storing(data_root, results, monkeypatch) -> None:
    """Run until the first item's images are about to be stored, then crash (its journal stays)."""
    real_upsert = store.upsert

    def upsert(d, table, rows):
        if table == "images":
            raise _Crash()
        return real_upsert(d, table, rows)

    monkeypatch.setattr(store, "upsert", upsert)
    with pytest.raises(_Crash):
        _execute(data_root, results)
    monkeypatch.undo()


def test_changed_image_is_redone_and_fresh_starts_over(many, tmp_path, monkeypatch):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(many, root)
    results = tmp_path / "results"
    _crash_before_storing(root, results, monkeypatch)
    # one image changes before the resume: its journaled row no longer counts
    p = root / "Many" / "HR" / "img03.png"
    Image.fromarray(255 - np.asarray(Image.open(p))).save(p)
    out = _execute(root, results)
    assert out.attrs["resumed_images"] == N_IMAGES - 1
    img = pd.read_parquet(results / "images.parquet").set_index(["degradation", "image"])
    ref = img.loc[("bicubic", "img03"), "psnr"]
    # --fresh ignores a journal: everything is done again
    _crash_before_storing(root, results, monkeypatch)
    out = _execute(root, results, fresh=True)
    assert out.attrs["resumed_images"] == 0 and out.attrs["attempts"] == 1
    img = pd.read_parquet(results / "images.parquet").set_index(["degradation", "image"])
    assert img.loc[("bicubic", "img03"), "psnr"] == ref


def test_same_work_twice_at_once_is_refused(many, tmp_path):
    results = tmp_path / "results"
    p = plan_request("bicubic", "Many", [2], ["bicubic"], data_root=many)
    from benchmark.evaluate import run_key

    key = run_key(p, RunOptions(results, "cpu"))
    held = journal.RunJournal(results, key, {"run_id": "x", "started_at": "now"})
    try:
        res = CliRunner().invoke(main, ["run", "--models", "bicubic", "--datasets", "Many", "--scale", "2",
                                        "--data-root", str(many), "--results", str(results), "--quiet"])
        assert res.exit_code == 1
        assert res.output.strip().startswith("Error: another srbench run with the same work is writing to")
        assert f"(pid {os.getpid()})" in res.output
    finally:
        held.close()


def test_other_interrupted_runs_are_reported(many, tmp_path, monkeypatch):
    results = tmp_path / "results"
    _crash_before_storing(many, results, monkeypatch)
    msgs = []
    p = plan_request("bicubic", "Many", [3], ["bicubic"], data_root=many)  # other options: another run key
    execute(p, RunOptions(results, "cpu", cache_dir=tmp_path / "cache"), log=msgs.append)
    assert len(msgs) == 1 and "an interrupted run with other options is in" in msgs[0]
    meta = json.loads(next((results / journal.JOURNAL_DIR).glob("*/meta.json")).read_text())
    assert meta["attempts"] == 1


def test_damaged_journal_is_discarded_and_the_run_starts_over(many, reference, tmp_path, monkeypatch):
    results = tmp_path / "results"
    _crash_before_storing(many, results, monkeypatch)
    (meta,) = (results / journal.JOURNAL_DIR).glob("*/meta.json")
    meta.write_text('{"version": 1, "run_id": ')  # damaged by hand or by the disk
    msgs = []
    p = plan_request("bicubic", "Many", [2], ["bicubic", "jpeg30"], data_root=many)
    out = execute(p, RunOptions(results, "cpu", cache_dir=results.parent / "cache"), log=msgs.append)
    assert any("meta.json was unreadable; started over" in m for m in msgs)
    assert out.attrs["resumed_images"] == 0 and out.attrs["attempts"] == 1
    _assert_same_tables(results, reference)
