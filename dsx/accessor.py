"""``ds.dsx``: units, fronts, optima, reports and figures on any dsx result Dataset.

>>> import xarray as xr, dsx
>>> ds = xr.Dataset({"step_time": ("gpus", [2.0, 1.0], {"units": "s", "long_name": "step time"})},
...                 coords={"gpus": [8, 16]})
>>> ds.dsx.to(step_time="ms").step_time.values.tolist()
[2000.0, 1000.0]
>>> str(ds.dsx.quantify().step_time.data.units)
's'
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pint
import pandas as pd
import xarray as xr

from .errors import DsxInputError
from .units import magnitude, ureg, wrong_dimension

__all__ = ["DsxAccessor"]


def _numeric(da: xr.DataArray) -> bool:
    return np.issubdtype(da.dtype, np.number) and not np.issubdtype(da.dtype, np.bool_)




@xr.register_dataset_accessor("dsx")
class DsxAccessor:
    """Methods available as ``ds.dsx.<name>`` on every dsx result."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds

    # -- units ---------------------------------------------------------------------------
    def quantify(self) -> xr.Dataset:
        """pint-xarray quantities (dsx registry) for every numeric variable with units."""
        import pint_xarray  # noqa: F401  (registers .pint)

        out = self._ds.copy()
        for name, da in self._ds.variables.items():
            if name in self._ds.dims or not _numeric(self._ds[name]):
                continue
            units = da.attrs.get("units")
            if units is None:
                continue
            out[name] = self._ds[name].pint.quantify(units or "dimensionless", unit_registry=ureg)
        return out

    def to(self, **units: str) -> xr.Dataset:
        """Convert variables to other units, e.g. ``ds.dsx.to(step_time="ms", energy="MWh")``."""
        out = self._ds.copy()
        for name, unit in units.items():
            if name not in out:
                raise DsxInputError(f"to(): no variable {name!r} in the dataset")
            src = out[name].attrs.get("units")
            if src is None:
                raise DsxInputError(f"to(): variable {name!r} has no units attribute")
            one = ureg.Quantity(1.0, src or "dimensionless")
            try:
                factor = float(one.to(unit or "dimensionless").magnitude)
            except pint.DimensionalityError:  # the stored variable's dimension, then the unit asked for
                raise DsxInputError(f"to(): {wrong_dimension(name, src, unit)}") from None
            except Exception:  # an unknown unit: magnitude's message names it and suggests spellings
                factor = magnitude(one, unit, name=name)
            da = out[name] * factor
            da.attrs = {**out[name].attrs, "units": unit}
            out[name] = da
        return out

    # -- calibration -------------------------------------------------------------------------
    def factors(self) -> dict[str, float]:
        """``{factor: value}`` of a ``dsx.calibrate`` result, to apply: ``dsx.Space(**fit.dsx.factors())``."""
        from .calibration import factors_of

        return factors_of(self._ds)

    # -- tables ----------------------------------------------------------------------------
    def to_frame(self, names: list[str] | None = None, feasible_only: bool = False) -> pd.DataFrame:
        """Flat table (one row per configuration) with units in the column names."""
        from .codes import decode

        ds = decode(self._ds)  # categorical codes as their labels
        names = names or [n for n in ds.data_vars if ds[n].ndim > 0 or n in ("feasible", "reason")]
        sub = ds[names]
        if feasible_only and "feasible" in ds:
            sub = sub.where(ds["feasible"])
        df = sub.to_dataframe() if sub.dims else pd.DataFrame([{n: sub[n].values[()] for n in names}])
        df = df[[c for c in names if c in df.columns]]
        df.columns = [f"{c} [{ds[c].attrs['units']}]" if ds[c].attrs.get("units") else c for c in df.columns]
        return df

    def decode(self) -> xr.Dataset:
        """This result with its categorical outputs (``reason``, ``bottleneck``, ``bound``, ...) as text.

        dsx stores them as ``int8`` codes labelled by CF ``flag_values``/``flag_meanings``
        (:mod:`dsx.codes`); compare the decoded text: ``ds.dsx.decode().reason == "oom"``.
        """
        from .codes import decode

        return decode(self._ds)

    # -- analysis --------------------------------------------------------------------------
    def pareto(self, *objectives: Any, **kwargs: Any) -> xr.DataArray:
        """Boolean mask of the non-dominated configurations (see :func:`dsx.pareto`)."""
        from .analysis import pareto

        return pareto(self._ds, *objectives, **kwargs)

    def front(self, objectives: Any = None, /, *, minimize: list[str] | str = (), maximize: list[str] | str = (),
              **kwargs: Any) -> pd.DataFrame:
        """The Pareto front as a table with units in the column names."""
        from .analysis import front_table, pareto
        from .errors import no_direction
        from .uncertainty import at_quantile

        if objectives is not None:
            raise no_direction("front", objectives, call="ds.dsx.front(")
        mask = pareto(self._ds, minimize=minimize, maximize=maximize, **kwargs)
        cols = [*([minimize] if isinstance(minimize, str) else minimize),
                *([maximize] if isinstance(maximize, str) else maximize)]
        # objectives with draws are tabulated at the quantile the front was taken at
        ds, cols = at_quantile(self._ds, cols, kwargs.get("quantile"))
        return front_table(ds, mask, cols)

    def best(self, *objective: Any, **kwargs: Any) -> xr.Dataset:
        """Constrained optimum along chosen dimensions (see :func:`dsx.best`)."""
        from .analysis import best

        return best(self._ds, *objective, **kwargs)

    # -- uncertainty -----------------------------------------------------------------------
    def interval(self, name: str, level: float = 0.8) -> xr.Dataset:
        """Central ``level`` interval of ``name`` over ``draw``: ``low``, ``mid`` (median), ``high``."""
        from .uncertainty import interval

        if name not in self._ds.variables:
            raise DsxInputError(f"interval(): no variable {name!r} in the dataset")
        return interval(self._ds[name], level)

    def probability(self, where: Any) -> xr.DataArray:
        """Probability over the draws of meeting ``where`` (see :func:`dsx.probability`)."""
        from .uncertainty import probability

        return probability(self._ds, where)

    def report(self, html: bool = False) -> str:
        """The audit summary (domain -> key metric -> binding constraint) of this result, or of a
        ``dsx.audit`` Dataset (then with its elasticities): what ``dsx audit`` prints."""
        from . import report

        return report.html(self._ds) if html else report.text(self._ds)

    @property
    def plot(self) -> Any:
        """Figures bound to this dataset: ``ds.dsx.plot.heatmap("step_time", x="tp", y="pp")``."""
        from . import plot

        ds = self._ds

        class _Bound:
            def __getattr__(self, name: str) -> Any:
                fn = getattr(plot, name)
                return lambda *a, **k: fn(ds, *a, **k)

        return _Bound()
