"""The evaluation worker: runs one work item's images and yields events; writes nothing.

A task (:class:`EvalTask`) holds plain, picklable values, so any executor (:mod:`benchmark.executors`:
in the driver's process, in a supervised child process, as a Ray task) can run :func:`run_eval_task`
on it. Events: ``ready`` once the model is built (with the environment), one ``row`` per image,
``done`` at the end, or ``failed`` when the model cannot be built. An exception on one image becomes
that image's error row; only the driver's kill stops a hang.

Work that does not depend on the model is cached in this process (:class:`_DecodedCache`), and the
next image is read and degraded in a background thread while the current forward pass runs.
"""

from __future__ import annotations

import math
import os
import threading
import time
import warnings
from collections import Counter, OrderedDict, deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

import registry
from benchmark import data as data_mod
from benchmark.degrade import LRCache, jpeg_encoder, mod_crop
from benchmark.envinfo import environment, resolve_device
from benchmark.infer import DEFAULT_TILE_OVERLAP, super_resolve
from benchmark.plan import WorkItem
from benchmark.timing import LoadProbe
from protocol.metrics import psnr_ssim_rgb, psnr_ssim_y

# The per-image columns a worker produces, in table order.
ROW_FIELDS = ("image", "psnr", "ssim", "forward_ms", "lr_height", "lr_width", "gray_image", "status", "error",
              "tile", "memory_mb")

# Cumulative wall seconds per stage in this process (benches/bench_overhead.py reads them).
STAGE_SECONDS: Counter[str] = Counter()


@dataclass(frozen=True)
class EvalTask:
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


def import_modules(names) -> None:
    """Load what registered the task's model: a plugin module or file, an ad-hoc model's spec, a test's
    stand-ins (:func:`registry.plugins.load_sources`)."""
    from registry.plugins import load_sources

    load_sources(names)


def describe(e: BaseException) -> str:
    """One line: the exception's type and the first line of its message."""
    text = str(e).strip().strip("'\"").splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:400].rstrip(": ")


def error_row(name: str, status: str, message: str) -> dict:
    return {"image": name, "psnr": math.nan, "ssim": math.nan, "forward_ms": math.nan, "lr_height": 0,
            "lr_width": 0, "gray_image": False, "status": status, "error": message, "tile": 0,
            "memory_mb": math.nan}


_MODELS: dict[tuple, torch.nn.Module] = {}  # one model kept between the tasks a worker runs


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


def _evaluate_one(item: WorkItem, model, ref, loaded, device: torch.device, task: EvalTask) -> dict:
    t0 = time.perf_counter()
    hr, lr, gray = loaded.result()
    t1 = time.perf_counter()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    res = super_resolve(model, lr, item.scale, device, tile=task.tile, overlap=task.tile_overlap,
                        self_ensemble=item.tta == "x8")
    # the forward pass's peak (weights, input, activations, output), before the metrics allocate theirs
    memory = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else math.nan
    t2 = time.perf_counter()
    with warnings.catch_warnings():  # hr is read-only (shared in the decoded cache); it is only read
        warnings.simplefilter("ignore", UserWarning)
        hr_t = torch.from_numpy(hr).permute(2, 0, 1)[None].to(device)
    if item.metric == "ntire_rgb":
        score = psnr_ssim_rgb(res.sr, hr_t, border=item.scale)[0]
    else:
        score = psnr_ssim_y(res.sr, hr_t, border=item.scale, gray=gray, convention=item.gray)[0]
    t3 = time.perf_counter()
    STAGE_SECONDS["wait for input"] += t1 - t0
    STAGE_SECONDS["super_resolve"] += t2 - t1
    STAGE_SECONDS["metrics"] += t3 - t2
    return {"image": ref.name, "psnr": score.psnr, "ssim": score.ssim, "forward_ms": res.forward_ms,
            "lr_height": int(lr.shape[0]), "lr_width": int(lr.shape[1]), "gray_image": bool(gray),
            "status": "ok", "error": "", "tile": int(res.tile), "memory_mb": memory}


def run_eval_task(task: EvalTask) -> Iterator[dict]:
    """Run one work item's images; yields ``ready`` (or ``failed``), one ``row`` per image, ``done``."""
    threads = torch.get_num_threads()
    if task.threads:
        torch.set_num_threads(task.threads)
    try:
        yield from _run(task)
    finally:
        torch.set_num_threads(threads)  # the inline executor runs in the caller's process


def _run(task: EvalTask) -> Iterator[dict]:
    item = task.item
    cache = LRCache(task.cache_dir)
    try:
        import_modules(task.modules)
        device = resolve_device(task.device)
        model = _model_for(item, task.weights_dir, device)
    except Exception as e:
        yield {"event": "failed", "error": f"model could not be built: {describe(e)}"}
        yield {"event": "done", "lr_cache_hits": 0, "lr_cache_misses": 0}
        return
    env = environment(device)
    probe = LoadProbe()  # the forward times of this item come with the machine's load beside them
    yield {"event": "ready", "env": env,
           "jpeg_encoder": jpeg_encoder() if item.degradation.startswith("jpeg") else ""}
    with torch.inference_mode():
        for ref, loaded in _prefetched(task.images, lambda r: _load_pair(r, item, cache),
                                       _prefetch_threads(device)):
            try:
                row = _evaluate_one(item, model, ref, loaded, device, task)
            except Exception as e:
                row = error_row(ref.name, "error", describe(e))
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            yield {"event": "row", **row}
    yield {"event": "done", "lr_cache_hits": cache.hits, "lr_cache_misses": cache.misses, **probe.read()}
