"""Timing and CPU memory: the measuring instruments of ``srbench profile`` (PROTOCOL section 4).

:func:`measure_runtime` warms a call up and times it (CUDA events on a GPU, ``perf_counter_ns`` on the
CPU); :func:`rss_mb`, :func:`peak_rss_mb` and :func:`reset_peak_rss` read and reset this process's
resident memory from ``/proc``. What is measured, and why, is in :mod:`benchmark.profile`.
"""

from __future__ import annotations

import math
import os
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

T = TypeVar("T")

# Cumulative wall seconds per stage of ``srbench run`` in this process (the worker's stages, the
# driver's journal, the store's upserts); benches/bench_harness.py reads and clears it.
STAGE_SECONDS: Counter[str] = Counter()


# ---------------------------------------------------------------------------------------------
# timing


class ForwardTimer:
    """Times one call: CUDA events on a GPU device, ``perf_counter_ns`` otherwise.

    >>> timer = forward_timer("cpu")
    >>> out, ms = timer(model, x)     # out = model(x); ms = the forward's milliseconds
    """

    def __init__(self, device: torch.device | str):
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"

    def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, float]:
        if self.cuda:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            out = fn(*args, **kwargs)
            end.record()
            end.synchronize()
            return out, float(start.elapsed_time(end))
        t0 = time.perf_counter_ns()
        out = fn(*args, **kwargs)
        return out, (time.perf_counter_ns() - t0) / 1e6


def forward_timer(device: torch.device | str) -> ForwardTimer:
    """A timer for ``device``: ``timer(fn, *args) -> (fn(*args), milliseconds)``."""
    return ForwardTimer(device)


@dataclass
class RuntimeStats:
    median_ms: float
    p10_ms: float
    p90_ms: float
    mean_ms: float
    runs: int
    warmup_runs: int
    warmup_stable: bool
    first_ms: float  # the very first call (what a harness without warm-up sees, compile included)
    times_ms: list[float] = field(default_factory=list, repr=False)
    # CPU only: the process's CPU time per timed run (all threads summed), median. Unlike wall time it
    # hardly moves when other processes compete for the cores, so it shows whether a slow wall-clock
    # figure is the model or a busy machine.
    cpu_time_median_ms: float = float("nan")


def measure_runtime(fn: Callable[[], Any], device: torch.device | str, *, warmup_batch: int = 5,
                    warmup_tol: float = 0.03, warmup_max_s: float = 60.0, warmup_max_runs: int = 200,
                    warmup: int | None = None, repeats: int | None = None, min_repeats: int = 10,
                    max_repeats: int = 300, min_time_s: float = 10.0) -> RuntimeStats:
    """Warm ``fn`` up until stable (or for exactly ``warmup`` untimed calls, the first included), then
    time it; see the module docstring."""
    timer = forward_timer(device)
    _, first = timer(fn)
    warm, prev, stable = 1, None, False
    if warmup is not None:  # a fixed count, not checked for stability: warmup_stable stays False
        if warmup < 1:
            raise ValueError(f"warmup counts the first call and must be at least 1, not {warmup}")
        fixed = [timer(fn)[1] for _ in range(warmup - 1)]
        warm, prev = warmup, (statistics.median(fixed) if fixed else None)
    else:
        t0 = time.perf_counter()
        while warm < warmup_max_runs:
            batch = [timer(fn)[1] for _ in range(warmup_batch)]
            warm += warmup_batch
            med = statistics.median(batch)
            if prev is not None and abs(med - prev) <= warmup_tol * prev:
                stable = True
                break
            prev = med
            if time.perf_counter() - t0 > warmup_max_s:
                break
    if repeats is None:
        est_ms = prev if prev is not None else first
        repeats = int(min(max_repeats, max(min_repeats, math.ceil(min_time_s * 1e3 / max(est_ms, 1e-3)))))
    times, cpu = [], []
    for _ in range(max(1, repeats)):
        c0 = time.process_time_ns()
        times.append(timer(fn)[1])
        cpu.append((time.process_time_ns() - c0) / 1e6)
    arr = np.asarray(times)
    return RuntimeStats(median_ms=float(np.median(arr)), p10_ms=float(np.percentile(arr, 10)),
                        p90_ms=float(np.percentile(arr, 90)), mean_ms=float(arr.mean()), runs=len(times),
                        warmup_runs=warm, warmup_stable=stable, first_ms=float(first), times_ms=times,
                        cpu_time_median_ms=float("nan") if timer.cuda else float(np.median(cpu)))


# ---------------------------------------------------------------------------------------------
# CPU memory (Linux /proc)


def _status_kb(field_name: str) -> int | None:
    try:
        m = re.search(rf"^{field_name}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


def rss_mb() -> float:
    """This process's resident memory now, MiB."""
    kb = _status_kb("VmRSS")
    if kb is None:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # best effort off Linux
    return kb / 1024


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM, else ru_maxrss), MiB."""
    kb = _status_kb("VmHWM")
    if kb is None:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return kb / 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# the machine's load while we measure

BUSY_OTHER_CORES = 0.25  # other processes' CPU use, in cores, above which a timing is flagged 'busy'


def _cpu_jiffies() -> tuple[int, int] | None:
    """(busy, steal) jiffies of all CPUs since boot, from /proc/stat ('cpu' line); None off Linux."""
    try:
        with open("/proc/stat") as f:
            parts = f.readline().split()
    except OSError:
        return None
    v = [int(x) for x in parts[1:9]]  # user nice system idle iowait irq softirq steal
    return v[0] + v[1] + v[2] + v[5] + v[6], v[7]


class LoadProbe:
    """How much of the machine other processes used while we measured.

    ``other_cores``: CPU time spent by every process but this one (all its threads), per second of
    wall time, in cores; ``steal_pct``: the hypervisor's steal time, in percent of one core. On a
    2-core machine measuring with one thread, ``other_cores`` of 0.5 means another job took half a
    core: the timing is then ``busy`` and says so in its row.
    """

    def __init__(self):
        self._t0 = time.monotonic()
        self._own0 = time.process_time()
        self._j0 = _cpu_jiffies()

    def read(self) -> dict:
        dt = time.monotonic() - self._t0
        j1 = _cpu_jiffies()
        if self._j0 is None or j1 is None or dt <= 0:
            return {"load_other_cores": float("nan"), "load_steal_pct": float("nan"), "busy": False}
        hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        busy_s = (j1[0] - self._j0[0]) / hz
        own_s = time.process_time() - self._own0
        other = max(0.0, busy_s - own_s) / dt
        steal = 100.0 * (j1[1] - self._j0[1]) / hz / dt
        return {"load_other_cores": round(other, 3), "load_steal_pct": round(steal, 2),
                "busy": bool(other > BUSY_OTHER_CORES)}
