"""The static leaderboard site: ``srbench site [--results DIR ...] [--out site/] [--check]``.

``render(results_dir, out_dir)`` writes a self-contained site (no CDN, no external script or style,
relative links only, so it works from ``file://`` and any static host):

* ``index.html`` and one ``lb-x<s>-<degradation>[-gray-y].html`` per track: the leaderboard, with
  PSNR/SSIM per set, params, FLOPs, runtime and memory per device (each device its own columns),
  the delta to the paper, sortable and filterable by ``static/site.js``; Pareto plots (SVG);
* ``models/<slug>.html``: a page per model (card, checkpoints, published vs reproduced, NTIRE rows,
  efficiency, per-image results, a visual comparison on one crop);
* ``about.html``: the protocol in short, the environments the numbers came from, adding a model;
* ``data/<track>.csv``: each leaderboard as CSV.

The site is a function of the results folder alone (its tables, the card snapshots, and the visual
comparisons ``srbench visuals`` stores under ``results/visuals/``): rendering imports neither torch
nor the registry, and builds no model. Several ``--results`` (results folders or bundles from
``srbench export``) are shown together, each row labelled with its source (:mod:`.sources`).
Modules: :mod:`.tracks` (leaderboards), :mod:`.pages` (model pages, about, rendering), :mod:`.plots`
(SVG), :mod:`.visuals` (the separate step that runs models), :mod:`.sources` (several sources).

Rendering is deterministic: the same results give the same bytes, with no timestamps but those in
the data, so CI can run ``srbench site --check``, which renders to a temporary folder and names every
file that differs from ``--out``. The site is rendered into a temporary folder beside ``--out`` and
swapped in, so a reader never sees half a site.
"""

from __future__ import annotations

import filecmp
import tempfile
from collections.abc import Sequence
from pathlib import Path

import click

from benchmark import store
from benchmark.export import is_bundle, open_source
from benchmark.fsutil import replaced_folder
from benchmark.site.pages import MARKER, SiteError, render_into
from benchmark.site.sources import combined
from benchmark.site.tracks import slug

__all__ = ["render", "check", "site_command", "SiteError", "MARKER", "slug", "default_site_dir"]


def default_site_dir() -> Path:
    """The per-user site folder, beside the per-user results (a clone's tracked ``site/`` is written
    only when ``--out`` names it)."""
    return store.default_results_dir().parent / "site"


def _paths(results) -> list[Path]:
    return [Path(results)] if isinstance(results, (str, Path)) else [Path(r) for r in results]


def render(results_dir: str | Path | Sequence[str | Path] = "results", out_dir: str | Path = "site", *,
           visuals: bool = True) -> dict:
    """Render the site for ``results_dir`` (a results folder, or several results folders and bundles)
    into ``out_dir`` (replaced atomically); returns counts (and ``warnings`` about left-out rows).

    ``out_dir`` may be absent, empty, or a site rendered before (it holds ``.srbench-site``); any
    other folder is refused rather than overwritten.
    """
    paths, out = _paths(results_dir), Path(out_dir)
    for p in paths:
        if not p.is_dir():
            raise SiteError(f"results directory {p} does not exist (run 'srbench run' first)")
    if len(paths) > 1 or is_bundle(paths[0]):
        for p in paths:
            open_source(p)  # a folder that is neither results nor a bundle: said before anything is written
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise SiteError(f"{out} exists and is not a srbench site (no {MARKER}); refusing to replace it")
    def cannot(e: OSError) -> SiteError:
        return SiteError(f"{out}: cannot write the site there ({e.strerror or e}); nothing was changed")

    with replaced_folder(out, cannot) as tmp, combined(paths) as c:
        info = render_into(c.folder, tmp, visuals, shown_as=paths[0], sources=c.sources)
        info["warnings"] = c.warnings
    return info


def _png_close(a: Path, b: Path, tol: int = 1) -> bool:
    """PNG visuals: equal when their pixels differ by at most ``tol`` (model arithmetic may round
    differently on another CPU)."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(a) as ia, Image.open(b) as ib:
            x, y = np.asarray(ia.convert("RGB"), dtype=np.int16), np.asarray(ib.convert("RGB"), dtype=np.int16)
    except OSError:
        return False
    return x.shape == y.shape and int(np.abs(x - y).max(initial=0)) <= tol


def _same_plot_data(a: Path, b: Path) -> bool:
    """Two plot SVGs that show the same data (matplotlib releases differ in the bytes they write)."""
    from benchmark.site.plots import svg_fingerprint

    fa = svg_fingerprint(a.read_text(errors="replace"))
    return fa is not None and fa == svg_fingerprint(b.read_text(errors="replace"))


def _files(d: Path) -> set[str]:
    return {str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()}


def diff_trees(expected: Path, actual: Path) -> list[str]:
    """Human-readable differences between a fresh render (``expected``) and a site on disk."""
    want, have = _files(expected), _files(actual)
    out = [f"missing: {f}" for f in sorted(want - have)]
    out += [f"not rendered any more: {f}" for f in sorted(have - want)]
    for f in sorted(want & have):
        a, b = expected / f, actual / f
        if filecmp.cmp(a, b, shallow=False):
            continue
        if f.startswith("visuals/") and f.endswith(".png") and _png_close(a, b):
            continue
        if f.endswith(".svg") and _same_plot_data(a, b):
            continue
        out.append(f"differs: {f}")
    return out


def check(results_dir: str | Path | Sequence[str | Path] = "results", out_dir: str | Path = "site", *,
          visuals: bool = True) -> list[str]:
    """Render to a temporary folder and compare with ``out_dir``; returns the differences (empty: up to date)."""
    out = Path(out_dir)
    if not out.is_dir():
        return [f"missing: {out} (no site rendered yet)"]
    with tempfile.TemporaryDirectory(prefix="srbench-site-check-") as t:
        fresh = Path(t) / "site"
        render(results_dir, fresh, visuals=visuals)
        return diff_trees(fresh, out)


@click.command("site")
@click.option("--results", "results_dirs", type=click.Path(file_okay=False), multiple=True,
              help=f"results folder or bundle ('srbench export'); repeat it to show several sources, the first "
              f"results folder canonical (default ${store.ENV_VAR}, else {store.default_results_dir()})")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help=f"site folder (default {default_site_dir()})")
@click.option("--check", "check_only", is_flag=True,
              help="render to a temporary folder and compare with --out; exit 1 naming the files that differ")
@click.option("--no-visuals", is_flag=True, help="leave out the visual comparisons stored with the results")
@click.option("--data-root", "old_data_root", hidden=True, default=None)
@click.option("--weights-dir", "old_weights_dir", hidden=True, default=None)
def site_command(results_dirs, out_dir, check_only, no_visuals, old_data_root, old_weights_dir) -> None:
    """Render the static leaderboard site (self-contained HTML, no CDN) from the results directory alone."""
    paths = [Path(p) for p in results_dirs] or [store.results_dir(None)]
    results_dir, out_dir = paths[0], Path(out_dir) if out_dir else default_site_dir()
    results_arg = " ".join(f"--results {p}" for p in paths)
    if old_data_root or old_weights_dir:  # options of srbench <= 0.1's site, which ran the models itself
        opt = "--data-root" if old_data_root else "--weights-dir"
        raise click.UsageError(f"{opt}: the site runs no model any more; make the visual comparisons with "
                               f"'srbench visuals --results {results_dir} {opt} ...', then render the site")
    if check_only:
        diffs = check(paths, out_dir, visuals=not no_visuals)
        if diffs:
            click.echo(f"{out_dir} is out of date with {results_dir} ({len(diffs)} file(s)); "
                       f"run 'srbench site {results_arg} --out {out_dir}':")
            for d in diffs:
                click.echo(f"  {d}")
            raise SystemExit(1)
        click.echo(f"{out_dir} is up to date with {results_dir}")
        return
    info = render(paths, out_dir, visuals=not no_visuals)
    for w in info["warnings"]:
        click.echo(f"warning: {w}", err=True)
    why = ""
    if not info["visuals"]:
        why = (" (--no-visuals)" if no_visuals else " (the results hold none: 'srbench visuals' makes them)"
               if not (Path(results_dir) / "visuals" / "index.json").is_file() else "")
    click.echo(f"site written to {out_dir}: {info['tracks']} leaderboard(s), {info['models']} model pages, "
               f"{info['visuals']} visual(s){why}; open {Path(out_dir) / 'index.html'}")
