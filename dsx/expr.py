"""A small, safe expression language for constraints and derived quantities.

Expressions are tokenized and parsed (a recursive-descent parser); nothing is ever
handed to Python's ``eval``/``exec``. They are evaluated against a result Dataset, whose
variables are magnitudes in ``attrs["units"]``:

>>> import xarray as xr
>>> ds = xr.Dataset({"time_to_train": ("gpus", [20 * 86400.0, 40 * 86400.0], {"units": "s"}),
...                  "tco": ((), 2.5e6, {"units": "USD"})}, coords={"gpus": [1024, 512]})
>>> evaluate("time_to_train < 30 day", ds).values.tolist()
[True, False]
>>> float(evaluate("tco / 1e6", ds)), evaluate("tco / 1e6", ds).attrs["units"]
(2.5, 'USD')

The language is tokenized and parsed in :mod:`dsx.expr_parser` (its grammar is documented
there) and evaluated, with its unit algebra, in :mod:`dsx.expr_eval`; this module holds the
public entry points and re-exports what callers import from ``dsx.expr``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .errors import DsxInputError
# `X as X`: re-exported, so that what callers import from dsx.expr stays importable there
from .expr_eval import _Evaluator, magnitude, unit_string as unit_string
from .expr_parser import (MAX_DEPTH as MAX_DEPTH, MAX_LENGTH as MAX_LENGTH, MAX_OPERATIONS as MAX_OPERATIONS,
                          Node as Node, Token as Token, names as names, parse as parse)

__all__ = ["Expression", "parse", "evaluate", "mask", "names", "where"]


class Expression:
    """A parsed expression; call it with a Dataset to evaluate.

    >>> e = Expression("2 * x + 1")
    >>> float(e(xr.Dataset({"x": ((), 3.0)})))
    7.0
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.tree = parse(source)

    @property
    def names(self) -> set[str]:
        return names(self.tree)

    def __call__(self, ds: xr.Dataset) -> xr.DataArray:
        if not isinstance(ds, xr.Dataset):
            raise DsxInputError(f"expression {self.source!r}: evaluated against {type(ds).__name__}; "
                                "expected a result Dataset (dsx.training(...) or dsx.serving(...))")
        try:
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                v = _Evaluator(self.source, ds).run(self.tree)
        except (OverflowError, ZeroDivisionError) as exc:
            raise DsxInputError(f"expression {self.source!r}: {exc} in a constant part; "
                                "use numbers within range") from None
        data = v.data if v.unit in ("bool", "str") else magnitude(v.data)
        da = data if isinstance(data, xr.DataArray) else xr.DataArray(data)
        da = da.copy(deep=False)
        units = "" if v.unit in ("bool", "str") else unit_string(v.unit)
        da.attrs = {"units": units, "long_name": self.source}
        return da.rename(None)

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


def evaluate(source: str | Expression, ds: xr.Dataset) -> xr.DataArray:
    """Evaluate an expression against ``ds``; the result carries ``attrs["units"]``."""
    expr = source if isinstance(source, Expression) else Expression(source)
    return expr(ds)


def mask(constraints: list[str] | str | None, ds: xr.Dataset) -> xr.DataArray | None:
    """All ``constraints`` combined with ``and`` (``None`` when there are none).

    >>> ds = xr.Dataset({"x": ("i", [1.0, 2.0, 3.0])})
    >>> mask(["x > 1", "x < 3"], ds).values.tolist()
    [False, True, False]
    """
    if constraints is None:
        return None
    if isinstance(constraints, str):
        constraints = [constraints]
    out = None
    for c in constraints:
        m = evaluate(c, ds)
        if m.dtype != bool:
            raise DsxInputError(f"constraint {c!r} is not a condition (it gives a number); "
                                "compare it, e.g. 'mfu > 0.4'")
        out = m if out is None else out & m
    return out


def where(ds: xr.Dataset, source: str) -> xr.DataArray:
    """``(ds, expression) -> bool DataArray``: the parser :mod:`dsx.analysis` accepts through
    ``register_where_parser`` (so ``dsx.pareto(ds, ..., where="ttft < 500 ms")`` works).

    >>> where(xr.Dataset({"x": ("i", [1.0, 3.0])}), "x > 2").values.tolist()
    [False, True]
    """
    out = mask([source], ds)
    assert out is not None
    return out
