"""Space: named axes and fixed values, resolved against the catalogs, as an input Dataset.

Lists become axes (dimensions with coordinates), scalars become fixed values. Catalog keys
(``model``, ``hardware``, ``region``, ``precision``, fabrics, ...) are resolved to ids and
their catalog columns joined by label, so ``hbm_bandwidth`` has dimension ``hardware`` and
``layers`` dimension ``model``; nothing is broadcast to the full size of the space.

>>> s = Space(model=["llama-3.1-8b", "llama-3.1-70b"], hardware="H100", gpus=[8, 16])
>>> s.size, s.dims
(4, {'model': 2, 'gpus': 2})
>>> ds = s.to_dataset()
>>> ds.hbm_capacity.dims, ds.layers.dims
((), ('model',))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from . import catalog
from .errors import DsxInputError, did_you_mean
from .uncertainty import Distribution
from .units import magnitude

__all__ = ["Space", "KEYS"]

#: Categorical inputs resolved against a catalog: name -> (catalog kind, {column: variable}).
#: ``None`` as the column map joins every numeric column under its own name.
KEYS: dict[str, tuple[str, dict[str, str] | None]] = {
    "model": ("models", None),
    "hardware": ("hardware", None),
    "region": ("regions", None),
    "precision": ("precisions", {"bytes": "precision_bytes"}),
    "weight_precision": ("precisions", {"bytes": "weight_bytes"}),
    "kv_precision": ("precisions", {"bytes": "kv_bytes"}),
    "activation_precision": ("precisions", {"bytes": "activation_bytes"}),
    "scale_out_fabric": ("fabrics", {"bandwidth": "scale_out_link_bandwidth", "latency": "scale_out_latency"}),
    "scale_up_fabric": ("fabrics", {"bandwidth": "scale_up_bandwidth", "latency": "scale_up_latency"}),
    "spec_draft_model": ("models", "draft_"),  # type: ignore[dict-item]
}

#: Compute precision when the space names none.
DEFAULT_PRECISION = "bf16"
#: Grid region when the space names none (energy price, carbon, water need one).
DEFAULT_REGION = "us-average"

_SKIP_COLUMNS = {"name", "source", "vendor", "country", "scope", "family", "year", "aliases"}


def _inputs() -> dict:
    from .variables import INPUTS  # the registry: every input, declared in dsx/variables.toml

    return INPUTS


def _catalog_columns() -> dict[str, str]:
    """Catalog columns a user may override directly, e.g. ``hbm_bandwidth="4 TB/s"``."""
    cols: dict[str, str] = {}
    for kind in ("hardware", "models", "regions"):
        for col, unit in catalog.SCHEMA[kind].items():
            if col.startswith("peak_") or col in _SKIP_COLUMNS:
                continue
            if isinstance(unit, str) or unit is int:
                cols[col] = unit if isinstance(unit, str) else ""
    cols["peak_flops"] = "flop/s"
    cols["precision_bytes"] = "B"
    cols["max_context"] = "token"  # positions, one token each
    cols["weight_bytes"] = "B/param"  # bytes per weight element: one element is one parameter
    cols["kv_bytes"] = "B"
    cols["activation_bytes"] = "B"
    cols["scale_out_link_bandwidth"] = "B/s"
    return cols


#: Largest count accepted (2**53: above it float64 cannot hold every whole number).
_MAX_COUNT = 2**53
#: Physical ranges of catalog columns a user overrides (catalog.RANGES; other numbers > 0).
Bound = tuple[float, bool]  # (value, the value itself allowed)


def _range(name: str, spec: Any) -> tuple[Bound | None, Bound | None]:
    """(lowest, highest) allowed value of a numeric input, each ``(value, inclusive)`` or None."""
    if spec is None:  # a catalog column
        low, inclusive, high = catalog.RANGES.get(name, (0.0, False, None))
        if name.endswith("_bytes"):  # bytes per element: fractional (fp4) but > 0
            low, inclusive = 0.0, False
        return (low, inclusive), (None if high is None else (high, True))
    low = None if spec.minimum is None else (spec.minimum, not spec.exclusive_minimum)
    high = None if spec.maximum is None else (spec.maximum, not spec.exclusive_maximum)
    return low, high


def _describe(low: Bound | None, high: Bound | None) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>=' if low[1] else '>'} {low[0]:g}")
    if high is not None:
        parts.append(f"{'<=' if high[1] else '<'} {high[0]:g}")
    return "a value " + " and ".join(parts)


def _is_axis(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray, range)) and not isinstance(value, str)


class Space:
    """A labelled design space: every list is an axis, every scalar a fixed value.

    Parameters
    ----------
    **axes
        Input name -> value or list of values. Catalog keys take ids or aliases
        (``hardware="H100"``); numeric inputs take bare numbers in their canonical unit,
        pint quantities or strings with units (``"400 Gbit/s"``). Catalog columns may be
        overridden (``hbm_bandwidth=["3.35 TB/s", "4.8 TB/s"]``).

    Raises
    ------
    DsxInputError
        Unknown input (with close matches), unknown catalog id, empty axis, repeated value,
        non-positive count, wrong unit.
    """

    def __init__(self, **axes: Any) -> None:
        inputs = _inputs()
        overrides = _catalog_columns()
        known = set(inputs) | set(KEYS) | set(overrides)
        self._values: dict[str, Any] = {}
        self._axes: dict[str, list] = {}
        for name, value in axes.items():
            if name not in known:
                raise DsxInputError(f"unknown input {name!r}{did_you_mean(name, known)} "
                                    "(dsx.inputs() lists them all)")
            if isinstance(value, Distribution):  # an uncertain input: drawn along `draw`
                self._values[name] = self._distribution(name, value, inputs, overrides)
                continue
            if _is_axis(value):
                vals = list(value)
                if any(v is None for v in vals):
                    raise DsxInputError(f"{name}: None in the axis {vals}; give values (or leave the input out)")
                if not vals:
                    raise DsxInputError(f"{name}: empty axis; give at least one value or a scalar")
                vals = [self._convert(name, v, inputs, overrides) for v in vals]
                if len(set(map(repr, vals))) != len(vals):
                    raise DsxInputError(f"{name}: repeated values in axis {vals}; each value once")
                self._axes[name] = vals
            else:
                self._values[name] = self._convert(name, value, inputs, overrides)

    @classmethod
    def _distribution(cls, name: str, dist: Distribution, inputs: Mapping, overrides: Mapping) -> Distribution:
        spec = inputs.get(name)
        if name in KEYS or (spec is not None and (spec.unit is None or spec.integer)):
            raise DsxInputError(f"{name}: a distribution needs a continuous numeric input, not a category or count")
        lower = spec.minimum if spec is not None else 0.0
        dist = dist.converted(lambda v: float(magnitude(v, spec.unit if spec else overrides[name], name=name)))
        return Distribution(dist.kind, dist.params, lower, dist.upper)

    @property
    def distributions(self) -> dict[str, Distribution]:
        """Inputs given as distributions (``dsx.normal(...)``): name -> distribution."""
        return {k: v for k, v in self._values.items() if isinstance(v, Distribution)}

    @staticmethod
    def _convert(name: str, value: Any, inputs: Mapping, overrides: Mapping) -> Any:
        """One given value of input ``name`` as stored: a catalog id, a choice, a flag or a number in the
        input's unit (whole for counts), checked against the registry's choices and bounds."""
        if name in KEYS:
            return None if value is None else catalog.resolve(KEYS[name][0], value)
        spec = inputs.get(name)
        if spec is not None and spec.unit is None:
            return _choice(name, value, spec)
        unit = spec.unit if spec is not None else overrides[name]
        if value is None:
            return value
        is_flag = spec is not None and isinstance(spec.default, bool)
        if is_flag or isinstance(value, (bool, np.bool_)):
            return _flag(name, value, unit, is_flag)
        mag = _finite_magnitude(name, value, unit)
        if spec is not None and spec.integer:
            return _whole_number(name, value, mag, spec)
        _check_range(name, value, mag, unit, spec)
        return mag

    # -- shape -----------------------------------------------------------------------------
    @property
    def dims(self) -> dict[str, int]:
        """Axis name -> length, in the order given."""
        return {k: len(v) for k, v in self._axes.items()}

    @property
    def size(self) -> int:
        """Number of configurations (product of the axis lengths)."""
        return int(np.prod(list(self.dims.values()), dtype=np.int64)) if self._axes else 1

    @property
    def values(self) -> dict[str, Any]:
        """Fixed (scalar) inputs."""
        return dict(self._values)

    @property
    def axes(self) -> dict[str, list]:
        """Swept inputs: name -> list of values."""
        return {k: list(v) for k, v in self._axes.items()}

    def replace(self, **axes: Any) -> "Space":
        """A copy with some inputs set (or turned into axes) anew."""
        merged = {**self._values, **self._axes, **axes}
        return Space(**{k: v for k, v in merged.items()})

    def __repr__(self) -> str:
        ax = ", ".join(f"{k}[{n}]" for k, n in self.dims.items()) or "-"
        return f"<dsx.Space size={self.size:,} axes: {ax}; fixed: {', '.join(self._values) or '-'}>"

    # -- dataset ---------------------------------------------------------------------------
    def to_dataset(self) -> xr.Dataset:
        """The input Dataset: axes as dimension coordinates, catalog columns joined by label."""
        inputs = _inputs()
        ds = xr.Dataset()
        self._peak_table = None
        if "precision" not in self._axes and "precision" not in self._values:
            ds.coords["precision"] = DEFAULT_PRECISION
        if "region" not in self._axes and "region" not in self._values:
            ds.coords["region"] = DEFAULT_REGION
        for name, vals in self._axes.items():
            ds.coords[name] = xr.DataArray(np.asarray(vals), dims=name, attrs=_attrs(name, inputs))
        for name, val in self._values.items():
            if name in KEYS:
                ds.coords[name] = val
            elif val is not None:
                val = val.center if isinstance(val, Distribution) else val
                ds[name] = xr.DataArray(val, attrs=_attrs(name, inputs))
        joined: dict[str, xr.Variable] = {}
        for key, (kind, columns) in KEYS.items():
            if key in ds.coords:
                self._join(ds, key, kind, columns, joined)
        ds = ds.assign(joined)  # one merge: per-column assignment would align ~50 times
        self._derive(ds)
        # user overrides of catalog columns win over the joined values
        for name in list(self._values) + list(self._axes):
            if name in _catalog_columns() and name not in KEYS:
                if name in self._axes:
                    continue  # already a dimension coordinate; joined column was not added
                val = self._values[name]
                val = val.center if isinstance(val, Distribution) else val
                ds[name] = xr.DataArray(val, attrs=_attrs(name, inputs))
        return ds

    def _join(self, ds: xr.Dataset, key: str, kind: str, columns: Any, joined: dict) -> None:
        table = catalog.load(kind)
        dim = catalog.DIMENSION[kind]
        label = ds.coords[key]
        picked = table.sel({dim: label.values})
        if dim in picked.dims and dim != key:
            picked = picked.rename({dim: key}) if key in ds.dims else picked
        for col in picked.data_vars:
            if col in _SKIP_COLUMNS:
                continue
            if isinstance(columns, dict):
                if col not in columns:
                    continue
                target = columns[col]
            elif isinstance(columns, str):
                target = columns + col
            else:
                target = col
            if target in self._axes or target in self._values:
                continue  # the user overrides this column
            da = picked[col]
            if col == "peak_flops":  # per precision: selected at the compute precision in _derive
                self._peak_table = da.drop_vars([c for c in da.coords if c not in da.dims])
                if key in da.dims:
                    self._peak_table = self._peak_table.assign_coords({key: ds.coords[key].values})
                continue
            joined[target] = xr.Variable(da.dims, da.values, da.attrs)

    def _derive(self, ds: xr.Dataset) -> None:
        """Joins that depend on two keys: peak FLOP/s at the compute precision; byte widths."""
        for name in ("weight_bytes", "kv_bytes", "activation_bytes"):
            if name not in ds and "precision_bytes" in ds:
                ds[name] = ds["precision_bytes"]
        if "weight_bytes" in ds:  # per weight element, i.e. per parameter (the catalog column is per element)
            ds["weight_bytes"] = ds["weight_bytes"].assign_attrs(units=_catalog_columns()["weight_bytes"])
        if self._peak_table is not None and "peak_flops" not in self._values and "peak_flops" not in self._axes:
            compute = "activation_precision" if "activation_precision" in ds.coords else "precision"
            label = ds.coords[compute]
            # a precision the device has no figure for is NaN (-> precision_unsupported), never an error
            peak = self._peak_table.reindex(precision=catalog.names("precisions"))
            sel = xr.DataArray(label.values, dims=label.dims) if label.dims else label.values[()]
            peak = peak.sel(precision=sel).drop_vars("precision", errors="ignore")
            if label.dims:
                peak = peak.assign_coords({label.dims[0]: label.values})
            ds["peak_flops"] = peak
            ds["peak_flops"].attrs = {"units": "flop/s", "long_name": "dense peak throughput at the compute precision"}
        if "scale_out_link_bandwidth" in ds:
            nics = ds["nics_per_gpu"] if "nics_per_gpu" in ds else 1
            ds["scale_out_bandwidth"] = ds["scale_out_link_bandwidth"] * nics
            ds["scale_out_bandwidth"].attrs = {"units": "B/s", "long_name": "scale-out bandwidth per direction per accelerator"}


def _attrs(name: str, inputs: Mapping) -> dict:
    spec = inputs.get(name)
    if spec is None:
        unit = _catalog_columns().get(name)
        return {"units": unit} if unit is not None else {}
    attrs = {"long_name": spec.doc.split(".")[0]}
    if spec.unit is not None:
        attrs["units"] = spec.unit
    return attrs


def _choice(name: str, value: Any, spec: Any) -> Any:
    """A categorical input's value, one of the registry's choices when it lists them."""
    if spec.choices is not None and value not in spec.choices:
        raise DsxInputError(
            f"{name}: {value!r} is not allowed; expected one of {', '.join(map(repr, spec.choices))}"
        )
    return value


def _flag(name: str, value: Any, unit: str | None, is_flag: bool) -> bool:
    """A true/false input's value; a boolean given to a numeric input (or the reverse) is an error."""
    if not isinstance(value, (bool, np.bool_)):
        raise DsxInputError(f"{name}: {value!r} must be true or false")
    if not is_flag:
        raise DsxInputError(f"{name}: {value!r} is a boolean; expected a number{f' in {unit}' if unit else ''}")
    return bool(value)


def _finite_magnitude(name: str, value: Any, unit: str | None) -> float:
    """``value`` (a number or quantity) as a finite float in ``unit``."""
    try:
        mag = float(magnitude(value, unit, name=name))
    except OverflowError:
        mag = np.inf
    except DsxInputError:
        raise
    except (TypeError, ValueError):  # a set, a generator, a complex number, a nested array
        raise DsxInputError(f"{name}: {value!r:.60} is not a number; give a number, a quantity "
                            f"such as '1 {unit or 'dimensionless'}', or a list of them") from None
    if not np.isfinite(mag):
        raise DsxInputError(f"{name}: {value!r} is not a finite number")
    return mag


def _whole_number(name: str, value: Any, mag: float, spec: Any) -> int:
    """A count: whole, at least its registry minimum (1 by default) and at most 2**53."""
    lo = 1 if spec.minimum is None else int(spec.minimum)
    if mag != int(mag) or mag < lo or mag > _MAX_COUNT:
        raise DsxInputError(f"{name}: {value!r} must be a whole number >= {lo} (and at most 2**53)")
    return int(mag)


def _check_range(name: str, value: Any, mag: float, unit: str | None, spec: Any) -> None:
    """Raise unless ``mag`` lies within the input's bounds (each inclusive or exclusive)."""
    low, high = _range(name, spec)
    below = low is not None and (mag < low[0] or (mag == low[0] and not low[1]))
    above = high is not None and (mag > high[0] or (mag == high[0] and not high[1]))
    if below or above:
        raise DsxInputError(f"{name}: {value!r} is out of range; expected {_describe(low, high)}"
                            f"{f' (in {unit})' if unit else ''}")
