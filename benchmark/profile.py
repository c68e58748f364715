"""Efficiency measurement: params, FLOPs, activations, runtime and peak memory, one model at a time.

What is measured (PROTOCOL section 4; the FLOP rules are in :mod:`benchmark.flops`)
--------------------------------------------------------------------------------------
* The *bare network* (``SRModel.net``) on one LR input of 1 x C x 256 x 256 (C = 1 for Y-only nets),
  already on the device and already in the range the network expects, as the NTIRE harness does.
* Runtime: the forward pass only, under ``torch.inference_mode()``. On CUDA it is timed with CUDA
  events (read after synchronising); on the CPU with ``time.perf_counter_ns`` and the thread count
  fixed by ``torch.set_num_threads`` and recorded (the CLI's default on the CPU is one thread: a
  one-thread figure compares across machines with other core counts, and two threads on a 2-core
  machine also race the harness and the OS for the cores; ``--threads N`` measures N). Warm-up runs
  in batches of ``warmup_batch`` until the medians of two successive batches agree within
  ``warmup_tol`` (capped by ``warmup_max_s``;
  ``warmup_stable`` records whether it converged; the NTIRE harness has none and its first run is
  10-20 % slower). Then ``repeats`` timed runs (by default as many as fit ``min_time_s`` = 10 s, at
  least ``min_repeats`` = 10, at most ``max_repeats``) give the median, p10 and p90 in milliseconds.
  ``--warmup N --repeats M`` fix both counts instead (recorded in ``warmup_runs``/``runs``, with
  ``warmup_stable`` false): for a model whose one CPU forward takes minutes, where the default's
  at least 16 calls would take hours and a minutes-long call already averages the short-term noise.
  On a shared virtual machine the CPU's own speed drifts by 10-20 % over tens of seconds (seen with
  a bare convolution loop, and in the CPU time, which tracks the wall time): quote CPU figures with
  their p10/p90, and compare models measured in one session.
* Peak memory, in MiB (2^20 bytes, as the NTIRE harness):
  - CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, over the timed runs
    (weights, input, activations and output; what the NTIRE harness reports);
  - CPU: every model is measured in a fresh child process (``multiprocessing`` spawn), so no model
    inherits another's peak. In the child, after imports and before the model is built, we read
    ``VmRSS`` (the baseline); after the model is built we reset the kernel's high-water mark
    (``/proc/self/clear_refs`` = 5, so checkpoint loading does not count); after the timed runs we
    read ``VmHWM``. ``memory_mb`` = peak - baseline (weights, input, activations, output: the same
    things the CUDA figure holds); ``memory_peak_rss_mb`` keeps the child's absolute peak (which
    includes the ~300 MiB of the torch runtime itself).
* Precision (fp32/fp16/bf16: weights and input cast), ``channels_last`` and ``torch.compile`` are
  options recorded with every row; FLOPs, activations and params are always counted in fp32 on
  the CPU (they do not depend on either).

The harness's per-image timing helper is :func:`forward_timer`.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import re
import statistics
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click
import numpy as np
import pandas as pd
import torch
from torch import nn

T = TypeVar("T")

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
PROFILE_KEY = ["model", "variant", "scale", "device", "device_name", "precision", "threads",
               "channels_last", "compiled", "input_size", "protocol"]

__all__ = ["ForwardTimer", "forward_timer", "RuntimeStats", "measure_runtime", "ProfileOptions",
           "profile_one", "profile_isolated", "profile_models", "write_profile", "profile_command",
           "PROFILE_KEY", "rss_mb", "peak_rss_mb", "reset_peak_rss"]


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
# one model


@dataclass
class ProfileOptions:
    device: str = "cpu"  # 'cpu', 'cuda' or 'cuda:N' (resolve 'auto' before)
    precision: str = "fp32"
    channels_last: bool = False
    compiled: bool = False
    threads: int | None = None  # CPU intra-op threads; None: torch's default, recorded
    size: tuple[int, int] = (256, 256)
    timing: bool = True
    counts: bool = True  # params/FLOPs/activations/ptflops
    repeats: int | None = None
    warmup: int | None = None  # untimed calls, the first included; None: until stable (warmup_tol)
    min_repeats: int = 10
    max_repeats: int = 300
    min_time_s: float = 10.0
    warmup_batch: int = 5
    warmup_tol: float = 0.03
    warmup_max_s: float = 60.0


@dataclass
class ModelSpec:
    """What to build: a registered model (``name``/``scale``/``variant``) or, for tests and user
    models, ``builder``: a picklable module-level callable returning an ``nn.Module`` (or SRModel)."""

    name: str
    scale: int
    variant: str | None = None
    weights_dir: str | None = None
    builder: Callable[[], nn.Module] | None = None


def _build(spec: ModelSpec) -> tuple[nn.Module, dict]:
    """(model, info) with info: model, variant, pretrained, weights_sha256, colour, kind."""
    if spec.builder is not None:
        m = spec.builder()
        return m, {"model": spec.name, "variant": spec.variant or spec.name, "pretrained": False,
                   "weights_sha256": "", "kind": "custom"}
    import registry
    from registry.weights import weight_path

    card, variant = registry.resolve(spec.name)
    variant = spec.variant or variant
    wf = card.weight_file(spec.scale, variant)
    pretrained = wf is not None and weight_path(wf, spec.weights_dir).is_file()
    m = card.build_model(spec.scale, variant, spec.weights_dir, pretrained=pretrained)
    return m, {"model": card.name, "variant": m.variant or card.name, "pretrained": pretrained,
               "weights_sha256": m.weights_sha256, "kind": card.kind}


def _counts(spec: ModelSpec, size: tuple[int, int]) -> dict:
    from benchmark.flops import bare_network, count_flops, count_ptflops

    model, _ = _build(spec)
    net, ch = bare_network(model)
    rep = count_flops(net, size, channels=ch)
    pt = count_ptflops(net, size, channels=ch)
    return {
        "params": int(sum(p.numel() for p in net.parameters())),
        "flops": int(rep.flops),
        "flops_fvcore": int(rep.fvcore),
        "flops_ptflops": float(pt) if pt is not None else float("nan"),
        "flops_elementwise": int(rep.elementwise),
        "flops_uncounted": rep.uncounted_text,
        "flops_unknown_ops": ", ".join(f"{k} x{v}" for k, v in sorted(rep.unknown.items())),
        "flops_by_op": rep.by_op_json(),
        "flops_by_module": rep.by_module_json(),
        "activations": int(rep.activations),
        "num_conv": int(rep.num_conv),
        "conv2d_ops_traced": int(rep.conv2d_calls),
        "input_channels": ch,
    }


def profile_one(spec: ModelSpec, opts: ProfileOptions) -> dict:
    """Profile one model in this process; returns one result row (a flat dict).

    Call it in a fresh process for a CPU memory figure that belongs to this model alone
    (:func:`profile_isolated` does).
    """
    from benchmark.envinfo import environment
    from benchmark.flops import bare_network
    from benchmark.protocol import PROTOCOL_VERSION

    if opts.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {opts.precision!r}")
    if opts.threads:
        torch.set_num_threads(int(opts.threads))
    device = torch.device(opts.device)
    cuda = device.type == "cuda"
    dtype = PRECISIONS[opts.precision]
    h, w = opts.size
    row: dict[str, Any] = {}

    with torch.inference_mode():  # lazy library set-up (oneDNN, thread pool) is not the model's memory
        nn.functional.conv2d(torch.ones(1, 1, 8, 8), torch.ones(1, 1, 3, 3), padding=1)
    baseline = rss_mb()
    model, info = _build(spec)
    row.update(info)
    net, ch = bare_network(model)
    input_range = float(getattr(model, "input_range", 1.0))
    if opts.timing:
        net = net.to(device=device, dtype=dtype).eval()
        if opts.channels_last:
            net = net.to(memory_format=torch.channels_last)
        x = (torch.rand(1, ch, h, w, generator=torch.Generator().manual_seed(0)) * input_range)
        x = x.to(device=device, dtype=dtype)
        if opts.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        run_net = torch.compile(net) if opts.compiled else net
        if cuda:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        reset_ok = reset_peak_rss()
        with torch.inference_mode():
            stats = measure_runtime(lambda: run_net(x), device, repeats=opts.repeats, warmup=opts.warmup,
                                    min_repeats=opts.min_repeats, max_repeats=opts.max_repeats,
                                    min_time_s=opts.min_time_s, warmup_batch=opts.warmup_batch,
                                    warmup_tol=opts.warmup_tol, warmup_max_s=opts.warmup_max_s)
        if cuda:
            torch.cuda.synchronize(device)
            row["memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
            row["memory_kind"] = "cuda_max_allocated"
            row["memory_peak_rss_mb"] = peak_rss_mb()
        else:
            peak = peak_rss_mb()
            row["memory_mb"] = peak - baseline
            row["memory_kind"] = "cpu_peak_rss_minus_baseline" + ("" if reset_ok else "_unreset")
            row["memory_peak_rss_mb"] = peak
        row["memory_baseline_mb"] = baseline
        row.update(runtime_ms=stats.median_ms, runtime_p10_ms=stats.p10_ms, runtime_p90_ms=stats.p90_ms,
                   runtime_mean_ms=stats.mean_ms, runtime_first_ms=stats.first_ms, runs=stats.runs,
                   runtime_cpu_time_ms=stats.cpu_time_median_ms,
                   warmup_runs=stats.warmup_runs, warmup_stable=stats.warmup_stable,
                   runtime_all_ms=json.dumps([round(t, 4) for t in stats.times_ms]))
        del run_net, net, x, model
        if cuda:
            torch.cuda.empty_cache()
    else:
        for k in ("memory_mb", "memory_peak_rss_mb", "memory_baseline_mb", "runtime_ms", "runtime_p10_ms",
                  "runtime_p90_ms", "runtime_mean_ms", "runtime_first_ms", "runtime_cpu_time_ms"):
            row[k] = float("nan")
        row.update(memory_kind="", runs=0, warmup_runs=0, warmup_stable=False, runtime_all_ms="[]")
        del model, net
    if opts.counts:
        row.update(_counts(spec, opts.size))
    env = environment(device)
    row["scan_backend"] = _scan_backend(device) if row.get("kind") == "mamba" else ""
    row.update(
        scale=int(spec.scale),
        device=device.type,
        device_name=env.get("device", ""),
        precision=opts.precision,
        threads=int(torch.get_num_threads()),
        channels_last=bool(opts.channels_last),
        compiled=bool(opts.compiled),
        input_size=f"{h}x{w}",
        protocol=PROTOCOL_VERSION,
        srbench_version=env.get("srbench_version", ""),
        git_commit=env.get("git_commit", ""),
        torch_version=torch.__version__,
        cuda_version=env.get("cuda", ""),
        cudnn_version=env.get("cudnn", ""),
        driver_version=env.get("driver", ""),
        cpu_model=env.get("cpu", ""),
        environment=json.dumps(env, sort_keys=True),
        measured_at=pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
    )
    return row


def _scan_backend(device: torch.device) -> str:
    """Which selective scan a Mamba model ran: 'cuda' (mamba_ssm's kernel) or 'torch'."""
    try:
        from registry.ops.scan import backend_for
    except ImportError:
        return ""
    try:
        return backend_for(torch.empty(1, device=device))
    except (RuntimeError, ValueError) as e:
        return f"error: {e}"[:80]


def _die_with_parent() -> None:
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _child(spec: ModelSpec, opts: ProfileOptions, conn) -> None:
    _die_with_parent()
    try:
        if opts.threads:  # before anything spins up a thread pool
            torch.set_num_threads(int(opts.threads))
        conn.send(("ok", profile_one(spec, opts)))
    except BaseException as e:  # noqa: BLE001 - everything goes back to the parent
        conn.send(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=8)}"))
    finally:
        conn.close()


class ProfileError(RuntimeError):
    pass


def profile_isolated(spec: ModelSpec, opts: ProfileOptions, timeout_s: float | None = None) -> dict:
    """:func:`profile_one` in a fresh spawned child process (so its peak memory is its own).

    The child dies with its parent (Linux ``PR_SET_PDEATHSIG``) and is killed on a timeout or an
    interrupt, so no measuring process outlives the command.
    """
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(spec, opts, child), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(timeout_s):
            raise ProfileError(f"{spec.name} x{spec.scale}: no result after {timeout_s:.0f} s (killed)")
        status, payload = parent.recv()
    except EOFError:
        proc.join(5)
        raise ProfileError(f"{spec.name} x{spec.scale}: the measuring process died "
                           f"(exit code {proc.exitcode})") from None
    except BaseException:
        _stop(proc, grace_s=2)
        raise
    finally:
        parent.close()
    _stop(proc, grace_s=30)
    if status != "ok":
        raise ProfileError(f"{spec.name} x{spec.scale}: {payload}")
    return payload


def _stop(proc, grace_s: float) -> None:
    proc.join(grace_s)
    if proc.is_alive():
        proc.terminate()
        proc.join(5)
    if proc.is_alive():
        proc.kill()
        proc.join()


def profile_models(specs: Sequence[ModelSpec], opts: ProfileOptions, isolate: bool = True,
                   on_error: Callable[[ModelSpec, Exception], None] | None = None,
                   on_row: Callable[[dict], None] | None = None,
                   timeout_s: float | None = None) -> pd.DataFrame:
    """Profile each spec (in its own child process when ``isolate``); failed ones go to ``on_error``."""
    rows = []
    for spec in specs:
        try:
            row = profile_isolated(spec, opts, timeout_s) if isolate else profile_one(spec, opts)
        except Exception as e:  # noqa: BLE001
            if on_error is None:
                raise
            on_error(spec, e)
            continue
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return pd.DataFrame(rows)


def write_profile(results_dir: str | Path, df: pd.DataFrame) -> Path:
    """Upsert rows into ``<results>/profile.parquet`` (keyed by :data:`PROFILE_KEY`)."""
    from benchmark import store

    return store.upsert(results_dir, "profile", df, key=PROFILE_KEY)


# ---------------------------------------------------------------------------------------------
# CLI


def _specs(models: str, scale: int, weights_dir: str | None) -> tuple[list[ModelSpec], list[str]]:
    import registry

    specs, skipped = [], []
    if models.strip().lower() == "all":
        for card in registry.cards():
            if scale in card.scales:
                specs.append(ModelSpec(card.name, scale, None, weights_dir))
            else:
                skipped.append(f"{card.name}: no x{scale}")
        return specs, skipped
    for name in [m.strip() for m in models.split(",") if m.strip()]:
        card, variant = registry.resolve(name)
        card.check_scale(scale)
        specs.append(ModelSpec(card.name, scale, variant, weights_dir))
    return specs, skipped


def _g(x: float, div: float, digits: int) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x / div:.{digits}f}"


def format_table(df: pd.DataFrame) -> str:
    """The NTIRE-style table, with units."""
    if df.empty:
        return "nothing was profiled"
    r0 = df.iloc[0]
    lines = [
        f"device {r0['device']} ({r0['device_name']}), {r0['precision']}, threads {r0['threads']}, "
        f"channels_last {bool(r0['channels_last'])}, compiled {bool(r0['compiled'])}, "
        f"input 1xCx{r0['input_size']} LR (C = 3; 1 for Y-only nets), protocol {r0['protocol']}",
        "FLOPs: fvcore, 1 FLOP = 1 multiply-add, selective scan counted; elem = element-wise ops left out "
        "of FLOPs (estimate); memory: " + str(r0.get("memory_kind", ""))
        + ("; CPU[ms] = process CPU time per forward (all threads)" if r0["device"] == "cpu" else ""),
    ]
    cpu = r0["device"] == "cpu" and "runtime_cpu_time_ms" in df.columns
    head = (f"{'model':<18} {'x':>2} {'Params[M]':>9} {'FLOPs[G]':>9} {'ptflops[G]':>10} {'elem[G]':>8} "
            f"{'Acts[M]':>8} {'Conv':>5} {'Time[ms] med':>12} {'p10':>9} {'p90':>9} {'Mem[MiB]':>9}"
            + (f" {'CPU[ms]':>9}" if cpu else ""))
    lines += [head, "-" * len(head)]
    for _, r in df.iterrows():
        lines.append(
            f"{r['variant']:<18} {int(r['scale']):>2} {_g(r.get('params'), 1e6, 3):>9} "
            f"{_g(r.get('flops'), 1e9, 2):>9} {_g(r.get('flops_ptflops'), 1e9, 2):>10} "
            f"{_g(r.get('flops_elementwise'), 1e9, 2):>8} {_g(r.get('activations'), 1e6, 2):>8} "
            f"{int(r['num_conv']) if 'num_conv' in r and not pd.isna(r['num_conv']) else '':>5} "
            f"{_g(r['runtime_ms'], 1, 2):>12} {_g(r['runtime_p10_ms'], 1, 2):>9} "
            f"{_g(r['runtime_p90_ms'], 1, 2):>9} {_g(r['memory_mb'], 1, 1):>9}"
            + (f" {_g(r['runtime_cpu_time_ms'], 1, 2):>9}" if cpu else ""))
    unc = [(r["variant"], r["flops_uncounted"]) for _, r in df.iterrows() if r.get("flops_uncounted")]
    if unc:
        lines.append("not in FLOPs (element-wise/reductions, by calls):")
        lines += [f"  {v}: {u}" for v, u in unc]
    return "\n".join(lines)


@click.command("profile")
@click.option("--models", default="all", show_default=True, help="all, or a comma list of model names")
@click.option("--scale", default=4, show_default=True, type=int)
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--precision", default="fp32", show_default=True, type=click.Choice(list(PRECISIONS)))
@click.option("--channels-last", is_flag=True, help="channels_last memory format for weights and input")
@click.option("--compile", "compiled", is_flag=True, help="torch.compile the network (compiling is warm-up)")
@click.option("--threads", type=int, default=None,
              help="CPU threads (default on the CPU: 1, the stable and comparable figure; recorded)")
@click.option("--results", "results_dir", type=click.Path(file_okay=False), default="results",
              show_default=True)
@click.option("--weights-dir", type=click.Path(file_okay=False), default=None,
              help="checkpoints folder (weights are loaded when present; profiling does not need them)")
@click.option("--size", default="256x256", show_default=True, help="LR input size HxW")
@click.option("--repeats", type=click.IntRange(min=1), default=None,
              help="timed runs (default: enough for ~10 s, 10-300)")
@click.option("--warmup", type=click.IntRange(min=1), default=None,
              help="untimed runs before timing, the first included (default: until two batches of 5 "
                   "agree within 3 %, ~60 s at most); for models whose one forward takes minutes")
@click.option("--no-timing", is_flag=True, help="counts only (params, FLOPs, activations)")
@click.option("--timeout", "timeout_s", type=float, default=None,
              help="seconds per model before its measuring process is killed (default: no limit)")
@click.option("--no-isolate", is_flag=True, help="measure in this process (CPU memory then not per model)")
def profile_command(models, scale, device, precision, channels_last, compiled, threads, results_dir,
                    weights_dir, size, repeats, warmup, no_timing, timeout_s, no_isolate) -> None:
    """Params, FLOPs, activations, runtime and peak memory of models at one LR input (NTIRE ESR)."""
    from benchmark import store
    from benchmark.envinfo import resolve_device

    try:
        dev = resolve_device(device)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--device") from None
    try:
        h, w = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected HxW like 256x256, got {size!r}", param_hint="--size") from None
    store.check_writable(results_dir)
    try:
        specs, skipped = _specs(models, scale, weights_dir)
    except (ValueError, KeyError) as e:
        raise click.ClickException(str(e).strip("'\"")) from None
    for s in skipped:
        click.echo(f"skipped {s}", err=True)
    if not specs:
        raise click.ClickException(f"no model to profile at x{scale}")
    if threads is None and dev.type == "cpu":
        threads = 1  # see the module docstring: stable across runs, comparable across machines
    opts = ProfileOptions(device=str(dev), precision=precision, channels_last=channels_last,
                          compiled=compiled, threads=threads, size=(h, w), timing=not no_timing,
                          repeats=repeats, warmup=warmup)
    failed: list[str] = []

    def on_error(spec: ModelSpec, e: Exception) -> None:
        failed.append(spec.name)
        click.echo(f"error: {spec.name} x{spec.scale}: {str(e).strip().splitlines()[0]}", err=True)

    def on_row(row: dict) -> None:
        write_profile(results_dir, pd.DataFrame([row]))
        gf, ms = _g(row.get("flops", float("nan")), 1e9, 2), _g(row["runtime_ms"], 1, 2)
        click.echo(f"  {row['variant']} x{row['scale']}: {gf} GFLOPs, {ms} ms", err=True)

    df = profile_models(specs, opts, isolate=not no_isolate, on_error=on_error, on_row=on_row,
                        timeout_s=timeout_s)
    click.echo(format_table(df))
    click.echo(f"\nresults: {Path(results_dir) / 'profile.parquet'}")
    if failed:
        raise click.ClickException(f"{len(failed)} model(s) failed: {', '.join(failed)}")


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    profile_command()
