"""The results tables' declared schema: key columns and column types, one place for all of them.

The store (:mod:`benchmark.store`) checks every write against it (:func:`conform`), and readers take
the column names from here rather than spelling them out. A column is one of four kinds: ``str``,
``int`` (whole numbers; stored as float with NaN where a row has none, e.g. an error row), ``float``
or ``bool``. A write that lacks a key column, has a null key, or carries a column the table does not
declare is refused with the table's name: a typo never becomes a new column silently. Declared
columns a write does not carry are filled with nulls, so every row of a table has every column.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

SCHEMA_VERSION = 1


class SchemaError(ValueError):
    """Rows do not fit their table's declared schema; the message names the table and column."""


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]
    columns: dict[str, str]  # name -> 'str' | 'int' | 'float' | 'bool', in table order
    # key columns added after rows were written: the value those older rows have (e.g. metric 'y')
    defaults: dict = field(default_factory=dict)

    def __post_init__(self):
        missing = [k for k in self.key if k not in self.columns]
        assert not missing, f"{self.name}: key columns {missing} are not declared"


def _cols(spec: str) -> dict[str, str]:
    """'a:str b:int ...' -> {'a': 'str', 'b': 'int'}."""
    return dict(item.split(":") for item in spec.split())


# ------------------------------------------------------------------------------------ the tables

ITEM_KEY = ("model", "variant", "weights_sha256", "dataset", "degradation", "scale", "gray", "metric", "tta",
            "protocol")
# 'y': Y-channel PSNR/SSIM, border = scale (the SR literature); 'ntire_rgb': RGB PSNR/SSIM on uint8,
# border = scale (the NTIRE ESR challenges' test_demo.py). Rows written before the column existed are 'y'.
METRICS = ("y", "ntire_rgb")
# 'none': one forward pass; 'x8': the geometric self-ensemble (8 rotations/flips averaged before the
# quantization, srbench run --self-ensemble). Rows written before the column existed are 'none'.
TTAS = ("none", "x8")
ITEM_DEFAULTS = {"metric": "y", "tta": "none"}

SUMMARY = Table("summary", ITEM_KEY, _cols(
    "model:str variant:str dataset:str degradation:str scale:int gray:str metric:str tta:str weights_sha256:str "
    "protocol:str dataset_kind:str psnr:float ssim:float n_images:int runtime_ms:float memory_mb:float precision:str "
    "jpeg_encoder:str run_id:str finished_at:str device:str device_type:str threads:str torch_version:str "
    "srbench_version:str git_commit:str status:str n_errors:int error:str tile:int n_tiled:int "
    "load_other_cores:float load_steal_pct:float busy:bool origin:str "
    "source:str"), ITEM_DEFAULTS)

IMAGES = Table("images", ITEM_KEY + ("image",), _cols(
    "model:str variant:str dataset:str degradation:str scale:int gray:str metric:str tta:str weights_sha256:str "
    "protocol:str image:str psnr:float ssim:float forward_ms:float lr_height:int lr_width:int gray_image:bool "
    "status:str error:str tile:int memory_mb:float device:str run_id:str"), ITEM_DEFAULTS)

RUNS = Table("runs", ("run_id",), _cols(
    "run_id:str started_at:str finished_at:str n_items:int options:str environment:str lr_cache_hits:int "
    "lr_cache_misses:int status:str run_key:str attempts:int resumed_images:int n_failed_items:int "
    "failures:str executor:str task_kind:str"))

PROFILE = Table("profile", ("model", "variant", "scale", "device", "device_name", "precision", "threads",
                            "channels_last", "compiled", "input_size", "protocol"), _cols(
    "model:str variant:str pretrained:bool weights_sha256:str kind:str memory_mb:float memory_kind:str "
    "memory_peak_rss_mb:float memory_baseline_mb:float runtime_ms:float runtime_p10_ms:float "
    "runtime_p90_ms:float runtime_mean_ms:float runtime_first_ms:float runs:int runtime_cpu_time_ms:float "
    "warmup_runs:int warmup_stable:bool runtime_all_ms:str params:int flops:int flops_fvcore:int "
    "flops_ptflops:float flops_elementwise:int flops_uncounted:str flops_unknown_ops:str flops_by_op:str "
    "flops_by_module:str activations:int num_conv:int conv2d_ops_traced:int input_channels:int "
    "scan_backend:str scale:int device:str device_name:str precision:str threads:int channels_last:bool "
    "compiled:bool input_size:str protocol:str srbench_version:str git_commit:str torch_version:str "
    "cuda_version:str cudnn_version:str driver_version:str cpu_model:str environment:str measured_at:str "
    "status:str error:str run_id:str load_other_cores:float load_steal_pct:float busy:bool origin:str "
    "source:str"))

# ``source`` (summary, profile): who measured a row that came from elsewhere, the label of the bundle
# it was exported in ('submitted by ...', benchmark.export); empty for rows measured into this folder.

# The card of every model the results mention, as it was when they were measured (JSON in the
# structured columns), so that the site and the comparisons need no registry.
CARDS = Table("cards", ("model",), _cols(
    "model:str family:str kind:str paper:str scales:str colour:str input_range:float notes:str config:str "
    "weights:str published:str challenge:str variants:str architecture_only:bool module:str "
    "snapshot_at:str origin:str"))

TABLES: dict[str, Table] = {t.name: t for t in (SUMMARY, IMAGES, RUNS, PROFILE, CARDS)}

# Columns that differ between two runs of the same work (ignore them when comparing runs).
VOLATILE_COLUMNS = ("run_id", "finished_at", "forward_ms", "runtime_ms", "memory_mb", "device", "device_type",
                    "threads", "git_commit", "load_other_cores", "load_steal_pct", "busy")


def table(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise SchemaError(f"unknown results table {name!r} (tables: {', '.join(TABLES)})") from None


def _cast(kind: str, s: pd.Series, where: str) -> pd.Series:
    nonnull = s.dropna()
    if kind == "str":
        bad = nonnull[~nonnull.map(lambda v: isinstance(v, str))]
        if len(bad):
            raise SchemaError(f"{where}: expected text, found {bad.iloc[0]!r}")
        return s.astype(object).where(s.notna(), None)
    if kind == "bool":
        bad = nonnull[~nonnull.map(lambda v: isinstance(v, bool) or type(v).__name__ == "bool_")]
        if len(bad):
            raise SchemaError(f"{where}: expected true/false, found {bad.iloc[0]!r}")
        return s.astype(bool) if s.notna().all() else s.astype(object).where(s.notna(), None)
    try:
        num = pd.to_numeric(s, errors="raise")
    except (ValueError, TypeError) as e:
        raise SchemaError(f"{where}: expected a number ({e})") from None
    if kind == "float":
        return num.astype("float64")
    whole = num.dropna()
    if len(whole) and not (whole == whole.round()).all():
        raise SchemaError(f"{where}: expected whole numbers, found {whole[whole != whole.round()].iloc[0]!r}")
    # with a null (an error row's count), the column is float64 with NaN, as pandas reads such a column
    return num.astype("int64") if num.notna().all() else num.astype("float64")


def conform(name: str, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the table's declared columns, in order, of the declared kinds; see the module doc."""
    t = table(name)
    extra = [c for c in rows.columns if c not in t.columns]
    if extra:
        raise SchemaError(f"{name}: columns {extra} are not in the table's schema (benchmark/schema.py)")
    if t.defaults:
        rows = rows.copy()
        for k, v in t.defaults.items():
            rows[k] = rows[k].where(rows[k].notna(), v) if k in rows.columns else v
    missing = [k for k in t.key if k not in rows.columns]
    if missing:
        raise SchemaError(f"{name}: rows lack key columns {missing}")
    for k in t.key:
        if rows[k].isna().any():
            raise SchemaError(f"{name}: key column {k!r} has an empty value")
    out = {}
    for col, kind in t.columns.items():
        s = rows[col] if col in rows.columns else pd.Series([None] * len(rows), index=rows.index, dtype=object)
        out[col] = _cast(kind, s, f"{name}.{col}")
    return pd.DataFrame(out, index=rows.index)
