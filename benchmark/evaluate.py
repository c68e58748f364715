"""Evaluation runs: a plan's work items through the driver, into the ``images`` and ``summary`` tables.

    run_plan = plan_request("IMDN,RLFN", "Set5,Set14", [4], ["bicubic"])
    summary = execute(run_plan, RunOptions(Path("results"), "cpu"))

Each work item is one job of the driver (:mod:`benchmark.driver`), run by an executor as an
:class:`~benchmark.worker.EvalTask`; its images' rows are journaled as they arrive, and when it ends
its rows go to ``images`` and its summary row to ``summary``, one upsert per table. An item with
errors is ``partial`` or ``failed`` (``status``, ``n_errors``) and never replaces a complete earlier
result for its key. The cards of the evaluated models are snapshotted into ``cards``.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

import registry
from benchmark import data as data_mod
from benchmark import journal as journal_mod
from benchmark import schema, store, worker
from benchmark.cards import store_cards
from benchmark.degrade import LRCache, jpeg_encoder
from benchmark.driver import Driver, DriverError, Job, LogFn, ProgressFn, now_iso
from benchmark.executors import ExecutorError, make_executor
from benchmark.infer import DEFAULT_TILE_OVERLAP
from benchmark.plan import PlanError, RunPlan, WorkItem
from benchmark.timing import STAGE_SECONDS
from protocol import PROTOCOL_VERSION
from registry.weights import weights_dir as resolve_weights_dir

SUMMARY_KEY = list(schema.SUMMARY.key)
IMAGES_KEY = list(schema.IMAGES.key)
_ENV_FIELDS = ("device", "device_type", "threads", "torch_version", "srbench_version", "git_commit")


@dataclass
class RunOptions:
    results_dir: Path
    device: object  # a torch.device, or 'auto'/'cpu'/'cuda' for the workers to resolve
    weights_dir: str | Path | None = None
    cache_dir: str | Path | None = None
    argv: dict = field(default_factory=dict)
    executor: str = "local"  # 'local' or 'ray'
    address: str | None = None  # Ray cluster address; None starts a local Ray instance
    timeout: float | None = None  # seconds per image; needs the work out of the driver's thread
    tile: int | None = None  # LR tile size; None/0: whole images (tiles only after an OOM)
    tile_overlap: int = DEFAULT_TILE_OVERLAP
    fresh: bool = False  # ignore an interrupted run's journal and start over
    threads: int | None = None  # torch threads in each worker (None: leave as is; the cores / workers)
    workers: int = 1  # local child processes running work items side by side (1: in this process)


def item_key(item: WorkItem) -> str:
    return journal_mod.digest(asdict(item))


def run_key(run_plan: RunPlan, opts: RunOptions) -> str:
    """What decides a run's results: its work items, the tile options and the protocol."""
    return journal_mod.digest({"items": [asdict(i) for i in run_plan.items], "tile": opts.tile or 0,
                               "tile_overlap": opts.tile_overlap, "protocol": PROTOCOL_VERSION})


def check_results_dir(results_dir: Path, log: LogFn) -> None:
    """Before any work: stray temporary files from a crashed writer are removed (safe: they are only
    ever renamed into place while the store's lock is held, and we hold it), and every table must read."""
    with store.locked(results_dir):
        for p in sorted(results_dir.glob(".*.parquet.tmp")):
            try:
                p.unlink()
                log(f"removed {p}, a temporary file left by a crashed write (the table itself is intact)")
            except OSError as e:
                raise store.StoreError(f"{p}: stray temporary file cannot be removed ({e.strerror}); "
                                       f"remove it and rerun") from e
    for table in store.TABLES:
        store.read(results_dir, table)  # StoreError naming the file when it is damaged


class EvalJob(Job):
    """One work item: its images are the units; rows go to ``images``, its summary to ``summary``."""

    def __init__(self, item: WorkItem, ds: data_mod.Dataset, sha: str, module: str, ctx: dict, origin: str = "zoo"):
        self.item, self.ds, self.sha, self.module, self.ctx, self.origin = item, ds, sha, module, ctx, origin
        self.key = item_key(item)
        self.units = [r.name for r in ds.images]
        self.where = f"{item.variant} x{item.scale} {item.dataset} {item.degradation}"
        self._shas = {r.name: r.sha256 for r in ds.images}

    def unit_sha(self, unit: str) -> str:
        return self._shas.get(unit, "")

    def task(self, remaining: list[str]):
        todo = set(remaining)
        refs = tuple(data_mod.ImageRef(r.dataset, r.name, Path(r.path).absolute(), r.sha256)
                     for r in self.ds.images if r.name in todo)
        extra = (self.module,) if self.module and not self.module.startswith("registry") else ()
        c = self.ctx
        return worker.run_eval_task, worker.EvalTask(self.item, refs, c["weights_dir"], c["cache_dir"], c["device"],
                                                     c["tile"], c["tile_overlap"], c["threads"], extra,
                                                     overlap=c["overlap"])

    def error_row(self, unit: str, status: str, message: str) -> dict:
        return worker.error_row(unit, status, message)

    def finish(self, rows: list[dict], ready: dict, run_id: str, log: LogFn) -> dict:
        item, env = self.item, ready.get("env") or {}
        key = {**asdict(item), "weights_sha256": self.sha, "protocol": PROTOCOL_VERSION}
        images = pd.DataFrame([{**key, **{k: r[k] for k in worker.ROW_FIELDS}, "device": env.get("device", ""),
                                "run_id": run_id} for r in rows])
        ok = images[images["status"] == "ok"]
        n_err = len(images) - len(ok)
        errors = images.loc[images["status"] != "ok", "error"]
        mem = images["memory_mb"].max()
        jpeg = ready.get("jpeg_encoder", "") or (jpeg_encoder() if item.degradation.startswith("jpeg") else "")
        summary = {
            **key, "dataset_kind": self.ds.kind,
            "psnr": float(ok["psnr"].mean()) if len(ok) else math.nan,
            "ssim": float(ok["ssim"].mean()) if len(ok) else math.nan,
            "n_images": len(images), "runtime_ms": float(ok["forward_ms"].mean()) if len(ok) else math.nan,
            "memory_mb": float(mem) if not pd.isna(mem) else math.nan, "precision": "fp32",
            "jpeg_encoder": jpeg, "run_id": run_id, "finished_at": now_iso(),
            **{k: str(env.get(k, "")) for k in _ENV_FIELDS},
            "status": "ok" if n_err == 0 else ("failed" if ok.empty else "partial"), "n_errors": int(n_err),
            "error": str(errors.iloc[0]) if n_err else "",
            "tile": int(images["tile"].max()), "n_tiled": int((images["tile"] > 0).sum()),
            # other processes' CPU use while this item ran (its runtime_ms is then flagged busy)
            **{k: ready[k] for k in ("load_other_cores", "load_steal_pct", "busy") if k in ready},
            "origin": self.origin,  # 'plugin' / 'cli': a model from outside the zoo, labelled external
        }
        results = self.ctx["results"]
        if n_err and _has_complete(results, key):
            self.ctx["kept"].append(self.where)
            log(f"{self.where}: kept the earlier complete result; this run's errors are not stored")
        else:
            t0 = time.perf_counter()
            store.upsert(results, "images", images)
            store.upsert(results, "summary", pd.DataFrame([summary]))
            STAGE_SECONDS["store upserts (driver)"] += time.perf_counter() - t0
        return summary


def _has_complete(results: Path, key: dict) -> bool:
    old = store.read(results, "summary")
    if old.empty:
        return False
    mask = pd.Series(True, index=old.index)
    for k in SUMMARY_KEY:
        mask &= old[k].astype(str) == str(key[k])
    mask &= old["status"].isna() | (old["status"] == "ok")
    return bool(mask.any())


def execute(run_plan: RunPlan, opts: RunOptions, progress: ProgressFn | None = None,
            log: LogFn | None = None, notice: LogFn | None = None) -> pd.DataFrame:
    """Run every work item, storing each item's rows as soon as it finishes; returns the summary.

    The returned frame has one row per planned item (``status`` ok/partial/failed); ``attrs`` holds
    ``failures`` (one line per item with errors), ``resumed_images``, ``attempts``, ``run_id`` and
    ``kept``. ``log`` receives warnings (stray files removed, other interrupted runs, kept results).
    """
    if not run_plan.items:
        return pd.DataFrame()
    log = log or (lambda msg: warnings.warn(msg, stacklevel=2))
    results = Path(opts.results_dir)
    store.check_writable(results)
    check_results_dir(results, log)
    try:
        executor = make_executor(opts.executor, opts.timeout, opts.device, opts.address, opts.threads,
                                 workers=opts.workers)
    except ExecutorError as e:
        raise PlanError(str(e)) from None
    dev = opts.device
    ctx = {"results": results, "kept": [], "tile": opts.tile, "tile_overlap": opts.tile_overlap,
           "threads": opts.threads or (max(1, (os.cpu_count() or 1) // opts.workers) if opts.workers > 1 else None),
           # SRBENCH_OVERLAP=1: score image i while image i+1's forward pass runs (in-process only). Off by
           # default: on the 2-core VM, with torch's threads on both cores, it made four cheap CNNs 10-25 %
           # slower in wall time (benches/bench_harness.py, interleaved), the two sides fighting for the cores
           "overlap": bool(getattr(executor, "in_process", False)) and os.environ.get("SRBENCH_OVERLAP") == "1",
           "weights_dir": str(resolve_weights_dir(opts.weights_dir).absolute()),
           "cache_dir": str(LRCache(opts.cache_dir).root.absolute()),
           "device": getattr(executor, "device", None) or (dev if isinstance(dev, str) else str(dev))}
    jobs, cards = [], {}
    for item in run_plan.items:
        sel = run_plan.selection(item)
        card = sel.card if sel is not None else registry.get(item.model)
        cards[card.name] = card
        sha = sel.sha256 if sel is not None else _weights_sha(item)
        module = sel.module if sel is not None else registry.module_of(item.model)
        jobs.append(EvalJob(item, run_plan.datasets[item.dataset], sha, module, ctx, card.origin))
    store_cards(results, cards.values(), {n: registry.module_of(n) for n in cards})
    driver = Driver(results, run_key(run_plan, opts), jobs, executor, options=opts.argv, task_kind="eval",
                    executor_name=opts.executor, timeout=opts.timeout, fresh=opts.fresh, progress=progress, log=log,
                    notice=notice)
    try:
        res = driver.run()
    except DriverError as e:
        raise PlanError(str(e)) from None
    finally:
        worker.release_models()
    out = pd.DataFrame(res.summaries)
    out.attrs.update({"run_id": res.run_id, "failures": res.failures, "resumed_images": res.resumed,
                      "attempts": res.attempts, "kept": list(ctx["kept"])})
    return out


def _weights_sha(item: WorkItem) -> str:
    wf = registry.get(item.model).weight_file(item.scale, item.variant)
    return wf.sha256 if wf is not None else ""
