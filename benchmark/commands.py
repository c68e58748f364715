"""The commands that evaluate and manage data: ``run``, ``list``, ``data fetch/verify``, ``weights
fetch/verify`` (``profile``, ``results``, ``site``, ``check`` and ``visuals`` live in their own modules;
:mod:`benchmark.cli` loads each only when it is called)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click
import pandas as pd

from benchmark import data as data_mod
from benchmark import store
from benchmark.degrade import CACHE_ENV, STANDARD_DEGRADATIONS, default_cache_dir
from benchmark.external import adhoc_models, adhoc_options, models_arg, preflight
from benchmark.fmt import failure_summary, num
from protocol import PROTOCOL_VERSION
from registry.select import skip_summary
from registry.weights import ENV_VAR as WEIGHTS_ENV
from registry.weights import default_weights_dir


def _int_list(ctx, param, value: str) -> list[int]:
    try:
        out = [int(v) for v in str(value).split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected integers like 2,3,4, got {value!r}") from None
    if not out:
        raise click.BadParameter("is empty")
    return out


def _str_list(ctx, param, value: str) -> list[str]:
    return [v.strip() for v in str(value).split(",") if v.strip()]


def print_summary(summary: pd.DataFrame, results_dir) -> None:
    from benchmark.cards import load_cards
    from benchmark.compare import attach_published, missing_reason

    if summary.empty:
        click.echo("nothing was evaluated")
        return
    cards = load_cards(results_dir)
    df = attach_published(summary, cards)
    device = df["device"].iloc[0]
    what = "RGB PSNR (dB) / SSIM on uint8 (the NTIRE ESR rule)" if (df["metric"] == "ntire_rgb").any() \
        else "Y-channel PSNR (dB) / SSIM"
    if (df.get("tta", pd.Series(dtype=str)) == "x8").any():
        what += ", x8 self-ensemble"
    click.echo(f"\n{what}, border = scale, protocol {PROTOCOL_VERSION}, "
               f"gray convention '{df['gray'].iloc[0]}', device {device}")
    header = (f"{'model':<18} {'dataset':<10} {'degr.':<8} {'x':>2} {'PSNR':>7} {'SSIM':>7} "
              f"{'pub.PSNR':>8} {'pub.SSIM':>8} {'dPSNR':>6} {'ms/img':>8}")
    click.echo(header)
    click.echo("-" * len(header))
    external = df[df["origin"].fillna("zoo") != "zoo"] if "origin" in df.columns else df.iloc[0:0]
    for _, r in df.iterrows():
        label = f"{r['variant']} [ext]" if r["variant"] in set(external["variant"]) else r["variant"]
        click.echo(f"{label:<18} {r['dataset']:<10} {r['degradation']:<8} {r['scale']:>2} "
                   f"{num(r['psnr'], 2):>7} {num(r['ssim'], 4):>7} {num(r['pub_psnr'], 2):>8} "
                   f"{num(r['pub_ssim'], 4):>8} {num(r['d_psnr'], 2):>6} {num(r['runtime_ms'], 1):>8}")
    for v, sha in external.drop_duplicates("variant")[["variant", "weights_sha256"]].itertuples(index=False):
        click.echo(f"[ext] {v}: external model (not part of the zoo), checkpoint sha256 {sha}")
    blank = df[df["pub_psnr"].isna() & (df["model"] != "Bicubic")]
    if not blank.empty:
        reasons: dict[str, list[str]] = {}
        for _, r in blank.iterrows():
            why = missing_reason(cards.get(r["model"]), r["dataset"], int(r["scale"]), r["degradation"],
                                 r.get("tta") or "none")
            names = reasons.setdefault(why, [])
            if r["variant"] not in names:
                names.append(r["variant"])
        click.echo("\npub.PSNR is blank where there is nothing to compare with:")
        for why, names in reasons.items():
            click.echo(f"  {', '.join(names)}: {why}")
    if (df["dataset_kind"] == "demo").any():
        click.echo("\nNote: 'Demo' is scikit-image's sample photographs, NOT a standard benchmark; "
                   "set --data-root or SRBENCH_DATA to the test sets for comparable numbers.")


@click.command("run")
@click.option("--models", default="all", show_default=True, help="all, or a comma list of names")
@click.option("--datasets", default="all", show_default=True, help="all, or a comma list (Set5,Set14,...)")
@click.option("--scale", "scales", default="4", show_default=True, callback=_int_list,
              help="comma list of integer scales, e.g. 2,3,4")
@click.option("--degradation", "degradations", default="bicubic", show_default=True, callback=_str_list,
              help=f"comma list: {', '.join(STANDARD_DEGRADATIONS)}")
@click.option("--gray", type=click.Choice(["rgb", "y"]), default="rgb", show_default=True,
              help="Y of single-channel images: 'rgb' (formula on replicated RGB) or 'y' (the channel)")
@click.option("--metric", type=click.Choice(["y", "ntire_rgb"]), default="y", show_default=True,
              help="y: Y-channel PSNR/SSIM (the literature); ntire_rgb: RGB PSNR/SSIM on uint8, border = scale "
                   "(the NTIRE ESR challenges' test_demo.py); part of every result's key")
@click.option("--self-ensemble", is_flag=True,
              help="x8 geometric self-ensemble: the 8 rotations/flips of each LR, averaged before quantizing "
                   "(tta 'x8' in every result's key: its own leaderboard track; ms/img is all 8 passes)")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help=f"test sets root (default ${data_mod.ENV_VAR}, else {data_mod.default_data_root()})")
@click.option("--weights-dir", type=click.Path(file_okay=False), default=None,
              help=f"checkpoints folder (default ${WEIGHTS_ENV}, else {default_weights_dir()})")
@click.option("--results", "results_dir", type=click.Path(file_okay=False), default=None,
              help=f"results folder (default ${store.ENV_VAR}, else {store.default_results_dir()})")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help=f"LR cache (default ${CACHE_ENV}, else {default_cache_dir()})")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--executor", default="local", show_default=True,
              help="local (this machine) or ray (work items as Ray tasks, one GPU each where there are GPUs)")
@click.option("--address", default=None, help="Ray cluster address (e.g. 10.0.0.1:6379); default: start "
              "a local Ray instance (with --executor ray)")
@click.option("--timeout", default=None, type=float, metavar="SECONDS",
              help="give up on an image after this long (its item's remaining images are skipped); "
              "the work then runs in a supervised child process")
@click.option("--tile", default=None, type=int, metavar="N",
              help="run in N x N LR tiles (default: whole images; tiles are used anyway after out-of-memory)")
@click.option("--tile-overlap", default=None, type=int, metavar="PX",
              help="LR pixels of context around each tile (default 32)")
@click.option("--threads", default=None, type=int, metavar="N",
              help="torch threads per worker (default: torch's; with --executor ray also the CPUs per task)")
@click.option("--workers", default=1, show_default=True, type=int, metavar="N",
              help="local child processes running work items side by side, each with cores/N torch threads "
              "unless --threads is given (1: in this process)")
@click.option("--fresh", is_flag=True, help="start over instead of resuming an interrupted run of the same work")
@click.option("--quiet", is_flag=True, help="no progress bar")
@adhoc_options
@click.pass_context
def run(ctx, models, datasets, scales, degradations, gray, metric, self_ensemble, data_root, weights_dir, results_dir,
        cache_dir, device, executor, address, timeout, tile, tile_overlap, threads, workers, fresh, quiet, arch,
        checkpoint,
        adhoc_name, arch_kwargs, input_range, state_key) -> None:
    """Evaluate models on test sets and store the results as parquet.

    An interrupted run (killed, crashed, Ctrl-C) resumes where it stopped when the same command is run
    again; a run that completed is done again and replaces its rows. Exit status: 0 when every work item
    succeeded, 3 when some had errors (listed at the end), 1 for bad input.
    """
    from tqdm import tqdm

    from benchmark.envinfo import resolve_device
    from benchmark.evaluate import RunOptions, execute
    from benchmark.infer import DEFAULT_TILE_OVERLAP
    from benchmark.plan import PlanError, plan_request

    results_dir = store.results_dir(results_dir)
    executor = executor.strip().lower()
    if executor not in ("local", "ray"):
        raise PlanError(f"--executor {executor!r}: use local or ray")
    if address and executor != "ray":
        raise PlanError("--address needs --executor ray")
    if timeout is not None and not (timeout > 0 and math.isfinite(timeout)):
        raise PlanError(f"--timeout must be a positive number of seconds, not {timeout:g}")
    if tile is not None and tile < 8:
        raise PlanError(f"--tile must be at least 8 LR pixels, not {tile}")
    if tile_overlap is not None and tile_overlap < 0:
        raise PlanError(f"--tile-overlap must be >= 0, not {tile_overlap}")
    if threads is not None and threads < 1:
        raise PlanError(f"--threads must be >= 1, not {threads}")
    if workers < 1:
        raise PlanError(f"--workers must be >= 1, not {workers}")
    if workers > 1 and executor == "ray":
        raise PlanError("--workers is for --executor local (Ray places its own workers)")
    if executor == "ray":
        from benchmark.executors import RAY_HINT

        try:
            import ray  # noqa: F401
        except ImportError:
            raise PlanError(RAY_HINT) from None
        dev = device  # the Ray workers resolve 'auto' on their own machines
    else:
        try:
            dev = resolve_device(device)
        except ValueError as e:
            raise PlanError(str(e)) from None
    external = adhoc_models(arch, checkpoint, adhoc_name, arch_kwargs, input_range, state_key, scales)
    models = models_arg(ctx, models, external)
    tta = "x8" if self_ensemble else "none"
    p = plan_request(models, datasets, scales, degradations, gray, data_root, weights_dir, metric, tta)
    preflight(p.selections.values(), weights_dir)
    store.check_writable(results_dir)
    for line in skip_summary(p.skips, weights_dir):
        click.echo(f"skipped: {line}", err=True)
    if not p.items:
        raise PlanError("nothing to run: no model with weights fits these options")
    total = sum(len(p.datasets[i.dataset].images) for i in p.items)
    opts = RunOptions(Path(results_dir), dev, weights_dir, cache_dir,
                      argv={"models": models, "datasets": datasets, "scale": scales,
                            "degradation": degradations, "gray": gray, "metric": metric, "tta": tta,
                            "device": device, "tile": tile,
                            "tile_overlap": tile_overlap, "threads": threads, "executor": executor,
                            "timeout": timeout, "workers": workers},
                      executor=executor, address=address, timeout=timeout, tile=tile,
                      tile_overlap=DEFAULT_TILE_OVERLAP if tile_overlap is None else tile_overlap, fresh=fresh,
                      threads=threads, workers=workers)
    with tqdm(total=total, unit="img", disable=quiet, file=sys.stderr) as bar:
        def log(msg: str) -> None:
            bar.write(f"warning: {msg}", file=sys.stderr)

        def notice(msg: str) -> None:
            bar.write(msg, file=sys.stderr)

        def progress(n: int) -> None:
            bar.update(n)
            if n > 1:  # the resumed images, at once: show the bar at that count now, not at the next tick
                bar.refresh()

        try:
            summary = execute(p, opts, progress=progress, log=log, notice=notice)
        except KeyboardInterrupt:
            bar.close()
            click.echo("interrupted: run the same command again to resume where it stopped", err=True)
            ctx.exit(130)
    print_summary(summary, results_dir)
    click.echo(f"\nresults: {Path(results_dir) / 'summary.parquet'}, {Path(results_dir) / 'images.parquet'}")

    busy = summary[summary["busy"].fillna(False).astype(bool)] if "busy" in summary.columns else summary.iloc[0:0]
    if not busy.empty:
        click.echo(f"\nwarning: ms/img of {', '.join(sorted(set(busy['variant'])))} was measured while other "
                   f"processes used up to {num(busy['load_other_cores'].max(), 2)} cores (rows flagged busy); "
                   f"PSNR/SSIM do not depend on it", err=True)
    failures = summary.attrs.get("failures", [])
    for line in failure_summary(failures, len(summary), "work items"):
        click.echo(line, err=True)
    if failures:
        ctx.exit(3)


@click.command("list")
@click.option("--data-root", type=click.Path(file_okay=False), default=None)
@click.option("--weights-dir", type=click.Path(file_okay=False), default=None)
def list_cmd(data_root, weights_dir) -> None:
    """Show the registered models and the test sets found under the data root."""
    from registry.select import resolve_names
    from registry.weights import is_shipped, verify

    def state_of(w) -> str:
        state = verify(w, weights_dir)
        return f"{state} (shipped)" if state == "ok" and is_shipped(w, weights_dir) else state

    click.echo(f"{'model':<18} {'kind':<9} {'scales':<10} weights")
    for card, _ in resolve_names("all"):
        if card.architecture_only:
            state = "architecture only"
        elif not card.weights:
            state = "(none needed)"
        else:
            states = [f"{w.file}: {state_of(w)}" for w in card.weights]
            state = ", ".join(states)
        scales = ",".join(str(s) for s in card.scales) if len(card.scales) < 5 else \
            f"{card.scales[0]}-{card.scales[-1]}"
        click.echo(f"{card.name + (' [ext]' if card.external else ''):<18} {card.kind:<9} {scales:<10} {state}")
    import registry

    for card in [c for c, _ in resolve_names("all") if c.external]:
        src = registry.module_of(card.name)
        click.echo(f"[ext] {card.name}: external, from {'--arch' if src.startswith('adhoc:') else src}")
    root = data_mod.data_root(data_root)
    click.echo(f"\ndatasets under {root}:")
    found = data_mod.scan(root)
    for s in found:
        click.echo(f"  {s.name:<10} {s.kind:<8} {s.n_images:>4} images  {s.state}")
        for prob in s.problems[:10]:
            click.echo(f"      {prob}")
    if not any(s.kind == "standard" for s in found):
        d = data_mod.demo_status()
        click.echo(f"  {d.name:<10} {d.kind:<8} {d.n_images:>4} images  (fallback; not a standard benchmark)")


@click.group("data")
def data() -> None:
    """Test sets: fetch and verify."""


@data.command("fetch")
@click.option("--datasets", default="Set5,Set14,B100,Urban100", show_default=True)
@click.option("--data-root", type=click.Path(file_okay=False), default=None)
@click.option("--mirror", default=None, help="base URL replacing the sources' host (a local mirror)")
@click.option("--source", default=None, metavar="hf:REPO|hf:FOLDER",
              help="read the sets from parquet with HR/LR image columns (a Hugging Face dataset repo or a local "
                   "folder in that layout) instead of the manifest's URLs; checked against the manifest alike")
def data_fetch(datasets, data_root, mirror, source) -> None:
    """Download the redistributable test sets (checked by sha256)."""
    if source is not None and not source.startswith("hf:"):
        raise click.BadParameter(f"{source!r}: expected hf:<repo or folder>", param_hint="--source")
    for name in _str_list(None, None, datasets):
        if source:
            from benchmark.hfdata import fetch_hf

            written = fetch_hf(name, source, data_root)
        else:
            written = data_mod.fetch(name, data_root, mirror=mirror)
        click.echo(f"{name}: {len(written)} files written to {data_mod.data_root(data_root) / name / 'HR'}")


@data.command("verify")
@click.option("--data-root", type=click.Path(file_okay=False), default=None)
def data_verify(data_root) -> None:
    """Check every known set under the data root against the manifest."""
    bad = 0
    for s in data_mod.scan(data_root):
        click.echo(f"{s.name:<10} {s.kind:<8} {s.n_images:>4} images  {s.state}")
        for prob in s.problems:
            click.echo(f"    {prob}")
        bad += s.state != "ok"
    if bad:
        sys.exit(1)


@click.group("weights")
def weights() -> None:
    """Checkpoints: fetch and verify."""


def _weight_files(models: str):
    from registry.select import weight_files

    return weight_files(models)


@weights.command("verify")
@click.option("--models", default="all", show_default=True)
@click.option("--weights-dir", type=click.Path(file_okay=False), default=None)
def weights_verify(models, weights_dir) -> None:
    """Check the sha256 of every checkpoint present; exit 1 if one is altered."""
    from registry.weights import verify, weight_path

    altered = 0
    for card, wf in _weight_files(models):
        state = verify(wf, weights_dir)
        altered += state == "altered"
        click.echo(f"{card.name:<18} {wf.file:<28} {state:<8} {weight_path(wf, weights_dir)}")
    if altered:
        sys.exit(1)


@weights.command("fetch")
@click.option("--models", default="all", show_default=True)
@click.option("--weights-dir", type=click.Path(file_okay=False), default=None)
@click.option("--mirror", default=None, help="base URL replacing the sources' host (a local mirror)")
def weights_fetch(models, weights_dir, mirror) -> None:
    """Download checkpoints by their cards' URLs, keeping only files whose sha256 matches."""
    from registry.weights import fetch

    for card, wf in _weight_files(models):
        url = wf.url
        if mirror and url:
            url = mirror.rstrip("/") + "/" + url.split("://", 1)[1].split("/", 1)[1]
        path = fetch(wf, weights_dir, url=url)
        click.echo(f"{card.name:<18} {wf.file:<28} ok  {path}")
