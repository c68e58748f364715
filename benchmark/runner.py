"""Planning and executing an evaluation run.

``plan`` turns the user's choices into work items ``(model, variant, dataset, degradation, scale,
gray)`` and checks everything it can before any work starts (names, scales, weights, data, the
results directory), so bad input fails fast and writes nothing. ``execute`` runs the items and hands
finished rows to the store, one work item at a time.
"""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import registry
from benchmark import data as data_mod
from benchmark import store
from benchmark.degrade import LRCache, jpeg_encoder, mod_crop, parse_degradation
from benchmark.envinfo import environment
from benchmark.infer import super_resolve
from benchmark.metrics import psnr_ssim_y
from benchmark.protocol import GRAY_CONVENTIONS, PROTOCOL_VERSION
from registry.weights import verify as verify_weights
from registry.weights import weight_path

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
    return RunPlan(items, {ds.name: ds for ds in sets}, skipped)


@dataclass
class RunOptions:
    results_dir: Path
    device: torch.device
    weights_dir: str | Path | None = None
    cache_dir: str | Path | None = None
    argv: dict = field(default_factory=dict)


ProgressFn = Callable[[int], None]


def _evaluate_item(item: WorkItem, model: torch.nn.Module, ds: data_mod.Dataset, cache: LRCache,
                   device: torch.device, progress: ProgressFn | None) -> list[dict]:
    rows = []
    for ref in ds.images:
        hr_img = data_mod.read_hr(ref, min_size=item.scale)
        hr = mod_crop(hr_img.pixels, item.scale)
        lr = cache.lr_for(hr, ref.sha256, item.degradation, item.scale, hr_img.gray)
        res = super_resolve(model, lr, item.scale, device)
        hr_t = torch.from_numpy(np.ascontiguousarray(hr)).permute(2, 0, 1)[None].to(device)
        score = psnr_ssim_y(res.sr, hr_t, border=item.scale, gray=hr_img.gray, convention=item.gray)[0]
        rows.append({"image": ref.name, "psnr": score.psnr, "ssim": score.ssim,
                     "forward_ms": res.forward_ms, "lr_height": lr.shape[0], "lr_width": lr.shape[1],
                     "gray_image": hr_img.gray})
        if progress:
            progress(1)
    return rows


def execute(run_plan: RunPlan, opts: RunOptions, progress: ProgressFn | None = None) -> pd.DataFrame:
    """Run every work item, storing each item's rows as soon as it finishes; returns the summary."""
    store.check_writable(opts.results_dir)
    env = environment(opts.device)
    run_id = uuid.uuid4().hex[:12]
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    cache = LRCache(opts.cache_dir)
    summaries = []
    models: dict[tuple, torch.nn.Module] = {}
    for item in run_plan.items:
        mkey = (item.model, item.variant, item.scale)
        if mkey not in models:
            models.clear()  # one model in memory at a time
            card = registry.get(item.model)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                models[mkey] = card.build_model(item.scale, item.variant, opts.weights_dir).to(opts.device)
        model = models[mkey]
        ds = run_plan.datasets[item.dataset]
        if opts.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(opts.device)
        rows = _evaluate_item(item, model, ds, cache, opts.device, progress)
        memory_mb = (torch.cuda.max_memory_allocated(opts.device) / 2**20
                     if opts.device.type == "cuda" else float("nan"))
        key = {**asdict(item), "weights_sha256": getattr(model, "weights_sha256", ""),
               "protocol": PROTOCOL_VERSION}
        images = pd.DataFrame([{**key, **r, "device": env["device"], "run_id": run_id} for r in rows])
        summary = {
            **key, "dataset_kind": ds.kind,
            "psnr": float(images["psnr"].mean()), "ssim": float(images["ssim"].mean()),
            "n_images": len(images), "runtime_ms": float(images["forward_ms"].mean()),
            "memory_mb": memory_mb, "precision": "fp32",
            "jpeg_encoder": jpeg_encoder() if item.degradation.startswith("jpeg") else "",
            "run_id": run_id, "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **{k: env[k] for k in ("device", "device_type", "threads", "torch_version",
                                   "srbench_version", "git_commit")},
        }
        store.upsert(opts.results_dir, "images", images, IMAGES_KEY)
        store.upsert(opts.results_dir, "summary", pd.DataFrame([summary]), SUMMARY_KEY)
        summaries.append(summary)
    run_row = pd.DataFrame([{
        "run_id": run_id, "started_at": started,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "n_items": len(run_plan.items), "options": json.dumps(opts.argv, default=str),
        "environment": json.dumps(env), "lr_cache_hits": cache.hits, "lr_cache_misses": cache.misses,
    }])
    if run_plan.items:
        store.upsert(opts.results_dir, "runs", run_row, ["run_id"])
    return pd.DataFrame(summaries)
