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
from .fastds import build, variable
from .uncertainty import Distribution
from .space_values import check_range, choice, finite_magnitude, flag, whole_number
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

#: The columns each fabric key supplies, each as the names that override it (scale_out_bandwidth is
#: derived from the fabric's link bandwidth in Space._derive).
_FABRIC_COLUMNS = {
    "scale_out_fabric": (("scale_out_link_bandwidth", "scale_out_bandwidth"), ("scale_out_latency",)),
    "scale_up_fabric": (("scale_up_bandwidth",), ("scale_up_latency",)),
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
    """Catalog columns a user may override directly (``hbm_bandwidth="4 TB/s"``) -> canonical unit.

    The numbers and counts of the hardware, models and regions catalogs, and the columns Space
    derives from the catalogs (``peak_flops``, ``weight_bytes``, ...), all declared in dsx/variables.toml.
    """
    from .variables import COLUMNS

    return {name: col.unit for name, col in COLUMNS.items()
            if col.unit is not None and name not in _SKIP_COLUMNS and not name.startswith("peak_")
            and (col.derived_from or {"hardware", "models", "regions"} & set(col.catalogs))} | \
        {"peak_flops": COLUMNS["peak_flops"].unit}


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
        self._check_overridden()

    def _check_overridden(self) -> None:
        """Refuse an input that the others given override entirely (it would change nothing): a
        fabric whose every column is given, or a scale-out link rate beside the scale-out bandwidth."""
        if self._given("scale_out_link_bandwidth") and self._given("scale_out_bandwidth"):
            raise DsxInputError("scale_out_link_bandwidth: scale_out_bandwidth is given too and overrides it "
                                "(scale_out_bandwidth = scale_out_link_bandwidth, one NIC per GPU), so it would "
                                "change nothing; give one of them")
        for key, columns in _FABRIC_COLUMNS.items():
            if self._given(key) and _fabric_overridden(key, self._given):
                given = [n for names in columns for n in names if self._given(n)]
                raise DsxInputError(f"{key}: {' and '.join(given)} are given too and override every column "
                                    f"of the fabric, so it would change nothing; remove one of them")

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
            return choice(name, value, spec)
        unit = spec.unit if spec is not None else overrides[name]
        if value is None:
            return value
        is_flag = spec is not None and isinstance(spec.default, bool)
        if is_flag or isinstance(value, (bool, np.bool_)):
            return flag(name, value, unit, is_flag)
        mag = finite_magnitude(name, value, unit)
        if spec is not None and spec.integer:
            mag = whole_number(name, value, mag, spec)
        check_range(name, value, mag, unit, spec)  # a count's maximum too (zero <= 3)
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
        """The input Dataset: axes as dimension coordinates, catalog columns joined by label.

        Built in one step (:func:`dsx.fastds.build`): the catalog rows are picked by position
        with numpy, and no variable is merged or aligned one at a time.
        """
        inputs = _inputs()
        coords: dict[str, xr.Variable] = {}
        data: dict[str, xr.Variable] = {}
        if "precision" not in self._axes and "precision" not in self._values:
            coords["precision"] = xr.Variable((), DEFAULT_PRECISION)
        if "region" not in self._axes and "region" not in self._values:
            coords["region"] = xr.Variable((), DEFAULT_REGION)
        for name, vals in self._axes.items():
            coords[name] = xr.Variable((name,), np.asarray(vals), _attrs(name, inputs))
        for name, val in self._values.items():
            if name in KEYS:
                if val is not None:  # None: the key is not set
                    coords[name] = xr.Variable((), val)
            elif val is not None:
                val = val.center if isinstance(val, Distribution) else val
                data[name] = xr.Variable((), val, _attrs(name, inputs))
        peak = None
        for key, (kind, columns) in KEYS.items():
            if key in coords:
                peak = self._join(coords[key], kind, columns, data) or peak
        self._derive(coords, data, peak)
        return build(coords, data)

    def _join(self, label: xr.Variable, kind: str, columns: Any, joined: dict) -> tuple | None:
        """Add the catalog columns of ``kind`` at ``label`` (its rows by position); the peak table aside."""
        table = catalog._dataset(kind)
        dim = catalog.DIMENSION[kind]
        rows = _ROWS.get(kind)
        if rows is None or rows[0] is not table:  # the catalog was reloaded (a user row added)
            rows = _ROWS[kind] = (table, {str(v): i for i, v in enumerate(table[dim].values)},
                                  [(col, table.variables[col].values, dict(table.variables[col].attrs))
                                   for col in table.data_vars if col not in _SKIP_COLUMNS])
        try:
            pos = np.array([rows[1][str(v)] for v in np.atleast_1d(label.values).ravel()], dtype=np.intp)
        except KeyError as exc:
            raise KeyError(f"{dim}: {exc.args[0]!r} is not in the {kind} catalog") from None
        shape = label.shape
        peak = None
        for col, column, attrs in rows[2]:  # each column's values and attributes, read once per catalog
            target = _target(col, columns)
            if target is None or target in self._axes or target in self._values:
                continue  # not joined under this key, or the user overrides this column
            if col == "peak_flops":  # per precision: selected at the compute precision in _derive
                values = column[pos]
                names = [str(p) for p in table["precision"].values]
                peak = (label.dims, values.reshape(shape + values.shape[1:]), names)
                continue
            joined[target] = variable(label.dims, column[pos].reshape(shape), attrs)
        return peak

    def _given(self, name: str) -> bool:
        """Whether the user set ``name`` (a fixed value or an axis)."""
        return name in self._axes or self._values.get(name) is not None

    def _derive(self, coords: dict, data: dict, peak: tuple | None) -> None:
        """Joins that depend on two keys: peak FLOP/s at the compute precision; byte widths."""
        def get(name: str) -> xr.Variable | None:
            var = data.get(name, coords.get(name))
            return None if var is None else var.to_base_variable()

        for name in ("weight_bytes", "kv_bytes", "activation_bytes"):
            if name not in data and name not in coords and get("precision_bytes") is not None:
                data[name] = get("precision_bytes").copy(deep=False)
        if "weight_bytes" in data:  # per weight element, i.e. per parameter (the catalog column is per element)
            data["weight_bytes"] = data["weight_bytes"].copy(deep=False)
            data["weight_bytes"].attrs = {**data["weight_bytes"].attrs, "units": _column("weight_bytes")["units"]}
        if peak is not None and "peak_flops" not in self._values and "peak_flops" not in self._axes:
            data["peak_flops"] = _peak_at(peak, coords["activation_precision" if "activation_precision" in coords
                                                       else "precision"])
        link = get("scale_out_link_bandwidth")
        if link is not None and not self._given("scale_out_bandwidth"):  # a user value overrides the fabric's
            bandwidth = link * 1  # one scale-out NIC per GPU (a copy: its own attributes)
            bandwidth.attrs = _column("scale_out_bandwidth")
            data["scale_out_bandwidth"] = bandwidth


def without_overridden(defaults: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """``defaults`` less the fabric keys whose every column ``given`` sets (the defaults of the audit
    name a fabric; the user's bandwidth and latency then replace it rather than being refused)."""
    return {k: v for k, v in defaults.items()
            if k not in _FABRIC_COLUMNS or k in given or not _fabric_overridden(k, given.__contains__)}


def _fabric_overridden(key: str, is_given: Any) -> bool:
    """Whether every column of fabric ``key`` is set by a name for which ``is_given`` is true."""
    return all(any(map(is_given, names)) for names in _FABRIC_COLUMNS[key])


def _target(col: str, columns: Any) -> str | None:
    """The name a catalog column takes in the space: renamed (a dict; None when not joined under
    this key), prefixed (a string) or as it is."""
    if isinstance(columns, dict):
        return columns.get(col)
    return columns + col if isinstance(columns, str) else col


def _peak_at(peak: tuple, label: xr.Variable) -> xr.Variable:
    """Peak FLOP/s of each device (``peak``: dims, values per precision, precision names) at the
    compute precision ``label``; NaN where the device has no figure for it (-> precision_unsupported)."""
    dims, table, names = peak
    wanted = [str(p) for p in np.atleast_1d(label.values).ravel()]
    if not set(wanted) <= set(catalog.names("precisions")):
        raise KeyError(f"precision: {label.values!r} not in the precisions catalog")
    column = np.array([names.index(p) if p in names else -1 for p in wanted])
    values = np.where(column >= 0, table[..., np.maximum(column, 0)], np.nan)
    return variable(dims + label.dims, values.reshape(table.shape[:-1] + label.shape), _column("peak_flops"))


#: Row positions of each catalog's ids: kind -> (the catalog Dataset they index, {id: row},
#: [(column, its values, its attributes)] read once per catalog).
_ROWS: dict[str, tuple[xr.Dataset, dict[str, int], list]] = {}


def _column(name: str) -> dict:
    """Units and long name of a catalog or derived column (dsx/variables.toml)."""
    from .variables import COLUMNS

    return {"units": COLUMNS[name].unit, "long_name": COLUMNS[name].long_name}


def _attrs(name: str, inputs: Mapping) -> dict:
    spec = inputs.get(name)
    if spec is None:
        unit = _catalog_columns().get(name)
        return {"units": unit} if unit is not None else {}
    attrs = {"long_name": spec.doc.split(".")[0]}
    if spec.unit is not None:
        attrs["units"] = spec.unit
    return attrs
