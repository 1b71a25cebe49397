"""Uncertainty as an axis: draws of uncertain inputs along a ``draw`` dimension.

An uncertain input becomes a variable with dimension ``draw``; every solver broadcasts it
like any other axis, so a result gains ``draw`` exactly where it depends on an uncertain
input, and quantiles are plain xarray (``ds.step_time.quantile([0.1, 0.9], dim="draw")``).

Where the spreads come from: ``dsx/catalog/data/uncertainty.csv`` (one row per input:
a log-normal factor around the nominal value, its ``sigma``, bounds and source). The nominal
value is whatever the configuration uses (the Input default, the catalog column or the
user's scalar), so the registry states *relative* uncertainty. A user distribution
(``dsx.Space(kernel_efficiency=dsx.normal(0.8, 0.05))``) replaces the registry entry, and a
fitted calibration (``calibration={"kernel_efficiency": (0.78, 0.01)}``, value and standard
error) replaces it with ``normal(value, stderr)``.

Draws are seeded per input (``numpy.random.default_rng([seed, crc32(name)])``), so the same
seed gives the same draws in every chunk and adding an input does not shift the others.

References
----------
Saltelli et al. 2008, *Global Sensitivity Analysis: The Primer*, ch. 1 (Monte Carlo
propagation of input distributions); Gneiting & Raftery 2007, JASA 102(477) (central
intervals and their coverage).
"""

from __future__ import annotations

import inspect
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from statistics import NormalDist
from typing import Any, Callable

import numpy as np
import pandas as pd
import xarray as xr

from .errors import DsxInputError

__all__ = ["Distribution", "normal", "lognormal", "uniform", "triangular", "registry", "sample",
           "probability", "interval", "coverage", "factor_spreads", "at_quantile", "parse_objective",
           "DEFAULT_DRAWS", "DIM"]

#: Name of the draw dimension.
DIM = "draw"
#: Draws taken when a Space holds a distribution but ``draws`` is not given.
DEFAULT_DRAWS = 200
#: Seed used when none is given (results are reproducible by default).
DEFAULT_SEED = 0


@dataclass(frozen=True)
class Distribution:
    """A distribution of one input, in the input's canonical unit (``relative``: a factor).

    Parameters
    ----------
    kind : {"normal", "lognormal", "uniform", "triangular"}
    params : tuple of float
        normal: (mean, sd); lognormal: (median, sigma of ln); uniform: (low, high);
        triangular: (low, mode, high).
    lower, upper : float, optional
        Draws are clipped to these bounds (a physical range, e.g. an efficiency <= 1).
    """

    kind: str
    params: tuple
    lower: float | None = None
    upper: float | None = None

    def draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` samples (float64)."""
        p = self.params
        if self.kind == "normal":
            x = rng.normal(p[0], p[1], n)
        elif self.kind == "lognormal":
            x = p[0] * np.exp(rng.normal(0.0, p[1], n))
        elif self.kind == "uniform":
            x = rng.uniform(p[0], p[1], n)
        else:
            x = rng.triangular(p[0], p[1], p[2], n)
        lo = -np.inf if self.lower is None else self.lower
        hi = np.inf if self.upper is None else self.upper
        return np.clip(x, lo, hi)

    @property
    def center(self) -> float:
        """The value used without draws: mean (normal), median (lognormal), mid (uniform), mode."""
        p = self.params
        return float({"normal": p[0], "lognormal": p[0], "uniform": 0.5 * (p[0] + p[1]),
                      "triangular": p[1] if len(p) > 2 else p[0]}[self.kind])

    def converted(self, convert: Callable[[Any], float]) -> "Distribution":
        """The same distribution with its location/scale parameters in canonical units."""
        if self.kind == "lognormal":
            return Distribution(self.kind, (convert(self.params[0]), float(self.params[1])), self.lower, self.upper)
        return Distribution(self.kind, tuple(convert(v) for v in self.params), self.lower, self.upper)


def _check(name: str, ok: bool, what: str) -> None:
    if not ok:
        raise DsxInputError(f"dsx.{name}: {what}")


def normal(mean: Any, sd: Any) -> Distribution:
    """Normal distribution (mean, standard deviation; numbers or strings with units)."""
    _check("normal", not isinstance(sd, (int, float)) or sd >= 0, f"sd={sd!r} must be >= 0")
    return Distribution("normal", (mean, sd))


def lognormal(median: Any, sigma: float) -> Distribution:
    """Log-normal distribution: ``median · exp(sigma · z)`` (sigma of ln, dimensionless)."""
    _check("lognormal", float(sigma) >= 0, f"sigma={sigma!r} must be >= 0 (standard deviation of ln x)")
    return Distribution("lognormal", (median, float(sigma)))


def uniform(low: Any, high: Any) -> Distribution:
    """Uniform distribution on [low, high]."""
    _check("uniform", not all(isinstance(v, (int, float)) for v in (low, high)) or low <= high,
           f"low={low!r} must not exceed high={high!r}")
    return Distribution("uniform", (low, high))


def triangular(low: Any, mode: Any, high: Any) -> Distribution:
    """Triangular distribution on [low, high] with its peak at ``mode``."""
    _check("triangular", not all(isinstance(v, (int, float)) for v in (low, mode, high)) or low <= mode <= high,
           f"expected low <= mode <= high, got {low!r}, {mode!r}, {high!r}")
    return Distribution("triangular", (low, mode, high))


def registry() -> pd.DataFrame:
    """The registry of uncertain inputs (``dsx/catalog/data/uncertainty.csv``), indexed by input."""
    path = resources.files("dsx.catalog") / "data" / "uncertainty.csv"
    with path.open() as f:
        return pd.read_csv(f).set_index("input")


def _calibrated(calibration: Any) -> dict[str, tuple[float, float]]:
    """``{factor: (value, stderr)}`` from a mapping or a fitted Dataset (``x`` with ``x_stderr``)."""
    if calibration is None:
        return {}
    if isinstance(calibration, xr.Dataset):
        out = {}
        for name, da in calibration.data_vars.items():
            if name.endswith("_stderr") or da.ndim:
                continue
            se = calibration[f"{name}_stderr"] if f"{name}_stderr" in calibration else da.attrs.get("stderr")
            if se is not None:
                out[str(name)] = (float(da), float(se))
        return out
    if isinstance(calibration, Mapping):
        out = {}
        for name, pair in calibration.items():
            try:
                value, se = (float(v) for v in pair)
            except (TypeError, ValueError):
                raise DsxInputError(f"calibration: {name!r} must be (value, standard error), got {pair!r}") from None
            if not se >= 0:
                raise DsxInputError(f"calibration: standard error of {name!r} must be >= 0, got {se}")
            out[str(name)] = (value, se)
        return out
    raise DsxInputError("calibration: expected {factor: (value, stderr)} or the Dataset dsx.calibrate returns")


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def sample(ds: xr.Dataset, draws: int, seed: int | None = None, distributions: Mapping | None = None,
           calibration: Any = None, use_registry: bool = True, used: set | None = None) -> xr.Dataset:
    """Replace the uncertain inputs of an input Dataset by ``draw``-dimensioned draws.

    Parameters
    ----------
    ds : xarray.Dataset
        Input Dataset (``Space.to_dataset()``).
    draws : int
        Number of draws (>= 1).
    seed : int, optional
        Seed (default 0): equal seeds give equal draws.
    distributions : mapping, optional
        User distributions ``{input: Distribution}`` (canonical units); they win over the
        registry and the calibration.
    calibration : mapping or Dataset, optional
        Fitted factors ``{factor: (value, stderr)}``: drawn as ``normal(value, stderr)``.
    use_registry : bool
        Draw the registry's inputs as relative log-normal factors around their nominal value.
    used : set of str, optional
        Variables the stack reads; registry inputs outside it are not drawn.

    Returns
    -------
    xarray.Dataset
        ``ds`` with a ``draw`` coordinate and each uncertain input a variable over ``draw``
        (a catalog column keeps its own dimensions: one factor per draw multiplies all rows).
        Inputs swept as axes by the user are left as they are.
    """
    from .solvers.base import INPUTS

    if not isinstance(draws, (int, np.integer)) or isinstance(draws, bool) or draws < 1:
        raise DsxInputError(f"draws: expected a whole number >= 1, got {draws!r}")
    seed = DEFAULT_SEED if seed is None else seed
    distributions = dict(distributions or {})
    fitted = _calibrated(calibration)
    out = ds.assign_coords({DIM: np.arange(int(draws))})
    new: dict[str, xr.DataArray] = {}

    def attrs(name: str) -> dict:
        if name in ds.variables:
            return dict(ds[name].attrs)
        spec = INPUTS.get(name)
        return {"units": spec.unit or "", "long_name": spec.doc.split(". ")[0]} if spec else {}

    for name, dist in distributions.items():
        new[name] = xr.DataArray(dist.draws(int(draws), _rng(seed, name)), dims=DIM, attrs=attrs(name))
    reg = registry() if use_registry else pd.DataFrame()
    for name, (value, se) in fitted.items():
        if name in new or name in ds.dims:
            continue
        row = reg.loc[name] if name in reg.index else None
        lo = _bound(row, "lower", name)
        hi = _bound(row, "upper", name)
        dist = Distribution("normal", (value, se), lo, hi)
        new[name] = xr.DataArray(dist.draws(int(draws), _rng(seed, name)), dims=DIM, attrs=attrs(name))
    for name, row in reg.iterrows():
        if name in new or name in ds.dims or (used is not None and name not in used):
            continue
        if name in ds.variables:
            nominal = ds[name]
        elif name in INPUTS and INPUTS[name].unit is not None:
            nominal = xr.DataArray(float(INPUTS[name].default))
        else:
            continue
        factor = Distribution("lognormal", (1.0, float(row["sigma"]))).draws(int(draws), _rng(seed, name))
        value = nominal * xr.DataArray(factor, dims=DIM)
        lo, hi = _bound(row, "lower", name), _bound(row, "upper", name)
        if lo is not None or hi is not None:
            value = value.clip(lo, hi)
        value.attrs = attrs(name)
        value.attrs["uncertainty"] = f"{row['distribution']} factor, sigma {row['sigma']}"
        new[name] = value
    return out.assign(new)


class _Sampler:
    """What a stack applies to each input Dataset: ``sample`` with fixed settings (or nothing)."""

    def __init__(self, draws: int, settings: dict | None) -> None:
        self.draws = draws
        self._settings = settings

    def __call__(self, ds: xr.Dataset) -> xr.Dataset:
        return ds if self._settings is None else sample(ds, self.draws, **self._settings)


def sampler(steps: tuple, space: Any, draws: int | None, seed: int | None, calibration: Any) -> _Sampler:
    """The draw step of a stack run: ``draws`` (default: 200 if the space holds a distribution)."""
    dists = space.distributions if space is not None else {}
    if draws is not None and (not isinstance(draws, (int, np.integer)) or isinstance(draws, bool) or draws < 1):
        raise DsxInputError(f"draws: expected a whole number >= 1, got {draws!r}")
    if draws is None:
        if not dists and calibration is None:
            if seed is not None:
                raise DsxInputError("seed: only used with draws=N (or a distribution in the Space)")
            return _Sampler(1, None)
        draws = DEFAULT_DRAWS
    used = {p for step in steps for p in inspect.signature(step).parameters}
    return _Sampler(int(draws), dict(seed=seed, distributions=dists, calibration=calibration, used=used))


def _bound(row: Any, key: str, name: str) -> float | None:
    if row is None or pd.isna(row[key]):
        return None
    return float(row[key])


# -- reading results ------------------------------------------------------------------------
def interval(da: xr.DataArray, level: float = 0.8) -> xr.Dataset:
    """Central interval over ``draw``: ``low``, ``mid`` (the median), ``high`` (units of ``da``).

    >>> da = xr.DataArray(np.arange(101.0), dims="draw", attrs={"units": "s"})
    >>> [float(v) for v in interval(da, 0.8).to_array()]
    [10.0, 50.0, 90.0]
    """
    if not 0 < level < 1:
        raise DsxInputError(f"interval: level must be between 0 and 1 (e.g. 0.8), got {level!r}")
    lo, hi = (1 - level) / 2, (1 + level) / 2
    out = xr.Dataset()
    for key, q in (("low", lo), ("mid", 0.5), ("high", hi)):
        v = da.quantile(q, dim=DIM).drop_vars("quantile") if DIM in da.dims else da.copy()
        what = "median" if key == "mid" else f"{key} end of the {level:.0%} interval"
        v.attrs = {**da.attrs, "long_name": f"{da.attrs.get('long_name', da.name)} ({what})"}
        out[key] = v
    out.attrs = {"variable": str(da.name), "level": level}
    return out


def probability(ds: xr.Dataset, where: Any) -> xr.DataArray:
    """Probability over the draws that a configuration is feasible and meets ``where``.

    Parameters
    ----------
    ds : xarray.Dataset
        A result with (or without) a ``draw`` dimension.
    where : str, list of str, callable or bool DataArray
        The constraint, e.g. ``"wall_time < 30 day"`` (see :func:`dsx.analysis.constraint_mask`).

    Returns
    -------
    xarray.DataArray
        Fraction of draws meeting it (0 or 1 without draws), over the other dimensions.

    >>> ds = xr.Dataset({"t": ("draw", [1.0, 2.0, 3.0, 4.0], {"units": "s"})})
    >>> float(probability(ds, lambda d: d.t < 3.5))
    0.75
    """
    from .analysis.pareto import constraint_mask

    mask = constraint_mask(ds, where)
    p = mask.mean(DIM) if DIM in mask.dims else mask.astype(float)
    p.attrs = {"units": "", "long_name": f"probability that {where if isinstance(where, str) else 'the constraint'} holds"}
    return p


def coverage(predicted: xr.DataArray, published: Any, level: float = 0.8) -> float:
    """Fraction of published values inside the predictions' central ``level`` interval.

    Parameters
    ----------
    predicted : xarray.DataArray
        Predictions with a ``draw`` dimension, one entry per run along the other dimension(s).
    published : array-like or DataArray
        Published values aligned with ``predicted`` without its ``draw`` dimension.
    level : float
        Nominal coverage of the interval (0.8: from the 10th to the 90th percentile).

    Returns
    -------
    float
        Observed coverage (the nominal ``level`` when the spreads are honest).

    >>> pred = xr.DataArray(np.tile(np.arange(101.0), (4, 1)), dims=("run", "draw"))
    >>> coverage(pred, [50.0, 5.0, 89.0, 95.0])
    0.5
    """
    band = interval(predicted, level)
    pub = published if isinstance(published, xr.DataArray) else xr.DataArray(
        np.asarray(published, dtype=float), dims=band["low"].dims)
    inside = (pub >= band["low"]) & (pub <= band["high"])
    return float(inside.mean())


# -- decisions under uncertainty ------------------------------------------------------------
def parse_objective(name: str, quantile: float | None = None) -> tuple[str, float | None]:
    """``"time_to_train@q90"`` -> ``("time_to_train", 0.9)``; ``quantile`` applies otherwise.

    >>> parse_objective("time_to_train@q90"), parse_objective("step_time", 0.5)
    (('time_to_train', 0.9), ('step_time', 0.5))
    """
    if "@" not in name:
        return name, quantile
    base, _, q = name.partition("@")
    try:
        value = float(q.lstrip("qQ")) / 100
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise DsxInputError(f"objective {name!r}: expected name@qNN with NN a percentile, e.g. 'time_to_train@q90'")
    return base, value


def at_quantile(ds: xr.Dataset, names: list[str], quantile: float | None = None) -> tuple[xr.Dataset, list[str]]:
    """Reduce objectives with a ``draw`` dimension to a quantile (median if none is given).

    Returns the Dataset with each named objective replaced by its quantile over the draws
    (``attrs["quantile"]``) and the plain names. ``feasible`` with draws becomes
    "feasible in every draw". Datasets without draws pass through unchanged.
    """
    plain = []
    updates = {}
    for spec in names:
        base, q = parse_objective(spec, quantile)
        plain.append(base)
        if DIM in ds.dims and base in ds.variables and DIM in ds[base].dims:
            q = 0.5 if q is None else q
            v = ds[base].quantile(q, dim=DIM).drop_vars("quantile")
            v.attrs = {**ds[base].attrs, "quantile": q}
            updates[base] = v
    if not updates and DIM not in ds.dims:
        return ds, plain
    if "feasible" in ds.variables and DIM in ds["feasible"].dims:
        updates["feasible"] = ds["feasible"].all(DIM)
    return ds.assign(updates), plain


# -- honest spreads from validation residuals ---------------------------------------------------
#: Calibration factors whose spread each workload's residuals set.
FACTORS = {"training": ("kernel_efficiency",),
           "serving": ("engine_compute_efficiency", "engine_memory_efficiency")}


def factor_spreads(residuals: pd.DataFrame | str, level: float = 0.8, column: str = "predicted_loso") -> pd.DataFrame:
    """Log-normal spreads of the calibration factors from leave-one-source-out residuals.

    ``sigma = Q_level(|ln(published / predicted)|) / z_{(1+level)/2}``: the spread whose
    central ``level`` interval holds that share of the held-out residuals, so the intervals
    cover what they claim on sources the fit did not see. A time and a rate have the same
    ``|ln|`` error, so every metric counts.

    Parameters
    ----------
    residuals : DataFrame or path
        Columns ``run, source, workload, metric, published, predicted_in_sample,
        predicted_loso`` (``benchmarks/calibrate.py`` writes ``validation/loso_residuals.csv``).
    level : float
        Coverage the spread is set for (0.8).
    column : str
        Which prediction to use (``predicted_loso``; ``predicted_in_sample`` for comparison).

    Returns
    -------
    pandas.DataFrame
        One row per factor: ``input, distribution, sigma, runs, sources, source``.

    >>> df = pd.DataFrame({"run": list("abcde"), "source": list("ppqqr"), "workload": ["training"] * 5,
    ...                    "metric": ["tokens_per_s"] * 5, "published": [1.0] * 5,
    ...                    "predicted_in_sample": [1.0] * 5, "predicted_loso": [1.1, 0.9, 1.0, 1.2, 0.95]})
    >>> round(float(factor_spreads(df).sigma.iloc[0]), 3)
    0.094
    """
    df = pd.read_csv(residuals) if not isinstance(residuals, pd.DataFrame) else residuals
    need = {"source", "workload", "published", column}
    missing = need - set(df.columns)
    if missing:
        raise DsxInputError(f"factor_spreads: residual table lacks columns {sorted(missing)}")
    z = NormalDist().inv_cdf((1 + level) / 2)
    rows = []
    for workload, group in df.groupby("workload"):
        r = np.abs(np.log(group["published"].astype(float) / group[column].astype(float)))
        r = r[np.isfinite(r)]
        if r.empty or workload not in FACTORS:
            continue
        sigma = float(np.quantile(r, level)) / z
        for factor in FACTORS[workload]:
            rows.append({"input": factor, "distribution": "lognormal", "sigma": round(sigma, 4),
                         "runs": int(r.size), "sources": int(group["source"].nunique()),
                         "source": f"{column} residuals of {r.size} {workload} runs from "
                                   f"{group['source'].nunique()} sources: sigma = Q{level:.0%}|ln(published/"
                                   f"predicted)| / {z:.4f}"})
    return pd.DataFrame(rows)


def update_registry(residuals: pd.DataFrame | str, path: Any = None, level: float = 0.8) -> pd.DataFrame:
    """Write :func:`factor_spreads` into the registry CSV (rows of the fitted factors only)."""
    spreads = factor_spreads(residuals, level).set_index("input")
    path = path or (resources.files("dsx.catalog") / "data" / "uncertainty.csv")
    reg = pd.read_csv(path).set_index("input")
    for name, row in spreads.iterrows():
        reg.loc[name, ["distribution", "sigma", "basis", "source"]] = [
            row["distribution"], row["sigma"], "leave_one_source_out", row["source"]]
    reg.reset_index().to_csv(path, index=False)
    return reg


if __name__ == "__main__":  # python -m dsx.uncertainty validation/loso_residuals.csv
    import sys

    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m dsx.uncertainty RESIDUALS.csv  (rewrites the factor spreads)")
    print(update_registry(sys.argv[1]).to_string())


# -- reports ------------------------------------------------------------------------------------
#: Key figures the audit shows with their interval, per workload.
KEY_FIGURES = {
    "training": ("step_time", "tokens_per_s", "mfu", "time_to_train", "wall_time", "energy", "carbon", "tco",
                 "cost_per_mtoken"),
    "serving": ("ttft", "tpot", "e2e_latency", "tokens_per_s", "energy_per_token", "carbon_per_mtoken",
                "cost_per_mtoken"),
}


def at_median(ds: xr.Dataset) -> xr.Dataset:
    """Every variable over ``draw`` at its median (text variables: the first draw's value)."""
    if DIM not in ds.dims:
        return ds
    out = {}
    for name, da in ds.data_vars.items():
        if DIM not in da.dims:
            continue
        if np.issubdtype(da.dtype, np.number) and not np.issubdtype(da.dtype, np.bool_):
            out[name] = da.quantile(0.5, dim=DIM).drop_vars("quantile").assign_attrs(da.attrs)
        else:
            out[name] = da.isel({DIM: 0}, drop=True)
    return ds.assign(out).drop_dims(DIM)


def summary(ds: xr.Dataset, level: float = 0.8) -> str:
    """Text table: each key figure as its median with the central ``level`` interval over the draws."""
    from .report import _grid, fmt

    workload = "serving" if "ttft" in ds.variables else "training"
    body = []
    for name in KEY_FIGURES[workload]:
        if name not in ds.variables or DIM not in ds[name].dims:
            continue
        band = interval(ds[name], level)
        units = ds[name].attrs.get("units", "")
        if band["mid"].ndim:  # a comparison: the first configuration only
            band = band.isel({d: 0 for d in band["mid"].dims})
        body.append([name, fmt(float(band["mid"]), units, name),
                     f"{fmt(float(band['low']), units, name)} – {fmt(float(band['high']), units, name)}"])
    n = ds.sizes.get(DIM, 0)
    return (f"Uncertainty: {n} draws of the uncertain inputs (dsx/catalog/data/uncertainty.csv); median and "
            f"{level:.0%} interval\n\n{_grid(['Figure', 'Median', f'{level:.0%} interval'], body)}\n")
