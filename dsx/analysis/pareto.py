"""Pareto fronts over any number of objectives, vectorized, optionally one front per group.

The kernel (:func:`pareto_kernel`) works on a plain ``(n, k)`` array of objective values to
minimize and an optional group id per point. The wrapper (:func:`pareto`) selects the
objectives from a Dataset, broadcasts them to their *joint* dimensions only, applies the
feasibility mask and ``where``, and returns a boolean DataArray over those dimensions.

Dominance: ``q`` dominates ``p`` when ``q`` is no worse in every objective and strictly
better in at least one. Equal points do not dominate each other, so duplicates on the front
are all kept. Configurations that are infeasible, excluded by ``where`` or have a NaN
objective are never on the front.

>>> import xarray as xr
>>> ds = xr.Dataset({"time": ("cfg", [1.0, 2.0, 3.0, 2.0]), "cost": ("cfg", [3.0, 1.0, 1.0, 1.0])})
>>> pareto(ds, minimize=["time", "cost"]).values.tolist()
[True, True, False, True]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..codes import decode, is_coded
from ..errors import DsxInputError, no_direction
from ..lazy import pieces_of
from ..uncertainty import DIM as DRAW, at_quantile
from .constraints import constraint_mask, register_where_parser
from .front3d import front_3d
from .frontnd import front_nd

__all__ = ["pareto", "pareto_kernel", "front_table", "constraint_mask", "register_where_parser"]



def _names(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


# --------------------------------------------------------------------------------------------
# kernel
# --------------------------------------------------------------------------------------------
def _dense_ranks(values: np.ndarray) -> np.ndarray:
    """Dense integer ranks (equal values share a rank) of a 1-D float array."""
    return np.unique(values, return_inverse=True)[1].reshape(-1).astype(np.int32 if len(values) < 2**31 else np.int64)


def _front_2d(r: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Sort by group, first objective, second; running minimum of the second objective."""
    n = len(g)
    order = np.lexsort((r[:, 1], r[:, 0], g))
    x, y, gs = r[order, 0], r[order, 1], g[order]
    new_group = np.ones(n, bool)
    new_group[1:] = gs[1:] != gs[:-1]
    new_run = new_group.copy()
    new_run[1:] |= x[1:] != x[:-1]
    idx = np.arange(n)
    run_start = np.maximum.accumulate(np.where(new_run, idx, 0))
    group_start = np.maximum.accumulate(np.where(new_group, idx, 0))
    # segmented running minimum of y: shift every group below all earlier groups
    key = y - gs.astype(np.int64) * (n + 1)
    cummin = np.minimum.accumulate(key) + gs.astype(np.int64) * (n + 1)
    has_prev = run_start > group_start
    prev_min = np.where(has_prev, cummin[np.maximum(run_start - 1, 0)], np.iinfo(np.int64).max)
    # dominated by a point with smaller x (y no larger), or by the same x with smaller y
    dominated = (prev_min <= y) | (y[run_start] < y)
    out = np.empty(n, bool)
    out[order] = ~dominated
    return out


def pareto_kernel(points: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Non-dominated rows of ``points`` (every column minimized), per group.

    Parameters
    ----------
    points : ndarray, shape (n, k)
        Finite objective values, all to be minimized (negate those to maximize).
    groups : ndarray of int, shape (n,), optional
        Group id of each point; each group gets its own front.

    Returns
    -------
    ndarray of bool, shape (n,)
        True where no other point of the same group dominates the row.

    Notes
    -----
    Values are replaced by dense integer ranks (exact ties, no rounding issues). Two
    objectives: O(n log n) sort and running minimum. Three: lexicographic sweep with a
    prefix-minimum tree, O(n log n) whatever the front's size (:mod:`dsx.analysis.front3d`).
    Four or more: Kung's divide and conquer (:mod:`dsx.analysis.frontnd`), O(n log^(k-2) n)
    whatever the front's size, after a one-pass pre-filter that removes most of a random cloud.

    >>> pareto_kernel(np.array([[1, 3], [2, 2], [2, 2], [3, 3]], float)).tolist()
    [True, True, True, False]
    >>> pareto_kernel(np.array([[1, 1, 1], [0, 2, 2], [1, 1, 2]], float)).tolist()
    [True, True, False]
    """
    points = np.asarray(points, dtype=float)
    if points.ndim != 2:
        raise ValueError("points must be a 2-D array (n, k)")
    n, k = points.shape
    if n == 0:
        return np.zeros(0, bool)
    g = np.zeros(n, np.int64) if groups is None else _dense_ranks(np.asarray(groups))
    r = np.stack([_dense_ranks(points[:, j]) for j in range(k)], axis=1) if k else np.zeros((n, 1), np.int64)
    if r.shape[1] == 1:
        r = np.concatenate([r, np.zeros((n, 1), np.int64)], axis=1)
    if r.shape[1] == 2:
        return _front_2d(r, g)
    if r.shape[1] == 3:
        return front_3d(r, g)
    return front_nd(r, g)


# --------------------------------------------------------------------------------------------
# labelled wrapper
# --------------------------------------------------------------------------------------------
def _joint_dims(ds: xr.Dataset, arrays: Sequence[xr.DataArray], extra: Sequence[str] = ()) -> list[str]:
    """Union of the arrays' dims (and ``extra``), in the Dataset's dimension order."""
    used = set(extra)
    for a in arrays:
        used.update(a.dims)
    order = [d for d in ds.dims if d in used]
    return order + sorted(used - set(order))


def _objectives(ds: xr.Dataset, minimize: Any, maximize: Any) -> tuple[list[str], list[str]]:
    if not isinstance(ds, xr.Dataset):
        raise DsxInputError(f"pareto: expected a result Dataset (dsx.training/serving), got {type(ds).__name__}")
    mins, maxs = _names(minimize), _names(maximize)
    names = mins + maxs
    if not names:
        raise DsxInputError("pareto: give at least one objective in minimize=[...] or maximize=[...]")
    if len(set(names)) != len(names):
        raise DsxInputError(f"pareto: objective listed twice in {names}")
    for n in names:
        if n not in ds.variables:
            raise DsxInputError(f"pareto: no variable {n!r} in the dataset (have {sorted(ds.data_vars)})")
        if not np.issubdtype(ds[n].dtype, np.number) or is_coded(ds[n]):
            raise DsxInputError(f"pareto: objective {n!r} is not numeric (dtype {ds[n].dtype})")
    return mins, maxs


def pareto(ds: xr.Dataset, objectives: Any = None, /, *, minimize: str | Sequence[str] = (),
           maximize: str | Sequence[str] = (), where: Any = None, over: str | Sequence[str] | None = None,
           quantile: float | None = None) -> xr.DataArray:
    """Mask of the Pareto-optimal (non-dominated) feasible configurations.

    Parameters
    ----------
    ds : xarray.Dataset
        A dsx result; ``feasible`` (bool) is honoured when present.
    minimize, maximize : str or list of str
        Objective variable names (any number, at least one in total), by keyword: bare names,
        ``pareto(ds, ["tco", "mfu"])``, are refused rather than all minimised.
    where : bool DataArray, callable or str, optional
        Extra constraint (see :func:`constraint_mask`).
    over : str or list of str, optional
        Dimensions the front is taken over; every other dimension of the objectives or the
        mask gets its own front (``over=["gpus", "tp", "pp"]`` gives one front per
        ``hardware``). Default: all dimensions (one global front).
    quantile : float, optional
        For results with draws (``dsx.training(..., draws=N)``): each objective that varies
        over ``draw`` is taken at this quantile of its draws (default: the median); a name
        may carry its own, ``"time_to_train@q90"``. A constraint must hold in every draw
        (use ``dsx.probability(ds, ...) >= p`` as ``where`` for a chance constraint).

    Returns
    -------
    xarray.DataArray of bool
        Dimensions: the joint dimensions of the objectives and the mask only (never ``draw``). True on the
        front. ``attrs`` record the objectives for :func:`front_table`.

    Examples
    --------
    >>> ds = xr.Dataset({"t": (("hw", "n"), [[4.0, 2.0, 1.0], [3.0, 3.0, 1.0]]),
    ...                  "cost": ("n", [1.0, 2.0, 4.0])}, coords={"hw": ["a", "b"], "n": [1, 2, 4]})
    >>> pareto(ds, minimize=["t", "cost"]).values.tolist()
    [[False, True, True], [True, False, True]]
    >>> pareto(ds, minimize=["t", "cost"], over="n").values.tolist()
    [[True, True, True], [True, False, True]]
    """
    if objectives is not None:
        raise no_direction("pareto", objectives)
    plan = pieces_of(ds)
    if plan is not None:  # a lazy result: reduce each piece where it is computed
        from .ingraph import pareto_in_graph

        return pareto_in_graph(ds, plan, minimize=minimize, maximize=maximize, where=where, over=over,
                               quantile=quantile)
    if not isinstance(ds, xr.Dataset):
        raise DsxInputError(f"pareto: expected a result Dataset (dsx.training/serving), got {type(ds).__name__}")
    mask = _all_draws(constraint_mask(ds, where))
    ds, mins = at_quantile(ds, _names(minimize), quantile)
    ds, maxs = at_quantile(ds, _names(maximize), quantile)
    mins, maxs = _objectives(ds, mins, maxs)
    over_dims = _over(ds, over, "pareto")
    objs = [ds[n] for n in mins] + [-ds[n] for n in maxs]
    dims = _joint_dims(ds, objs + [mask], over_dims)
    group_dims = [d for d in dims if over_dims and d not in over_dims]
    layout = group_dims + [d for d in dims if d not in group_dims]
    result = xr.DataArray(_front_flags(ds, objs, mask, layout, group_dims), dims=layout,
                          coords={d: ds[d] for d in layout if d in ds.coords})
    result = result.transpose(*dims)
    result.name = "pareto"
    result.attrs = {"units": "", "long_name": "on the Pareto front",
                    "minimize": ",".join(mins), "maximize": ",".join(maxs)}
    return result


def _front_flags(ds: xr.Dataset, objs: list, mask: xr.DataArray, layout: list, group_dims: list) -> np.ndarray:
    """Pareto flags over ``layout`` (the groups' dimensions first), one front per group: the objectives
    and the mask flattened in that order, the front found among the valid (feasible, finite) points."""
    shape = tuple(ds.sizes[d] for d in layout)
    n = int(np.prod(shape, dtype=np.int64))

    def flat(a: xr.DataArray) -> np.ndarray:
        a = a.transpose(*[d for d in layout if d in a.dims])
        a = a.expand_dims([d for d in layout if d not in a.dims]).transpose(*layout)
        return np.broadcast_to(a.values, shape).reshape(n)

    values = np.stack([flat(o.astype(float)) for o in objs], axis=1)
    valid = flat(mask) & np.isfinite(values).all(axis=1)
    ngroup = int(np.prod([ds.sizes[d] for d in group_dims], dtype=np.int64))
    groups = np.repeat(np.arange(ngroup), n // max(ngroup, 1))
    idx = np.flatnonzero(valid)
    out = np.zeros(n, bool)
    out[idx] = pareto_kernel(values[idx], groups[idx] if group_dims else None)
    return out.reshape(shape)


def _over(ds: xr.Dataset, over: str | Sequence[str] | None, who: str) -> list[str]:
    """The ``over=`` dimensions, each checked to be one of the dataset's."""
    over_dims = _names(over)
    for d in over_dims:
        if d not in ds.dims:
            raise DsxInputError(f"{who}: over={d!r} is not a dimension of the dataset (have {list(ds.dims)})")
    return over_dims


def _all_draws(mask: xr.DataArray) -> xr.DataArray:
    """A constraint over draws holds where it holds in every draw."""
    return mask.all(DRAW) if DRAW in mask.dims else mask


def _label(ds: xr.Dataset, name: str) -> str:
    units = ds[name].attrs.get("units", "")
    return f"{name} [{units}]" if units else name


def front_table(ds: xr.Dataset, mask: xr.DataArray, columns: Sequence[str] | None = None,
                sort: str | Sequence[str] | None = None) -> pd.DataFrame:
    """The configurations where ``mask`` is True as a table, units in the column names.

    Parameters
    ----------
    ds : xarray.Dataset
        The result the mask was computed on.
    mask : bool DataArray
        E.g. from :func:`pareto`.
    columns : list of str, optional
        Variables to show besides the coordinates of the mask's dimensions. Default: the
        objectives recorded in ``mask.attrs`` (or none).
    sort : str or list of str, optional
        Columns (variable names) to sort by, ascending. Default: the first column.

    Returns
    -------
    pandas.DataFrame
        One row per selected configuration: one column per dimension (its coordinate),
        then ``name [units]`` per variable.

    >>> ds = xr.Dataset({"t": ("n", [3.0, 1.0, 2.0], {"units": "s"}),
    ...                  "cost": ("n", [1.0, 3.0, 2.0], {"units": "USD"})}, coords={"n": [1, 2, 3]})
    >>> front_table(ds, pareto(ds, minimize=["t", "cost"]))
       n  t [s]  cost [USD]
    0  2    1.0         3.0
    1  3    2.0         2.0
    2  1    3.0         1.0
    """
    if columns is None:
        columns = [c for key in ("minimize", "maximize") for c in mask.attrs.get(key, "").split(",") if c]
    columns = list(columns)
    dims = list(mask.dims)
    hit = np.nonzero(np.asarray(mask.values, bool))
    data: dict[str, Any] = {}
    for d, ix in zip(dims, hit):
        data[d] = ds[d].values[ix] if d in ds.coords else ix
    index = {d: xr.DataArray(ix, dims="row") for d, ix in zip(dims, hit)}
    for c in columns:
        data[_label(ds, c)] = _front_column(ds, c, dims, index, len(hit[0]) if dims else 1)
    df = pd.DataFrame(data)
    keys = _names(sort) or columns[:1]
    if keys:
        df = df.sort_values([_label(ds, k) for k in keys], kind="stable").reset_index(drop=True)
    return df


def _front_column(ds: xr.Dataset, c: str, dims: list, index: dict, rows: int) -> np.ndarray:
    """Variable ``c`` at the selected configurations (categorical codes as their labels)."""
    if c not in ds.variables:
        raise DsxInputError(f"front_table: no variable {c!r} in the dataset")
    var = decode(ds[c])
    extra = [d for d in var.dims if d not in dims]
    if extra:
        raise DsxInputError(f"front_table: {c!r} has dimensions {extra} the mask lacks; select them first")
    picked = var.isel({d: index[d] for d in var.dims}) if var.dims else var
    return np.broadcast_to(np.asarray(picked.values), (rows,))
