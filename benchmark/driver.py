"""The driver: hands jobs to an executor, journals every row as it arrives, stores finished jobs.

One driver serves both task kinds: evaluation (:mod:`benchmark.evaluate`, a job per work item, a row
per image) and profiling (:mod:`benchmark.profile`, a job per model x scale, one row). A *job* says
what rows it will produce (its ``units``), builds the picklable task an executor runs, makes error
rows, and stores its rows when it finishes (``finish``); the driver owns the rest:

- Resuming: the run journal (:mod:`benchmark.journal`) is keyed by what decides the results, so the
  same command finds it again; finished jobs are skipped, and a job's journaled rows are kept (a row
  whose input changed, by sha256, is done again). A completed run leaves no journal.
- Faults: a task that crashes gets an error row for the unit it was on and ``skipped`` for the rest;
  a task silent for longer than ``timeout`` seconds is cancelled (its worker killed) and gets a
  ``timeout`` row. Every job with errors is listed in the failure summary.
- The ``runs`` table gets one row per run (options, environment, executor, status, failures).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from benchmark import journal as journal_mod
from benchmark import store
from benchmark.timing import STAGE_SECONDS

ProgressFn = Callable[[int], None]
LogFn = Callable[[str], None]


class DriverError(ValueError):
    """The run cannot start (another process runs the same work); the message says where."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Job:
    """One journal item. Subclasses set ``key``, ``units``, ``where`` and implement the methods."""

    key: str
    units: list[str]  # the names of the rows this job produces, in order
    where: str  # how the failure summary names it
    unit_field = "image"  # the row field that holds the unit's name
    unit_label = "images"  # how the failure summary counts units

    def unit_sha(self, unit: str) -> str:
        """The sha256 of the unit's input ('' when it has none): a journaled row is kept only while it holds."""
        return ""

    def task(self, remaining: list[str]) -> tuple[Callable, object]:
        """(module-level generator function, picklable task) for the units still to do."""
        raise NotImplementedError

    def error_row(self, unit: str, status: str, message: str) -> dict:
        raise NotImplementedError

    def finish(self, rows: list[dict], ready: dict, run_id: str, log: LogFn) -> dict:
        """Store the job's rows; returns its summary (with ``status``, ``n_errors``, ``error``)."""
        raise NotImplementedError


@dataclass
class _State:
    index: int
    job: Job
    log: journal_mod.LineLog
    rows: dict[str, dict] = field(default_factory=dict)
    ready: dict = field(default_factory=dict)
    failed: str | None = None
    t_last: float | None = None  # when the worker last reported (None: not started yet)

    @property
    def remaining(self) -> list[str]:
        return [u for u in self.job.units if u not in self.rows]


@dataclass
class DriveResult:
    summaries: list[dict]  # one per job, in job order
    run_id: str
    failures: list[str]
    resumed: int  # rows already done by an interrupted attempt
    attempts: int
    stats: Counter  # summed counters of the workers' 'done' events (e.g. LR cache hits)
    env: dict | None


def failure_line(job: Job, summary: dict) -> str:
    """One line of the end-of-run failure list, for a stored or a resumed job's summary."""
    return (f"{job.where}: {summary.get('status')}, {summary.get('n_errors')}/{len(job.units)} "
            f"{job.unit_label}: {summary.get('error')}")


class Driver:
    def __init__(self, results_dir: Path, run_key: str, jobs: list[Job], executor, *, options: dict,
                 task_kind: str, executor_name: str, timeout: float | None = None, fresh: bool = False,
                 progress: ProgressFn | None = None, log: LogFn | None = None, notice: LogFn | None = None):
        self.results, self.key, self.jobs, self.executor = Path(results_dir), run_key, jobs, executor
        self.options, self.kind, self.executor_name = options, task_kind, executor_name
        self.timeout, self.fresh = timeout, fresh
        self.progress, self.log, self.notice = progress, log or (lambda msg: None), notice
        self.summaries: dict[int, dict] = {}
        self.failures: list[str] = []
        self.stats: Counter = Counter()
        self.env: dict | None = None

    # ------------------------------------------------------------------ rows
    def _add_row(self, st: _State, row: dict) -> None:
        unit = row[st.job.unit_field]
        rec = {**row, "event": "row", "sha256": st.job.unit_sha(unit)}
        t0 = time.perf_counter()
        st.log.append(rec)
        STAGE_SECONDS["journal (driver)"] += time.perf_counter() - t0
        st.rows[unit] = rec
        st.t_last = time.monotonic()
        if self.progress:
            self.progress(1)

    def _fill(self, st: _State, first: tuple[str, str], rest: tuple[str, str]) -> None:
        for k, unit in enumerate(st.remaining):
            status, msg = first if k == 0 else rest
            self._add_row(st, st.job.error_row(unit, status, msg))

    def _finish(self, st: _State, run_id: str, jr: journal_mod.RunJournal) -> None:
        if st.remaining:  # the worker ended without a row for these
            why = st.failed or "the worker ended without a result"
            self._fill(st, ("error", why), ("error", why))
        rows = [st.rows[u] for u in st.job.units]
        summary = st.job.finish(rows, st.ready, run_id, self.log)
        if summary.get("n_errors"):
            self.failures.append(failure_line(st.job, summary))
        jr.mark_done(st.job.key, summary)
        st.log.remove()
        self.summaries[st.index] = summary

    def _runs_row(self, jr: journal_mod.RunJournal, status: str, resumed: int) -> None:
        m = jr.meta
        row = {"run_id": m["run_id"], "started_at": m["started_at"],
               "finished_at": now_iso() if status != "running" else "", "n_items": len(self.jobs),
               "options": json.dumps(self.options, default=str), "environment": json.dumps(self.env or {}, default=str),
               "lr_cache_hits": int(self.stats["lr_cache_hits"]), "lr_cache_misses": int(self.stats["lr_cache_misses"]),
               "status": status, "run_key": jr.key, "attempts": int(m["attempts"]), "resumed_images": int(resumed),
               "n_failed_items": len(self.failures), "failures": json.dumps(self.failures),
               "executor": self.executor_name, "task_kind": self.kind}
        store.upsert(self.results, "runs", pd.DataFrame([row]))

    # ------------------------------------------------------------------- run
    def run(self) -> DriveResult:
        for d, meta in journal_mod.interrupted_runs(self.results, self.key):
            self.log(f"an interrupted run with other options is in {d} (started {meta.get('started_at', '?')}, "
                     f"options {json.dumps(meta.get('options', {}), default=str)}): rerun those options to "
                     f"resume it, or delete the folder")
        try:
            meta = {"run_id": uuid.uuid4().hex[:12], "started_at": now_iso(), "options": self.options,
                    "n_items": len(self.jobs)}
            jr = journal_mod.RunJournal(self.results, self.key, meta, fresh=self.fresh)
        except journal_mod.JournalBusy as e:
            raise DriverError(str(e)) from None
        if jr.discarded:
            self.log(f"journal {jr.dir}: {jr.discarded}")
        started = False
        resumed = 0
        try:
            states, resumed = self._resume(jr)
            self._runs_row(jr, "running", resumed)
            started = True
            self._loop(states, jr)
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt) and started:
                try:
                    self._runs_row(jr, "interrupted", resumed)
                except Exception:
                    pass
            jr.close()  # keep the journal: the same command resumes
            raise
        finally:
            self.executor.close()
        self._runs_row(jr, "complete" if not self.failures else "complete with errors", resumed)
        jr.finish()
        return DriveResult([self.summaries[i] for i in sorted(self.summaries)], jr.meta["run_id"],
                           list(self.failures), resumed, int(jr.meta["attempts"]), self.stats, self.env)

    def _resume(self, jr: journal_mod.RunJournal) -> tuple[list[_State], int]:
        done = jr.done_items()
        states: list[_State] = []
        resumed = 0
        for idx, job in enumerate(self.jobs):
            if job.key in done:
                jr.item_log(job.key).remove()  # the crash came between storing the job and removing its log
                self.summaries[idx] = done[job.key]
                resumed += len(job.units)
                if done[job.key].get("n_errors"):
                    self.failures.append(failure_line(job, done[job.key]))
                continue
            st = _State(idx, job, jr.item_log(job.key))
            for rec in st.log.records:  # what the interrupted attempt journaled, for unchanged inputs
                if rec.get("event") == "ready":
                    st.ready = rec.get("ready", {})
                elif rec.get("event") == "row":
                    unit = rec.get(job.unit_field)
                    if unit in job.units and job.unit_sha(unit) == rec.get("sha256"):
                        st.rows[unit] = rec
            resumed += len(st.rows)
            states.append(st)
        if resumed:
            total = sum(len(j.units) for j in self.jobs)
            if self.notice:  # said before the work starts, with the progress bar at the resumed count
                self.notice(f"resuming an interrupted run (attempt {jr.meta['attempts']}): {resumed} of {total} "
                            f"{self.jobs[0].unit_label} were already done")
            if self.progress:
                self.progress(resumed)
        return states, resumed

    def _loop(self, states: list[_State], jr: journal_mod.RunJournal) -> None:
        run_id = jr.meta["run_id"]
        pending: deque[_State] = deque()
        for st in states:
            if st.remaining:
                pending.append(st)
            else:  # every row was journaled; the crash came before the job was stored
                self._finish(st, run_id, jr)
        active: dict[int, _State] = {}
        tick = None if not self.timeout else max(0.05, min(1.0, self.timeout / 4))
        while pending or active:
            while pending and len(active) < self.executor.capacity:
                st = pending.popleft()
                st.t_last = None
                fn, task = st.job.task(st.remaining)
                self.executor.submit(st.index, fn, task)
                active[st.index] = st
            got = self.executor.poll(tick)
            if got is not None:
                tid, ev = got
                st = active.get(tid)
                if st is not None:
                    self._event(st, ev, run_id, jr, active)
            if self.timeout:
                now = time.monotonic()
                for tid, st in list(active.items()):
                    if st.t_last is not None and now - st.t_last > self.timeout:
                        self.executor.cancel(tid)
                        self._fill(st, ("timeout", f"no result within --timeout {self.timeout:g} s"),
                                   ("skipped", "not run: an earlier part of this job timed out"))
                        del active[tid]
                        self._finish(st, run_id, jr)

    def _event(self, st: _State, ev: dict, run_id: str, jr, active: dict) -> None:
        kind = ev.get("event")
        if kind == "ready":
            st.ready = {k: v for k, v in ev.items() if k != "event"}
            self.env = self.env or st.ready.get("env")
            st.log.append({"event": "ready", "ready": st.ready})
            st.t_last = time.monotonic()
        elif kind == "row":
            self._add_row(st, {k: v for k, v in ev.items() if k != "event"})
        elif kind == "failed":
            st.failed = ev.get("error", "failed")
            self._fill(st, ("error", st.failed), ("error", st.failed))
        elif kind == "crash":
            self._fill(st, ("error", ev.get("error", "worker crashed")),
                       ("skipped", "not run: the worker crashed on an earlier part of this job"))
            del active[st.index]
            self._finish(st, run_id, jr)
        elif kind == "done":
            st.ready.update({k: v for k, v in ev.items() if k.startswith("load_") or k == "busy"})
            self.stats.update({k: v for k, v in ev.items() if k in ("lr_cache_hits", "lr_cache_misses")})
            del active[st.index]
            self._finish(st, run_id, jr)
