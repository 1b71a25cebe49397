"""Draws of the uncertain inputs along a ``draw`` dimension: the distributions, the registry and
the sampler a stack runs first (the model and the references: :mod:`dsx.uncertainty`)."""

from __future__ import annotations

import inspect
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import DsxInputError, did_you_mean

__all__ = ["Distribution", "normal", "lognormal", "uniform", "triangular", "registry", "sample", "sampler",
           "DEFAULT_DRAWS", "DEFAULT_SEED", "DIM"]


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
    if isinstance(calibration, xr.Dataset) and "factor" in calibration.dims and "value" in calibration:
        return _from_fit(calibration)
    if isinstance(calibration, xr.Dataset):
        return _from_scalars(calibration)
    if isinstance(calibration, Mapping):
        return _from_mapping(calibration)
    raise DsxInputError("calibration: expected {factor: (value, stderr)} or the Dataset dsx.calibrate returns")


def _from_scalars(calibration: xr.Dataset) -> dict[str, tuple[float, float]]:
    """Scalar variables that carry a standard error (an ``x_stderr`` variable or ``stderr`` attribute)."""
    out = {}
    for name, da in calibration.data_vars.items():
        if name.endswith("_stderr") or da.ndim:
            continue
        se = calibration[f"{name}_stderr"] if f"{name}_stderr" in calibration else da.attrs.get("stderr")
        if se is not None:
            out[str(name)] = (float(da), float(se))
    return out


def _from_mapping(calibration: Mapping) -> dict[str, tuple[float, float]]:
    """``{factor: (value, stderr)}`` pairs as floats, refusing a malformed pair or a negative error."""
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


def _from_fit(fit: xr.Dataset) -> dict[str, tuple[float, float]]:
    """``{factor: (value, predictive sd)}`` from a :func:`dsx.calibrate` result.

    The fit's standard error covers the fitted mean only; a new run also scatters like the
    fit's own residuals. The predictive spread adds the two, ``sd² = se² + x²·s²`` with
    ``s² = Σ e² / (n − p)`` the residual variance of the relative errors taken to the factor
    at elasticity 1 (a throughput or time moves about one-for-one with an efficiency).
    """
    errors = np.asarray(fit["error"].values, float) if "error" in fit else np.zeros(0)
    n, p = errors.size, fit.sizes["factor"]
    s2 = float(np.sum(errors ** 2) / max(n - p, 1)) if n else 0.0
    out = {}
    for name, value, se in zip(fit["factor"].values, fit["value"].values, fit["stderr"].values):
        out[str(name)] = (float(value), float(np.sqrt(float(se) ** 2 + float(value) ** 2 * s2)))
    return out


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
    from ..solvers.base import INPUTS

    if not isinstance(draws, (int, np.integer)) or isinstance(draws, bool) or draws < 1:
        raise DsxInputError(f"draws: expected a whole number >= 1, got {draws!r}")
    n, seed = int(draws), DEFAULT_SEED if seed is None else seed
    distributions = dict(distributions or {})
    fitted = _calibrated(calibration)
    out = ds.assign_coords({DIM: np.arange(n)})
    new: dict[str, xr.DataArray] = {}
    for name, dist in distributions.items():
        new[name] = xr.DataArray(dist.draws(n, _rng(seed, name)), dims=DIM, attrs=_attrs(ds, name, INPUTS))
    reg = registry() if use_registry else pd.DataFrame()
    # precedence: user distributions, then calibrated factors, then the registry; axes stay as swept
    new.update(_calibration_draws(ds, fitted, reg, set(new), n, seed, INPUTS))
    new.update(_registry_inputs(ds, reg, set(new), used, n, seed, INPUTS))
    return out.assign(new)


def _calibration_draws(ds: xr.Dataset, fitted: dict[str, tuple[float, float]], reg: pd.DataFrame, taken: set,
                       n: int, seed: int, inputs: Mapping) -> dict[str, xr.DataArray]:
    """Draws of each calibrated factor not already drawn or swept, refusing a name that is no input."""
    new = {}
    for name, (value, se) in fitted.items():
        if name not in inputs and name not in ds.variables:
            raise DsxInputError(f"calibration: {name!r} is not an input of dsx{did_you_mean(name, inputs)}")
        if name in taken or name in ds.dims:
            continue
        new[name] = _fitted_draws(ds, name, value, se, reg, n, seed, inputs)
    return new


def _registry_inputs(ds: xr.Dataset, reg: pd.DataFrame, taken: set, used: set | None, n: int, seed: int,
                     inputs: Mapping) -> dict[str, xr.DataArray]:
    """Draws of the registry's inputs the stack reads, unless already drawn, swept or without a value."""
    new = {}
    for name, row in reg.iterrows():
        if name in taken or name in ds.dims or (used is not None and name not in used):
            continue
        nominal = _nominal(ds, name, inputs)
        if nominal is not None:
            new[name] = _registry_draws(ds, name, row, nominal, n, seed, inputs)
    return new


def _attrs(ds: xr.Dataset, name: str, inputs: Mapping) -> dict:
    """Attributes of a drawn input: the Dataset's own, else units and long name from the registry."""
    if name in ds.variables:
        return dict(ds[name].attrs)
    spec = inputs.get(name)
    return {"units": spec.unit or "", "long_name": spec.doc.split(". ")[0]} if spec else {}


def _fitted_draws(ds: xr.Dataset, name: str, value: float, se: float, reg: pd.DataFrame, n: int, seed: int,
                  inputs: Mapping) -> xr.DataArray:
    """A calibrated factor drawn as normal(value, stderr), clipped to the registry's bounds if it has any."""
    row = reg.loc[name] if name in reg.index else None
    dist = Distribution("normal", (value, se), _bound(row, "lower", name), _bound(row, "upper", name))
    return xr.DataArray(dist.draws(n, _rng(seed, name)), dims=DIM, attrs=_attrs(ds, name, inputs))


def _nominal(ds: xr.Dataset, name: str, inputs: Mapping) -> xr.DataArray | None:
    """The value a registry factor multiplies: the Dataset's, else the input's default (None: neither)."""
    if name in ds.variables:
        return ds[name]
    if name in inputs and inputs[name].unit is not None:
        return xr.DataArray(float(inputs[name].default))
    return None


def _registry_draws(ds: xr.Dataset, name: str, row: pd.Series, nominal: xr.DataArray, n: int, seed: int,
                    inputs: Mapping) -> xr.DataArray:
    """The nominal value times a log-normal factor per draw (one factor multiplies every row), clipped."""
    factor = Distribution("lognormal", (1.0, float(row["sigma"]))).draws(n, _rng(seed, name))
    value = nominal * xr.DataArray(factor, dims=DIM)
    lo, hi = _bound(row, "lower", name), _bound(row, "upper", name)
    if lo is not None or hi is not None:
        value = value.clip(lo, hi)
    value.attrs = _attrs(ds, name, inputs)
    value.attrs["uncertainty"] = f"{row['distribution']} factor, sigma {row['sigma']}"
    return value


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
