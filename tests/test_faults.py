"""Fault isolation and bad input: misbehaving models get error rows and the run goes on; bad input
fails with one line and leaves what is stored untouched.

The misbehaving models (tests/_faulty_models.py) are registered for the test only (weightless
'baseline' cards) and act up on chosen images of a small custom set, told apart by their LR size:

    a.png 32x32 -> LR 16x16    b.png 32x40 -> LR 16x20    c.png 64x64 -> LR 32x32    d.png 24x32 -> LR 12x16
"""

from __future__ import annotations

import hashlib
import pickle
import time

import _faulty_models
import numpy as np
import pandas as pd
import pytest
import torch
from _faulty_models import FLAKY, Nearest
from click.testing import CliRunner
from PIL import Image

import registry
from benchmark.cli import main
from registry.base import ModelCard, WeightFile


@pytest.fixture
def test_models():
    _faulty_models.register_all()
    yield
    _faulty_models.unregister_all()


@pytest.fixture
def mine(tmp_path):
    root = tmp_path / "data"
    hr = root / "Mine" / "HR"
    hr.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, (h, w) in {"a": (32, 32), "b": (32, 40), "c": (64, 64), "d": (24, 32)}.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3)).astype(np.uint8)).save(hr / f"{name}.png")
    return root


def _run(root, results, *args):
    return CliRunner().invoke(main, ["run", "--datasets", "Mine", "--scale", "2", "--data-root", str(root),
                                     "--results", str(results), "--cache-dir", str(results.parent / "cache"),
                                     "--quiet", *args], catch_exceptions=False)


def _tables(results):
    s = pd.read_parquet(results / "summary.parquet").set_index("model")
    i = pd.read_parquet(results / "images.parquet").set_index(["model", "image"])
    return s, i


def test_misbehaving_models_get_error_rows_and_the_run_goes_on(test_models, mine, tmp_path):
    results = tmp_path / "r"
    res = _run(mine, results, "--models", "T-raise,T-nan,T-shape,T-oom,T-good", "--tile-overlap", "4")
    assert res.exit_code == 3, res.output
    assert "3 of 5 work items had errors" in res.stderr
    s, i = _tables(results)
    # raises on one image: that image errors, the others are scored
    assert s.loc["T-raise", "status"] == "partial" and s.loc["T-raise", "n_errors"] == 1
    assert i.loc[("T-raise", "b"), "status"] == "error"
    assert "RuntimeError: boom on a 16x20 input" in i.loc[("T-raise", "b"), "error"]
    assert np.isnan(i.loc[("T-raise", "b"), "psnr"]) and (i.loc["T-raise"].drop("b")["status"] == "ok").all()
    assert s.loc["T-raise", "psnr"] == pytest.approx(i.loc["T-good"].drop("b")["psnr"].mean(), abs=1e-12)
    # NaN everywhere / wrong shape everywhere: failed items, every image has the message
    assert s.loc["T-nan", "status"] == "failed" and s.loc["T-nan", "n_errors"] == 4
    assert (i.loc["T-nan", "error"].str.contains("NaN or Inf")).all() and np.isnan(s.loc["T-nan", "psnr"])
    assert s.loc["T-shape", "status"] == "failed"
    assert (i.loc["T-shape", "error"].str.startswith("InferenceError: output shape (1, 3, ")).all()
    assert i.loc[("T-shape", "c"), "error"] == "InferenceError: output shape (1, 3, 63, 64), expected (1, 3, 64, 64)"
    # OOM on the big image: tiled fallback, same numbers as the well-behaved model, tile recorded
    assert s.loc["T-oom", "status"] == "ok" and s.loc["T-oom", "n_tiled"] == 1
    assert i.loc[("T-oom", "c"), "tile"] == 16 and (i.loc["T-oom"].drop("c")["tile"] == 0).all()
    assert list(i.loc["T-oom", "psnr"]) == list(i.loc["T-good", "psnr"])
    # the run went on to the last item, and the failures are listed, one line each
    assert s.loc["T-good", "status"] == "ok" and s.loc["T-good", "n_errors"] == 0
    for name in ("T-raise", "T-nan", "T-shape"):
        assert sum(f"  {name} x2 Mine bicubic:" in ln for ln in res.stderr.splitlines()) == 1
    runs = pd.read_parquet(results / "runs.parquet")
    assert runs["status"].tolist() == ["complete with errors"] and runs["n_failed_items"].tolist() == [3]
    assert not (results / ".journal").exists()


def test_hung_and_dying_models_are_bounded_by_timeout(test_models, mine, tmp_path):
    results = tmp_path / "r"
    t0 = time.monotonic()
    res = _run(mine, results, "--models", "T-hang,T-die,T-good", "--timeout", "4")
    took = time.monotonic() - t0
    assert res.exit_code == 3, res.output
    s, i = _tables(results)
    # the hang: a, b scored; c timed out; d not run (a hang tends to repeat)
    assert list(i.loc["T-hang", "status"]) == ["ok", "ok", "timeout", "skipped"]
    assert "no result within --timeout 4 s" in i.loc[("T-hang", "c"), "error"]
    assert s.loc["T-hang", "status"] == "partial" and s.loc["T-hang", "n_errors"] == 2
    # the worker that died: the same shape of result, with its exit code
    assert list(i.loc["T-die", "status"]) == ["ok", "ok", "error", "skipped"]
    assert "worker process died (exit code 7)" in i.loc[("T-die", "c"), "error"]
    assert s.loc["T-good", "status"] == "ok"
    assert took < 120  # one 4 s timeout, not an hour


def test_a_failing_rerun_keeps_the_earlier_complete_result(test_models, mine, tmp_path):
    results = tmp_path / "r"
    FLAKY["raise"] = False
    assert _run(mine, results, "--models", "T-flaky").exit_code == 0
    before = pd.read_parquet(results / "summary.parquet")
    images_before = pd.read_parquet(results / "images.parquet")
    FLAKY["raise"] = True
    try:
        res = _run(mine, results, "--models", "T-flaky")
    finally:
        FLAKY["raise"] = False
    assert res.exit_code == 3 and "kept the earlier complete result" in res.stderr
    after = pd.read_parquet(results / "summary.parquet")
    assert after["status"].tolist() == ["ok"] and after["psnr"].tolist() == before["psnr"].tolist()
    pd.testing.assert_frame_equal(pd.read_parquet(results / "images.parquet"), images_before)


# ------------------------------------------------------------------------------------- checkpoints

class _Evil:
    def __reduce__(self):
        return (print, ("pickled code ran",))


@pytest.fixture
def bad_checkpoints(tmp_path):
    """Cards whose checkpoint is: for another architecture, pickled code, or not the card's hash."""
    wdir = tmp_path / "weights"
    wdir.mkdir()
    torch.save({"conv.weight": torch.zeros(5, 3, 3, 3)}, wdir / "arch.pth")
    with open(wdir / "evil.pth", "wb") as f:
        pickle.dump({"w": _Evil()}, f)
    torch.save(Nearest(2).state_dict(), wdir / "hash.pth")

    def sha(name):
        return hashlib.sha256((wdir / name).read_bytes()).hexdigest()

    cards = [ModelCard(name=f"T-{n}", family="Test", kind="cnn", paper=None, scales=(2,), build=Nearest,
                       weights=(WeightFile(f, s, (2,), "", "MIT"),))
             for n, f, s in (("arch", "arch.pth", sha("arch.pth")), ("evil", "evil.pth", sha("evil.pth")),
                             ("hash", "hash.pth", "0" * 64))]
    registry.names()
    for c in cards:
        registry.register(c)
    yield wdir
    for c in cards:
        registry._CARDS.pop(c.name.lower(), None)


def test_bad_checkpoints_are_refused(test_models, bad_checkpoints, mine, tmp_path, capfd):
    results = tmp_path / "r"
    assert _run(mine, results, "--models", "T-good").exit_code == 0
    stored = {p.name: p.read_bytes() for p in results.glob("*.parquet")}
    # a hash that differs from the card: refused before anything runs, one line, nothing touched
    res = _run(mine, results, "--models", "T-hash,T-good", "--weights-dir", str(bad_checkpoints))
    assert res.exit_code == 1 and res.output.strip().count("\n") == 0, res.output
    assert res.output.startswith("Error: model T-hash x2: checkpoint") and "hash.pth is altered" in res.output
    assert {p.name: p.read_bytes() for p in results.glob("*.parquet")} == stored
    # wrong architecture and pickled code (hash as on the card): the item fails, the run goes on
    res = _run(mine, results, "--models", "T-arch,T-evil,T-good", "--weights-dir", str(bad_checkpoints))
    assert res.exit_code == 3, res.output
    assert "pickled code ran" not in res.output + capfd.readouterr().out
    s, i = _tables(results)
    assert s.loc["T-arch", "status"] == "failed" and "arch.pth: does not fit T-arch x2" in s.loc["T-arch", "error"]
    assert s.loc["T-evil", "status"] == "failed"
    assert "evil.pth: refused: the file needs pickle to load" in s.loc["T-evil", "error"]
    assert (i.loc["T-arch", "error"].str.startswith("model could not be built: ")).all()
    assert s.loc["T-good", "status"] == "ok"


# ------------------------------------------------------------------------------------------ images

def _set_with(root, name, arr_or_bytes, mode=None):
    hr = root / "Odd" / "HR"
    hr.mkdir(parents=True, exist_ok=True)
    p = hr / f"{name}.png"
    if isinstance(arr_or_bytes, bytes):
        p.write_bytes(arr_or_bytes)
    else:
        img = Image.fromarray(arr_or_bytes)
        (img.convert(mode) if mode else img).save(p)
    return p


@pytest.mark.parametrize("kind,needle", [
    ("16bit", "16-bit"), ("tiny", "smaller than the scale x2"), ("text", "cannot decode image")])
def test_unusable_images_fail_in_one_line_before_writing(test_models, mine, tmp_path, kind, needle):
    results = tmp_path / "r"
    assert _run(mine, results, "--models", "T-good").exit_code == 0
    stored = {p.name: p.read_bytes() for p in results.glob("*.parquet")}
    rgb = np.random.default_rng(1).integers(0, 256, (20, 24, 3)).astype(np.uint8)
    _set_with(mine, "fine", rgb)
    bad = {"16bit": rgb[:, :, 0].astype(np.uint16) * 257, "tiny": rgb[:1, :1], "text": b"not a png"}[kind]
    _set_with(mine, f"bad_{kind}", bad)
    res = CliRunner().invoke(main, ["run", "--datasets", "Odd", "--scale", "2", "--data-root", str(mine),
                                    "--results", str(results), "--quiet", "--models", "T-good"])
    assert res.exit_code == 1, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and f"bad_{kind}.png" in lines[0] and needle in lines[0]
    assert {p.name: p.read_bytes() for p in results.glob("*.parquet")} == stored


def test_palette_alpha_and_gray_images_are_evaluated(test_models, mine, tmp_path):
    rgb = np.random.default_rng(2).integers(0, 256, (20, 24, 3)).astype(np.uint8)
    _set_with(mine, "pal", rgb, "P")
    _set_with(mine, "rgba", np.dstack([rgb, np.full((20, 24), 7, np.uint8)]))
    _set_with(mine, "gray", rgb[:, :, 0])
    results = tmp_path / "r"
    res = CliRunner().invoke(main, ["run", "--datasets", "Odd", "--scale", "2", "--data-root", str(mine),
                                    "--results", str(results), "--quiet", "--models", "T-good",
                                    "--cache-dir", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    i = pd.read_parquet(results / "images.parquet").set_index("image")
    assert (i["status"] == "ok").all() and i["psnr"].notna().all()
    assert bool(i.loc["gray", "gray_image"]) and not bool(i.loc["rgba", "gray_image"])
    assert (i["lr_height"] == 10).all() and (i["lr_width"] == 12).all()


# ------------------------------------------------------------------------------- results directory

def test_stray_temp_file_is_removed_and_tables_kept(test_models, mine, tmp_path):
    results = tmp_path / "r"
    assert _run(mine, results, "--models", "T-good").exit_code == 0
    before = pd.read_parquet(results / "images.parquet")
    stray = results / ".images-k2j4h1.parquet.tmp"  # what a writer killed mid-write leaves
    stray.write_bytes(b"PAR1 half")
    res = _run(mine, results, "--models", "T-raise")
    assert res.exit_code == 3 and f"removed {stray}" in res.stderr
    assert not stray.exists()
    after = pd.read_parquet(results / "images.parquet")
    pd.testing.assert_frame_equal(after[after["model"] == "T-good"].reset_index(drop=True), before)
    assert (after["model"] == "T-raise").sum() == 4


@pytest.mark.parametrize("table", ["images", "summary", "runs"])
def test_truncated_table_is_refused_by_name_before_any_work(test_models, mine, tmp_path, table):
    results = tmp_path / "r"
    assert _run(mine, results, "--models", "T-good").exit_code == 0
    p = results / f"{table}.parquet"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])  # e.g. an interrupted copy
    stored = {q.name: q.read_bytes() for q in results.glob("*.parquet")}
    res = _run(mine, results, "--models", "T-good")
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {p}: not a readable parquet table")
    assert "move it aside and rerun" in lines[0]
    assert {q.name: q.read_bytes() for q in results.glob("*.parquet")} == stored
    assert not (results / ".journal").exists() or not any((results / ".journal").iterdir())


@pytest.mark.parametrize("args,needle", [
    (["--executor", "slurm"], "--executor 'slurm': use local or ray"),
    (["--address", "10.0.0.1:6379"], "--address needs --executor ray"),
    (["--timeout", "0"], "--timeout must be a positive number"),
    (["--tile", "2"], "--tile must be at least 8"),
    (["--tile-overlap", "-1"], "--tile-overlap must be >= 0"),
    (["--threads", "0"], "--threads must be >= 1"),
])
def test_unknown_option_values_fail_in_one_line(test_models, mine, tmp_path, args, needle):
    results = tmp_path / "r"
    res = _run(mine, results, "--models", "T-good", *args)
    assert res.exit_code == 1, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0], res.output
    assert not results.exists() or not list(results.glob("*.parquet"))


def test_two_workers_run_items_side_by_side_and_bound_a_hang(test_models, mine, tmp_path):
    """--workers 2: two child processes; the same rows as one worker, and a hang or a death costs
    only its own item (the other worker goes on)."""
    one, two = tmp_path / "one", tmp_path / "two"
    r1 = _run(mine, one, "--models", "T-good,T-raise")
    r2 = _run(mine, two, "--models", "T-good,T-raise,T-hang,T-die", "--workers", "2", "--timeout", "4")
    assert r1.exit_code == 3 and r2.exit_code == 3, r2.output
    s1, i1 = _tables(one)
    s2, i2 = _tables(two)
    for name in ("T-good", "T-raise"):
        assert list(i1.loc[name, "psnr"].fillna(-1)) == list(i2.loc[name, "psnr"].fillna(-1))
        assert list(i1.loc[name, "status"]) == list(i2.loc[name, "status"])
    assert list(i2.loc["T-hang", "status"]) == ["ok", "ok", "timeout", "skipped"]
    assert list(i2.loc["T-die", "status"]) == ["ok", "ok", "error", "skipped"]
    runs = pd.read_parquet(two / "runs.parquet")
    assert '"workers": 2' in runs["options"].iloc[0]


def test_bad_workers_count_is_a_one_line_error(mine, tmp_path):
    res = _run(mine, tmp_path / "r", "--models", "Bicubic", "--workers", "0")
    assert res.exit_code == 1 and "--workers must be >= 1, not 0" in res.stderr
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").glob("*.parquet"))
