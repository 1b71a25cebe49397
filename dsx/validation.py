"""Published runs as data: load the validation tables and predict every row in one evaluation.

The validation set lives in CSV files, one row per published measurement (``validation/training*.csv``
and ``validation/serving*.csv`` at the repository root): ``run`` (label), ``source`` (a key grouping the
rows of one publication, for leave-one-source-out), ``reference`` (full citation), ``metric`` and
``published`` (in the metric's unit, :data:`METRICS`), then any dsx input by name; a blank cell means
the dsx default. :func:`predict` evaluates all rows at once: the rows become a ``run`` dimension
("zipped" inputs: row *i* takes the *i*-th value of every column), built by pointwise selection from a
:class:`dsx.Space` whose axes are the distinct catalog keys, so no stack call and no dataset is made per
row.

>>> df = load("training")
>>> {"narayanan2021", "llm-foundry"} <= set(df.source)
True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
import xarray as xr

from .codes import decode
from .errors import DsxInputError
from .solvers import queueing, serving as serving_, serving_ops, training as training_
from .solvers.base import INPUTS
from .space import DEFAULT_PRECISION, DEFAULT_REGION, KEYS, Space, _catalog_columns
from .stacks import SERVING, TRAINING, evaluate

__all__ = ["load", "read", "predict", "run_dataset", "evaluate_metric", "METRICS", "META", "FOLDER"]

#: Where the published runs are kept (the repository's ``validation/`` folder).
FOLDER = Path(__file__).resolve().parents[1] / "validation"
#: Columns that describe a row rather than set an input.
META = ("run", "source", "reference", "metric", "published", "note")

#: Metric -> (canonical unit, meaning), per workload.
METRICS: dict[str, dict[str, tuple[str, str]]] = {
    "training": {
        "tokens_per_s_per_gpu": ("token/s", "training throughput per GPU"),
        "hw_tflops_per_gpu": ("flop/s", "achieved hardware FLOP/s per GPU, recompute counted"),
        "mfu": ("", "model FLOPs utilisation"),
        "step_time": ("s", "time of one optimizer step"),
    },
    "serving": {
        "ttft": ("s", "time to first token"),
        "tpot": ("s", "decode time per output token at the row's batch"),
        "e2e_latency": ("s", "one request: ttft + (output_len - 1) tpot"),
        "output_tokens_per_s": ("token/s", "output tokens/s of one replica at the row's batch"),
        "output_tokens_per_s_per_gpu": ("token/s", "output tokens/s per GPU at the row's batch"),
        "max_output_tokens_per_s": ("token/s", "output tokens/s of one replica at the largest batch the "
                                    "KV capacity allows, capped by the row's batch if given"),
    },
}

#: The solvers a prediction needs: up to feasibility (no job, energy or cost steps).
STEPS: dict[str, tuple] = {
    "training": TRAINING[: TRAINING.index(training_.feasibility) + 1],
    "serving": SERVING[: SERVING.index(serving_.serving_latency) + 1]
    + (serving_ops.deployment, queueing.queueing, serving_ops.serving_feasibility),
}

#: Catalog keys whose blank cell means "the same as the row's compute precision".
_FOLLOW_PRECISION = ("weight_precision", "kv_precision", "activation_precision")


def _workload(workload: str) -> str:
    if workload not in METRICS:
        raise DsxInputError(f"workload: {workload!r} is not known; expected 'training' or 'serving'")
    return workload


def read(path: str | Path) -> pd.DataFrame:
    """One validation CSV file as a DataFrame (numbers as numbers, blanks as NaN)."""
    try:
        return pd.read_csv(path, skipinitialspace=True)
    except FileNotFoundError:
        raise DsxInputError(f"measurements: no file {str(path)!r}") from None


def load(workload: str, folder: str | Path | None = None) -> pd.DataFrame:
    """Every published run of a workload: all ``<workload>*.csv`` files of ``folder``, concatenated.

    Parameters
    ----------
    workload : {"training", "serving"}
    folder : path, optional
        Defaults to the repository's ``validation/`` folder (:data:`FOLDER`).

    Returns
    -------
    pandas.DataFrame
        One row per published run, with a ``file`` column naming the CSV it came from.
    """
    folder = Path(folder) if folder is not None else FOLDER
    files = sorted(folder.glob(f"{_workload(workload)}*.csv"))
    if not files:
        raise DsxInputError(f"validation: no {workload}*.csv file in {str(folder)!r}")
    frames = [read(f).assign(file=f.name) for f in files]
    df = pd.concat(frames, ignore_index=True, sort=False)
    missing = [c for c in META[:5] if c not in df.columns or df[c].isna().any()]
    if missing:
        raise DsxInputError(f"validation: column(s) {missing} missing or blank in {workload}*.csv; "
                            "every row needs run, source, reference, metric and published")
    bad = sorted(set(df.metric) - set(METRICS[workload]))
    if bad:
        raise DsxInputError(f"validation: metric(s) {bad} unknown for {workload}; expected one of {sorted(METRICS[workload])}")
    return df


def _blank(values: pd.Series) -> np.ndarray:
    return values.isna().to_numpy() | values.astype(str).str.strip().eq("").to_numpy()


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "1.0", "yes"):
        return True
    if text in ("false", "0", "0.0", "no"):
        return False
    raise DsxInputError(f"{name}: {value!r} is not a yes/no value; write True or False")


def _column(df: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Converted values of one input column (canonical units) and its blank mask."""
    inputs, overrides = INPUTS, _catalog_columns()
    blank = _blank(df[name])
    spec = inputs.get(name)
    cache: dict[Any, Any] = {}
    out = np.empty(len(df), dtype=object)
    for i, value in enumerate(df[name].to_numpy()):  # values, not evaluations: a lookup per cell
        if blank[i]:
            continue
        if value not in cache:
            if spec is not None and isinstance(spec.default, bool):
                cache[value] = _as_bool(name, value)
            else:
                cache[value] = Space._convert(name, value, inputs, overrides)
        out[i] = cache[value]
    return out, blank


def _keys(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Catalog ids per row for every catalog key, blanks filled by their documented meaning."""
    ids: dict[str, np.ndarray] = {}
    for key in ["precision", "region", *[k for k in KEYS if k not in ("precision", "region")]]:
        if key in df.columns:
            values, blank = _column(df, key)
        else:
            values, blank = np.empty(len(df), dtype=object), np.ones(len(df), bool)
        if key == "precision":
            values[blank] = DEFAULT_PRECISION
        elif key == "region":
            values[blank] = DEFAULT_REGION
        elif key in _FOLLOW_PRECISION and key in df.columns:
            values[blank] = ids["precision"][blank]
        elif blank.all():
            continue
        elif blank.any():
            rows = list(df.run[blank])[:3] if "run" in df else list(np.flatnonzero(blank))[:3]
            raise DsxInputError(f"{key}: blank in some rows ({rows}); give it in every row or in none")
        ids[key] = values
    return ids


def input_columns(df: pd.DataFrame, workload: str, measured: Iterable[str] = ()) -> list[str]:
    """The input columns of a table; any column that is neither an input, a metric nor META is refused."""
    _workload(workload)
    known = set(INPUTS) | set(KEYS) | set(_catalog_columns())
    columns = [c for c in df.columns if c not in META and c != "file" and c not in set(measured)]
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise DsxInputError(f"measurements: column(s) {unknown} are neither dsx inputs nor {workload} outputs "
                            f"({', '.join(METRICS[workload])}); dsx.inputs() lists the inputs: remove or rename them")
    return columns


def run_dataset(df: pd.DataFrame, workload: str) -> xr.Dataset:
    """The input Dataset of every row along a ``run`` dimension (row *i* = configuration *i*).

    The distinct catalog ids become the axes of one :class:`dsx.Space`; its Dataset is then
    selected pointwise (``ds.sel(model=DataArray(ids, dims="run"), ...)``), so catalog columns
    are joined once per distinct id, not once per row. Inputs and catalog-column overrides
    are assigned as ``run`` variables; a blank override keeps the row's catalog value.
    """
    columns = input_columns(df, workload)
    n = len(df)
    if n == 0:
        raise DsxInputError("measurements: no rows")
    ids = _keys(df)
    if "model" not in ids or "hardware" not in ids:
        raise DsxInputError("measurements: every row needs a model and a hardware (columns 'model', 'hardware')")
    axes = {k: (sorted(set(v)) if len(set(v)) > 1 else v[0]) for k, v in ids.items()}
    ds = Space(**axes).to_dataset()
    pick = {k: xr.DataArray(v.astype(str), dims="run") for k, v in ids.items() if isinstance(axes[k], list)}
    ds = ds.sel(pick) if pick else ds
    overrides = _catalog_columns()
    new: dict[str, xr.DataArray] = {}
    for name in columns:
        if name not in KEYS:
            column = _run_column(df, name, ds, name in overrides)
            if column is not None:
                new[name] = column
    ds = ds.assign(new)
    if "scale_out_link_bandwidth" in new:  # one scale-out NIC per GPU, as Space derives it
        ds["scale_out_bandwidth"] = ds["scale_out_link_bandwidth"] * 1
    return ds.assign_coords(run=np.arange(n), run_name=("run", df["run"].astype(str).to_numpy()
                                                        if "run" in df else np.arange(n).astype(str)))


def _run_column(df: pd.DataFrame, name: str, ds: xr.Dataset, catalog_column: bool) -> xr.DataArray | None:
    """Column ``name`` of the rows along ``run``; None when blank in every row. A blank catalog
    column keeps the row's catalog value; a blank input takes its default (none: refused)."""
    values, blank = _column(df, name)
    if blank.all():
        return None
    spec = INPUTS.get(name)
    if catalog_column and spec is None:
        given = xr.DataArray(np.where(blank, np.nan, values).astype(float), dims="run")
        base = ds[name] if name in ds else np.nan
        if name == "scale_out_link_bandwidth" and name not in ds:  # the device's own per-GPU figure
            base = ds["scale_out_bandwidth"]
        return xr.where(blank, base, given) if blank.any() else given
    if blank.any():
        if spec.default is None:
            raise DsxInputError(f"{name}: blank in some rows and it has no default; fill every row")
        values[blank] = spec.default
    return xr.DataArray(np.array(list(values)), dims="run", attrs={"units": spec.unit or ""})


def evaluate_metric(inputs: xr.Dataset, metrics: Iterable[str], workload: str,
                    batch_cap: Any = None, factors: dict[str, Any] | None = None) -> xr.Dataset:
    """Predicted value of each row's metric (``predicted``) with ``feasible`` and ``reason``.

    Parameters
    ----------
    inputs : xr.Dataset
        From :func:`run_dataset` (dimension ``run``).
    metrics : sequence of str
        The metric of every row (:data:`METRICS`).
    batch_cap : array, optional
        Per row: the largest batch for ``max_output_tokens_per_s`` rows (inf: the KV capacity alone).
    factors : dict, optional
        Input values applied to every row: scalars, or DataArrays with their own dimensions
        (candidate grids, probes), which the result keeps.
    """
    steps = STEPS[_workload(workload)]
    metric = xr.DataArray(np.asarray(list(metrics), dtype=object), dims="run")
    ds = inputs.assign({k: v if isinstance(v, xr.DataArray) else xr.DataArray(v)
                        for k, v in (factors or {}).items()})
    res = evaluate(steps, ds)
    if workload == "training":
        values = {"tokens_per_s_per_gpu": res.tokens_per_s_per_gpu, "hw_tflops_per_gpu": res.hfu * res.peak_flops,
                  "mfu": res.mfu, "step_time": res.step_time}
    else:
        at_max = metric == "max_output_tokens_per_s"
        if bool(at_max.any()):
            cap = xr.DataArray(np.inf if batch_cap is None else np.asarray(batch_cap, float), dims="run") \
                if np.ndim(batch_cap) else np.inf
            loaded = np.minimum(res.max_batch, cap).clip(min=1)
            batch = xr.where(at_max, loaded, res["batch"])
            res = evaluate(steps, ds.assign(batch=batch))
        values = {"ttft": res.ttft, "tpot": res.tpot, "e2e_latency": res.e2e_latency,
                  "output_tokens_per_s": res.replica_tokens_per_s,
                  "output_tokens_per_s_per_gpu": res.tokens_per_s_per_gpu,
                  "max_output_tokens_per_s": res.replica_tokens_per_s}
    predicted = xr.full_like(values[next(iter(values))].broadcast_like(metric), np.nan, dtype=float)
    for name, value in values.items():  # a fixed, short list of metrics
        predicted = xr.where(metric == name, value, predicted)
    feasible = res.feasible.broadcast_like(predicted)
    # an infeasible row keeps its computed value (published runs that dsx calls infeasible are a
    # model error to show, not to hide); callers that must refuse them read ``feasible``
    return xr.Dataset({"predicted": predicted, "feasible": feasible,
                       "reason": decode(res.reason).broadcast_like(metric)})


def predict(df: pd.DataFrame, workload: str, **factors: Any) -> pd.DataFrame:
    """Every row's prediction, evaluated in one vectorised stack call along ``run``.

    Parameters
    ----------
    df : pandas.DataFrame
        Published runs (:func:`load`), or any table in the same columns.
    workload : {"training", "serving"}
    **factors
        Calibration factors (or any input) applied to every row, e.g. ``kernel_efficiency=0.8``.

    Returns
    -------
    pandas.DataFrame
        ``df`` with ``predicted``, ``error`` (predicted / published - 1), ``feasible``, ``reason``.
    """
    out = evaluate_metric(run_dataset(df, workload), df.metric, workload, batch_cap(df), factors)
    table = df.copy()
    table["predicted"] = out.predicted.values
    table["error"] = table.predicted / table.published - 1.0
    table["feasible"] = out.feasible.values
    table["reason"] = out.reason.values
    return table


def batch_cap(df: pd.DataFrame) -> np.ndarray | None:
    """Per row: the batch cap of a max-load row (its ``batch``; inf where blank)."""
    if "batch" not in df or "metric" not in df:
        return None
    return np.where(_blank(df["batch"]), np.inf, pd.to_numeric(df["batch"], errors="coerce")).astype(float)
