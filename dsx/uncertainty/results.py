"""Reading results with draws: intervals, probabilities, coverage, quantile objectives, the audit table."""

from __future__ import annotations

import warnings

from typing import Any

import numpy as np
import xarray as xr

from ..errors import DsxInputError
from .draws import DIM

__all__ = ["interval", "probability", "coverage", "parse_objective", "at_quantile", "at_median", "summary",
           "KEY_FIGURES"]


# -- reading results ------------------------------------------------------------------------
def _quantile(da: xr.DataArray, q: float) -> xr.DataArray:
    """Quantile over ``draw``; a configuration NaN in every draw (infeasible) stays NaN, quietly."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        return da.quantile(q, dim=DIM).drop_vars("quantile")


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
        v = _quantile(da, q) if DIM in da.dims else da.copy()
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
    from ..analysis.pareto import constraint_mask

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
            v = _quantile(ds[base], q)
            v.attrs = {**ds[base].attrs, "quantile": q}
            updates[base] = v
    if not updates and DIM not in ds.dims:
        return ds, plain
    if "feasible" in ds.variables and DIM in ds["feasible"].dims:
        updates["feasible"] = ds["feasible"].all(DIM)
    return ds.assign(updates), plain


# -- reports ------------------------------------------------------------------------------------
#: Key figures the audit shows with their interval, per workload.
KEY_FIGURES = {
    "training": ("step_time", "tokens_per_s", "mfu", "time_to_train", "wall_time", "energy", "carbon", "tco",
                 "cost_per_mtoken"),
    "serving": ("ttft", "tpot", "e2e_latency", "replica_tokens_per_s", "energy_per_token", "carbon_per_mtoken",
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
            out[name] = _quantile(da, 0.5).assign_attrs(da.attrs)
        else:
            out[name] = da.isel({DIM: 0}, drop=True)
    return ds.assign(out).drop_dims(DIM)


def summary(ds: xr.Dataset, level: float = 0.8) -> str:
    """Text table: each key figure as its median with the central ``level`` interval over the draws."""
    from ..report import _grid, fmt

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
