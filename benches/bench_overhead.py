"""Harness overhead of ``srbench run``: the wall time that is not the model's forward pass.

Runs the real runner (``benchmark.runner.execute``, in-process executor) for one CNN on a test set
with a warm LR cache, and compares the run's wall time with the sum of the forward passes it timed.
Everything else (reading HR, the LR cache, tensor conversion and the output checks, Y PSNR/SSIM, the
journal, the parquet writes, building the model) is overhead. The stage breakdown comes from
``runner.STAGE_SECONDS``; stages marked "(prefetch thread)" run beside the forward pass, and only the
main thread's "wait for input" is on the critical path.

    python benches/bench_overhead.py                       # RLFN-ntire, Urban100 x4, all 100 images
    python benches/bench_overhead.py --limit 20 --threads 2
    python benches/bench_overhead.py --model IMDN --dataset B100 --device cuda

It prints; it never asserts. Other jobs on the machine inflate the numbers: quote them with the load.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmark import data as data_mod  # noqa: E402
from benchmark import runner, store  # noqa: E402
from benchmark.degrade import LRCache, mod_crop  # noqa: E402
from benchmark.envinfo import cpu_model, resolve_device  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="RLFN-ntire")
    ap.add_argument("--dataset", default="Urban100")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--limit", type=int, default=0, help="first N images only (0: all)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--weights-dir", default=None)
    ap.add_argument("--cache-dir", default=None, help="LR cache (default: srbench's; warmed first)")
    args = ap.parse_args()

    warnings.simplefilter("ignore", UserWarning)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    ds = data_mod.load(args.dataset, args.data_root)
    refs = ds.images[: args.limit] if args.limit else ds.images
    subset = data_mod.Dataset(ds.name, ds.kind, tuple(refs))

    cache = LRCache(args.cache_dir)
    t0 = time.perf_counter()
    for ref in refs:  # warm the LR cache (not measured)
        hr = data_mod.read_hr(ref, args.scale)
        cache.lr_for(mod_crop(hr.pixels, args.scale), ref.sha256, "bicubic", args.scale, hr.gray)
    print(f"LR cache: {cache.misses} made, {cache.hits} already there ({time.perf_counter() - t0:.1f} s)")

    import registry

    card, variant = registry.resolve(args.model)
    variant = variant or card.variants(args.scale)[0]
    item = runner.WorkItem(card.name, variant, ds.name, "bicubic", args.scale, "rgb")
    run_plan = runner.RunPlan([item], {ds.name: subset})
    with tempfile.TemporaryDirectory() as results:
        opts = runner.RunOptions(Path(results), device, args.weights_dir, cache.root)
        runner.STAGE_SECONDS.clear()
        t0 = time.perf_counter()
        runner.execute(run_plan, opts, log=lambda m: None)
        if device.type == "cuda":
            torch.cuda.synchronize()
        total = time.perf_counter() - t0
        images = store.read(results, "images")
    stages = dict(runner.STAGE_SECONDS)
    forward = float(images["forward_ms"].sum()) / 1e3
    n = len(images)
    over = total - forward
    load = os.getloadavg()[0]
    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU: {cpu_model()}"
    print(f"\n{variant} x{args.scale} on {ds.name} ({n} images), {dev}, {torch.get_num_threads()} threads, "
          f"load average {load:.1f} on {os.cpu_count()} CPUs")
    print(f"  run wall time      {total:8.2f} s  ({1e3 * total / n:7.1f} ms/image)")
    print(f"  forward passes     {forward:8.2f} s  ({1e3 * forward / n:7.1f} ms/image)")
    print(f"  harness overhead   {over:8.2f} s  ({1e3 * over / n:7.1f} ms/image) = {100 * over / total:.1f}% "
          f"of the run")
    print("  stages (s):")
    in_sr = stages.get("super_resolve", 0.0) - forward
    rows = [(k, v) for k, v in stages.items() if k != "super_resolve"]
    rows.append(("to_input/quantize/checks", in_sr))
    for k, v in sorted(rows, key=lambda kv: -kv[1]):
        print(f"    {k:<28} {v:8.3f}  ({1e3 * v / n:7.1f} ms/image)")
    accounted = sum(v for k, v in rows if "prefetch" not in k)
    print(f"    {'other (driver, events)':<28} {over - accounted:8.3f}")


if __name__ == "__main__":
    main()
