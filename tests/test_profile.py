"""Runtime, memory and the profile table (benchmark/profile.py), on the CPU for real."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from benchmark.profile import ModelSpec, ProfileOptions, profile_one
from benchmark.profile_run import PROFILE_KEY, profile_command, profile_isolated, write_profile
from benchmark.timing import forward_timer, measure_runtime

REQUIRED = ["model", "variant", "scale", "params", "flops", "flops_uncounted", "flops_ptflops", "activations",
            "num_conv", "runtime_ms", "runtime_p10_ms", "runtime_p90_ms", "memory_mb", "device", "precision",
            "threads", "channels_last", "compiled", "input_size", "protocol", "srbench_version", "git_commit",
            "torch_version"]

FAST = dict(size=(16, 16), min_repeats=3, max_repeats=5, min_time_s=0.0, warmup_batch=2, warmup_max_s=2.0)


pytestmark = pytest.mark.usefixtures("one_thread")


# Module-level builders: a spawned child process imports this module to rebuild them.
class _TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 8, 3, padding=1)
        self.d = nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, x):
        return self.d(torch.relu(self.c(x)))


class _HungryNet(_TinyNet):
    """Allocates and touches a 400 MiB buffer in every forward pass."""

    def forward(self, x):
        big = torch.ones(100 * 2**20)  # 100 Mi float32 = 400 MiB, written (resident)
        return super().forward(x) + big[:1].sum() * 0


def build_tiny() -> nn.Module:
    return _TinyNet()


def build_hungry() -> nn.Module:
    return _HungryNet()


def test_forward_timer_cpu_measures_the_call():
    timer = forward_timer("cpu")
    out, ms = timer(lambda v: (time.sleep(0.02), v + 1)[1], 41)
    assert out == 42
    assert 20.0 <= ms < 500.0


def test_measure_runtime_stats_and_warmup():
    calls = []

    def fn():
        calls.append(1)
        time.sleep(0.002)

    st = measure_runtime(fn, "cpu", repeats=15, warmup_batch=3, warmup_tol=0.5, warmup_max_s=5.0)
    assert st.runs == 15 and len(st.times_ms) == 15
    assert st.p10_ms <= st.median_ms <= st.p90_ms
    assert st.median_ms >= 2.0
    assert st.warmup_stable  # a steady sleep is stable within 50 % after two batches
    assert len(calls) == 1 + st.warmup_runs - 1 + 15  # first call + warm-up batches + timed runs


def test_measure_runtime_stops_warmup_at_its_cap():
    state = {"n": 0}

    def fn():  # gets slower every call: never stable
        state["n"] += 1
        time.sleep(0.0005 * state["n"])

    st = measure_runtime(fn, "cpu", repeats=2, warmup_batch=2, warmup_tol=0.0, warmup_max_s=0.05)
    assert not st.warmup_stable
    assert st.runs == 2


def test_measure_runtime_fixed_warmup_makes_exactly_that_many_untimed_calls():
    calls = []

    def fn():
        calls.append(1)

    st = measure_runtime(fn, "cpu", warmup=3, repeats=4)
    assert len(calls) == 3 + 4  # the first call, two more warm-up calls, four timed
    assert (st.warmup_runs, st.runs, st.warmup_stable) == (3, 4, False)  # a fixed count is not "stable"
    calls.clear()
    st = measure_runtime(fn, "cpu", warmup=1, repeats=2)
    assert len(calls) == 1 + 2 and st.warmup_runs == 1
    with pytest.raises(ValueError, match="at least 1"):
        measure_runtime(fn, "cpu", warmup=0, repeats=1)


def test_profile_one_row_has_the_columns_and_counts(tmp_path):
    opts = ProfileOptions(device="cpu", threads=1, **FAST)
    row = profile_one(ModelSpec("tiny", 1, builder=build_tiny), opts)
    missing = [c for c in REQUIRED if c not in row]
    assert not missing
    assert row["params"] == (3 * 9 * 8 + 8) + (8 * 9 * 3 + 3)
    assert row["flops"] == 16 * 16 * (8 * 27 + 3 * 72)
    assert row["activations"] == 16 * 16 * (8 + 3) and row["num_conv"] == 2
    assert row["flops_uncounted"] == "aten::relu x1"
    assert row["threads"] == 1 and row["device"] == "cpu" and row["precision"] == "fp32"
    assert row["input_size"] == "16x16"
    assert row["runtime_p10_ms"] <= row["runtime_ms"] <= row["runtime_p90_ms"]
    assert row["memory_mb"] >= 0


def test_parquet_columns_and_keyed_replace(tmp_path):
    opts = ProfileOptions(device="cpu", threads=1, **FAST)
    row = profile_one(ModelSpec("tiny", 1, builder=build_tiny), opts)
    p = write_profile(tmp_path, pd.DataFrame([row]))
    assert p.name == "profile.parquet"
    cols = pq.read_schema(p).names
    assert not [c for c in REQUIRED if c not in cols]
    row2 = dict(row, runtime_ms=123.0)
    write_profile(tmp_path, pd.DataFrame([row2]))  # same key: replaces
    row3 = dict(row, precision="bf16")  # another key: appends
    write_profile(tmp_path, pd.DataFrame([row3]))
    df = pd.read_parquet(p)
    assert len(df) == 2
    assert df.loc[df["precision"] == "fp32", "runtime_ms"].item() == 123.0
    assert set(PROFILE_KEY) <= set(df.columns)


def test_precision_and_channels_last_are_recorded():
    opts = ProfileOptions(device="cpu", threads=1, precision="bf16", channels_last=True, **FAST)
    row = profile_one(ModelSpec("tiny", 1, builder=build_tiny), opts)
    assert row["precision"] == "bf16" and row["channels_last"] is True and row["compiled"] is False
    assert row["flops"] == 16 * 16 * (8 * 27 + 3 * 72)  # counted in fp32 whatever the precision


def test_cpu_memory_is_isolated_per_model():
    opts = ProfileOptions(device="cpu", threads=1, counts=False, **FAST)
    hungry = profile_isolated(ModelSpec("hungry", 1, builder=build_hungry), opts, timeout_s=300)
    tiny = profile_isolated(ModelSpec("tiny", 1, builder=build_tiny), opts, timeout_s=300)
    assert hungry["memory_mb"] > 350  # its own 400 MiB buffer
    assert tiny["memory_mb"] < 50  # not the previous model's peak
    assert tiny["memory_peak_rss_mb"] < hungry["memory_peak_rss_mb"] - 300
    assert tiny["memory_kind"] == "cpu_peak_rss_minus_baseline"


def test_in_process_measurement_would_inherit_the_peak():
    """Why children are needed: in one process the kernel's peak mark stays at the old maximum,
    unless it is reset (which profile_one does, and which we undo here by not calling it).

    Run in a fresh interpreter: in the pytest process earlier tests may already have pushed the peak
    above anything this test allocates."""
    code = (
        "import torch\n"
        "from benchmark.timing import peak_rss_mb, reset_peak_rss\n"
        "before = peak_rss_mb()\n"
        "big = torch.ones(50 * 2**20)  # 200 MiB\n"
        "del big\n"
        "high = peak_rss_mb()\n"
        "assert high > before + 150, (before, high)\n"
        "if reset_peak_rss():\n"
        "    assert peak_rss_mb() < high - 150, (high, peak_rss_mb())\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_cli_writes_parquet_and_prints_table(tmp_path):
    res = CliRunner().invoke(profile_command, [
        "--models", "RLFN-ntire", "--scale", "4", "--device", "cpu", "--threads", "1", "--size", "32x32",
        "--repeats", "3", "--results", str(tmp_path), "--no-isolate"])
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(tmp_path / "profile.parquet")
    assert not [c for c in REQUIRED if c not in df.columns]
    r = df.iloc[0]
    assert (r["model"], r["variant"], r["scale"], r["input_size"]) == ("RLFN-ntire", "RLFN-ntire", 4, "32x32")
    assert r["flops_uncounted"]  # RLFN's ESA has sigmoid/mul/add: named, never silently dropped
    for unit in ("Params[M]", "FLOPs[G]", "Acts[M]", "Time[ms]", "Mem[MiB]", "device cpu", "threads 1"):
        assert unit in res.output


def test_cli_fixed_warmup_and_repeats_are_recorded(tmp_path):
    res = CliRunner().invoke(profile_command, [
        "--models", "FSRCNN", "--scale", "4", "--device", "cpu", "--size", "16x16", "--warmup", "2",
        "--repeats", "3", "--results", str(tmp_path), "--no-isolate"])
    assert res.exit_code == 0, res.output
    r = pd.read_parquet(tmp_path / "profile.parquet").iloc[0]
    assert (r["warmup_runs"], r["runs"], bool(r["warmup_stable"])) == (2, 3, False)
    assert len(json.loads(r["runtime_all_ms"])) == 3


@pytest.mark.parametrize("opt", ["--warmup", "--repeats"])
def test_cli_rejects_a_count_below_one(tmp_path, opt):
    res = CliRunner().invoke(profile_command, ["--models", "FSRCNN", "--scale", "4", "--device", "cpu",
                                               opt, "0", "--results", str(tmp_path)])
    assert res.exit_code == 2 and opt in res.output
    assert not (tmp_path / "profile.parquet").exists()


def test_cli_rejects_unsupported_scale(tmp_path):
    res = CliRunner().invoke(profile_command, ["--models", "RLFN-ntire", "--scale", "3", "--device", "cpu",
                                               "--results", str(tmp_path), "--no-timing"])
    assert res.exit_code != 0
