"""``srbench profile`` through the one driver: resume after kill -9, --timeout, fault isolation, Ray.

The models are the stand-ins of tests/_faulty_models.py (nearest-neighbour x2, one that hangs on
inputs over 600 pixels), measured at a 32x32 LR input with fixed, tiny warm-up and repeat counts.
The command runs in a fresh interpreter, as a user runs it, with the stand-ins registered by
importing their module first.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark import store

TESTS = Path(__file__).resolve().parent
FAST = ["--scale", "2", "--size", "32x32", "--warmup", "1", "--repeats", "2", "--device", "cpu"]


def _cmd(results: Path, models: str, *extra: str) -> list[str]:
    return [sys.executable, "-c", "import _faulty_models; from benchmark.cli import main; main()",
            "profile", "--models", models, "--results", str(results), *FAST, *extra]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)]),
            "PYTHONUNBUFFERED": "1"}


def _rows(results: Path):
    p = store.read(results, "profile")
    return p if p.empty else p.sort_values("model").reset_index(drop=True)


def test_profile_resumes_after_kill_9_and_measures_only_the_missing_models(tmp_path):
    """Killed (SIGKILL) once the first model's row is stored, the same command measures only the
    other two: the first row is not measured again (its measured_at and run_id are kept)."""
    res = tmp_path / "res"
    models = "T-good,T-flaky,T-nan"
    proc = subprocess.Popen(_cmd(res, models), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    first = None
    while time.monotonic() < deadline and proc.poll() is None:
        p = _rows(res) if (res / "profile.parquet").exists() else None
        if p is not None and len(p) >= 1:
            first = p
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert first is not None and len(first) < 3, "the first run finished before it could be killed"
    assert (res / ".journal").is_dir()  # the interrupted run's journal is there to resume from
    done = set(first["model"])

    again = subprocess.run(_cmd(res, models), env=_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"resuming an interrupted run (attempt 2): {len(done)} of 3 profile rows were already done" in again.stderr
    after = _rows(res)
    assert set(after["model"]) == {"T-good", "T-flaky", "T-nan"} and (after["status"] == "ok").all()
    for m in done:  # not measured again
        old = first[first["model"] == m].iloc[0]
        new = after[after["model"] == m].iloc[0]
        assert (new["measured_at"], new["run_id"]) == (old["measured_at"], old["run_id"])
    assert not (res / ".journal").exists()  # a completed run leaves no journal
    runs = store.read(res, "runs")
    assert list(runs["task_kind"]) == ["profile"] and int(runs["attempts"].iloc[0]) == 2


def test_profile_timeout_gives_an_error_row_and_a_nonzero_exit(tmp_path):
    """A model that hangs is killed after --timeout and gets a 'timeout' row; the others are measured."""
    res = tmp_path / "res"
    t0 = time.monotonic()
    out = subprocess.run(_cmd(res, "T-hang,T-good", "--timeout", "5", "--size", "256x256"), env=_env(),
                         capture_output=True,
                         text=True, timeout=300)
    assert time.monotonic() - t0 < 120
    assert out.returncode == 3, out.stdout + out.stderr
    assert "1 of 2 model(s) had errors" in out.stderr and "T-hang x2: timeout" in out.stderr
    p = _rows(res).set_index("model")
    assert p.loc["T-hang", "status"] == "timeout" and "--timeout 5 s" in p.loc["T-hang", "error"]
    assert p.loc["T-good", "status"] == "ok" and p.loc["T-good", "params"] == 1
    # the error row holds the key, no figures; the leaderboard's efficiency reader leaves it out
    assert p.loc["T-hang", "runtime_ms"] != p.loc["T-hang", "runtime_ms"]  # NaN
    from benchmark import results

    assert set(results.efficiency(res, 2)["model"]) == {"T-good"}


def test_a_failed_profile_never_replaces_a_good_row(tmp_path):
    res = tmp_path / "res"
    ok = subprocess.run(_cmd(res, "T-flaky"), env=_env(), capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    good = _rows(res).iloc[0]
    # the same key again, now raising in its forward pass (tests/_faulty_models.py reads the switch)
    bad = subprocess.run(_cmd(res, "T-flaky", "--fresh"), env={**_env(), "SRBENCH_TEST_FLAKY": "1"},
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 3 and "kept the earlier good profile row" in bad.stderr, bad.stderr
    assert "T-flaky x2: error" in bad.stderr and "flaky failure" in bad.stderr
    assert "results:" not in bad.stdout  # nothing was measured: no results path is claimed (issue 18)
    after = _rows(res)
    assert len(after) == 1 and after.iloc[0]["status"] == "ok"
    assert after.iloc[0]["measured_at"] == good["measured_at"]


@pytest.mark.slow
def test_profile_on_ray_gives_the_same_counts_as_local(tmp_path):
    pytest.importorskip("ray")
    local, ray_res = tmp_path / "local", tmp_path / "ray"
    args = ("--no-timing",)
    a = subprocess.run(_cmd(local, "T-good,Bicubic", *args), env=_env(), capture_output=True, text=True, timeout=300)
    b = subprocess.run(_cmd(ray_res, "T-good,Bicubic", *args, "--executor", "ray"), env=_env(),
                       capture_output=True, text=True, timeout=600)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    cols = ["model", "variant", "params", "flops", "flops_fvcore", "activations", "num_conv", "status"]
    assert _rows(local)[cols].equals(_rows(ray_res)[cols])
    assert list(store.read(ray_res, "runs")["executor"]) == ["ray"]
