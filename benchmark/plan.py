"""Planning an evaluation: from typed choices to work items, checking everything before work starts.

``plan(selections, datasets, degradations, gray)`` turns model selections (:func:`registry.select`)
and test sets into work items ``(model, variant, dataset, degradation, scale, gray, metric, tta)``;
:func:`plan_request` is the command line's way in (names and comma lists, resolved by the same
selection and data functions). Bad input fails here, naming the model, set or option, before anything
is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from benchmark import data as data_mod
from benchmark.degrade import parse_degradation
from benchmark.schema import METRICS, TTAS
from protocol import GRAY_CONVENTIONS
from registry.select import Selection, SelectionError, Skip, select


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
    metric: str = "y"  # 'y' (the literature) or 'ntire_rgb' (the NTIRE ESR challenges' RGB rule)
    tta: str = "none"  # 'none' (one forward pass) or 'x8' (the geometric self-ensemble)


@dataclass
class RunPlan:
    items: list[WorkItem]
    datasets: dict[str, data_mod.Dataset]
    skips: list[Skip] = field(default_factory=list)  # what 'all' left out, and why
    # (model, variant, scale) -> its selection: checkpoint, sha256 and the module that registered it
    selections: dict[tuple[str, str, int], Selection] = field(default_factory=dict)

    def selection(self, item: WorkItem) -> Selection | None:
        return self.selections.get((item.model, item.variant, item.scale))


def check_options(scales: Sequence[int], degradations: Sequence[str], gray: str, metric: str = "y",
                  tta: str = "none") -> list[str]:
    """The degradations, normalised; PlanError for a bad scale, degradation, gray convention, metric or tta."""
    if tta not in TTAS:
        raise PlanError(f"tta must be one of {', '.join(TTAS)}, not {tta!r}")
    if metric not in METRICS:
        raise PlanError(f"--metric must be one of {', '.join(METRICS)}, not {metric!r}")
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
    return degs


def plan(selections: Sequence[Selection], datasets: Sequence[data_mod.Dataset], degradations: Sequence[str],
         gray: str = "rgb", skipped: Sequence[Skip] = (), metric: str = "y", tta: str = "none") -> RunPlan:
    """Every (selection, set, degradation) work item, once each, in that order."""
    degs = check_options(sorted({s.scale for s in selections}) or [2], degradations, gray, metric, tta)
    for ds in datasets:
        if ds.kind == "custom":  # no checksums: decode every image now, before anything is written
            for ref in ds.images:
                try:
                    data_mod.read_hr(ref, min_size=max(s.scale for s in selections) if selections else 2)
                except data_mod.DataError as e:
                    raise PlanError(str(e)) from None
    items = [WorkItem(s.model, s.variant, ds.name, d, s.scale, gray, metric, tta)
             for s in selections for ds in datasets for d in degs]
    return RunPlan(list(dict.fromkeys(items)), {ds.name: ds for ds in datasets}, list(skipped),
                   {(s.model, s.variant, s.scale): s for s in selections})


def plan_request(models: str | Sequence[str], datasets: str, scales: Sequence[int], degradations: Sequence[str],
                 gray: str = "rgb", data_root=None, weights_dir=None, metric: str = "y",
                 tta: str = "none") -> RunPlan:
    """:func:`plan` from the command line's values: model names (or 'all'), a set list (or 'all')."""
    check_options(scales, degradations, gray, metric, tta)
    try:
        sets = data_mod.resolve_datasets(datasets, data_root)
    except data_mod.DataError as e:
        raise PlanError(str(e)) from None
    try:
        chosen, skipped = select(models, scales, need_weights=True, weights_dir=weights_dir)
    except SelectionError as e:
        raise PlanError(str(e)) from None
    return plan(chosen, sets, degradations, gray, skipped, metric, tta)
