"""Fit dsx's calibration factors to measurements: ``dsx.calibrate``.

A measurement table names each configuration by dsx inputs (``model``, ``hardware``, ``gpus``,
``tp``, ...) and gives one or more measured results, either wide (a column per result named by
the output, ``step_time [ms]``, ``tokens_per_s_per_gpu``, ``ttft``) or long, as the validation
files are (``metric`` and ``published`` columns, :mod:`dsx.validation`). The fit minimises the
sum of squared relative errors ``(predicted / measured - 1)^2`` over the calibration factors
(efficiencies, overlaps, latencies: the inputs marked ``calibrated`` in the registry):

1. every candidate of a coarse grid (each factor a dimension of the evaluation) in one
   broadcast evaluation of all rows;
2. refined from the best candidate by trust-region least squares (``scipy.optimize.least_squares``)
   whose Jacobian is one broadcast evaluation over a ``probe`` dimension (one probe per factor).

The standard error of each factor is the usual least-squares one,
``sqrt(diag(s^2 (J^T J)^-1))`` with ``s^2 = sum(r^2) / (n - k)`` (Seber & Wild, *Nonlinear
Regression*, 1989, sec. 2.1), on the relative residuals ``r``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import least_squares

from . import validation
from .codes import decode
from .errors import DsxInputError
from .solvers.base import INPUTS
from .units import magnitude

__all__ = ["calibrate", "DEFAULT_FACTORS", "factors_of", "to_toml", "read_toml", "measurements_table"]

#: Factors fitted when the call names none: the per-stack efficiencies that set most of the
#: error (training: the GEMM, attention and exposed-memory factors of the compute solver;
#: serving: the engine's compute and memory efficiencies).
DEFAULT_FACTORS: dict[str, tuple[str, ...]] = {
    "training": ("kernel_efficiency", "attention_efficiency", "memory_exposure"),
    "serving": ("engine_compute_efficiency", "engine_memory_efficiency"),
}
#: Measured-column names accepted as output variables, mapped to validation metrics.
ALIASES: dict[str, dict[str, str]] = {
    "training": {},
    "serving": {"replica_tokens_per_s": "output_tokens_per_s", "tokens_per_s_per_gpu": "output_tokens_per_s_per_gpu"},
}
#: Candidate grid size (all factors together) of the first, broadcast step.
GRID_POINTS = 1000
#: Relative step of the finite-difference Jacobian.
PROBE_STEP = 1e-4


def _split_header(column: str) -> tuple[str, str | None]:
    match = re.fullmatch(r"\s*([^\[\]]+?)\s*\[(.*)\]\s*", column)
    return (match.group(1), match.group(2).strip()) if match else (column.strip(), None)


def measurements_table(measurements: pd.DataFrame | str | Path, workload: str) -> pd.DataFrame:
    """Measurements as long validation rows (``run``, ``metric``, ``published`` + inputs).

    ``name [unit]`` headers are read: input values become strings with that unit (converted
    like any Space value), measured values are converted to the metric's canonical unit.
    """
    metrics = validation.METRICS[validation._workload(workload)]
    df, units = _renamed(_frame_of(measurements), ALIASES[workload])
    long = "metric" in df.columns and "published" in df.columns
    measured = ["published"] if long else [c for c in df.columns if c in metrics]
    if not measured:
        raise DsxInputError(f"measurements: no measured column; name one by its output ({', '.join(metrics)}) "
                            "or give 'metric' and 'published' columns")
    validation.input_columns(df, workload, measured=metrics)
    _write_input_units(df, units, measured, metrics)
    if "run" not in df.columns:
        df.insert(0, "run", [f"row {i}" for i in range(len(df))])
    out = _long_rows(df, long, measured, metrics)
    bad = sorted(set(out.metric) - set(metrics))
    if bad:
        raise DsxInputError(f"measurements: metric(s) {bad} unknown for {workload}; expected one of {sorted(metrics)}")
    out["published"] = [_measured(v, metrics[m][0], units.get(m), m) for v, m in zip(out.published, out.metric)]
    if "source" not in out.columns:
        out["source"] = "measurements"
    return out


def _frame_of(measurements: Any) -> pd.DataFrame:
    """A private copy of the measurements as a DataFrame (a path is read as CSV)."""
    df = validation.read(measurements) if isinstance(measurements, (str, Path)) else measurements.copy()
    if not isinstance(df, pd.DataFrame):
        raise DsxInputError("measurements: expected a pandas DataFrame or the path of a CSV file")
    return df


def _renamed(df: pd.DataFrame, aliases: dict[str, str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Columns renamed to their bare (aliased) names, and the units their ``[unit]`` headers gave."""
    renamed, units = {}, {}
    for column in df.columns:
        name, unit = _split_header(str(column))
        renamed[column] = aliases.get(name, name)
        if unit:
            units[renamed[column]] = unit
    return df.rename(columns=renamed), units


def _write_input_units(df: pd.DataFrame, units: dict[str, str], measured: list[str], metrics: dict) -> None:
    """Append a header's unit to each number of an input column, so it converts like a Space value."""
    for column, unit in units.items():
        if column in measured or column in metrics:
            continue  # measured values are converted by _measured, to the metric's unit
        df[column] = [v if pd.isna(v) or isinstance(v, str) else f"{v} {unit}" for v in df[column]]


def _long_rows(df: pd.DataFrame, long: bool, measured: list[str], metrics: dict) -> pd.DataFrame:
    """One row per measured value (``metric``, ``published``), rows without a value dropped."""
    if long:
        frames = [df]
    else:
        keep = [c for c in df.columns if c not in metrics]
        frames = [df[keep].assign(metric=m, published=df[m]) for m in measured]  # one frame per measured output
    out = pd.concat(frames, ignore_index=True)
    return out[out.published.notna()].reset_index(drop=True)


def _measured(value: Any, unit: str, header_unit: str | None, metric: str) -> float:
    if header_unit and not isinstance(value, str):
        value = f"{value} {header_unit}"
    number = float(magnitude(value, unit, name=metric))
    if not np.isfinite(number) or number <= 0:
        raise DsxInputError(f"{metric}: measured value {value!r} must be a positive number")
    return number


def _factor_specs(factors: Sequence[str] | None, workload: str) -> list[str]:
    names = list(DEFAULT_FACTORS[workload] if factors is None else factors)
    if not names:
        raise DsxInputError("factors: name at least one calibration factor")
    for name in names:
        spec = INPUTS.get(name)
        if spec is None or not getattr(spec, "calibrated", False):
            known = sorted(n for n, s in INPUTS.items() if getattr(s, "calibrated", False))
            raise DsxInputError(f"factors: {name!r} is not a calibration factor; expected some of {known}")
    if len(set(names)) != len(names):
        raise DsxInputError(f"factors: {names} repeats a name; give each factor once")
    return names


def bounds(name: str) -> tuple[float, float]:
    """Search range of a factor: fractions in (0, 1], overlaps in [0, 1], others up to 10x the default."""
    spec = INPUTS[name]
    if name.endswith("_overlap"):
        return 0.0, 1.0
    if name.endswith("_efficiency"):
        return 0.02, 1.0
    low = spec.minimum if spec.minimum is not None else 0.0
    high = max(10 * spec.default, low + 1e-9, 1.0 if spec.unit == "" else 0.0)
    return float(low), float(high if spec.maximum is None else min(high, spec.maximum))


class _Problem:
    """The rows' inputs, built once, and the relative residuals of any factor values."""

    def __init__(self, table: pd.DataFrame, workload: str, names: list[str], strict: bool) -> None:
        self.table, self.workload, self.names = table, workload, names
        self.inputs = validation.run_dataset(table, workload)
        self.cap = validation.batch_cap(table)
        self.measured = table.published.to_numpy(float)
        self.strict = strict

    def predict(self, factors: dict[str, Any]) -> xr.Dataset:
        return validation.evaluate_metric(self.inputs, self.table.metric, self.workload, self.cap, factors)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        out = self.predict(dict(zip(self.names, x)))
        return out.predicted.values / self.measured - 1.0

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """All k forward differences in one evaluation (the ``probe`` dimension)."""
        lo = np.array([bounds(n)[0] for n in self.names])
        hi = np.array([bounds(n)[1] for n in self.names])
        step = PROBE_STEP * np.maximum(np.abs(x), 1e-3)
        step = np.where(x + step > hi, -step, step)  # stay inside the bounds
        probes = x[None, :] + np.diag(step)
        factors = {n: xr.DataArray(np.clip(probes[:, i], lo[i], hi[i]), dims="probe") for i, n in enumerate(self.names)}
        pred = self.predict(factors).predicted.transpose("run", "probe").values
        base = self.residuals(x)
        return (pred / self.measured[:, None] - 1.0 - base[:, None]) / step[None, :]


def _grid_start(problem: _Problem) -> np.ndarray:
    """Best point of a coarse grid over every factor's range, evaluated in one broadcast."""
    k = len(problem.names)
    points = int(np.clip(np.floor(GRID_POINTS ** (1.0 / k)), 3, 21))
    grids = {n: np.linspace(*bounds(n), points) for n in problem.names}
    factors = {n: xr.DataArray(g, dims=f"grid_{n}") for n, g in grids.items()}
    pred = problem.predict(factors).predicted
    measured = xr.DataArray(problem.measured, dims="run")
    loss = ((pred / measured - 1.0) ** 2).sum("run", skipna=False)
    loss = loss.where(np.isfinite(loss), np.inf)
    _refuse_flat([n for n in problem.names if f"grid_{n}" not in loss.dims])
    best = np.unravel_index(int(np.argmin(loss.values)), loss.shape)
    at = dict(zip(loss.dims, best))
    return np.array([grids[n][at[f"grid_{n}"]] for n in problem.names])


def _refuse_flat(flat: list[str]) -> None:
    if flat:
        raise DsxInputError(f"factors: {flat} change(s) no measured row; the measurements cannot identify "
                            "them, drop them from factors=")


def _check_rows(problem: _Problem, defaults: dict[str, float]) -> xr.Dataset:
    out = problem.predict(defaults)
    runs = problem.table.run.astype(str).to_numpy()
    bad = ~out.feasible.values if problem.strict else np.zeros(len(runs), bool)
    bad |= ~np.isfinite(out.predicted.values)
    if bad.any():
        listed = "; ".join(f"{r} ({reason or 'no prediction'})"
                           for r, reason in list(zip(runs[bad], decode(out.reason).values[bad]))[:3])
        raise DsxInputError(f"measurements: {int(bad.sum())} row(s) dsx cannot evaluate: {listed}; "
                            "fix their inputs or remove them")
    return out


def calibrate(measurements: pd.DataFrame | str | Path, workload: str = "training",
              factors: Sequence[str] | None = None, *, strict: bool = True) -> xr.Dataset:
    """Fit calibration factors to measured results by least squares on relative error.

    Parameters
    ----------
    measurements : DataFrame or path of a CSV file
        One row per measured configuration: dsx inputs by name (units in a ``name [unit]``
        header or in the values, ``"400 Gbit/s"``) and measured outputs by name
        (``step_time``, ``tokens_per_s_per_gpu``, ``mfu``; serving ``ttft``, ``tpot``,
        ``e2e_latency``, ``replica_tokens_per_s``, ...), or the validation files' long form
        (``metric``, ``published``).
    workload : {"training", "serving"}
    factors : list of str, optional
        Calibration factors to fit (inputs marked ``calibrated``); default :data:`DEFAULT_FACTORS`.
    strict : bool
        Refuse rows dsx calls infeasible (True); False fits them with their computed value
        (the published validation runs, some of which dsx's layout rules reject).

    Returns
    -------
    xr.Dataset
        ``value``, ``stderr``, ``default`` along ``factor``; the residual table ``measured``,
        ``predicted``, ``error`` (relative), ``error_default`` along ``row`` — as a DataFrame with
        ``fit[["measured", "predicted", "error"]].to_pandas()``. ``fit.dsx.factors()`` is the
        ``{factor: value}`` dict to apply: ``dsx.Space(..., **fit.dsx.factors())``.

    Raises
    ------
    DsxInputError
        Unknown columns or metrics, rows dsx cannot evaluate, fewer rows than factors + 1, or a
        factor the rows cannot identify.

    Examples
    --------
    >>> import pandas as pd, dsx
    >>> m = pd.DataFrame({"model": ["llama-3.1-8b"] * 3, "hardware": "H100", "gpus": 8, "zero": 3,
    ...                   "seq_len": [2048, 4096, 8192], "tokens_per_s_per_gpu": [9000.0, 8500.0, 7600.0]})
    >>> fit = dsx.calibrate(m, factors=["kernel_efficiency"])
    >>> 0.5 < fit.dsx.factors()["kernel_efficiency"] < 1.0
    True
    """
    names = _factor_specs(factors, validation._workload(workload))
    table = measurements_table(measurements, workload)
    n, k = len(table), len(names)
    if n <= k:
        raise DsxInputError(f"measurements: {n} measured value(s) cannot identify {k} factor(s) {names}; "
                            f"give at least {k + 1} rows or fit fewer factors")
    problem = _Problem(table, workload, names, strict)
    defaults = {name: float(INPUTS[name].default) for name in names}
    before = _check_rows(problem, defaults)
    start = _grid_start(problem)
    lo, hi = zip(*(bounds(name) for name in names))
    fit = least_squares(problem.residuals, start, jac=problem.jacobian, bounds=(lo, hi), x_scale="jac",
                        xtol=1e-10, ftol=1e-12, gtol=1e-12)
    jac = problem.jacobian(fit.x)
    _refuse_flat([name for i, name in enumerate(names) if not np.any(np.abs(jac[:, i]) > 1e-9)])
    jtj = jac.T @ jac
    if np.linalg.cond(jtj) > 1e12:
        raise DsxInputError(f"factors: {names} cannot be told apart by these measurements (their effects are "
                            "proportional); fit fewer factors or add rows that separate them")
    s2 = float(fit.fun @ fit.fun) / (n - k)
    stderr = np.sqrt(np.diag(s2 * np.linalg.inv(jtj)))
    after = problem.predict(dict(zip(names, fit.x)))
    return _result(table, workload, names, fit.x, stderr, defaults, before, after)


def _result(table: pd.DataFrame, workload: str, names: list[str], values: np.ndarray, stderr: np.ndarray,
            defaults: dict[str, float], before: xr.Dataset, after: xr.Dataset) -> xr.Dataset:
    measured = table.published.to_numpy(float)
    predicted = after.predicted.values
    error, error_default = predicted / measured - 1.0, before.predicted.values / measured - 1.0
    units = [INPUTS[name].unit or "" for name in names]
    row = {"run": ("row", table.run.astype(str).to_numpy()), "metric": ("row", table.metric.to_numpy()),
           "source": ("row", table.source.astype(str).to_numpy())}
    return xr.Dataset(
        {
            "value": ("factor", values, {"long_name": "fitted factor value", "units": "(per factor)"}),
            "stderr": ("factor", stderr, {"long_name": "standard error of the fitted value", "units": "(per factor)"}),
            "default": ("factor", [defaults[n] for n in names], {"long_name": "dsx default", "units": "(per factor)"}),
            "measured": ("row", measured, {"long_name": "measured value", "units": "(per metric)"}),
            "predicted": ("row", predicted, {"long_name": "prediction with the fitted factors", "units": "(per metric)"}),
            "error": ("row", error, {"long_name": "relative error with the fitted factors", "units": ""}),
            "error_default": ("row", error_default, {"long_name": "relative error with dsx's defaults", "units": ""}),
        },
        coords={"factor": names, "factor_units": ("factor", units), **row},
        attrs={"workload": workload, "rows": len(table), "mae": float(np.mean(np.abs(error))),
               "mae_default": float(np.mean(np.abs(error_default)))},
    )


def factors_of(fit: xr.Dataset) -> dict[str, float]:
    """``{factor: fitted value}`` of a :func:`calibrate` result (what ``fit.dsx.factors()`` returns)."""
    if "factor" not in fit.coords or "value" not in fit:
        raise DsxInputError("factors(): this dataset is not a dsx.calibrate result (no 'factor' and 'value')")
    return {str(name): float(v) for name, v in zip(fit.factor.values, fit.value.values)}


def to_toml(fit: xr.Dataset, source: str = "") -> str:
    """The fit as a small TOML document (read back by :func:`read_toml`, ``dsx audit --calibration``)."""
    lines = [f"# dsx calibration: {fit.attrs['rows']} measured values{' from ' + source if source else ''}; "
             f"MAE {fit.attrs['mae']:.1%} (dsx defaults: {fit.attrs['mae_default']:.1%})",
             f'workload = "{fit.attrs["workload"]}"', "", "[factors]"]
    lines += [f"{n} = {v!r}" for n, v in factors_of(fit).items()]
    lines += ["", "[stderr]"] + [f"{n} = {float(s)!r}" for n, s in zip(fit.factor.values, fit.stderr.values)]
    return "\n".join(lines) + "\n"


def read_toml(path: str | Path) -> dict[str, float]:
    """The ``[factors]`` of a calibration TOML file, checked against the registry."""
    try:
        doc = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DsxInputError(f"calibration: no file {str(path)!r}") from None
    except tomllib.TOMLDecodeError as exc:
        raise DsxInputError(f"calibration: {str(path)!r} is not valid TOML ({exc})") from None
    found = doc.get("factors")
    if not isinstance(found, dict) or not found:
        raise DsxInputError(f"calibration: {str(path)!r} has no [factors] table; write it with `dsx calibrate`")
    _factor_specs(list(found), doc.get("workload", "training") if doc.get("workload") in DEFAULT_FACTORS else "training")
    return {name: float(value) for name, value in found.items()}
