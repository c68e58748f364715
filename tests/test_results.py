"""The results API (load, leaderboard) and ``srbench results`` on a small synthetic results dir.

``make_results`` writes that dir through ``benchmark.store.upsert`` with the columns the runner and
the profiler write; test_site.py and test_browser.py reuse it.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

import registry
from benchmark import results, store
from benchmark.cards import store_cards
from benchmark.cli import main
from benchmark.evaluate import SUMMARY_KEY
from protocol import PROTOCOL_VERSION

H100 = "NVIDIA H100 80GB HBM3"
CPU = "CPU: Test CPU @ 2GHz"
SETS = {"Set5": ["baby", "bird", "butterfly"], "Set14": ["bridge", "comic"]}

# variant -> (model, sha, {(set, scale): (psnr, ssim)}, params, flops)
MODELS = {
    "IMDN": ("IMDN", "a" * 64, {("Set5", 4): (32.206, 0.8948), ("Set14", 4): (28.582, 0.7811),
                                ("Set5", 2): (38.00, 0.9605), ("Set14", 2): (33.63, 0.9177)}, 715_176, 40.9e9),
    "RLFN-ntire": ("RLFN-ntire", "b" * 64, {("Set5", 4): (32.15, 0.8930), ("Set14", 4): (28.62, 0.7820)},
                   317_180, 19.67e9),
    "BSRN-S-ntire22": ("BSRN-S", "c" * 64, {("Set5", 4): (31.90, 0.8890), ("Set14", 4): (28.40, 0.7770)},
                       156_000, 8.9e9),
    "DVMSR": ("DVMSR", "d" * 64, {("Set5", 4): (32.00, 0.8920), ("Set14", 4): (28.50, 0.7790)}, 424_000, 20.2e9),
    "Bicubic": ("Bicubic", "", {("Set5", 4): (28.431, 0.8113), ("Set14", 4): (26.09, 0.7040)}, 0, 0.0),
}
ARCH_ONLY = {"LMSWN": (250_000, 15.0e9)}
RUNTIME = {"IMDN": 22.0, "RLFN-ntire": 11.0, "BSRN-S-ntire22": 30.0, "DVMSR": 60.0, "Bicubic": 1.0, "LMSWN": 9.0}


def _summary_row(variant, model, sha, ds, scale, psnr, ssim, gray="rgb", device=H100, protocol=PROTOCOL_VERSION,
                 finished="2024-05-01T10:00:00+00:00", degradation="bicubic"):
    return {"model": model, "variant": variant, "weights_sha256": sha, "dataset": ds, "degradation": degradation,
            "scale": scale, "gray": gray, "protocol": protocol, "dataset_kind": "standard", "psnr": psnr,
            "ssim": ssim, "n_images": len(SETS[ds]), "runtime_ms": 5.0, "memory_mb": 100.0, "precision": "fp32",
            "jpeg_encoder": "", "run_id": "run1", "finished_at": finished, "device": device,
            "device_type": "cuda", "threads": "16", "torch_version": "2.13.0", "srbench_version": "0.1.0",
            "git_commit": "0123abc"}


def _profile_row(variant, model, scale, device, params, flops, runtime, memory, threads=16, precision="fp32",
                 sha="", kind="cnn"):
    cuda = device == H100
    env = {"device": device, "torch_version": "2.13.0", "cuda": "12.8" if cuda else "", "driver": "570.1" if cuda
           else "", "cpu": "Test CPU @ 2GHz", "threads": str(threads)}
    return {"model": model, "variant": variant, "pretrained": bool(sha), "weights_sha256": sha, "kind": kind,
            "scale": scale, "device": "cuda" if cuda else "cpu", "device_name": device, "precision": precision,
            "threads": threads, "channels_last": False, "compiled": False, "input_size": "256x256",
            "protocol": PROTOCOL_VERSION, "params": params, "flops": int(flops), "activations": 1_000_000,
            "num_conv": 10, "runtime_ms": runtime, "runtime_p10_ms": runtime * 0.95, "runtime_p90_ms": runtime * 1.05,
            "memory_mb": memory, "memory_kind": "cuda_max_allocated" if cuda else "cpu_peak_rss_minus_baseline",
            "torch_version": "2.13.0", "cuda_version": env["cuda"], "driver_version": env["driver"],
            "cpu_model": env["cpu"], "environment": json.dumps(env, sort_keys=True),
            "measured_at": "2024-05-02T10:00:00+00:00", "srbench_version": "0.1.0", "git_commit": "0123abc"}


def make_results(d, extra_protocol: bool = True, cpu_profile: bool = True):
    """A small results dir: 5 variants (4 models + bicubic) on Set5/Set14 x4 (IMDN also x2), a gray='y'
    bicubic row, a JPEG track, an old-protocol row, profile rows on an H100 and a CPU, one run row."""
    summary, images = [], []
    for variant, (model, sha, scores, _, _) in MODELS.items():
        for (ds, scale), (p, s) in scores.items():
            summary.append(_summary_row(variant, model, sha, ds, scale, p, s))
            for k, img in enumerate(SETS[ds]):
                # per-image values whose mean is exactly the summary's
                off = (k - (len(SETS[ds]) - 1) / 2) * 0.5
                key = {c: summary[-1][c] for c in SUMMARY_KEY if c in summary[-1]}
                images.append({**key, "image": img, "psnr": p + off, "ssim": s, "forward_ms": 4.0, "lr_height": 64,
                               "lr_width": 64, "gray_image": img == "bridge", "device": H100, "run_id": "run1"})
    summary.append(_summary_row("Bicubic", "Bicubic", "", "Set14", 4, 25.997, 0.7031, gray="y"))
    summary.append(_summary_row("IMDN", "IMDN", "a" * 64, "Set5", 4, 30.10, 0.8600, degradation="jpeg40"))
    if extra_protocol:
        summary.append(_summary_row("IMDN", "IMDN", "a" * 64, "Set5", 4, 99.0, 0.99, protocol="srbench-0"))
    store.upsert(d, "summary", pd.DataFrame(summary))
    store.upsert(d, "images", pd.DataFrame(images))
    prof = []
    for variant, (model, sha, scores, params, flops) in MODELS.items():
        kind = "baseline" if model == "Bicubic" else ("mamba" if model == "DVMSR" else "cnn")
        for scale in sorted({sc for (_, sc) in scores}):
            prof.append(_profile_row(variant, model, scale, H100, params, flops, RUNTIME[variant], 50.0, sha=sha,
                                     kind=kind))
            if cpu_profile:
                prof.append(_profile_row(variant, model, scale, CPU, params, flops, RUNTIME[variant] * 20, 200.0,
                                         threads=2, sha=sha, kind=kind))
    for variant, (params, flops) in ARCH_ONLY.items():
        prof.append(_profile_row(variant, variant, 4, H100, params, flops, RUNTIME[variant], 40.0))
    # an fp16 row must never land in the fp32 columns
    prof.append(_profile_row("IMDN", "IMDN", 4, H100, 715_176, 40.9e9, 0.5, 10.0, precision="fp16", sha="a" * 64))

    store.upsert(d, "profile", pd.DataFrame(prof))
    # the cards of the models, as run and profile snapshot them
    names = {m for m, *_ in MODELS.values()} | set(ARCH_ONLY)
    store_cards(d, [registry.get(n) for n in sorted(names)])
    env = {"device": H100, "device_type": "cuda", "torch_version": "2.13.0", "cuda": "12.8", "driver": "570.1",
           "git_commit": "0123abc", "srbench_version": "0.1.0", "python": "3.11.9", "threads": "16",
           "cpu": "Test CPU @ 2GHz", "platform": "Linux"}
    store.upsert(d, "runs", pd.DataFrame([{
        "run_id": "run1", "started_at": "2024-05-01T09:00:00+00:00", "finished_at": "2024-05-01T10:00:00+00:00",
        "n_items": len(summary), "options": json.dumps({"models": "all", "datasets": "Set5,Set14"}),
        "environment": json.dumps(env), "lr_cache_hits": 0, "lr_cache_misses": 10}]))
    return d


@pytest.fixture
def res_dir(tmp_path):
    return make_results(tmp_path / "results")


# ------------------------------------------------------------------------------------ load


def test_load_filters(res_dir):
    s = results.load(res_dir, "summary", scale=4, dataset="Set5", degradation="bicubic", protocol=PROTOCOL_VERSION,
                     gray="rgb")
    assert sorted(s["variant"]) == sorted(MODELS)
    assert set(s["scale"]) == {4} and set(s["dataset"]) == {"Set5"}
    # a list of values, text compared case-insensitively, numbers given as text
    s2 = results.load(res_dir, "summary", variant=["imdn", "DVMSR"], scale="2")
    assert list(s2["variant"]) == ["IMDN", "IMDN"] and set(s2["dataset"]) == {"Set5", "Set14"}
    im = results.load(res_dir, "images", variant="IMDN", dataset="Set5", scale=4, protocol=PROTOCOL_VERSION,
                      degradation="bicubic")
    assert sorted(im["image"]) == ["baby", "bird", "butterfly"]
    assert im["psnr"].mean() == pytest.approx(32.206)
    assert results.load(res_dir, "profile", device="cpu", precision="fp32")["device_name"].unique().tolist() == [CPU]


def test_load_errors_and_empty(res_dir, tmp_path):
    with pytest.raises(results.ResultsError, match="no column 'nope'"):
        results.load(res_dir, "summary", nope=1)
    with pytest.raises(store.StoreError, match="unknown results table"):
        results.load(res_dir, "bogus")
    assert results.load(tmp_path / "empty", "summary").empty


# ----------------------------------------------------------------------------- leaderboard


def test_leaderboard_one_row_per_variant(res_dir):
    lb = results.leaderboard(res_dir, scale=4, degradation="bicubic", gray="rgb")
    assert lb["variant"].is_unique
    assert set(lb["variant"]) == set(MODELS) | set(ARCH_ONLY)
    assert lb.attrs["sets"] == ["Set5", "Set14"]  # literature order, not alphabetical
    assert lb.attrs["protocol"] == PROTOCOL_VERSION
    r = lb.set_index("variant")
    assert r.loc["IMDN", "psnr:Set5"] == pytest.approx(32.206)  # not the old protocol's 99.0
    assert r.loc["IMDN", "ssim:Set14"] == pytest.approx(0.7811)
    assert r.loc["Bicubic", "psnr:Set14"] == pytest.approx(26.09)  # the rgb row, not the gray='y' one
    # default order: PSNR on Set5, best first; architecture-only last
    assert list(lb["variant"])[:2] == ["IMDN", "RLFN-ntire"] and lb["variant"].iloc[-1] == "LMSWN"
    assert not r.loc["LMSWN", "has_weights"] and r.loc["IMDN", "has_weights"] and r.loc["Bicubic", "has_weights"]
    assert pd.isna(r.loc["LMSWN", "psnr:Set5"])
    assert r.loc["IMDN", "family"] == "IMDN" and r.loc["DVMSR", "kind"] == "mamba"


def test_leaderboard_efficiency_from_one_device(res_dir):
    lb = results.leaderboard(res_dir, scale=4).set_index("variant")
    # GPU preferred; fp16 row never used in the fp32 column
    assert set(lb["eff_device"].dropna()) == {H100}
    assert lb.loc["IMDN", "runtime_ms"] == pytest.approx(22.0)
    assert lb.loc["IMDN", "params"] == 715_176 and lb.loc["RLFN-ntire", "flops"] == pytest.approx(19.67e9)
    cpu = results.leaderboard(res_dir, scale=4, device="cpu")
    assert cpu.attrs["eff_device"] == f"{CPU}, 2 threads"
    c = cpu.set_index("variant")
    assert c.loc["IMDN", "runtime_ms"] == pytest.approx(440.0) and c.loc["IMDN", "memory_mb"] == 200.0
    # LMSWN was profiled on the GPU only: no CPU runtime borrowed from the GPU
    assert pd.isna(c.loc["LMSWN", "runtime_ms"]) and c.loc["LMSWN", "params"] == 250_000
    with pytest.raises(results.ResultsError, match="no efficiency rows"):
        results.leaderboard(res_dir, scale=4, device="A100")


def test_leaderboard_tracks_do_not_mix(res_dir):
    y = results.leaderboard(res_dir, scale=4, gray="y", include_unevaluated=False)
    assert list(y["variant"]) == ["Bicubic"] and y.attrs["sets"] == ["Set14"]
    assert y["psnr:Set14"].iloc[0] == pytest.approx(25.997)
    j = results.leaderboard(res_dir, scale=4, degradation="jpeg40", include_unevaluated=False)
    assert list(j["variant"]) == ["IMDN"] and j["psnr:Set5"].iloc[0] == pytest.approx(30.10)
    x2 = results.leaderboard(res_dir, scale=2, include_unevaluated=False)
    assert list(x2["variant"]) == ["IMDN"]
    old = results.leaderboard(res_dir, scale=4, protocol="srbench-0", include_unevaluated=False)
    assert old["psnr:Set5"].iloc[0] == pytest.approx(99.0)
    t = results.tracks(res_dir)
    assert {(r.scale, r.degradation, r.gray) for r in t.itertuples()} >= {(4, "bicubic", "rgb"), (4, "bicubic", "y"),
                                                                         (2, "bicubic", "rgb"), (4, "jpeg40", "rgb")}


def test_leaderboard_newest_checkpoint_only(res_dir):
    row = _summary_row("RLFN-ntire", "RLFN-ntire", "e" * 64, "Set5", 4, 30.0, 0.85,
                       finished="2024-06-01T00:00:00+00:00")
    store.upsert(res_dir, "summary", pd.DataFrame([row]))
    lb = results.leaderboard(res_dir, scale=4).set_index("variant")
    assert lb.loc["RLFN-ntire", "psnr:Set5"] == pytest.approx(30.0)
    assert pd.isna(lb.loc["RLFN-ntire", "psnr:Set14"])  # the old checkpoint's Set14 is not borrowed
    assert any("RLFN-ntire" in n and "older checkpoint" in n for n in lb.attrs["notes"])


# --------------------------------------------------------------------------------- terminal


def _invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_results_command_table(res_dir):
    res = _invoke("results", "--results", str(res_dir), "--scale", "4")
    assert res.exit_code == 0, res.output
    out = res.output
    assert f"protocol {PROTOCOL_VERSION}" in out and "gray convention 'rgb'" in out and "degradation bicubic" in out
    assert "PSNR (dB)" in out and "Params (M)" in out and "MiB" in out and f"on {H100}" in out
    assert f"measured on: {H100}" in out and "also measured on: " + CPU in out
    lines = out.splitlines()
    imdn = next(ln for ln in lines if ln.startswith("IMDN "))
    assert "32.21 / 0.8948" in imdn and "28.58 / 0.7811" in imdn and "0.715" in imdn and "40.90" in imdn
    assert "22.00" in imdn
    lmswn = next(ln for ln in lines if ln.startswith("LMSWN *"))
    assert "0.250" in lmswn
    assert any(ln.startswith("* no published checkpoint") for ln in lines)
    # order of rows follows Set5 PSNR
    order = [ln.split()[0] for ln in lines if ln.split() and ln.split()[0] in MODELS]
    assert order == ["IMDN", "RLFN-ntire", "DVMSR", "BSRN-S-ntire22", "Bicubic"]


def test_results_command_cpu_and_csv(res_dir):
    res = _invoke("results", "--results", str(res_dir), "--device", "cpu")
    assert res.exit_code == 0 and f"on {CPU}, 2 threads" in res.output
    imdn = next(ln for ln in res.output.splitlines() if ln.startswith("IMDN "))
    assert "440.00" in imdn and "200.0" in imdn
    csv = _invoke("results", "--results", str(res_dir), "--format", "csv")
    assert csv.exit_code == 0 and csv.output.splitlines()[0].startswith("model,variant,family")
    assert "psnr:Set5" in csv.output.splitlines()[0]


def test_results_command_errors(res_dir, tmp_path):
    res = CliRunner().invoke(main, ["results", "--results", str(res_dir), "--scale", "3"])
    assert res.exit_code == 1 and "no results for x3 bicubic" in res.output and "x4 bicubic gray=rgb" in res.output
    res = CliRunner().invoke(main, ["results", "--results", str(tmp_path / "none")])
    assert res.exit_code == 1 and "does not exist" in res.output


def test_leaderboard_hides_partial_runs(res_dir):
    row = {**_summary_row("DVMSR", "DVMSR", "d" * 64, "Set14", 4, 20.0, 0.5), "status": "partial", "n_errors": 1}
    store.upsert(res_dir, "summary", pd.DataFrame([row]))
    lb = results.leaderboard(res_dir, scale=4).set_index("variant")
    assert pd.isna(lb.loc["DVMSR", "psnr:Set14"]) and lb.loc["DVMSR", "psnr:Set5"] == pytest.approx(32.0)
    assert "DVMSR on Set14: run partial (1/2 images failed); not shown" in lb.attrs["notes"]
    res = _invoke("results", "--results", str(res_dir))
    assert "note: DVMSR on Set14: run partial" in res.output


def test_counts_only_rows_give_params_not_a_device_column(res_dir):

    row = _profile_row("IMDN", "IMDN", 4, "CPU: Other CPU", 715_176, 40.9e9, float("nan"), float("nan"), threads=1,
                       sha="a" * 64)
    store.upsert(res_dir, "profile", pd.DataFrame([row]))
    assert "CPU: Other CPU, 1 thread" not in results.efficiency_devices(res_dir, 4)
    lb = results.leaderboard(res_dir, scale=4)
    assert "CPU: Other CPU, 1 thread" not in lb.attrs["eff_devices"]
    with pytest.raises(results.ResultsError, match="no efficiency rows"):
        results.leaderboard(res_dir, scale=4, device="Other CPU")
