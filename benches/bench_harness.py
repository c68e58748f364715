"""Harness throughput of ``srbench run``: what the run costs beyond the models' forward passes.

Part 1, the harness alone: a stand-in model whose forward pass costs next to nothing (nearest-neighbour
upsampling) is evaluated on a test set with a warm LR cache, as 1 model and as 10 models over the same
images (10 registered copies), through the real pipeline (``benchmark.evaluate.execute``, the default
in-process executor). It prints images per second, the milliseconds of harness work per
image-evaluation ((wall - forward passes) / evaluations), and the per-stage split.

Part 2, real models: cheap CNNs on the same set; the run's wall time against the sum of the forward
passes it timed. Both parts measure one in-process worker with torch's threads (the default) and two
worker processes with one thread each (``--workers 2``), interleaved.

Part 3 (``--main-job RESULTS``): the main job's wall time against the sum of its forward passes, from a
results folder's ``runs`` and ``images`` tables (the newest run, or ``--run-id``).

    python benches/bench_harness.py                                    # Urban100 x4, both parts
    python benches/bench_harness.py --limit 20 --copies 1,10 --real ''
    python benches/bench_harness.py --main-job results

It prints; it never asserts. Other jobs on the machine inflate the numbers: the load average is printed
beside them. Run it with ``PYTHONPATH`` pointing at another checkout to measure that one in the same
way (the script only uses ``evaluate.execute`` and the stage counters).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import registry  # noqa: E402
from benchmark import data as data_mod  # noqa: E402
from benchmark import evaluate, store, worker  # noqa: E402
from benchmark.degrade import LRCache, mod_crop  # noqa: E402
from benchmark.envinfo import cpu_model  # noqa: E402
from benchmark.plan import RunPlan, WorkItem  # noqa: E402

try:
    from benchmark.timing import STAGE_SECONDS  # noqa: E402
except ImportError:  # an older checkout kept them in the worker
    STAGE_SECONDS = worker.STAGE_SECONDS


STANDIN_FILE = Path(__file__).resolve().parent / "_standin.py"


def _stand_ins(n: int) -> list[str]:
    """The first ``n`` stand-ins (nearest-neighbour upsamplers), registered from a plugin file so
    that worker processes register them too."""
    os.environ["SRBENCH_BENCH_STANDINS"] = str(max(n, int(os.environ.get("SRBENCH_BENCH_STANDINS", "0") or 0)))
    if "bench-nearest-0" not in {m.lower() for m in registry.names()}:
        registry.load_plugin(str(STANDIN_FILE))
    return [f"Bench-nearest-{k}" for k in range(n)]


def _warm(refs, scale: int, cache: LRCache) -> None:
    t0 = time.perf_counter()
    for ref in refs:
        hr = data_mod.read_hr(ref, scale)
        cache.lr_for(mod_crop(hr.pixels, scale), ref.sha256, "bicubic", scale, hr.gray)
    print(f"LR cache warm: {cache.misses} made, {cache.hits} already there ({time.perf_counter() - t0:.1f} s)")


def _standalone_forward_s(refs, scale: int, cache: LRCache) -> float:
    """The stand-in's forward passes over ``refs`` timed alone (no harness beside them): with the
    scoring overlapped, the run's own forward timings include waiting for a core, so its harness work is
    measured against this instead."""
    from benchmark.infer import to_input

    total = 0.0
    with torch.inference_mode():
        for ref in refs:
            hr = data_mod.read_hr(ref, scale)
            x = to_input(cache.lr_for(mod_crop(hr.pixels, scale), ref.sha256, "bicubic", scale, hr.gray),
                         torch.device("cpu"))
            t0 = time.perf_counter()
            torch.nn.functional.interpolate(x, scale_factor=scale, mode="nearest")  # the stand-in's forward
            total += time.perf_counter() - t0
    return total


def _clear_process_caches() -> None:
    """Each measurement starts with no decoded image or HR reference kept from the previous one."""
    cache = getattr(worker, "_CACHE", None)
    if cache is not None:
        cache.clear()
    else:  # an older checkout: its decoded-image cache had no clear()
        worker._DECODED._d.clear()
        worker._DECODED.used = 0


def _run(models: list[str], subset: data_mod.Dataset, scale: int, cache_dir: Path, workers: int = 1,
         threads: int | None = None) -> dict:
    items = []
    for name in models:
        card, variant = registry.resolve(name)
        items.append(WorkItem(card.name, variant or card.variants(scale)[0], subset.name, "bicubic", scale, "rgb"))
    _clear_process_caches()
    STAGE_SECONDS.clear()
    with tempfile.TemporaryDirectory() as results:
        extra = {"workers": workers} if workers > 1 else {}
        opts = evaluate.RunOptions(Path(results), "cpu", None, cache_dir, threads=threads, **extra)
        t0 = time.perf_counter()
        evaluate.execute(RunPlan(items, {subset.name: subset}), opts, log=lambda m: None)
        wall = time.perf_counter() - t0
        images = store.read(results, "images")
    return {"wall": wall, "forward": float(images["forward_ms"].sum()) / 1e3, "evals": len(images),
            "ok": int((images["status"] == "ok").sum()), "stages": dict(STAGE_SECONDS)}


def _print_run(label: str, r: dict, show_stages: bool, standalone: float | None = None) -> None:
    n = r["evals"]
    over = r["wall"] - r["forward"]
    if standalone is not None:
        print(f"  {label:<34} harness (wall - the stand-ins' forward passes timed alone): "
              f"{1e3 * (r['wall'] - standalone) / n:7.2f} ms/eval")
    print(f"  {label:<34} {n:5d} evals  {n / r['wall']:7.2f} img/s  wall {r['wall']:7.2f} s  forward "
          f"{r['forward']:7.2f} s  harness {1e3 * over / n:7.2f} ms/eval  wall/forward "
          f"{r['wall'] / max(r['forward'], 1e-9):6.3f}  (load {os.getloadavg()[0]:.2f})")
    if r["ok"] != n:
        print(f"    !! {n - r['ok']} evaluations failed")
    if show_stages:
        for k, v in sorted(r["stages"].items(), key=lambda kv: -kv[1]):
            if "hits" in k:
                print(f"      {k:<52} {v:8.0f}")
            else:
                print(f"      {k:<52} {v:8.3f} s  {1e3 * v / n:7.2f} ms/eval")


def _main_job(results: Path, run_id: str | None) -> None:
    runs, images = store.read(results, "runs"), store.read(results, "images")
    if "task_kind" in runs:  # runs from before profiling shared the driver have no task kind: evaluations
        runs = runs[runs["task_kind"].fillna("eval").replace("", "eval") == "eval"]
    if runs.empty:
        print(f"{results}: no eval runs")
        return
    row = runs[runs["run_id"] == run_id].iloc[0] if run_id else runs.sort_values("started_at").iloc[-1]
    mine = images[images["run_id"] == row["run_id"]]
    t0, t1 = (time.mktime(time.strptime(row[k][:19], "%Y-%m-%dT%H:%M:%S")) for k in ("started_at", "finished_at"))
    fwd = float(mine["forward_ms"].sum()) / 1e3
    opts = json.loads(row["options"]) if row.get("options") else {}
    print(f"main job {row['run_id']} ({row['started_at']} .. {row['finished_at']}), options {opts}:")
    print(f"  wall {t1 - t0:8.0f} s = {(t1 - t0) / 60:.1f} min; forward passes {fwd:8.0f} s; "
          f"wall/forward {(t1 - t0) / max(fwd, 1e-9):.3f}; {len(mine)} image-evaluations")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="Urban100")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--limit", type=int, default=0, help="first N images only (0: all)")
    ap.add_argument("--copies", default="1,10", help="stand-in model counts to measure")
    ap.add_argument("--real", default="RLFN-ntire,SPAN-ntire24,SPANtiny-ntire24,DIPNet",
                    help="real models for part 2 ('' to skip)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--workers", default="1,2", help="1: one in-process worker with torch's threads; "
                    "2: two child processes x 1 thread (srbench run --workers 2)")
    ap.add_argument("--repeats", type=int, default=1, help="measure each configuration this many times")
    ap.add_argument("--stages", action="store_true", help="print the per-stage split of every measurement")
    ap.add_argument("--main-job", default=None, help="a results folder: report its newest eval run")
    ap.add_argument("--run-id", default=None)
    args = ap.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    if args.main_job:
        _main_job(Path(args.main_job), args.run_id)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = data_mod.load(args.dataset)
    refs = ds.images[: args.limit] if args.limit else ds.images
    subset = data_mod.Dataset(ds.name, ds.kind, tuple(refs))
    cache = LRCache(None)
    _warm(refs, args.scale, cache)
    print(f"{ds.name} x{args.scale}, {len(refs)} images; CPU: {cpu_model()}, {torch.get_num_threads()} torch "
          f"threads, {os.cpu_count()} CPUs; code: {Path(evaluate.__file__).resolve().parent.parent}")
    configs = [(w, t) for w, t in ((1, None), (2, 1)) if w in {int(x) for x in args.workers.split(",")}]
    print("part 1: the harness alone (nearest-neighbour stand-ins)")
    n_max = max([int(c) for c in args.copies.split(",") if c], default=0)
    if n_max:
        _stand_ins(n_max)
        one_pass = _standalone_forward_s(refs, args.scale, cache)
        print(f"  the stand-in's forward passes alone: {one_pass:.2f} s per pass over the set")
    for rep in range(args.repeats):
        for n in (int(c) for c in args.copies.split(",") if c):
            for w, t in configs:
                r = _run(_stand_ins(n), subset, args.scale, cache.root, w, t)
                _print_run(f"{n} stand-in(s), {_label(w, t)}, #{rep + 1}", r, args.stages or (rep == 0 and w == 1),
                           standalone=n * one_pass)
    real = [m for m in args.real.split(",") if m]
    if real:
        print("part 2: real models (" + ", ".join(real) + ")")
        for rep in range(args.repeats):
            for w, t in configs:
                r = _run(real, subset, args.scale, cache.root, w, t)
                _print_run(f"{len(real)} models, {_label(w, t)}, #{rep + 1}", r, args.stages or (rep == 0 and w == 1))


def _label(workers: int, threads: int | None) -> str:
    return f"{workers} worker x {threads or torch.get_num_threads()} thr"

if __name__ == "__main__":
    main()
