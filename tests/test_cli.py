"""The command line, end to end: bad input fails cleanly; real Set5 reproduces the bicubic table."""

import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from benchmark.cli import main


def _run(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def custom_root(tmp_path):
    root = tmp_path / "data"
    (root / "Mine" / "HR").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k in range(2):
        Image.fromarray(rng.integers(0, 256, (32, 40, 3)).astype(np.uint8)).save(root / "Mine" / "HR" / f"{k}.png")
    return root


def _assert_clean_error(res, needle, results):
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0], res.output
    assert not list(results.glob("*.parquet")) if results.exists() else True


@pytest.mark.parametrize("args,needle", [
    (["--models", "nonexistent"], "unknown model 'nonexistent'"),
    (["--datasets", "Nope"], "dataset 'Nope' not found"),
    (["--scale", "9", "--models", "bicubic"], "does not support scale x9"),
    (["--degradation", "blur"], "unknown degradation 'blur'"),
    (["--models", "RFDN"], "architecture only"),
])
def test_bad_options_fail_with_one_line(custom_root, tmp_path, args, needle):
    results = tmp_path / "results"
    res = _run("run", "--data-root", str(custom_root), "--results", str(results), "--quiet", *args)
    _assert_clean_error(res, needle, results)


def test_truncated_and_empty_sets_fail_before_writing(custom_root, tmp_path):
    results = tmp_path / "results"
    ok = _run("run", "--models", "bicubic", "--data-root", str(custom_root), "--results", str(results),
              "--quiet", "--datasets", "Mine")
    assert ok.exit_code == 0, ok.output
    before = {p.name: p.read_bytes() for p in results.glob("*.parquet")}
    bad = custom_root / "Mine" / "HR" / "1.png"
    bad.write_bytes(bad.read_bytes()[:100])
    res = _run("run", "--models", "bicubic", "--data-root", str(custom_root), "--results", str(results),
               "--quiet", "--datasets", "Mine")
    _assert_clean_error(res, "1.png", tmp_path / "none")
    assert {p.name: p.read_bytes() for p in results.glob("*.parquet")} == before  # nothing touched
    (custom_root / "Empty" / "HR").mkdir(parents=True)
    res = _run("run", "--models", "bicubic", "--data-root", str(custom_root), "--results", str(results),
               "--quiet", "--datasets", "Empty")
    _assert_clean_error(res, "Empty: no PNG images", tmp_path / "none")


def test_read_only_results_dir(custom_root, readonly_dir):
    res = _run("run", "--models", "bicubic", "--data-root", str(custom_root), "--results", str(readonly_dir),
               "--quiet", "--datasets", "Mine")
    _assert_clean_error(res, "not writable", readonly_dir)


def test_demo_fallback_runs_anywhere(tmp_path):
    res = _run("run", "--models", "bicubic", "--data-root", str(tmp_path / "empty"), "--results",
               str(tmp_path / "r"), "--quiet", "--cache-dir", str(tmp_path / "c"))
    assert res.exit_code == 0, res.output
    assert "NOT a standard benchmark" in res.output
    s = pd.read_parquet(tmp_path / "r" / "summary.parquet")
    assert list(s["dataset"]) == ["Demo"] and s["dataset_kind"].iloc[0] == "demo"


def test_list_shows_models_and_set_states(data_root, tmp_path):
    shutil.copytree(data_root / "Set5", tmp_path / "Set5")
    (tmp_path / "Set5" / "HR" / "bird.png").unlink()
    res = _run("list", "--data-root", str(tmp_path))
    assert res.exit_code == 0
    assert "Bicubic" in res.output and "missing files" in res.output and "bird.png" in res.output


def test_set5_bicubic_both_gray_conventions_and_jpeg(data_root, tmp_path):
    results, cache = tmp_path / "r", tmp_path / "c"
    common = ["--models", "bicubic", "--data-root", str(data_root), "--results", str(results),
              "--cache-dir", str(cache), "--quiet", "--datasets", "Set5,Set14"]
    assert _run("run", *common, "--scale", "4", "--gray", "y").exit_code == 0
    assert _run("run", *common, "--scale", "4", "--gray", "rgb",
                "--degradation", "bicubic,jpeg10,jpeg20,jpeg30,jpeg40").exit_code == 0
    s = pd.read_parquet(results / "summary.parquet").set_index(["dataset", "degradation", "gray"])
    assert len(s) == 2 + 10  # both conventions live side by side
    # PROTOCOL check values (an independent implementation) and the published table, x4 under 'y'
    assert s.loc[("Set5", "bicubic", "y"), "psnr"] == pytest.approx(28.431, abs=0.001)
    assert s.loc[("Set5", "bicubic", "y"), "ssim"] == pytest.approx(0.8113, abs=0.0001)
    assert s.loc[("Set14", "bicubic", "y"), "psnr"] == pytest.approx(25.997, abs=0.001)
    # under 'rgb' only Set14 (bridge is single-channel) moves, by about +0.09 dB
    assert s.loc[("Set5", "bicubic", "rgb"), "psnr"] == s.loc[("Set5", "bicubic", "y"), "psnr"]
    assert s.loc[("Set14", "bicubic", "rgb"), "psnr"] - s.loc[("Set14", "bicubic", "y"), "psnr"] == \
        pytest.approx(0.09, abs=0.02)
    for ds in ("Set5", "Set14"):
        q = [s.loc[(ds, f"jpeg{k}", "rgb"), "psnr"] for k in (10, 20, 30, 40)]
        assert q == sorted(q) and len(set(q)) == 4  # higher quality scores higher
        assert q[-1] < s.loc[(ds, "bicubic", "rgb"), "psnr"]  # and all below the clean track
    img = pd.read_parquet(results / "images.parquet")
    assert len(img) == 6 * 19  # (5 + 14 images) x (1 + 5 tracks)
    # rerunning replaces rows instead of duplicating them
    assert _run("run", *common, "--scale", "4", "--gray", "y").exit_code == 0
    assert len(pd.read_parquet(results / "summary.parquet")) == 12
    assert len(pd.read_parquet(results / "images.parquet")) == 6 * 19
