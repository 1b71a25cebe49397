"""Constraints as masks: ``feasible`` and a user's ``where`` (a boolean DataArray, a callable or
string expressions) combined into one boolean DataArray, for every reduction (pareto, best,
probability, figures)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import DsxInputError

__all__ = ["constraint_mask", "register_where_parser"]

#: Override for the parser of string constraints (``where="memory_per_gpu < 80 GB"``);
#: ``None`` uses :func:`dsx.expr.mask`.
_WHERE_PARSER: Callable[[xr.Dataset, str], xr.DataArray] | None = None



def register_where_parser(fn: Callable[[xr.Dataset, str], xr.DataArray] | None) -> None:
    """Install the function that turns a string constraint into a boolean DataArray.

    Parameters
    ----------
    fn : callable ``(ds, expression) -> DataArray`` or None
        ``None`` restores the default (:func:`dsx.expr.mask`).
    """
    global _WHERE_PARSER
    _WHERE_PARSER = fn


def constraint_mask(ds: xr.Dataset, where: Any = None) -> xr.DataArray:
    """``feasible`` (when present) AND the user's ``where`` as one boolean DataArray.

    Parameters
    ----------
    ds : xarray.Dataset
        A dsx result (or any Dataset).
    where : None, bool DataArray, callable, str or list of str
        Extra constraint: a boolean DataArray, a function ``ds -> boolean DataArray``, or
        string expressions such as ``"memory_per_gpu < 80 GB"`` (parsed by :mod:`dsx.expr`,
        or by the parser installed with :func:`register_where_parser`; a list is and-ed).

    Returns
    -------
    xarray.DataArray of bool
        Only the dimensions that ``feasible`` and ``where`` carry (0-d ``True`` when neither).

    >>> ds = xr.Dataset({"feasible": ("x", [True, False]), "t": ("x", [1.0, 2.0])})
    >>> constraint_mask(ds, lambda d: d.t < 5).values.tolist()
    [True, False]
    >>> constraint_mask(ds, "t > 1.5").values.tolist()
    [False, False]
    """
    mask = xr.DataArray(True)
    if "feasible" in ds.variables:
        mask = ds["feasible"].astype(bool)
    if where is None:
        return mask
    if isinstance(where, str) or (isinstance(where, (list, tuple)) and where
                                  and all(isinstance(w, str) for w in where)):
        extra = _parse_where(ds, where)
    elif callable(where):
        extra = where(ds)
    else:
        extra = where
    if not isinstance(extra, xr.DataArray):
        extra = xr.DataArray(np.asarray(extra))
    if extra.dtype != bool:
        raise DsxInputError(f"where: expected a boolean mask, got dtype {extra.dtype}")
    return mask & extra


def _parse_where(ds: xr.Dataset, where: str | Sequence[str]) -> xr.DataArray:
    """String constraints (combined with ``and``) through the registered parser or ``dsx.expr``."""
    if _WHERE_PARSER is not None:
        items = [where] if isinstance(where, str) else list(where)
        out = _WHERE_PARSER(ds, items[0])
        for item in items[1:]:
            out = out & _WHERE_PARSER(ds, item)
        return out
    try:
        from .. import expr
    except ImportError:  # pragma: no cover - the expression module ships with dsx
        raise TypeError(f"where={where!r}: string constraints need dsx.expr; pass a boolean DataArray "
                        "or a callable such as `lambda ds: ds.memory_per_gpu < 80e9` instead") from None
    return expr.mask(where, ds)
