"""``srbench visuals``: the model pages' visual comparisons, stored with the results.

The same HR crop as HR, bicubic and each model's output, written as PNGs under
``<results>/visuals/`` with an ``index.json`` that ``srbench site`` reads (the site itself runs no
model). This step needs torch, the registry, the checkpoints and the test image.

The LR image is the protocol's (MATLAB bicubic of the mod-cropped HR, whole image); each model then
runs on a small LR crop around the region plus ``CONTEXT`` LR pixels of context on every side (cut
away afterwards), on the CPU with one thread, so the same checkpoint gives the same pixels. The
crop's Y PSNR is printed under each panel; it describes this crop only, not the test set.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import torch

from benchmark import store
from benchmark.fsutil import give_normal_mode

CROP = 120  # HR pixels; a multiple of 2, 3 and 4 so every scale shows the same region
CONTEXT = 12  # LR pixels of context around the crop
# The image every model page shows: the first of these that the data root holds.
IMAGE_PREFERENCE = (("Urban100", "img_092"), ("Set14", "barbara"), ("Set5", "butterfly"))


@dataclass
class Source:
    dataset: str
    image: str
    hr: np.ndarray  # full mod-cropped HR for the scale is cut on demand
    gray: bool
    origin: tuple[int, int]  # HR (y, x) of the crop, a multiple of 12


@dataclass
class Panel:
    png: bytes
    psnr: float | None


@contextmanager
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def find_source(data_root=None) -> tuple[Source | None, str]:
    """The visual's HR image and crop origin, or (None, why not)."""
    from benchmark import data as data_mod

    for ds_name, stem in IMAGE_PREFERENCE:
        try:
            ds = data_mod.load(ds_name, data_root)
        except data_mod.DataError:
            continue
        ref = next((r for r in ds.images if r.name == stem), None)
        if ref is None:
            continue
        img = data_mod.read_hr(ref, min_size=CROP)
        return Source(ds.name, stem, img.pixels, img.gray, _busiest_window(img.pixels)), ""
    wanted = ", ".join(f"{d}/{i}" for d, i in IMAGE_PREFERENCE)
    return None, f"none of the test images it uses ({wanted}) was available when the site was rendered"


def _busiest_window(hr: np.ndarray) -> tuple[int, int]:
    """HR (y, x) on a 12-px grid of the CROP x CROP window with the most gradient energy at a quarter
    of the resolution: structure that survives x4 downsampling (which a model can restore), not fine
    texture that the LR can only alias."""
    h4, w4 = hr.shape[0] // 4 * 4, hr.shape[1] // 4 * 4
    small = hr[:h4, :w4].astype(np.float64).mean(axis=2).reshape(h4 // 4, 4, w4 // 4, 4).mean(axis=(1, 3))
    g = np.repeat(np.repeat(small, 4, axis=0), 4, axis=1)
    e = np.abs(np.diff(g, axis=0))[:, :-1] + np.abs(np.diff(g, axis=1))[:-1, :]
    ii = np.pad(e, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    best, arg = -1.0, (0, 0)
    H, W = e.shape
    margin = 24  # away from the image border (the mod-crop and the context need room)
    for y in range(margin, max(margin + 1, H - CROP - margin), 12):
        for x in range(margin, max(margin + 1, W - CROP - margin), 12):
            if y + CROP > H or x + CROP > W:
                continue
            s = ii[y + CROP, x + CROP] - ii[y, x + CROP] - ii[y + CROP, x] + ii[y, x]
            if s > best:
                best, arg = s, (y, x)
    return arg


def png_bytes(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", optimize=False, compress_level=9)
    return buf.getvalue()


class Visuals:
    """Makes the panels of one source image, caching the LR of each scale."""

    def __init__(self, source: Source):
        self.src = source
        self._lr: dict[int, np.ndarray] = {}

    def _lr_for(self, scale: int) -> np.ndarray:
        if scale not in self._lr:
            from benchmark.degrade import bicubic_lr, mod_crop

            self._lr[scale] = bicubic_lr(mod_crop(self.src.hr, scale), scale)
        return self._lr[scale]

    def hr_crop(self) -> np.ndarray:
        y, x = self.src.origin
        return np.ascontiguousarray(self.src.hr[y:y + CROP, x:x + CROP])

    def hr_panel(self) -> Panel:
        return Panel(png_bytes(self.hr_crop()), None)

    def run(self, model: torch.nn.Module, scale: int) -> Panel:
        """The model's output over the crop region (run on the LR crop plus context)."""
        from benchmark.infer import super_resolve
        from protocol.metrics import psnr_ssim_y

        lr = self._lr_for(scale)
        y, x = self.src.origin
        ly, lx, n = y // scale, x // scale, CROP // scale
        y0, x0 = max(0, ly - CONTEXT), max(0, lx - CONTEXT)
        y1, x1 = min(lr.shape[0], ly + n + CONTEXT), min(lr.shape[1], lx + n + CONTEXT)
        patch = np.ascontiguousarray(lr[y0:y1, x0:x1])
        with _one_thread(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            res = super_resolve(model.eval(), patch, scale, torch.device("cpu"))
        sr = res.sr[0].permute(1, 2, 0).numpy()
        oy, ox = (ly - y0) * scale, (lx - x0) * scale
        crop = np.ascontiguousarray(sr[oy:oy + CROP, ox:ox + CROP])
        hr = self.hr_crop()
        t = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None]  # noqa: E731
        score = psnr_ssim_y(t(crop), t(hr), border=0, gray=self.src.gray, convention="rgb")[0]
        return Panel(png_bytes(crop), score.psnr)


def _slug(name: str) -> str:
    from benchmark.site.tracks import slug

    return slug(name)


def _models_in(results_dir: Path) -> list[str]:
    names: set[str] = set()
    for table in ("cards", "summary", "profile"):
        df = store.read(results_dir, table)
        if not df.empty:
            names |= set(df["model"].astype(str))
    return sorted(names)


def make_visuals(results_dir: str | Path, data_root=None, weights_dir=None) -> dict[str, dict]:
    """Write ``<results>/visuals/`` (PNGs and ``index.json``) for every model the results hold; returns
    the index: per model {'note'} or {'scale', 'dataset', 'image', 'hr', 'bicubic', 'panels', 'notes'}."""
    import registry
    from registry.weights import WeightsError, verify

    results_dir = Path(results_dir)
    models = _models_in(results_dir)
    tmp = Path(tempfile.mkdtemp(prefix=".visuals-new-", dir=results_dir))
    try:
        index = _render(models, tmp, data_root, weights_dir, registry, verify, WeightsError)
        (tmp / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
        give_normal_mode(tmp)
        dest = results_dir / "visuals"
        old = results_dir / ".visuals-old"
        if old.exists():
            shutil.rmtree(old)
        if dest.exists():
            os.rename(dest, old)
        os.rename(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return index


def _render(models, vdir: Path, data_root, weights_dir, registry, verify, WeightsError) -> dict[str, dict]:
    result: dict[str, dict] = {}
    src, why = find_source(data_root)
    if src is None:
        return {m: {"note": f"No visual comparison: {why}."} for m in models}
    v = Visuals(src)
    (vdir / "hr.png").write_bytes(v.hr_panel().png)
    base: dict[int, dict] = {}
    cards = {c.name: c for c in registry.cards()}

    def bicubic(scale: int) -> dict:
        if scale not in base:
            name = f"x{scale}-bicubic.png"
            panel = v.run(cards["Bicubic"].build_model(scale), scale)
            (vdir / name).write_bytes(panel.png)
            base[scale] = {"file": f"visuals/{name}", "psnr": panel.psnr}
        return base[scale]

    where = {"dataset": src.dataset, "image": src.image, "y": src.origin[0], "x": src.origin[1],
             "size": CROP, "context": CONTEXT}
    for m in models:
        card = cards.get(m)
        if card is None:
            result[m] = {"note": "No visual comparison: this model is not in the registry of this srbench."}
            continue
        if "Bicubic" not in cards:
            result[m] = {"note": "No visual comparison: the Bicubic baseline is not registered."}
            continue
        scale = 4 if 4 in card.scales else max((s for s in card.scales if s <= 4), default=min(card.scales))
        entry = {"scale": scale, **where, "hr": "visuals/hr.png", "panels": [], "notes": [],
                 "bicubic": bicubic(scale)}
        if card.kind != "baseline" and card.architecture_only:
            entry["notes"].append("no published checkpoint: nothing to show but HR and bicubic")
        elif card.kind != "baseline":
            for variant in card.variants(scale):
                wf = card.weight_file(scale, variant)
                if wf is not None and verify(wf, weights_dir) != "ok":
                    entry["notes"].append(f"{variant} ×{scale}: checkpoint {wf.file} was not available when the "
                                          f"visuals were made; no output shown")
                    continue
                try:
                    panel = v.run(card.build_model(scale, variant, weights_dir), scale)
                except (WeightsError, RuntimeError, ValueError, KeyError) as e:
                    entry["notes"].append(f"{variant} ×{scale}: the model failed on the crop ({type(e).__name__})")
                    continue
                name = f"x{scale}-{_slug(variant)}.png"
                (vdir / name).write_bytes(panel.png)
                entry["panels"].append({"variant": variant, "file": f"visuals/{name}", "psnr": panel.psnr,
                                        "sha": (wf.sha256[:12] if wf else "")})
        result[m] = entry
    return result


@click.command("visuals")
@click.option("--results", "results_dir", type=click.Path(file_okay=False), default=None,
              help=f"results folder (default ${store.ENV_VAR}, else {store.default_results_dir()})")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="test sets root, for the crop's image (default $SRBENCH_DATA)")
@click.option("--weights-dir", type=click.Path(file_okay=False), default=None,
              help="checkpoints folder (default $SRBENCH_WEIGHTS)")
def visuals_command(results_dir, data_root, weights_dir) -> None:
    """Make the model pages' visual comparisons (one HR crop, bicubic, each model) under RESULTS/visuals."""
    results_dir = store.results_dir(results_dir)

    if not Path(results_dir).is_dir():
        raise click.ClickException(f"results directory {results_dir} does not exist (run 'srbench run' first)")
    store.check_writable(results_dir)
    index = make_visuals(results_dir, data_root, weights_dir)
    n = sum(len(e.get("panels", [])) for e in index.values())
    notes = {e["note"] for e in index.values() if "note" in e}
    click.echo(f"{n} visual(s) for {len(index)} model(s) written to {Path(results_dir) / 'visuals'}"
               + (f"; {'; '.join(sorted(notes))}" if notes and not n else ""))
