"""Runtime stability: three back-to-back ``srbench profile`` runs of one model, and the machine's drift.

    python benches/bench_stability.py                        # E-RFDN x4, CPU, 1 thread, 3 runs
    python benches/bench_stability.py --model RLFN-ntire --runs 5 --device cuda

Each run is the real command (``srbench profile --models <model> --results <tmp>``, a fresh process),
so it is what a user repeating the measurement sees. Before the first run and after every run, a
fixed reference workload (one 64-channel 3x3 convolution on 1x64x256x256, fp32, the same thread
count) is timed for ``--ref-seconds``: it never changes, so when its median moves the machine moved,
not the model. The table gives each run's median/p10/p90, the spread of the medians
((max - min) / min, the figure issue #5's 5 % target is about), and the reference's spread.

Each run also shows its CPU-time median (the process's user + kernel time per forward) and the
machine's steal time over the whole bench (/proc/stat): when the CPU time moves with the wall time
and steal is near zero, the run was not waiting for a core; the core itself ran slower (on a cloud VM,
other tenants sharing its caches and memory bandwidth), and no measuring protocol can undo that.

It prints; it never asserts. Other jobs on the machine inflate everything: quote it with the load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def reference_ms(seconds: float, threads: int, device: str) -> list[float]:
    """Times of the fixed reference convolution, back to back for ``seconds``."""
    torch.set_num_threads(threads)
    dev = torch.device("cuda" if device == "cuda" else "cpu")
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 64, 256, 256, generator=g).to(dev)
    w = torch.rand(64, 64, 3, 3, generator=g).to(dev) * 0.01
    times: list[float] = []
    with torch.inference_mode():
        for _ in range(3):  # warm-up: oneDNN's first call picks and builds its kernel
            torch.nn.functional.conv2d(x, w, padding=1)
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end or len(times) < 5:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter_ns()
            torch.nn.functional.conv2d(x, w, padding=1)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append((time.perf_counter_ns() - t0) / 1e6)
    return times


def cpu_jiffies() -> tuple[int, int]:
    """(steal, total) jiffies of all CPUs since boot, from /proc/stat; (0, 0) where it is missing."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return 0, 0
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def spread(values: list[float]) -> float:
    return (max(values) - min(values)) / min(values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="E-RFDN")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=1, help="CPU threads for the profile and the reference")
    ap.add_argument("--ref-seconds", type=float, default=5.0)
    args = ap.parse_args()

    from benchmark import store
    from benchmark.envinfo import cpu_model

    steal0, total0 = cpu_jiffies()
    refs = [statistics.median(reference_ms(args.ref_seconds, args.threads, args.device))]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            out = Path(tmp) / f"run{i}"
            cmd = [sys.executable, "-m", "benchmark.cli", "profile", "--models", args.model,
                   "--scale", str(args.scale), "--device", args.device, "--threads", str(args.threads),
                   "--results", str(out)]
            out.mkdir()
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - t0
            row = store.read(out, "profile").iloc[0]
            rows.append((float(row["runtime_ms"]), float(row["runtime_p10_ms"]), float(row["runtime_p90_ms"]),
                         int(row["runs"]), wall, float(row["runtime_cpu_time_ms"])))
            refs.append(statistics.median(reference_ms(args.ref_seconds, args.threads, args.device)))

    dev = "CUDA" if args.device == "cuda" else f"CPU: {cpu_model()}"
    print(f"{args.model} x{args.scale}, {dev}, {args.threads} thread(s), load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"  reference conv before: {refs[0]:8.2f} ms (median)")
    steal1, total1 = cpu_jiffies()
    for i, (med, p10, p90, runs, wall, cpu) in enumerate(rows):
        print(f"  run {i + 1}: median {med:8.2f} ms  p10 {p10:8.2f}  p90 {p90:8.2f}  CPU time {cpu:8.2f} ms  "
              f"({runs} timed runs, {wall:5.1f} s wall)   reference after: {refs[i + 1]:8.2f} ms")
    medians = [r[0] for r in rows]
    print(f"  spread of the medians (max - min) / min: {100 * spread(medians):5.1f} %")
    print(f"  spread of the reference medians:          {100 * spread(refs):5.1f} %")
    if total1 > total0:
        print(f"  steal time (all CPUs, whole bench):       {100 * (steal1 - steal0) / (total1 - total0):5.1f} %")


if __name__ == "__main__":
    main()
