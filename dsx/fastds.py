"""Build a Dataset from variables that are already consistent, in one step.

``xr.Dataset(coords=...).assign(data)`` merges and re-aligns every variable (a few
microseconds each, ~10 ms for a stack's ~250 variables): that is most of the cost of
evaluating one configuration. The variables dsx builds are aligned by construction (every
dimension is an axis of the space, every length its axis's length), so the Dataset is built
directly: an index for each dimension coordinate, the sizes checked once, no merge.

:func:`build` falls back to the public constructor if this xarray lacks the internals it
uses; the result is the same either way (``tests/test_fastds.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

__all__ = ["build", "variable"]


def _direct(dims: tuple, arr: np.ndarray, attrs: dict | None) -> xr.Variable:
    """``xr.Variable(dims, arr, attrs, fastpath=True)`` with its four fields set directly.

    The constructor re-parses the dimensions and re-checks the data of every variable
    (about 2 µs each, ~0.5 ms of the ~250 variables of one evaluation); here the caller has
    checked both. Used only if this xarray's Variable has exactly these fields (checked at
    import against the constructor, see :data:`_DIRECT`).
    """
    var = _new(xr.Variable)
    var._dims = dims
    var._data = arr
    var._attrs = dict(attrs) if attrs else None
    var._encoding = None
    return var


def _fast(dims: tuple, arr: np.ndarray, attrs: dict | None) -> xr.Variable:
    return xr.Variable(dims, arr, attrs, fastpath=True)


_new = object.__new__


def _check_direct() -> bool:
    try:
        a = np.arange(6.0).reshape(2, 3)
        got = _direct(("x", "y"), a, {"units": "s"})
        want = xr.Variable(("x", "y"), a, {"units": "s"}, fastpath=True)
        return (set(getattr(xr.Variable, "__slots__", ())) == {"_dims", "_data", "_attrs", "_encoding"}
                and got.identical(want) and got._data is a and got.encoding == want.encoding)
    except Exception:  # pragma: no cover - an xarray with other internals: the public constructor
        return False


#: Whether :func:`variable` may set a Variable's fields directly (else ``fastpath=True``).
_DIRECT = _check_direct()
_make = _direct if _DIRECT else _fast


def variable(dims: tuple, data: Any, attrs: dict | None = None) -> xr.Variable:
    """An ``xr.Variable`` without xarray's input checks (``data`` is made a numpy array here)."""
    arr = data if type(data) is np.ndarray else np.asarray(data)
    if type(dims) is not tuple or len(dims) != arr.ndim or (
            arr.dtype.kind == "O" and not all(isinstance(x, str) for x in arr.flat)):
        return xr.Variable(dims, arr, attrs)  # let xarray convert (dates, mixed objects) or complain
    if len(set(dims)) != len(dims):
        return xr.Variable(dims, arr, attrs)  # repeated names: xarray's own warning
    return _make(dims, arr, attrs)  # text objects stay as they are, as xarray keeps them


def _slow(coords: dict, data: dict, attrs: dict | None) -> xr.Dataset:
    return xr.Dataset(coords=coords, attrs=attrs).assign(data)


def build(coords: dict[str, xr.Variable], data: dict[str, xr.Variable], attrs: dict | None = None) -> xr.Dataset:
    """The Dataset of ``coords`` (coordinates, in dimension order) and ``data`` (data variables).

    Equal to ``xr.Dataset(coords=coords, attrs=attrs).assign(data)`` for variables whose
    dimensions agree in length (checked: a disagreement takes the public path, which raises).
    """
    try:
        from xarray.core.indexes import PandasIndex

        variables: dict[str, xr.Variable] = {}
        indexes: dict[str, Any] = {}
        sizes: dict[str, int] = {}
        for name, var in coords.items():
            if not isinstance(var, xr.Variable):
                return _slow(coords, data, attrs)
            if var.dims == (name,):
                index = PandasIndex.from_variables({name: var}, options={})
                variables.update(index.create_variables({name: var}))
                indexes[name] = index
            else:
                variables[name] = var
        for name, var in data.items():
            if not isinstance(var, xr.Variable) or name in variables:
                return _slow(coords, data, attrs)
            variables[name] = var
        for var in variables.values():
            for d, n in zip(var.dims, var.shape):
                if sizes.setdefault(d, n) != n:
                    return _slow(coords, data, attrs)  # raises xarray's own error
        return xr.Dataset._construct_direct(variables, set(coords), sizes, dict(attrs or {}), indexes)
    except (ImportError, AttributeError, TypeError):  # pragma: no cover - an xarray without these internals
        return _slow(coords, data, attrs)
