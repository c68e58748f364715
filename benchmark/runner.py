"""Planning and executing an evaluation run.

``plan`` turns the user's choices into work items ``(model, variant, dataset, degradation, scale,
gray)`` and checks everything it can before any work starts (names, scales, weights, data, the
results directory), so bad input fails fast and writes nothing.

``execute`` is the driver. It hands work items to an executor (:mod:`benchmark.executors`: in this
process, in a supervised child process, or as Ray tasks), which runs :func:`run_task` and streams
back one event per finished image; the driver alone writes: each image's row goes to the run journal
(:mod:`benchmark.journal`) as it arrives, and a finished item's rows go to the parquet tables through
:mod:`benchmark.store` in one upsert per table.

Resuming: a run killed at any point leaves its journal; the same command again finds it by the run
key, keeps what was finished (per image) and does only the rest. A run that completed leaves no
journal, so running it again re-does the work and its rows replace the old ones.

Faults: a model that raises, returns NaN/Inf or the wrong shape on an image gets an error row
(``status``/``error`` columns) and the item goes on with its next image; an image that takes longer
than ``timeout`` seconds has its worker killed, gets a ``timeout`` row, and the item's remaining images
are marked ``skipped`` (a hang tends to repeat). An item with errors is ``partial`` or ``failed`` in
the summary (``status``, ``n_errors``), and never replaces a complete earlier result for its key.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import threading
import time
import uuid
import warnings
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import registry
from benchmark import data as data_mod
from benchmark import journal as journal_mod
from benchmark import store
from benchmark.degrade import LRCache, jpeg_encoder, mod_crop, parse_degradation
from benchmark.envinfo import environment
from benchmark.infer import DEFAULT_TILE_OVERLAP, super_resolve
from benchmark.metrics import psnr_ssim_y
from benchmark.protocol import GRAY_CONVENTIONS, PROTOCOL_VERSION
from registry.weights import verify as verify_weights
from registry.weights import weight_path
from registry.weights import weights_dir as resolve_weights_dir

SUMMARY_KEY = ["model", "variant", "weights_sha256", "dataset", "degradation", "scale", "gray", "protocol"]
IMAGES_KEY = SUMMARY_KEY + ["image"]


class PlanError(ValueError):
    """The requested run cannot be done; the message names the model, set or option."""


@dataclass(frozen=True)
class WorkItem:
    model: str
    variant: str
    dataset: str
    degradation: str
    scale: int
    gray: str


@dataclass
class RunPlan:
    items: list[WorkItem]
    datasets: dict[str, data_mod.Dataset]
    skipped: list[str] = field(default_factory=list)  # warnings: what 'all' left out, and why


def _model_variants(spec: str, scales: Sequence[int], weights_dir) -> tuple[list[tuple], list[str]]:
    """[(card, variant, scale)] for the model spec; explicit names are strict, 'all' skips quietly."""
    chosen: list[tuple] = []
    skipped: list[str] = []
    explicit = spec.strip().lower() != "all"
    if explicit:
        names = [n.strip() for n in spec.split(",") if n.strip()]
        if not names:
            raise PlanError("--models is empty")
        try:
            wanted = [registry.resolve(n) for n in names]
        except registry.UnknownModel as e:
            raise PlanError(str(e)) from None
    else:
        wanted = [(c, None) for c in registry.cards()]
    for card, variant in wanted:
        if card.architecture_only:
            msg = f"model {card.name} is architecture only (no published weights): no accuracy to measure"
            if explicit:
                raise PlanError(msg + "; use 'srbench profile' for its efficiency")
            skipped.append(msg)
            continue
        for scale in scales:
            if scale not in card.scales:
                if explicit:
                    card.check_scale(scale)  # raises with the supported scales
                continue
            for v in ([variant] if variant else card.variants(scale)):
                wf = card.weight_file(scale, v)
                if wf is not None:
                    state = verify_weights(wf, weights_dir)
                    if state != "ok":
                        msg = f"model {v} x{scale}: checkpoint {weight_path(wf, weights_dir)} is {state}"
                        if explicit or state == "altered":
                            raise PlanError(msg)
                        skipped.append(msg + "; skipped")
                        continue
                chosen.append((card, v, scale))
    return chosen, skipped


def plan(models: str, datasets: str, scales: Sequence[int], degradations: Sequence[str],
         gray: str = "rgb", data_root=None, weights_dir=None) -> RunPlan:
    if gray not in GRAY_CONVENTIONS:
        raise PlanError(f"--gray must be one of {', '.join(GRAY_CONVENTIONS)}, not {gray!r}")
    if not scales:
        raise PlanError("--scale is empty")
    for s in scales:
        if s < 2:
            raise PlanError(f"--scale {s}: scales must be integers >= 2")
    degs = []
    for d in degradations:
        try:
            parse_degradation(d)
        except ValueError as e:
            raise PlanError(str(e)) from None
        degs.append(d.strip().lower())
    try:
        sets = data_mod.resolve_datasets(datasets, data_root)
    except data_mod.DataError as e:
        raise PlanError(str(e)) from None
    for ds in sets:
        if ds.kind == "custom":  # no checksums: decode every image now, before anything is written
            for ref in ds.images:
                try:
                    data_mod.read_hr(ref, min_size=max(scales))
                except data_mod.DataError as e:
                    raise PlanError(str(e)) from None
    try:
        chosen, skipped = _model_variants(models, scales, weights_dir)
    except (ValueError, KeyError) as e:
        raise PlanError(str(e).strip("'\"")) from None
    items = [WorkItem(card.name, v, ds.name, d, s, gray)
             for card, v, s in chosen for ds in sets for d in degs]
    items = list(dict.fromkeys(items))  # a name given twice is one work item
    return RunPlan(items, {ds.name: ds for ds in sets}, skipped)



@dataclass
class RunOptions:
    results_dir: Path
    device: torch.device | str  # a torch.device, or 'auto'/'cpu'/'cuda' for the workers to resolve
    weights_dir: str | Path | None = None
    cache_dir: str | Path | None = None
    argv: dict = field(default_factory=dict)
    executor: str = "local"  # 'local' or 'ray'
    address: str | None = None  # Ray cluster address; None starts a local Ray instance
    timeout: float | None = None  # seconds per image; needs the work out of the driver's thread
    tile: int | None = None  # LR tile size; None/0: whole images (tiles only after an OOM)
    tile_overlap: int = DEFAULT_TILE_OVERLAP
    fresh: bool = False  # ignore an interrupted run's journal and start over
    threads: int | None = None  # torch threads in each worker (None: leave as is)


ProgressFn = Callable[[int], None]
LogFn = Callable[[str], None]

# The per-image columns a worker produces, in table order.
ROW_FIELDS = ("image", "psnr", "ssim", "forward_ms", "lr_height", "lr_width", "gray_image", "status", "error",
              "tile", "memory_mb")
_ENV_FIELDS = ("device", "device_type", "threads", "torch_version", "srbench_version", "git_commit")
# Columns that differ between two runs of the same work (ignore them when comparing runs).
VOLATILE_COLUMNS = ("run_id", "finished_at", "forward_ms", "runtime_ms", "memory_mb", "device", "device_type",
                    "threads", "git_commit")


@dataclass(frozen=True)
class ItemTask:
    """What a worker needs to run (part of) one work item: plain, picklable values, absolute paths."""

    item: WorkItem
    images: tuple[data_mod.ImageRef, ...]  # the images still to do, in order
    weights_dir: str
    cache_dir: str
    device: str  # 'cpu', 'cuda', 'cuda:1', or 'auto'
    tile: int | None = None
    tile_overlap: int = DEFAULT_TILE_OVERLAP
    threads: int | None = None
    modules: tuple[str, ...] = ()  # modules to import first: they register models from outside registry/


# ------------------------------------------------------------------------------------ worker side

_MODELS: dict[tuple, torch.nn.Module] = {}  # one model kept between the tasks a worker runs
# Cumulative wall seconds per stage in this process (benches/bench_overhead.py reads them).
STAGE_SECONDS: Counter[str] = Counter()


def release_models() -> None:
    _MODELS.clear()


def _model_for(item: WorkItem, weights_dir: str, device: torch.device) -> torch.nn.Module:
    key = (item.model, item.variant, item.scale, weights_dir, str(device))
    if key not in _MODELS:
        t0 = time.perf_counter()
        _MODELS.clear()  # one model in memory at a time
        if device.type == "cuda":
            torch.cuda.empty_cache()
        card = registry.get(item.model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            _MODELS[key] = card.build_model(item.scale, item.variant, weights_dir).to(device)
        STAGE_SECONDS["build model"] += time.perf_counter() - t0
    return _MODELS[key]


def _describe(e: BaseException) -> str:
    """One line: the exception's type and the first line of its message."""
    text = str(e).strip().strip("'\"").splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:400].rstrip(": ")


def error_row(name: str, status: str, message: str) -> dict:
    return {"image": name, "psnr": math.nan, "ssim": math.nan, "forward_ms": math.nan, "lr_height": 0,
            "lr_width": 0, "gray_image": False, "status": status, "error": message, "tile": 0,
            "memory_mb": math.nan}


class _DecodedCache:
    """Decoded (mod-cropped HR, LR, gray) per (image, degradation, scale), kept in this process between
    work items up to ``SRBENCH_MEM_CACHE_MB`` (default 1024): the second model evaluated on a set
    decodes nothing. Entries are never modified (read-only arrays), so sharing them is safe."""

    def __init__(self, budget_mb: float):
        self.budget = int(budget_mb * 2**20)
        self.used = 0
        self._d: OrderedDict[tuple, tuple] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple):
        with self._lock:
            v = self._d.get(key)
            if v is not None:
                self._d.move_to_end(key)
            return v

    def put(self, key: tuple, value: tuple) -> None:
        size = value[0].nbytes + value[1].nbytes
        if size > self.budget:
            return
        for arr in value[:2]:
            arr.setflags(write=False)
        with self._lock:
            if key in self._d:
                return
            self._d[key] = value
            self.used += size
            while self.used > self.budget:
                _, old = self._d.popitem(last=False)
                self.used -= old[0].nbytes + old[1].nbytes


_DECODED = _DecodedCache(float(os.environ.get("SRBENCH_MEM_CACHE_MB", "1024")))


def _load_pair(ref: data_mod.ImageRef, item: WorkItem, cache: LRCache):
    key = (ref.sha256, str(ref.path), item.degradation, item.scale)
    hit = _DECODED.get(key)
    if hit is not None:
        STAGE_SECONDS["decoded-image cache hits"] += 1
        return hit
    t0 = time.perf_counter()
    hr_img = data_mod.read_hr(ref, min_size=item.scale)
    hr = mod_crop(hr_img.pixels, item.scale)
    t1 = time.perf_counter()
    lr = cache.lr_for(hr, ref.sha256, item.degradation, item.scale, hr_img.gray)
    STAGE_SECONDS["read HR (prefetch thread)"] += t1 - t0
    STAGE_SECONDS["LR cache (prefetch thread)"] += time.perf_counter() - t1
    out = (np.ascontiguousarray(hr), np.ascontiguousarray(lr), hr_img.gray)
    if ref.sha256:
        _DECODED.put(key, out)
    return out


def _prefetch_threads(device: torch.device) -> int:
    """Images decoded ahead, in parallel: one beside a CPU forward pass (which uses the cores itself),
    more beside a GPU, whose forward pass is often shorter than decoding one PNG."""
    if device.type != "cuda":
        return 1
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def _prefetched(refs, load, threads: int = 1) -> Iterator[tuple]:
    """(ref, future of load(ref)), with up to ``threads`` images read and degraded ahead in background
    threads while the current one runs (PNG decoding and the LR cache release the GIL)."""
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="srbench-prefetch") as pool:
        futures: deque = deque()
        for ref in refs:
            futures.append((ref, pool.submit(load, ref)))
            if len(futures) > threads:
                yield futures.popleft()
        while futures:
            yield futures.popleft()


def _evaluate_one(item: WorkItem, model, ref, loaded, device: torch.device, task: ItemTask) -> dict:
    t0 = time.perf_counter()
    hr, lr, gray = loaded.result()
    t1 = time.perf_counter()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    res = super_resolve(model, lr, item.scale, device, tile=task.tile, overlap=task.tile_overlap)
    # the forward pass's peak (weights, input, activations, output), before the metrics allocate theirs
    memory = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else math.nan
    t2 = time.perf_counter()
    with warnings.catch_warnings():  # hr is read-only (shared in the decoded cache); it is only read
        warnings.simplefilter("ignore", UserWarning)
        hr_t = torch.from_numpy(hr).permute(2, 0, 1)[None].to(device)
    score = psnr_ssim_y(res.sr, hr_t, border=item.scale, gray=gray, convention=item.gray)[0]
    t3 = time.perf_counter()
    STAGE_SECONDS["wait for input"] += t1 - t0
    STAGE_SECONDS["super_resolve"] += t2 - t1
    STAGE_SECONDS["metrics"] += t3 - t2
    return {"image": ref.name, "psnr": score.psnr, "ssim": score.ssim, "forward_ms": res.forward_ms,
            "lr_height": int(lr.shape[0]), "lr_width": int(lr.shape[1]), "gray_image": bool(gray),
            "status": "ok", "error": "", "tile": int(res.tile), "memory_mb": memory}


def _resolve_device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(spec)


def run_task(task: ItemTask) -> Iterator[dict]:
    """Run one work item's images; yields ``ready`` (or ``failed``), one ``row`` per image, ``done``.

    Runs wherever the executor puts it and writes nothing: the driver journals and stores the events.
    An exception on one image becomes that image's error row; only the driver's kill stops a hang.
    """
    threads = torch.get_num_threads()
    if task.threads:
        torch.set_num_threads(task.threads)
    try:
        yield from _run_task(task)
    finally:
        torch.set_num_threads(threads)  # the inline executor runs in the caller's process


def _run_task(task: ItemTask) -> Iterator[dict]:
    item = task.item
    cache = LRCache(task.cache_dir)
    try:
        for name in task.modules:
            importlib.import_module(name)
        device = _resolve_device(task.device)
        model = _model_for(item, task.weights_dir, device)
    except Exception as e:
        yield {"event": "failed", "error": f"model could not be built: {_describe(e)}"}
        yield {"event": "done", "lr_cache_hits": 0, "lr_cache_misses": 0}
        return
    env = environment(device)
    yield {"event": "ready", "env": env,
           "jpeg_encoder": jpeg_encoder() if item.degradation.startswith("jpeg") else ""}
    with torch.inference_mode():
        for ref, loaded in _prefetched(task.images, lambda r: _load_pair(r, item, cache),
                                       _prefetch_threads(device)):
            try:
                row = _evaluate_one(item, model, ref, loaded, device, task)
            except Exception as e:
                row = error_row(ref.name, "error", _describe(e))
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            yield {"event": "row", **row}
    yield {"event": "done", "lr_cache_hits": cache.hits, "lr_cache_misses": cache.misses}


# ------------------------------------------------------------------------------------ driver side

def item_key(item: WorkItem) -> str:
    return journal_mod.digest(asdict(item))


def run_key(run_plan: RunPlan, opts: RunOptions) -> str:
    """What decides a run's results: its work items, the tile options and the protocol."""
    return journal_mod.digest({"items": [asdict(i) for i in run_plan.items], "tile": opts.tile or 0,
                               "tile_overlap": opts.tile_overlap, "protocol": PROTOCOL_VERSION})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _weights_sha(item: WorkItem) -> str:
    wf = registry.get(item.model).weight_file(item.scale, item.variant)
    return wf.sha256 if wf is not None else ""


def _where(item: WorkItem) -> str:
    return f"{item.variant} x{item.scale} {item.dataset} {item.degradation}"


def _failure_line(item: WorkItem, summary: dict) -> str:
    """One line of the end-of-run failure list, for a stored or a resumed item's summary."""
    return (f"{_where(item)}: {summary.get('status')}, {summary.get('n_errors')}/{summary.get('n_images')} "
            f"images: {summary.get('error')}")


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
    for table in ("summary", "images", "runs"):
        store.read(results_dir, table)  # StoreError naming the file when it is damaged


@dataclass
class _ItemState:
    index: int
    item: WorkItem
    key: str
    ds: data_mod.Dataset
    log: journal_mod.LineLog
    rows: dict[str, dict]
    env: dict | None = None
    jpeg: str = ""
    failed: str | None = None
    t_last: float | None = None  # when the worker last reported (None: not started yet)

    @cached_property
    def shas(self) -> dict[str, str]:
        return {r.name: r.sha256 for r in self.ds.images}

    @property
    def remaining(self) -> list[data_mod.ImageRef]:
        return [r for r in self.ds.images if r.name not in self.rows]


class _Driver:
    def __init__(self, run_plan: RunPlan, opts: RunOptions, progress: ProgressFn | None, log: LogFn):
        self.plan, self.opts, self.progress, self.log = run_plan, opts, progress, log
        self.results = Path(opts.results_dir)
        self.summaries: dict[int, dict] = {}
        self.failures: list[str] = []
        self.kept: list[str] = []
        self.cache_hits = self.cache_misses = 0
        self.env: dict | None = None
        self.started = False
        self.resumed = 0
        dev = opts.device
        self.device_spec = dev if isinstance(dev, str) else str(dev)
        self.weights_dir = str(resolve_weights_dir(opts.weights_dir).absolute())
        self.cache_dir = str(LRCache(opts.cache_dir).root.absolute())

    # ---------------------------------------------------------------- rows
    def _add_row(self, st: _ItemState, row: dict) -> None:
        t0 = time.perf_counter()
        rec = {"event": "row", **{k: row[k] for k in ROW_FIELDS}, "sha256": st.shas.get(row["image"], "")}
        st.log.append(rec)
        STAGE_SECONDS["journal"] += time.perf_counter() - t0
        st.rows[row["image"]] = rec
        st.t_last = time.monotonic()
        if self.progress:
            self.progress(1)

    def _fill(self, st: _ItemState, first: tuple[str, str], rest: tuple[str, str]) -> None:
        for k, ref in enumerate(st.remaining):
            status, msg = first if k == 0 else rest
            self._add_row(st, error_row(ref.name, status, msg))

    def _task(self, st: _ItemState) -> ItemTask:
        refs = tuple(data_mod.ImageRef(r.dataset, r.name, Path(r.path).absolute(), r.sha256) for r in st.remaining)
        module = getattr(registry.get(st.item.model).build, "__module__", "") or ""
        extra = (module,) if module and module != "__main__" and not module.startswith("registry") else ()
        return ItemTask(st.item, refs, self.weights_dir, self.cache_dir, self.task_device, self.opts.tile,
                        self.opts.tile_overlap, self.opts.threads, extra)

    # ------------------------------------------------------------ finishing
    def _finish(self, st: _ItemState, run_id: str, jr: journal_mod.RunJournal) -> None:
        item = st.item
        if st.remaining:  # the worker ended without a row for these (it should not happen)
            self._fill(st, ("error", st.failed or "the worker ended without a result"),
                       ("error", st.failed or "the worker ended without a result"))
        rows = [st.rows[r.name] for r in st.ds.images]
        env = st.env or {}
        key = {**asdict(item), "weights_sha256": _weights_sha(item), "protocol": PROTOCOL_VERSION}
        images = pd.DataFrame([{**key, **{k: r[k] for k in ROW_FIELDS}, "device": env.get("device", ""),
                                "run_id": run_id} for r in rows])
        ok = images[images["status"] == "ok"]
        n_err = len(images) - len(ok)
        status = "ok" if n_err == 0 else ("failed" if ok.empty else "partial")
        errors = images.loc[images["status"] != "ok", "error"]
        mem = images["memory_mb"].max()
        summary = {
            **key, "dataset_kind": st.ds.kind,
            "psnr": float(ok["psnr"].mean()) if len(ok) else math.nan,
            "ssim": float(ok["ssim"].mean()) if len(ok) else math.nan,
            "n_images": len(images), "runtime_ms": float(ok["forward_ms"].mean()) if len(ok) else math.nan,
            "memory_mb": float(mem) if not pd.isna(mem) else math.nan, "precision": "fp32",
            "jpeg_encoder": st.jpeg or (jpeg_encoder() if item.degradation.startswith("jpeg") else ""),
            "run_id": run_id, "finished_at": _now(),
            **{k: str(env.get(k, "")) for k in _ENV_FIELDS},
            "status": status, "n_errors": int(n_err), "error": str(errors.iloc[0]) if n_err else "",
            "tile": int(images["tile"].max()), "n_tiled": int((images["tile"] > 0).sum()),
        }
        where = _where(item)
        if n_err:
            self.failures.append(_failure_line(item, summary))
        if n_err and self._has_complete(key):
            self.kept.append(where)
            self.log(f"{where}: kept the earlier complete result; this run's errors are not stored")
        else:
            t0 = time.perf_counter()
            store.upsert(self.results, "images", images, IMAGES_KEY)
            store.upsert(self.results, "summary", pd.DataFrame([summary]), SUMMARY_KEY)
            STAGE_SECONDS["store upserts"] += time.perf_counter() - t0
        jr.mark_done(st.key, summary)
        st.log.remove()
        self.summaries[st.index] = summary

    def _has_complete(self, key: dict) -> bool:
        old = store.read(self.results, "summary")
        if old.empty:
            return False
        mask = pd.Series(True, index=old.index)
        for k in SUMMARY_KEY:
            if k not in old.columns:
                return False
            mask &= old[k].astype(str) == str(key[k])
        if "status" in old.columns:
            mask &= old["status"].isna() | (old["status"] == "ok")
        return bool(mask.any())

    def _runs_row(self, jr: journal_mod.RunJournal, status: str, resumed: int) -> None:
        m = jr.meta
        row = {"run_id": m["run_id"], "started_at": m["started_at"], "finished_at": _now() if status != "running"
               else "", "n_items": len(self.plan.items), "options": json.dumps(self.opts.argv, default=str),
               "environment": json.dumps(self.env or {}, default=str), "lr_cache_hits": self.cache_hits,
               "lr_cache_misses": self.cache_misses, "status": status, "run_key": jr.key,
               "attempts": int(m["attempts"]), "resumed_images": int(resumed), "n_failed_items": len(self.failures),
               "failures": json.dumps(self.failures), "executor": self.opts.executor}
        store.upsert(self.results, "runs", pd.DataFrame([row]), ["run_id"])

    # ----------------------------------------------------------------- run
    def run(self) -> pd.DataFrame:
        from benchmark.executors import ExecutorError, make_executor

        opts, results = self.opts, self.results
        store.check_writable(results)
        check_results_dir(results, self.log)
        key = run_key(self.plan, opts)
        for d, meta in journal_mod.interrupted_runs(results, key):
            self.log(f"an interrupted run with other options is in {d} (started {meta.get('started_at', '?')}, "
                     f"options {json.dumps(meta.get('options', {}), default=str)}): rerun those options to "
                     f"resume it, or delete the folder")
        try:
            jr = journal_mod.RunJournal(results, key, {"run_id": uuid.uuid4().hex[:12], "started_at": _now(),
                                                       "options": opts.argv, "n_items": len(self.plan.items)},
                                        fresh=opts.fresh)
        except journal_mod.JournalBusy as e:
            raise PlanError(str(e)) from None
        if jr.discarded:
            self.log(f"journal {jr.dir}: {jr.discarded}")
        run_id = jr.meta["run_id"]
        try:
            try:
                executor = make_executor(opts.executor, opts.timeout, opts.device, opts.address, opts.threads)
            except ExecutorError as e:
                raise PlanError(str(e)) from None
            self.task_device = getattr(executor, "device", None) or self.device_spec
            return self._run(jr, run_id, executor)
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt) and self.started:
                try:
                    self._runs_row(jr, "interrupted", self.resumed)
                except Exception:
                    pass
            jr.close()  # keep the journal: the same command resumes
            raise

    def _run(self, jr: journal_mod.RunJournal, run_id: str, executor) -> pd.DataFrame:
        opts = self.opts
        done = jr.done_items()
        states: list[_ItemState] = []
        resumed = 0
        for idx, item in enumerate(self.plan.items):
            ik = item_key(item)
            ds = self.plan.datasets[item.dataset]
            if ik in done:
                jr.item_log(ik).remove()  # the crash came between storing the item and removing its log
                self.summaries[idx] = done[ik]
                resumed += len(ds.images)
                if done[ik].get("n_errors"):
                    self.failures.append(_failure_line(item, done[ik]))
                continue
            st = _ItemState(idx, item, ik, ds, jr.item_log(ik), {})
            for rec in st.log.records:  # what the interrupted attempt journaled, for unchanged images
                if rec.get("event") == "ready":
                    st.env, st.jpeg = rec.get("env"), rec.get("jpeg_encoder", "")
                elif rec.get("event") == "row" and st.shas.get(rec.get("image")) == rec.get("sha256"):
                    st.rows[rec["image"]] = rec
            resumed += len(st.rows)
            states.append(st)
        if resumed and self.progress:
            self.progress(resumed)
        self.resumed = resumed
        self._runs_row(jr, "running", resumed)
        self.started = True

        pending = deque()
        for st in states:
            if st.remaining:
                pending.append(st)
            else:  # every image was journaled; the crash came before the item was stored
                self._finish(st, run_id, jr)
        active: dict[int, _ItemState] = {}
        tick = None if not opts.timeout else max(0.05, min(1.0, opts.timeout / 4))
        try:
            while pending or active:
                while pending and len(active) < executor.capacity:
                    st = pending.popleft()
                    st.t_last = None
                    executor.submit(st.index, self._task(st))
                    active[st.index] = st
                got = executor.poll(tick)
                if got is not None:
                    tid, ev = got
                    st = active.get(tid)
                    if st is not None:
                        self._event(st, ev, run_id, jr, active)
                if opts.timeout:
                    now = time.monotonic()
                    for tid, st in list(active.items()):
                        if st.t_last is not None and now - st.t_last > opts.timeout:
                            executor.cancel(tid)
                            self._fill(st, ("timeout", f"no result within --timeout {opts.timeout:g} s"),
                                       ("skipped", "not run: an earlier image of this work item timed out"))
                            del active[tid]
                            self._finish(st, run_id, jr)
        finally:
            executor.close()
        self._runs_row(jr, "complete" if not self.failures else "complete with errors", resumed)
        jr.finish()
        out = pd.DataFrame([self.summaries[i] for i in sorted(self.summaries)])
        out.attrs.update({"run_id": run_id, "failures": list(self.failures), "resumed_images": resumed,
                          "attempts": jr.meta["attempts"], "kept": list(self.kept)})
        return out

    def _event(self, st: _ItemState, ev: dict, run_id: str, jr, active: dict) -> None:
        kind = ev.get("event")
        if kind == "ready":
            st.env, st.jpeg = ev.get("env") or {}, ev.get("jpeg_encoder", "")
            self.env = self.env or st.env
            st.log.append({"event": "ready", "env": st.env, "jpeg_encoder": st.jpeg})
            st.t_last = time.monotonic()
        elif kind == "row":
            self._add_row(st, ev)
        elif kind == "failed":
            st.failed = ev.get("error", "failed")
            self._fill(st, ("error", st.failed), ("error", st.failed))
        elif kind == "crash":
            self._fill(st, ("error", ev.get("error", "worker crashed")),
                       ("skipped", "not run: the worker crashed on an earlier image of this work item"))
            del active[st.index]
            self._finish(st, run_id, jr)
        elif kind == "done":
            self.cache_hits += int(ev.get("lr_cache_hits", 0))
            self.cache_misses += int(ev.get("lr_cache_misses", 0))
            del active[st.index]
            self._finish(st, run_id, jr)


def execute(run_plan: RunPlan, opts: RunOptions, progress: ProgressFn | None = None,
            log: LogFn | None = None) -> pd.DataFrame:
    """Run every work item, storing each item's rows as soon as it finishes; returns the summary.

    The returned frame has one row per planned item (``status`` ok/partial/failed); ``attrs`` holds
    ``failures`` (one line per item with errors), ``resumed_images``, ``attempts`` and ``run_id``.
    ``log`` receives warnings (stray files removed, other interrupted runs, kept results).
    """
    if not run_plan.items:
        return pd.DataFrame()
    return _Driver(run_plan, opts, progress, log or (lambda msg: warnings.warn(msg, stacklevel=2))).run()
