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

The instruments are in :mod:`benchmark.timing`; running many models (resume, ``--timeout``, Ray, the
table and the command) is :mod:`benchmark.profile_run`. :func:`run_profile_task` is the task function
the executors run: one model x scale x device x precision, one ``row`` event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import nn

import registry
from benchmark.envinfo import environment, resolve_device
from benchmark.flops import bare_network, count_flops, count_ptflops
from benchmark.timing import LoadProbe, measure_runtime, peak_rss_mb, reset_peak_rss, rss_mb
from benchmark.worker import describe, import_modules
from protocol import PROTOCOL_VERSION
from registry.weights import weight_path

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


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
    modules: tuple[str, ...] = ()  # modules to import first: they register models from outside registry/


def _build(spec: ModelSpec) -> tuple[nn.Module, dict]:
    """(model, info) with info: model, variant, pretrained, weights_sha256, colour, kind."""
    if spec.builder is not None:
        m = spec.builder()
        return m, {"model": spec.name, "variant": spec.variant or spec.name, "pretrained": False,
                   "weights_sha256": "", "kind": "custom"}
    import_modules(spec.modules)
    card, variant = registry.resolve(spec.name)
    variant = spec.variant or variant
    wf = card.weight_file(spec.scale, variant)
    pretrained = wf is not None and weight_path(wf, spec.weights_dir).is_file()
    m = card.build_model(spec.scale, variant, spec.weights_dir, pretrained=pretrained)
    return m, {"model": card.name, "variant": m.variant or card.name, "pretrained": pretrained,
               "weights_sha256": m.weights_sha256, "kind": card.kind,
               "origin": card.origin}


def _counts(spec: ModelSpec, size: tuple[int, int]) -> dict:
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
    (:func:`profile_isolated` and ``srbench profile`` do).
    """
    if opts.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {opts.precision!r}")
    if opts.threads:
        torch.set_num_threads(int(opts.threads))
    device = resolve_device(opts.device)  # 'auto' arrives unresolved from a Ray task: its machine decides
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
        probe = LoadProbe()
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
        row.update(probe.read())  # what else used the machine while we timed (flagged 'busy')
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
        row.update(memory_kind="", runs=0, warmup_runs=0, warmup_stable=False, runtime_all_ms="[]", busy=False)
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
    """Which selective scan a Mamba model ran: 'cuda' (mamba_ssm's kernel), 'cpp' (the fused CPU kernel,
    built here on first use) or 'torch'."""
    try:
        from registry.ops.scan import backend_for
    except ImportError:
        return ""
    try:
        return backend_for(torch.empty(1, device=device))
    except (RuntimeError, ValueError) as e:
        return f"error: {e}"[:80]


@dataclass(frozen=True)
class ProfileTask:
    """One model x scale x device x precision to measure: plain, picklable values."""

    spec: ModelSpec
    opts: ProfileOptions


def run_profile_task(task: ProfileTask) -> Iterator[dict]:
    """The executors' task function: ``ready``, then one ``row`` (the profile row, or an error row), ``done``.

    ``ready`` comes first so that a ``--timeout`` counts the build and the measurement, not the
    start of a worker process.
    """
    yield {"event": "ready"}
    threads = torch.get_num_threads()
    try:
        row = {**profile_one(task.spec, task.opts), "status": "ok", "error": ""}
    except Exception as e:
        row = {"status": "error", "error": describe(e)}
    finally:
        torch.set_num_threads(threads)  # the inline executor runs in the caller's process
    yield {"event": "row", "unit": "profile", **row}
    yield {"event": "done"}
