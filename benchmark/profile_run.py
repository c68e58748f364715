"""``srbench profile``: many models measured through the driver, into the ``profile`` table.

Each model x scale (with the device, precision and options) is one job of the driver
(:mod:`benchmark.driver`), run as a :class:`~benchmark.profile.ProfileTask` by an executor: by default
a fresh child process per model (its CPU peak memory is its own), ``--no-isolate`` in this process,
``--executor ray`` as Ray tasks (a fresh worker each). So profiling resumes after a kill (only the
missing rows are measured again), ``--timeout`` kills a model that hangs and records an error row,
and one failed model never stops the others; the failures are listed at the end (exit 3).
A failed row never replaces an earlier good row for its key.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import click
import pandas as pd

import registry
from benchmark import journal as journal_mod
from benchmark import schema, store
from benchmark.cards import store_cards
from benchmark.driver import Driver, DriverError, Job, LogFn
from benchmark.envinfo import environment, resolve_device
from benchmark.executors import ProcessExecutor, make_executor
from benchmark.external import adhoc_models, adhoc_options, models_arg, preflight
from benchmark.fmt import busy_warnings, failure_summary, memory_label, num
from benchmark.profile import PRECISIONS, ModelSpec, ProfileOptions, ProfileTask, run_profile_task
from protocol import PROTOCOL_VERSION
from registry.select import SelectionError, select, skip_summary

PROFILE_KEY = list(schema.PROFILE.key)


class ProfileError(RuntimeError):
    pass


def write_profile(results_dir: str | Path, df: pd.DataFrame) -> Path:
    """Upsert rows into ``<results>/profile.parquet`` (keyed by :data:`PROFILE_KEY`)."""
    return store.upsert(results_dir, "profile", df)


def _key_fields(spec: ModelSpec, opts: ProfileOptions, device_name: str) -> dict:
    """The ``profile`` key of a job, for its error row (a good row carries its own)."""
    h, w = opts.size
    return {"model": spec.name, "variant": spec.variant or spec.name, "scale": int(spec.scale),
            "device": opts.device.split(":")[0], "device_name": device_name, "precision": opts.precision,
            "threads": int(opts.threads or 0), "channels_last": bool(opts.channels_last),
            "compiled": bool(opts.compiled), "input_size": f"{h}x{w}", "protocol": PROTOCOL_VERSION}


class ProfileJob(Job):
    unit_field = "unit"
    unit_label = "profile rows"

    def __init__(self, spec: ModelSpec, opts: ProfileOptions, results_dir: Path | None, device_name: str):
        self.spec, self.opts, self.results, self.device_name = spec, opts, results_dir, device_name
        self.key = journal_mod.digest({"spec": {k: v for k, v in asdict(spec).items() if k != "builder"},
                                       "builder": getattr(spec.builder, "__qualname__", ""), "opts": asdict(opts)})
        self.units = ["profile"]
        self.where = f"{spec.variant or spec.name} x{spec.scale}"

    def task(self, remaining: list[str]):
        return run_profile_task, ProfileTask(self.spec, self.opts)

    def error_row(self, unit: str, status: str, message: str) -> dict:
        return {"unit": unit, "status": status, "error": message}

    def finish(self, rows: list[dict], ready: dict, run_id: str, log: LogFn) -> dict:
        row = {k: v for k, v in rows[0].items() if k not in ("unit", "sha256", "event")}
        ok = row.get("status") == "ok"
        if not ok:
            row = {**_key_fields(self.spec, self.opts, self.device_name), "status": row.get("status", "error"),
                   "error": row.get("error", "")}
        row["run_id"] = run_id
        if self.results is not None:
            if ok or not _has_good_row(self.results, row):
                write_profile(self.results, pd.DataFrame([row]))
            else:
                log(f"{self.where}: kept the earlier good profile row; this run's error is not stored")
        return {**row, "n_errors": 0 if ok else 1}


def _has_good_row(results: Path, row: dict) -> bool:
    old = store.read(results, "profile")
    if old.empty:
        return False
    mask = old["status"].isna() | (old["status"] == "ok") if "status" in old.columns else pd.Series(True, old.index)
    for k in PROFILE_KEY:
        mask &= old[k].astype(str) == str(row[k])
    return bool(mask.any())


def profile_models(specs: Sequence[ModelSpec], opts: ProfileOptions, results_dir: str | Path, *,
                   isolate: bool = True, executor: str = "local", address: str | None = None,
                   timeout_s: float | None = None, fresh: bool = False, argv: dict | None = None,
                   progress=None, log: LogFn | None = None, notice: LogFn | None = None) -> pd.DataFrame:
    """Profile each spec through the driver, storing each row as it comes; returns one row per spec
    (error rows have ``status`` != 'ok'; ``attrs['failures']`` lists them, ``attrs['resumed']`` counts
    the rows an interrupted run had already stored)."""
    results = Path(results_dir)
    store.check_writable(results)
    ex = make_executor(executor, timeout_s, opts.device, address, opts.threads, isolate=isolate)
    device_name = "" if executor == "ray" else environment(resolve_device(opts.device)).get("device", "")
    jobs = [ProfileJob(s, opts, results, device_name) for s in specs]
    cards = {}
    for s in specs:
        if s.builder is None:
            card = registry.get(s.name)
            cards[card.name] = card
    store_cards(results, cards.values(), {n: registry.module_of(n) for n in cards})
    key = journal_mod.digest({"profile": [j.key for j in jobs], "protocol": PROTOCOL_VERSION})
    driver = Driver(results, key, jobs, ex, options=argv or {}, task_kind="profile", executor_name=executor,
                    timeout=timeout_s, fresh=fresh, progress=progress,
                    log=log or (lambda m: warnings.warn(m, stacklevel=2)), notice=notice)
    res = driver.run()
    out = pd.DataFrame(res.summaries)
    out.attrs.update({"failures": res.failures, "resumed": res.resumed, "run_id": res.run_id})
    return out


def profile_isolated(spec: ModelSpec, opts: ProfileOptions, timeout_s: float | None = None) -> dict:
    """:func:`~benchmark.profile.profile_one` in a fresh spawned child process (its peak memory is its
    own); killed after ``timeout_s``. Stores nothing. Raises :class:`ProfileError` on failure."""
    ex = ProcessExecutor(fresh=True)
    try:
        ex.submit(0, run_profile_task, ProfileTask(spec, opts))
        while True:
            got = ex.poll(timeout_s)
            if got is None:
                raise ProfileError(f"{spec.name} x{spec.scale}: no result after {timeout_s:.0f} s (killed)")
            ev = got[1]
            if ev["event"] == "crash":
                raise ProfileError(f"{spec.name} x{spec.scale}: {ev['error']}")
            if ev["event"] == "row":
                if ev.get("status") != "ok":
                    raise ProfileError(f"{spec.name} x{spec.scale}: {ev.get('error')}")
                return {k: v for k, v in ev.items() if k not in ("event", "unit", "status", "error")}
    finally:
        ex.close()


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
        "of FLOPs (estimate); memory: " + memory_label(r0.get("memory_kind", ""))
        + ("; CPU[ms] = process CPU time per forward (all threads)" if r0["device"] == "cpu" else ""),
    ]
    cpu = r0["device"] == "cpu" and "runtime_cpu_time_ms" in df.columns
    head = (f"{'model':<18} {'x':>2} {'Params[M]':>9} {'FLOPs[G]':>9} {'ptflops[G]':>10} {'elem[G]':>8} "
            f"{'Acts[M]':>8} {'Conv':>5} {'Time[ms] med':>12} {'p10':>9} {'p90':>9} {'Mem[MiB]':>9}"
            + (f" {'CPU[ms]':>9}" if cpu else ""))
    lines += [head, "-" * len(head)]
    for _, r in df.iterrows():
        lines.append(
            f"{r['variant']:<18} {int(r['scale']):>2} {num(r.get('params'), 3, 1e6):>9} "
            f"{num(r.get('flops'), 2, 1e9):>9} {num(r.get('flops_ptflops'), 2, 1e9):>10} "
            f"{num(r.get('flops_elementwise'), 2, 1e9):>8} {num(r.get('activations'), 2, 1e6):>8} "
            f"{int(r['num_conv']) if 'num_conv' in r and not pd.isna(r['num_conv']) else '':>5} "
            f"{num(r['runtime_ms'], 2, 1):>12} {num(r['runtime_p10_ms'], 2, 1):>9} "
            f"{num(r['runtime_p90_ms'], 2, 1):>9} {num(r['memory_mb'], 1, 1):>9}"
            + (f" {num(r['runtime_cpu_time_ms'], 2, 1):>9}" if cpu else ""))
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
@click.option("--results", "results_dir", type=click.Path(file_okay=False), default=None,
              help=f"results folder (default ${store.ENV_VAR}, else {store.default_results_dir()})")
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
@click.option("--executor", default="local", show_default=True, type=click.Choice(["local", "ray"]),
              help="local: child processes on this machine; ray: Ray tasks (needs the 'ray' extra)")
@click.option("--address", default=None, help="Ray cluster address; default: start a local Ray instance")
@click.option("--fresh", is_flag=True, help="start over instead of resuming an interrupted run of the same work")
@adhoc_options
@click.pass_context
def profile_command(ctx, models, scale, device, precision, channels_last, compiled, threads, results_dir,
                    weights_dir, size, repeats, warmup, no_timing, timeout_s, no_isolate, executor, address,
                    fresh, arch, checkpoint, adhoc_name, arch_kwargs, input_range, state_key) -> None:
    """Params, FLOPs, activations, runtime and peak memory of models at one LR input (NTIRE ESR).

    An interrupted run resumes when the same command is run again: only the missing models are
    measured. Exit status: 0 when every model was measured, 3 when some failed (listed), 1 for bad input.
    """
    results_dir = store.results_dir(results_dir)
    if executor == "ray":
        dev_spec = device  # the Ray workers resolve 'auto' on their own machines
    else:
        try:
            dev_spec = str(resolve_device(device))
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--device") from None
    if address and executor != "ray":
        raise click.BadParameter("needs --executor ray", param_hint="--address")
    if timeout_s is not None and not (timeout_s > 0 and math.isfinite(timeout_s)):
        raise click.BadParameter(f"must be a positive number of seconds, not {timeout_s:g}", param_hint="--timeout")
    try:
        h, w = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected HxW like 256x256, got {size!r}", param_hint="--size") from None
    store.check_writable(results_dir)
    models = models_arg(ctx, models, adhoc_models(arch, checkpoint, adhoc_name, arch_kwargs, input_range, state_key,
                                                  [scale]))
    try:
        chosen, skipped = select(models, [scale], need_weights=False, weights_dir=weights_dir, all_variants=False)
    except SelectionError as e:
        raise click.ClickException(str(e)) from None
    preflight(chosen, weights_dir)
    for line in skip_summary(skipped, weights_dir):
        click.echo(f"skipped: {line}", err=True)
    if not chosen:
        raise click.ClickException(f"no model to profile at x{scale}")
    if threads is None and not dev_spec.startswith("cuda"):
        threads = 1  # see benchmark.profile: stable across runs, comparable across machines
    opts = ProfileOptions(device=dev_spec, precision=precision, channels_last=channels_last,
                          compiled=compiled, threads=threads, size=(h, w), timing=not no_timing,
                          repeats=repeats, warmup=warmup)
    wdir = str(Path(weights_dir).absolute()) if weights_dir else None
    specs = [ModelSpec(s.model, scale, s.variant, wdir,
                       modules=(s.module,) if s.module and not s.module.startswith("registry") else ())
             for s in chosen]
    argv = {"models": models, "scale": scale, "device": device, "precision": precision, "threads": threads,
            "size": size, "repeats": repeats, "warmup": warmup, "timing": not no_timing, "executor": executor}

    try:
        df = profile_models(specs, opts, results_dir, isolate=not no_isolate, executor=executor, address=address,
                            timeout_s=timeout_s, fresh=fresh, argv=argv,
                            log=lambda m: click.echo(f"warning: {m}", err=True),
                            notice=lambda m: click.echo(m, err=True))
    except DriverError as e:
        raise click.ClickException(str(e)) from None
    good = df[df["status"] == "ok"] if "status" in df.columns else df
    click.echo(format_table(good))
    if not good.empty:
        click.echo(f"\nresults: {Path(results_dir) / 'profile.parquet'}")
    for line in busy_warnings(good):
        click.echo(f"warning: {line}", err=True)
    failures = df.attrs.get("failures", [])
    for line in failure_summary(failures, len(df), "model(s)"):
        click.echo(line, err=True)
    if failures:
        ctx.exit(3)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    profile_command()
