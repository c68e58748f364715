"""The Ray executor: the same work as the local executor gives the same rows (the driver alone writes).

Ray is in the ``test`` extra, so a missing Ray fails these tests (an incomplete test environment), as a
missing pytest plugin would.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.evaluate import IMAGES_KEY, SUMMARY_KEY, RunOptions, execute
from benchmark.plan import plan_request
from benchmark.schema import VOLATILE_COLUMNS

HINT = "Ray is not installed: pip install 'srbench[ray]'"


def _import_ray():
    try:
        import ray
    except ImportError:
        pytest.fail(HINT + " (it is in the test extra: pip install -e '.[test]')")
    return ray


@pytest.fixture(scope="module")
def ray_local():
    ray = _import_ray()
    started = not ray.is_initialized()
    if started:  # the workers import the test models (tests/_faulty_models.py) by name
        tests_dir = str(Path(__file__).resolve().parent)
        path = os.pathsep.join(p for p in (tests_dir, os.environ.get("PYTHONPATH", "")) if p)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    if started:
        ray.shutdown()


def test_ray_missing_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes 'import ray' fail
    res = CliRunner().invoke(main, ["run", "--executor", "ray", "--models", "bicubic", "--datasets", "Demo",
                                    "--results", str(tmp_path / "r"), "--quiet"])
    assert res.exit_code == 1
    assert res.output.strip() == "Error: the Ray executor needs Ray: pip install 'srbench[ray]' " \
                                 "(or pip install 'ray[default]')"
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").iterdir())


def test_ray_executor_matches_local(ray_local, data_root, weights_root, tmp_path):
    p = plan_request("bicubic,SPANtiny-ntire24", "Set5", [4], ["bicubic"], data_root=data_root,
                     weights_dir=weights_root)
    assert len(p.items) == 2
    cache = tmp_path / "cache"
    timings = {}
    for kind in ("local", "ray"):
        # one torch thread on both sides: a convolution's float rounding depends on the thread count
        opts = RunOptions(tmp_path / kind, "cpu", weights_dir=weights_root, cache_dir=cache, executor=kind,
                          threads=1)
        t0 = time.perf_counter()
        out = execute(p, opts, log=lambda m: None)
        timings[kind] = time.perf_counter() - t0
        assert list(out["status"]) == ["ok", "ok"]
    print(f"\nSet5 x4, Bicubic + SPANtiny-ntire24: local {timings['local']:.1f} s, ray {timings['ray']:.1f} s "
          f"(ray.init not included)")
    for table, key in (("summary", SUMMARY_KEY), ("images", IMAGES_KEY)):
        a, b = (pd.read_parquet(tmp_path / k / f"{table}.parquet").sort_values(key).reset_index(drop=True)
                for k in ("local", "ray"))
        assert (a[key] == b[key]).all().all()
        assert (a["psnr"] - b["psnr"]).abs().max() <= 1e-9 and (a["ssim"] - b["ssim"]).abs().max() <= 1e-12
        drop = [c for c in VOLATILE_COLUMNS if c in a.columns]
        pd.testing.assert_frame_equal(a.drop(columns=drop), b.drop(columns=drop))
    runs = pd.read_parquet(tmp_path / "ray" / "runs.parquet")
    assert runs["executor"].tolist() == ["ray"] and runs["status"].tolist() == ["complete"]


def test_ray_isolates_faults_like_local(ray_local, tmp_path):
    """A model that raises and one that hangs (bounded by the timeout: the driver cancels the task)."""
    import _faulty_models
    import numpy as np
    from PIL import Image

    _faulty_models.register_all()
    try:
        hr = tmp_path / "data" / "Mine" / "HR"
        hr.mkdir(parents=True)
        rng = np.random.default_rng(0)
        for name, (h, w) in {"a": (32, 32), "b": (32, 40), "c": (64, 64), "d": (24, 32)}.items():
            Image.fromarray(rng.integers(0, 256, (h, w, 3)).astype(np.uint8)).save(hr / f"{name}.png")
        p = plan_request("T-raise,T-hang,T-good", "Mine", [2], ["bicubic"], data_root=tmp_path / "data")
        opts = RunOptions(tmp_path / "r", "cpu", cache_dir=tmp_path / "c", executor="ray", timeout=5)
        t0 = time.monotonic()
        out = execute(p, opts, log=lambda m: None).set_index("model")
        assert time.monotonic() - t0 < 200
    finally:
        _faulty_models.unregister_all()
    assert out.loc["T-raise", "status"] == "partial" and out.loc["T-good", "status"] == "ok"
    i = pd.read_parquet(tmp_path / "r" / "images.parquet").set_index(["model", "image"])
    assert list(i.loc["T-hang", "status"]) == ["ok", "ok", "timeout", "skipped"]
    assert "boom on a 16x20 input" in i.loc[("T-raise", "b"), "error"]


def test_ray_runs_and_profiles_an_adhoc_model(ray_local, data_root, tmp_path):
    """A model given with --arch/--checkpoint from a folder outside the repository: each Ray task rebuilds it
    from its spec (file path, callable, checkpoint, sha256), for run and for profile (device 'auto', which
    the task resolves on its own machine)."""
    import torch

    d = tmp_path / "x"
    d.mkdir()
    (d / "mynet.py").write_text(
        "import torch, torch.nn as nn, torch.nn.functional as F\n"
        "class MyNet(nn.Module):\n"
        "    def __init__(self, scale=4):\n"
        "        super().__init__(); self.scale = scale; self.gain = nn.Parameter(torch.ones(1))\n"
        "    def forward(self, x):\n"
        "        return F.interpolate(x, scale_factor=self.scale, mode='nearest') * self.gain\n")
    torch.save({"gain": torch.ones(1)}, d / "mynet.pth")
    arch = ["--arch", f"{d}/mynet.py:MyNet", "--checkpoint", str(d / "mynet.pth")]
    local, ray = tmp_path / "local", tmp_path / "ray"
    for res, extra in ((local, []), (ray, ["--executor", "ray"])):
        r = CliRunner().invoke(main, ["run", *arch, "--datasets", "Set5", "--results", str(res), "--quiet",
                                      "--data-root", str(data_root), *extra])
        assert r.exit_code == 0, r.output
    a, b = (pd.read_parquet(p / "summary.parquet").iloc[0] for p in (local, ray))
    assert (b["origin"], b["status"]) == ("cli", "ok") and b["psnr"] == pytest.approx(a["psnr"], abs=1e-9)
    r = CliRunner().invoke(main, ["profile", *arch, "--no-timing", "--size", "32x32", "--results", str(ray),
                                  "--executor", "ray"])
    assert r.exit_code == 0, r.output
    prof = pd.read_parquet(ray / "profile.parquet").iloc[0]
    assert (prof["status"], prof["origin"], int(prof["params"]), prof["device"]) == ("ok", "cli", 1, "cpu")
