"""The evaluation worker: runs one work item's images and yields events; writes nothing.

A task (:class:`EvalTask`) holds plain, picklable values, so any executor (:mod:`benchmark.executors`:
in the driver's process, in a supervised child process, as a Ray task) can run :func:`run_eval_task`
on it. Events: ``ready`` once the model is built (with the environment), one ``row`` per image,
``done`` at the end, or ``failed`` when the model cannot be built. An exception on one image becomes
that image's error row; only the driver's kill stops a hang.

Work that does not depend on the model is done once per image, not once per model: the decoded HR and
LR and the HR side of the scores (its cropped Y and the Y's two filtered SSIM maps,
:class:`protocol.metrics.HRReference`) are kept in this process (:class:`_MemoryCache`, bounded), so
each further model pays only for its own SR side. The next image is read and degraded in a background
thread while the current one runs. With ``EvalTask.overlap`` (``SRBENCH_OVERLAP=1``, in the driver's own
process, on the CPU) the forward pass of image i+1 runs in a second thread while image i is scored; it
is off by default, as it measured slower where torch's threads already fill the cores.
On CUDA nothing leaves the device but the scores: the LR goes up once, the HR references stay there.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
import warnings
from collections import Counter, OrderedDict, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

import registry
from benchmark import data as data_mod
from benchmark.degrade import LRCache, jpeg_encoder, mod_crop
from benchmark.envinfo import environment, resolve_device
from benchmark.infer import DEFAULT_TILE_OVERLAP, super_resolve
from benchmark.plan import WorkItem
from benchmark.timing import STAGE_SECONDS, LoadProbe
from protocol.metrics import HRReference, hr_reference, psnr_ssim_rgb, psnr_ssim_y_against

# The per-image columns a worker produces, in table order.
ROW_FIELDS = ("image", "psnr", "ssim", "forward_ms", "lr_height", "lr_width", "gray_image", "status", "error",
              "tile", "memory_mb")



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
    # Score image i while image i+1's forward pass runs (CPU only). Only where the task runs in the
    # driver's own process: in a child or Ray worker that dies in i+1's forward pass, i's row must
    # already be out for the driver to attribute the crash to i+1, not i.
    overlap: bool = False


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


def _default_budget_mb() -> float:
    """A quarter of the machine's memory, at most 4 GiB: the HR references of the four standard
    sets at one scale (~2.4 GB in float64) and their decoded images fit, so a run of many models
    computes each of them once."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError, AttributeError):
        total = 4096.0
    return min(4096.0, total / 4)


class _MemoryCache:
    """Work that does not depend on the model, kept in this process between work items up to
    ``SRBENCH_MEM_CACHE_MB`` (default: :func:`_default_budget_mb`), least recently used first out:
    the decoded (mod-cropped HR, LR, gray) of an image, and the HR side of its scores
    (:class:`protocol.metrics.HRReference`), so the second model evaluated on a set decodes and
    filters no HR. Entries are never modified (read-only arrays), so sharing them is safe."""

    def __init__(self, budget_mb: float):
        self.budget = int(budget_mb * 2**20)
        self.used = 0
        self._d: OrderedDict[tuple, tuple[object, int, str]] = OrderedDict()  # key -> (value, bytes, device)
        self._lock = threading.Lock()
        self.device_bytes: Counter[str] = Counter()  # bytes held on each device (for memory_mb)

    def get(self, key: tuple):
        with self._lock:
            v = self._d.get(key)
            if v is None:
                return None
            self._d.move_to_end(key)
            return v[0]

    def put(self, key: tuple, value, nbytes: int, device: str = "cpu") -> None:
        if nbytes > self.budget:
            return
        with self._lock:
            if key in self._d:
                return
            self._d[key] = (value, nbytes, device)
            self.used += nbytes
            self.device_bytes[device] += nbytes
            while self.used > self.budget:
                _, (_, n, dev) = self._d.popitem(last=False)
                self.used -= n
                self.device_bytes[dev] -= n

    def clear(self) -> None:
        with self._lock:
            self._d.clear()
            self.used = 0
            self.device_bytes.clear()


_CACHE = _MemoryCache(float(os.environ.get("SRBENCH_MEM_CACHE_MB", "0")) or _default_budget_mb())


def _load_pair(ref: data_mod.ImageRef, item: WorkItem, cache: LRCache):
    key = ("decoded", ref.sha256, str(ref.path), item.degradation, item.scale)
    hit = _CACHE.get(key)
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
        for arr in out[:2]:
            arr.setflags(write=False)
        _CACHE.put(key, out, out[0].nbytes + out[1].nbytes)
    return out


def _hr_reference(ref: data_mod.ImageRef, item: WorkItem, hr: np.ndarray, gray: bool,
                  device: torch.device) -> HRReference:
    """The HR side of this image's Y scores, from the cache or computed once (on ``device``)."""
    key = ("reference", ref.sha256, str(ref.path), item.scale, item.gray, bool(gray), str(device))
    hit = _CACHE.get(key) if ref.sha256 else None
    if hit is not None:
        return hit
    t0 = time.perf_counter()
    with warnings.catch_warnings():  # hr is read-only (shared in the cache); it is only read
        warnings.simplefilter("ignore", UserWarning)
        hr_t = torch.from_numpy(hr).permute(2, 0, 1)[None].to(device)
    out = hr_reference(hr_t, border=item.scale, gray=gray, convention=item.gray)
    if ref.sha256:
        _CACHE.put(key, out, out.nbytes, str(device))
    STAGE_SECONDS["HR reference (once per image)"] += time.perf_counter() - t0
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


@dataclass
class _Pending:
    """One image between its forward pass and its row: what the scoring needs."""

    ref: data_mod.ImageRef
    hr: np.ndarray | None = None
    lr_shape: tuple[int, int] = (0, 0)
    gray: bool = False
    forward: Future | None = None  # of (Inference, memory_mb)
    error: str = ""  # why there is no forward (the input could not be read)


def _forward(item: WorkItem, model, lr: np.ndarray, device: torch.device, task: EvalTask):
    """The model's part of one image: upload, forward (timed), checks, quantization; and its memory."""
    t0 = time.perf_counter()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    res = super_resolve(model, lr, item.scale, device, tile=task.tile, overlap=task.tile_overlap,
                        self_ensemble=item.tta == "x8")
    # the forward pass's peak (weights, input, activations, output), before the metrics allocate theirs;
    # less the HR references this process keeps on the device (they are the harness's, not the model's)
    memory = math.nan
    if device.type == "cuda":
        memory = (torch.cuda.max_memory_allocated(device) - _CACHE.device_bytes[str(device)]) / 2**20
    STAGE_SECONDS["forward + upload/checks/quantize (forward thread)"] += time.perf_counter() - t0
    return res, memory


def _score(item: WorkItem, p: _Pending, device: torch.device) -> dict:
    """The row of one image: waits for its forward pass, then scores the SR against the HR."""
    t0 = time.perf_counter()
    res, memory = p.forward.result()
    t1 = time.perf_counter()
    if item.metric == "ntire_rgb":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            hr_t = torch.from_numpy(p.hr).permute(2, 0, 1)[None].to(device)
        score = psnr_ssim_rgb(res.sr, hr_t, border=item.scale)[0]
    else:
        score = psnr_ssim_y_against(res.sr, _hr_reference(p.ref, item, p.hr, p.gray, device))[0]
    STAGE_SECONDS["wait for forward"] += t1 - t0
    STAGE_SECONDS["metrics, SR side (+ HR side when new)"] += time.perf_counter() - t1
    return {"image": p.ref.name, "psnr": score.psnr, "ssim": score.ssim, "forward_ms": res.forward_ms,
            "lr_height": p.lr_shape[0], "lr_width": p.lr_shape[1], "gray_image": bool(p.gray),
            "status": "ok", "error": "", "tile": int(res.tile), "memory_mb": memory}


def _row(item: WorkItem, p: _Pending, device: torch.device) -> dict:
    if p.error:
        return error_row(p.ref.name, "error", p.error)
    try:
        return _score(item, p, device)
    except Exception as e:
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return error_row(p.ref.name, "error", describe(e))


class _Inline:
    """The forward pass in the calling thread. Used on a GPU: the scores then run on the device after
    it, and nothing else allocates beside the forward pass whose peak memory is measured."""

    def submit(self, fn, *args) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(*args))
        except Exception as e:
            fut.set_exception(e)
        return fut

    def shutdown(self) -> None:
        pass


class _ForwardThread:
    """One daemon thread running forward passes in order. Not a ThreadPoolExecutor: its threads are
    joined at exit, so a forward pass that hangs would keep Ctrl-C (and the process) from ending."""

    def __init__(self):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="srbench-forward", daemon=True).start()

    def _loop(self) -> None:
        while (job := self._jobs.get()) is not None:
            fut, fn, args = job
            try:
                fut.set_result(fn(*args))
            except BaseException as e:  # handed to the scoring side, which makes it the image's error row
                fut.set_exception(e)

    def submit(self, fn, *args) -> Future:
        fut: Future = Future()
        self._jobs.put((fut, fn, args))
        return fut

    def shutdown(self) -> None:
        self._jobs.put(None)  # never waits: after an interrupt the thread may be inside a hung forward pass


def _forward_runner(device: torch.device, overlap: bool):
    """With ``overlap`` on the CPU, forward passes run in a background thread, so scoring image i
    (in the worker's own thread) overlaps the forward pass of image i+1; image i's row is yielded while
    i+1 runs, so a hang in i+1 is still attributed to i+1 by the driver."""
    if device.type == "cuda" or not overlap:
        return _Inline()
    return _ForwardThread()


def _images(task: EvalTask, model, device: torch.device, cache: LRCache) -> Iterator[dict]:
    """One ``row`` event per image, in order (with ``task.overlap``, image i's row comes once image
    i+1's forward pass has started; otherwise before it starts)."""
    item = task.item
    runner = _forward_runner(device, task.overlap)
    pending: _Pending | None = None
    try:
        for ref, loaded in _prefetched(task.images, lambda r: _load_pair(r, item, cache),
                                       _prefetch_threads(device)):
            if pending is not None and isinstance(runner, _Inline):  # i's row before i+1's forward
                yield {"event": "row", **_row(item, pending, device)}
                pending = None
            t0 = time.perf_counter()
            p = _Pending(ref)
            try:
                p.hr, lr, p.gray = loaded.result()
                p.lr_shape = (int(lr.shape[0]), int(lr.shape[1]))
                STAGE_SECONDS["wait for input"] += time.perf_counter() - t0
                p.forward = runner.submit(_forward, item, model, lr, device, task)
            except Exception as e:
                p.error = describe(e)
            if pending is not None:  # scored while p's forward pass runs in the forward thread
                yield {"event": "row", **_row(item, pending, device)}
            pending = p
        if pending is not None:
            yield {"event": "row", **_row(item, pending, device)}
    finally:
        runner.shutdown()


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
        yield from _images(task, model, device, cache)
    yield {"event": "done", "lr_cache_hits": cache.hits, "lr_cache_misses": cache.misses, **probe.read()}
