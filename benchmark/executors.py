"""Where tasks run: in the driver, in a supervised child process, or as Ray tasks.

An executor runs ``fn(task)`` for the task function it is handed (a module-level generator of events,
e.g. :func:`benchmark.worker.run_eval_task` or :func:`benchmark.profile.run_profile_task`: ``ready``,
``row`` events, ``done`` at the end, or ``failed``) somewhere and hands the events back to the driver,
which alone journals and stores them. It never writes a file and knows no task kind.

- ``InlineExecutor``: in the driver's process, one item at a time. No timeout can interrupt a forward
  pass running in the caller's own thread, so it is used only without ``--timeout``.
- ``ProcessExecutor``: one spawned child process (not forked: neither CUDA nor the OpenMP thread pool
  survives a fork, a forked child hangs in its first parallel region). The driver waits on the pipe
  with the timeout; a hung or crashed child is killed and a fresh one takes the next task. With
  ``fresh=True`` every task gets a new child (profiling: each model's peak memory is its own). A model
  registered outside ``registry/`` reaches the child by its module's name (the task's ``modules``).
- ``ProcessPool``: ``srbench run --workers N``, N such children side by side, one item in each.
- ``RayExecutor``: every item is a Ray generator task (``num_gpus=1`` when the cluster has GPUs) that
  streams its events back; a hung task is cancelled with ``ray.cancel(force=True)``; ``fresh=True``
  gives every task a new worker process (``max_calls=1``).

The interface: ``capacity`` (tasks in flight at once), ``submit(tid, fn, task)``, ``poll(timeout)`` ->
``(tid, event)`` or ``None`` when nothing came within ``timeout`` seconds, ``cancel(tid)``, ``close()``.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import traceback
from collections import deque
from collections.abc import Iterator
from multiprocessing.connection import wait as mp_wait

RAY_HINT = "the Ray executor needs Ray: pip install 'srbench[ray]' (or pip install 'ray[default]')"


class ExecutorError(RuntimeError):
    """The executor cannot run (Ray missing or unreachable, CUDA asked for where there is none)."""


def _crash(msg: str) -> dict:
    return {"event": "crash", "error": msg}


class InlineExecutor:
    """Runs each task's generator in the driver, one task at a time."""

    capacity = 1
    in_process = True  # a crash here ends the whole run: no unit to attribute it to

    def __init__(self):
        self._queue: deque[tuple[int, object, object]] = deque()
        self._current: tuple[int, Iterator[dict]] | None = None

    def submit(self, tid: int, fn, task) -> None:
        self._queue.append((tid, fn, task))

    def poll(self, timeout: float | None = None) -> tuple[int, dict] | None:
        while True:
            if self._current is None:
                if not self._queue:
                    return None
                tid, fn, task = self._queue.popleft()
                self._current = (tid, fn(task))
            tid, gen = self._current
            try:
                return tid, next(gen)
            except StopIteration:
                self._current = None

    def cancel(self, tid: int) -> None:
        if self._current and self._current[0] == tid:
            self._current[1].close()
            self._current = None
        self._queue = deque(q for q in self._queue if q[0] != tid)

    def close(self) -> None:
        if self._current:
            self._current[1].close()
        self._current = None


def _die_with_parent() -> None:
    """Linux: the child is killed when the driver dies, even by SIGKILL (no orphan keeps measuring)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker_main(conn) -> None:
    """The child process: run tasks from the pipe, send their events back."""
    import signal

    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle; it kills us

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        tid, fn, task = msg
        try:
            for ev in fn(task):
                conn.send((tid, ev))
        except (BrokenPipeError, EOFError, OSError):
            return  # the driver is gone
        except Exception as e:  # a bug outside the per-image guard: report it, stay usable
            conn.send((tid, _crash(f"{type(e).__name__}: {e}; {traceback.format_exc(limit=3)}")))


class ProcessExecutor:
    """One supervised child process; killed and replaced when a task hangs or it dies."""

    capacity = 1

    def __init__(self, fresh: bool = False):
        self.fresh = fresh
        self._ctx = mp.get_context("spawn")
        self._proc = None
        self._conn = None
        self._current: int | None = None

    def _start(self) -> None:
        parent, child = self._ctx.Pipe(duplex=True)
        self._proc = self._ctx.Process(target=_worker_main, args=(child,), daemon=True, name="srbench-worker")
        self._proc.start()
        child.close()
        self._conn = parent

    def submit(self, tid: int, fn, task) -> None:
        if self._current is not None:
            raise RuntimeError("ProcessExecutor runs one task at a time")
        if self._proc is not None and self.fresh:
            self._retire()
        if self._proc is None or not self._proc.is_alive():
            self._stop(kill=True)
            self._start()
        self._current = tid
        self._conn.send((tid, fn, task))

    def poll(self, timeout: float | None = None) -> tuple[int, dict] | None:
        if self._current is None:
            return None
        ready = mp_wait([self._conn, self._proc.sentinel], timeout)
        if not ready:
            return None
        if self._conn in ready:
            try:
                tid, ev = self._conn.recv()
            except (EOFError, OSError):
                ev = None
            else:
                if ev.get("event") in ("done", "crash"):
                    self._current = None
                return tid, ev
        # the child died without a word (segfault, killed for memory)
        tid = self._current
        self._proc.join(5)
        code = self._proc.exitcode
        self._stop(kill=True)
        self._current = None
        return tid, _crash(f"worker process died (exit code {code})")

    def cancel(self, tid: int) -> None:
        if self._current == tid:
            self._stop(kill=True)
            self._current = None

    def _stop(self, kill: bool) -> None:
        if self._proc is not None:
            if kill and self._proc.is_alive():
                self._proc.kill()
            self._proc.join(10)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None

    def _retire(self) -> None:
        """Ask an idle child to exit, then make sure it did."""
        if self._proc is not None and self._proc.is_alive() and self._current is None:
            try:
                self._conn.send(None)
                self._proc.join(10)
            except (BrokenPipeError, OSError):
                pass
        self._stop(kill=True)

    def close(self) -> None:
        self._retire()
        self._current = None


class ProcessPool:
    """``workers`` supervised child processes (:class:`ProcessExecutor` each), one task in each at a
    time: ``srbench run --workers N``. A hang or a death costs only its own child."""

    def __init__(self, workers: int, fresh: bool = False):
        self.members = [ProcessExecutor(fresh=fresh) for _ in range(workers)]
        self.capacity = workers
        self._ready: deque = deque()  # events already received but not yet handed out

    def submit(self, tid: int, fn, task) -> None:
        free = next((m for m in self.members if m._current is None), None)
        if free is None:
            raise RuntimeError(f"all {self.capacity} workers are busy")
        free.submit(tid, fn, task)

    def poll(self, timeout: float | None = None) -> tuple[int, dict] | None:
        if self._ready:
            return self._ready.popleft()
        busy = [m for m in self.members if m._current is not None]
        if not busy:
            return None
        waits = {h: m for m in busy for h in (m._conn, m._proc.sentinel)}
        for h in mp_wait(list(waits), timeout):
            got = waits[h].poll(0)
            if got is not None:
                self._ready.append(got)
        return self._ready.popleft() if self._ready else None

    def cancel(self, tid: int) -> None:
        for m in self.members:
            m.cancel(tid)
        self._ready = deque(e for e in self._ready if e[0] != tid)

    def close(self) -> None:
        for m in self.members:
            m.close()


def _ray_task(fn, task) -> Iterator[dict]:
    """The Ray generator task: stream the task's events back to the driver."""
    yield from fn(task)


class RayExecutor:
    """Work items as Ray generator tasks; the driver consumes their streams as they come."""

    capacity = 1 << 30  # Ray queues what the cluster cannot run yet

    def __init__(self, address: str | None = None, device: str = "auto", threads: int | None = None,
                 fresh: bool = False):
        try:
            import ray
        except ImportError:
            raise ExecutorError(RAY_HINT) from None
        self._ray = ray
        self._owns = False
        if not ray.is_initialized():
            try:
                ray.init(address=address or None, logging_level=logging.ERROR, log_to_driver=False,
                         include_dashboard=False,
                         runtime_env={"env_vars": {"PYTHONWARNINGS": "ignore::UserWarning"}})
            except Exception as e:
                where = f"at {address}" if address else "(local)"
                raise ExecutorError(f"cannot start or reach the Ray cluster {where}: "
                                    f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
            self._owns = True
        gpus = ray.cluster_resources().get("GPU", 0)
        if device == "cuda" and not gpus:
            raise ExecutorError("--device cuda: the Ray cluster has no GPUs")
        self.use_gpu = gpus > 0 and device in ("auto", "cuda")
        self.device = "cuda" if self.use_gpu else "cpu"
        opts = {"num_cpus": threads or 1, "max_retries": 0, "num_returns": "streaming"}
        if self.use_gpu:
            opts["num_gpus"] = 1
        # max_calls=1: a fresh worker process per task (a profile's CPU memory is its own); only
        # ray.remote takes it, .options() refuses it
        remote = ray.remote(max_calls=1)(_ray_task) if fresh else ray.remote(_ray_task)
        self._remote = remote.options(**opts)
        self._gens: dict = {}  # generator -> tid

    def submit(self, tid: int, fn, task) -> None:
        self._gens[self._remote.remote(fn, task)] = tid

    def poll(self, timeout: float | None = None) -> tuple[int, dict] | None:
        ray = self._ray
        if not self._gens:
            return None
        ready, _ = ray.wait(list(self._gens), num_returns=1, timeout=timeout)
        if not ready:
            return None
        gen = ready[0]
        tid = self._gens[gen]
        try:
            ref = next(gen)
            ev = ray.get(ref)
        except StopIteration:
            del self._gens[gen]
            return tid, {"event": "done"}
        except Exception as e:  # the task raised or its worker died
            del self._gens[gen]
            first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            return tid, _crash(f"Ray task failed: {first[:300]}")
        if ev.get("event") == "done":
            # the stream ends right after; drop it now rather than wait for StopIteration
            del self._gens[gen]
        return tid, ev

    def cancel(self, tid: int) -> None:
        for gen, t in list(self._gens.items()):
            if t == tid:
                try:
                    self._ray.cancel(gen, force=True)
                except Exception:
                    pass
                del self._gens[gen]

    def close(self) -> None:
        for tid in list(self._gens.values()):
            self.cancel(tid)
        if self._owns:
            self._ray.shutdown()


def make_executor(kind: str, timeout: float | None, device, address: str | None = None,
                  threads: int | None = None, isolate: bool = False, workers: int = 1):
    """The executor for ``--executor``: 'local' (inline, or a child process under --timeout or
    ``isolate``, then a fresh one per task) or 'ray' (a fresh worker per task with ``isolate``)."""
    if kind == "ray":
        return RayExecutor(address, str(getattr(device, "type", device)), threads, fresh=isolate)
    if kind != "local":
        raise ExecutorError(f"--executor {kind!r}: use local or ray")
    if workers > 1:
        return ProcessPool(workers, fresh=isolate)
    if timeout or isolate:
        return ProcessExecutor(fresh=isolate)
    return InlineExecutor()


__all__ = ["InlineExecutor", "ProcessExecutor", "ProcessPool", "RayExecutor", "ExecutorError", "make_executor",
           "RAY_HINT"]
