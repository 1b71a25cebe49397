"""Evaluation of a :mod:`dsx.expr` syntax tree against a result Dataset. Numbers are pint quantities
(a variable: its DataArray holding a ``ureg.Quantity``), so pint multiplies, divides, converts and
refuses incompatible sums and comparisons; dsx adds only its own conventions: bare numbers adopt the
other operand's unit, products are reduced to canonical units, strings compare with catalog aliases
resolved, and :func:`unit_string` spells the result's unit.

Split from :mod:`dsx.expr` (which holds the public entry points that call this).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pint
import xarray as xr

from .codes import decode
from .errors import DsxInputError, did_you_mean
from .expr_parser import _COMPARE, Node
from .units import canonical_unit, ureg


@dataclass
class _Val:
    data: Any          # numbers: a pint Quantity or a DataArray holding one; else bool or str values
    unit: Any          # pint Unit for numbers, "bool" or "str"
    literal: bool      # a bare number literal (adopts the other operand's unit)
    text: str
    label: str | None = None  # catalog kind when the value is a catalog label


def _units(x: Any) -> Any:
    """The pint unit of a quantity or of a DataArray holding one."""
    return (x.data if isinstance(x, xr.DataArray) else x).units


def magnitude(x: Any) -> Any:
    """The numbers of a quantity (a DataArray of them for a DataArray holding one)."""
    return x.copy(data=x.data.magnitude) if isinstance(x, xr.DataArray) else x.magnitude


def _to(x: Any, unit: Any) -> Any:
    """A quantity (or a DataArray holding one) converted by pint to ``unit`` (itself if already in it)."""
    if _units(x) == unit:
        return x
    return x.copy(data=x.data.to(unit)) if isinstance(x, xr.DataArray) else x.to(unit)


def _quantified(da: xr.DataArray) -> xr.DataArray:
    """A numeric variable as a DataArray holding a pint quantity in its ``units``."""
    units = da.attrs.get("units", "")
    try:
        unit = ureg.Unit(units or "dimensionless")
    except (pint.errors.PintError, AssertionError, ValueError):
        raise DsxInputError(f"variable {da.name!r} has units {units!r} that dsx.units cannot read") from None
    # a new DataArray, not da.copy(data=...): an index coordinate (an axis) would drop the quantity
    return xr.DataArray(ureg.Quantity(da.data, unit), dims=da.dims, coords=da.coords, name=da.name)


_SHORT = {"byte": "B", "second": "s", "gram_CO2e": "gCO2e", "joule": "J", "watt": "W", "liter": "L",
          "kilowatt_hour": "kWh", "hour": "h", "flop": "flop", "token": "token", "parameter": "param"}


def unit_string(unit: Any) -> str:
    """A short, pint-readable spelling of a unit (``""`` for dimensionless)."""
    if unit is None or str(unit) in ("dimensionless", ""):
        return ""
    text = format(unit, "C")
    return re.sub(r"[A-Za-z_]+", lambda m: _SHORT.get(m.group(), m.group()), text)


def _simplified(unit: Any) -> Any:
    """The unit a product/quotient is reported in: dimensionless, or the canonical unit of its
    dimension (itself when there is none, e.g. USD/token)."""
    if unit.dimensionless:
        return ureg.dimensionless
    try:
        return ureg.Unit(canonical_unit(unit))
    except DsxInputError:  # no canonical unit of this dimension: keep it
        return unit


#: Comparisons, on magnitudes once pint has converted the right operand to the left one's unit
#: (pint's own operators would compare both in root units instead).
_COMPARISONS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
                "==": np.equal, "!=": np.not_equal}


class _Evaluator:
    def __init__(self, source: str, ds: xr.Dataset) -> None:
        self.src = source
        self.ds = ds

    def run(self, node: Node) -> _Val:
        return getattr(self, "_" + {"+": "add", "-": "add", "*": "mul", "/": "mul", "**": "pow"}.get(
            node.op, node.op))(node)

    def _err(self, node: Node, msg: str) -> DsxInputError:
        return DsxInputError(f"expression {self.src!r}: {msg} (at position {node.pos})")

    # atoms
    def _num(self, node: Node) -> _Val:
        return _Val(ureg.Quantity(node.args[0], ureg.dimensionless), ureg.dimensionless, True, node.text)

    def _qty(self, node: Node) -> _Val:
        value, unit = node.args
        try:
            u = ureg.Unit(unit)
        except (pint.errors.PintError, AssertionError, ValueError):
            raise self._err(node, f"unknown unit {unit!r}") from None
        return _Val(ureg.Quantity(value, u), u, False, node.text)

    def _str(self, node: Node) -> _Val:
        return _Val(node.args[0], "str", False, node.text)

    def _bool(self, node: Node) -> _Val:
        return _Val(node.args[0], "bool", False, node.text)

    def _name(self, node: Node) -> _Val:
        name = node.args[0]
        if name not in self.ds.variables:
            raise self._err(node, f"unknown name {name!r}{did_you_mean(name, self.ds.variables)}")
        da = decode(self.ds[name])  # categorical codes compare as their labels
        if da.dtype == bool or da.dtype.kind in "OUS":
            from .space import KEYS
            return _Val(da, "bool" if da.dtype == bool else "str", False, node.text,
                        KEYS[name][0] if name in KEYS else None)
        q = _quantified(da)
        return _Val(q, _units(q), False, node.text)

    # operators
    def _neg(self, node: Node) -> _Val:
        v = self.run(node.args[0])
        self._numeric(v, node, "-")
        return _Val(-v.data, v.unit, v.literal, node.text)

    def _numeric(self, v: _Val, node: Node, op: str) -> None:
        if isinstance(v.unit, str):
            raise self._err(node, f"{op!r} needs numbers, but {v.text!r} is a {'boolean' if v.unit == 'bool' else 'string'}")

    def _boolean(self, v: _Val, node: Node, op: str) -> None:
        if v.unit != "bool":
            raise self._err(node, f"{op!r} needs true/false values, but {v.text!r} is not a comparison or boolean")

    def _not(self, node: Node) -> _Val:
        v = self.run(node.args[0])
        self._boolean(v, node, "not")
        return _Val(np.logical_not(v.data), "bool", False, node.text)

    def _and(self, node: Node) -> _Val:
        a, b = (self.run(x) for x in node.args)
        self._boolean(a, node, node.op)
        self._boolean(b, node, node.op)
        out = (np.logical_and if node.op == "and" else np.logical_or)(a.data, b.data)
        return _Val(out, "bool", False, node.text)

    _or = _and

    def _align(self, a: _Val, b: _Val, node: Node, op: str) -> tuple[Any, Any]:
        """a and b as quantities pint can add or compare: a bare number takes the other's unit."""
        self._numeric(a, node, op)
        self._numeric(b, node, op)
        if a.literal and not b.literal:
            return ureg.Quantity(a.data.magnitude, b.unit), b.data
        if b.literal:
            return a.data, ureg.Quantity(b.data.magnitude, a.unit)
        if not a.unit.is_compatible_with(b.unit):
            raise self._err(node, f"cannot {('compare' if op in _COMPARE else 'add or subtract')} "
                                  f"{a.text!r} [{unit_string(a.unit) or 'dimensionless'}] with {b.text!r} "
                                  f"[{unit_string(b.unit) or 'dimensionless'}]: incompatible dimensions "
                                  f"({a.unit.dimensionality} vs {b.unit.dimensionality})")
        return a.data, b.data

    def _add(self, node: Node) -> _Val:
        a, b = (self.run(x) for x in node.args[:2])
        x, y = self._align(a, b, node, node.op)
        out = x + y if node.op == "+" else x - y
        return _Val(out, _units(out), a.literal and b.literal, node.text)

    def _mul(self, node: Node) -> _Val:
        a, b = (self.run(x) for x in node.args)
        self._numeric(a, node, node.op)
        self._numeric(b, node, node.op)
        out = a.data * b.data if node.op == "*" else a.data / b.data
        unit = _simplified(_units(out))
        return _Val(_to(out, unit), unit, a.literal and b.literal, node.text)

    def _pow(self, node: Node) -> _Val:
        a, b = (self.run(x) for x in node.args)
        self._numeric(a, node, "**")
        self._numeric(b, node, "**")
        if not b.literal:
            if not b.unit.dimensionless:
                raise self._err(node, f"exponent {b.text!r} must be dimensionless")
            if not a.unit.dimensionless:
                raise self._err(node, f"exponent of {a.text!r} (which has units) must be a number")
            # both dimensionless: as plain numbers (pint would drop a base's "percent" unconverted)
            out = _to(a.data, ureg.dimensionless) ** magnitude(_to(b.data, ureg.dimensionless))
            return _Val(out, _units(out), False, node.text)
        out = a.data ** b.data
        return _Val(out, _units(out), a.literal and b.literal, node.text)

    def _cmp(self, node: Node) -> _Val:
        op, left, right = node.args
        a, b = self.run(left), self.run(right)
        if "str" in (a.unit, b.unit) or "bool" in (a.unit, b.unit):
            if a.unit != b.unit:
                raise self._err(node, f"cannot compare {a.text!r} with {b.text!r}: "
                                      f"{self._kind(a)} vs {self._kind(b)}")
            if op not in ("==", "!="):
                raise self._err(node, f"{self._kind(a)}s compare only with '==' or '!='")
            x, y = self._labels(a, b)
            out = (x == y) if op == "==" else (x != y)
            return _Val(out, "bool", False, node.text)
        x, y = self._align(a, b, node, op)
        out = _COMPARISONS[op](magnitude(x), magnitude(_to(y, _units(x))))
        return _Val(out, "bool", False, node.text)

    @staticmethod
    def _kind(v: _Val) -> str:
        return {"str": "string", "bool": "boolean"}.get(v.unit, "number") if isinstance(v.unit, str) else "number"

    @staticmethod
    def _labels(a: _Val, b: _Val) -> tuple[Any, Any]:
        """Resolve catalog aliases in a string literal compared with a catalog label."""
        from . import catalog
        if a.label and isinstance(b.data, str):
            return a.data, catalog.resolve(a.label, b.data)
        if b.label and isinstance(a.data, str):
            return catalog.resolve(b.label, a.data), b.data
        return a.data, b.data
