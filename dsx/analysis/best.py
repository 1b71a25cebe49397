"""The constrained optimum along chosen dimensions, for every value of the others at once.

``best(ds, minimize="step_time", over=["tp", "pp"])`` answers "which (tp, pp) layout is
fastest, for each gpus value (and each hardware, ...)": a masked arg-min over the stacked
``over`` dimensions. Where no configuration is feasible the result is NaN and ``found`` is
False; nothing raises.

>>> import xarray as xr
>>> ds = xr.Dataset({"t": (("gpus", "tp"), [[3.0, 2.0], [1.0, 4.0]], {"units": "s"}),
...                  "feasible": (("gpus", "tp"), [[True, False], [False, False]])},
...                 coords={"gpus": [8, 16], "tp": [1, 2]})
>>> r = best(ds, minimize="t", over="tp")
>>> r.t.values.tolist(), r.tp.values.tolist(), r.found.values.tolist()
([3.0, nan], [1.0, nan], [True, False])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..codes import decode, is_coded
from ..errors import DsxInputError, no_direction
from ..lazy import pieces_of
from ..uncertainty import at_quantile, parse_objective
from .pareto import _all_draws, _joint_dims, _over, constraint_mask

__all__ = ["best"]

#: Values within this relative distance of the optimum count as ties (floating-point noise of the
#: formulas: 2592000.0 and 2592000.0000000005 are the same 30 days).
TIE_RTOL = 1e-12


def near_optimum(score: Any, top: Any) -> Any:
    """Where ``score`` lies within :data:`TIE_RTOL` of ``top`` (relative; exact where ``top`` is 0).

    >>> near_optimum(np.array([2592000.0, 2592000.0000000005, 2592001.0]), 2592000.0).tolist()
    [True, True, False]
    """
    with np.errstate(invalid="ignore"):  # inf - inf where nothing is feasible: not a tie
        return abs(score - top) <= TIE_RTOL * abs(top)


def best(ds: xr.Dataset, objective: Any = None, /, *, minimize: str | None = None, maximize: str | None = None,
         where: Any = None, over: str | Sequence[str] | None = None, include: Sequence[str] = (),
         quantile: float | None = None) -> xr.Dataset:
    """Best feasible value of one objective along ``over``, per value of the other dimensions.

    Parameters
    ----------
    ds : xarray.Dataset
        A dsx result; ``feasible`` is honoured when present.
    minimize, maximize : str
        The objective (exactly one of the two, by keyword: a bare name, ``best(ds, "mfu")``, is
        refused rather than guessed).
    where : bool DataArray, callable or str, optional
        Extra constraint (see :func:`dsx.analysis.pareto.constraint_mask`).
    over : str or list of str, optional
        Dimensions to optimise along (e.g. ``["tp", "pp"]``). Default: every dimension of
        the objective and the mask (one global optimum).
    include : list of str
        Further variables to report at the optimum (e.g. ``["mfu", "memory_per_gpu"]``).
    quantile : float, optional
        For results with draws: optimise this quantile of the objective over ``draw``
        (default: the median), e.g. ``quantile=0.9`` or ``minimize="time_to_train@q90"``;
        ``include`` variables with draws are reported at the same quantile, and a ``where``
        constraint must hold in every draw.

    Returns
    -------
    xarray.Dataset
        Over the remaining dimensions: the objective's best value (same name and units; NaN
        where nothing is feasible), one variable per ``over`` dimension holding the
        coordinate of the optimum (integers become floats where some group has no
        solution, strings become ``""``), ``found`` (bool), ``ties`` (number of
        configurations that reach the optimum: feasible values within a relative
        :data:`TIE_RTOL` = 1e-12 of it, so floating-point noise is not a different value) and
        the ``include`` variables at the optimum. The reported configuration is the arg-min
        (arg-max): the first in axis order among exactly equal values.

    Examples
    --------
    >>> ds = xr.Dataset({"tput": (("tp", "pp"), [[1.0, 5.0], [5.0, 2.0]], {"units": "token/s"})},
    ...                 coords={"tp": [1, 2], "pp": [1, 2]})
    >>> r = best(ds, maximize="tput")
    >>> float(r.tput), int(r.tp), int(r.pp), int(r.ties)
    (5.0, 1, 2, 2)
    """
    _check_goal(objective, minimize, maximize)
    plan = pieces_of(ds)
    if plan is not None:  # a lazy result: reduce each piece where it is computed
        from .ingraph import best_in_graph

        return best_in_graph(ds, plan, minimize=minimize, maximize=maximize, where=where, over=over,
                             include=include, quantile=quantile)
    ds, name, mask = _objective(ds, minimize if minimize is not None else maximize, where, include, quantile)
    obj = ds[name]
    over_dims = _over(ds, over, "best")
    dims = _joint_dims(ds, [obj, mask], over_dims)
    if over is None:
        over_dims = list(dims)
    keep = [d for d in dims if d not in over_dims]
    layout = keep + over_dims
    shape = tuple(ds.sizes[d] for d in layout)
    keep_shape = shape[: len(keep)]
    m = int(np.prod(shape[len(keep):], dtype=np.int64))

    def full(a: xr.DataArray) -> np.ndarray:  # over the kept dims, the optimised ones flattened last
        a = a.expand_dims([d for d in layout if d not in a.dims]).transpose(*layout)
        return np.broadcast_to(a.values, shape).reshape(keep_shape + (m,))

    val = full(obj.astype(float))
    ok = full(mask) & np.isfinite(val)
    score = np.where(ok, val if minimize is not None else -val, np.inf)
    idx = score.argmin(axis=-1)
    found = ok.any(axis=-1)
    top = np.take_along_axis(score, idx[..., None], axis=-1)
    ties = np.where(found, (ok & near_optimum(score, top)).sum(axis=-1), 0)
    best_val = np.where(found, np.take_along_axis(val, idx[..., None], axis=-1)[..., 0], np.nan)

    out = xr.Dataset(coords={d: ds[d] for d in keep if d in ds.coords})
    out[name] = xr.DataArray(best_val, dims=keep, attrs=dict(obj.attrs))
    where_idx = np.unravel_index(idx, shape[len(keep):]) if over_dims else ()
    for d, ix in zip(over_dims, where_idx):
        out[d] = _optimum_label(ds, d, ix, found, keep)
    out["found"] = xr.DataArray(found, dims=keep, attrs={"units": "", "long_name": "a feasible configuration exists"})
    out["ties"] = xr.DataArray(ties, dims=keep, attrs={"units": "", "long_name": "configurations reaching the optimum"})
    for extra in include:
        out[extra] = _included(ds, extra, layout, full, idx, found, keep)
    out.attrs = {"objective": name, "sense": "minimize" if minimize is not None else "maximize",
                 "over": ",".join(over_dims)}
    return decode(out)  # an included categorical output reads as its labels


def _check_goal(objective: Any, minimize: Any, maximize: Any) -> None:
    """Exactly one objective, by keyword (a bare name would be taken as ``minimize``)."""
    if objective is not None:
        raise no_direction("best", objective)
    if (minimize is None) == (maximize is None):
        raise DsxInputError("best: give exactly one objective, minimize='name' or maximize='name'")


def _objective(ds: Any, name: Any, where: Any, include: Sequence[str],
               quantile: float | None) -> tuple[xr.Dataset, str, xr.DataArray]:
    """The checked objective: the Dataset at the objective's quantile (draws), its name, the constraint mask."""
    if not isinstance(name, str):
        raise DsxInputError("best: the objective must be one variable name (use dsx.pareto for several)")
    if not isinstance(ds, xr.Dataset):
        raise DsxInputError(f"best: expected a result Dataset (dsx.training/serving), got {type(ds).__name__}")
    mask = _all_draws(constraint_mask(ds, where))
    q = parse_objective(name, quantile)[1]
    ds, (name, *_) = at_quantile(ds, [name, *[i for i in include if i in ds.variables]], q)
    if name not in ds.variables:
        raise DsxInputError(f"best: no variable {name!r} in the dataset (have {sorted(ds.data_vars)})")
    if not np.issubdtype(ds[name].dtype, np.number) or is_coded(ds[name]):
        raise DsxInputError(f"best: objective {name!r} is not numeric (dtype {ds[name].dtype}); name an output such as 'tco'")
    return ds, name, mask


def _optimum_label(ds: xr.Dataset, d: str, ix: np.ndarray, found: np.ndarray, keep: list) -> xr.DataArray:
    """The coordinate of ``d`` at the optimum (its index without a coordinate); NaN or "" where none is found."""
    labels = ds[d].values if d in ds.coords else np.arange(ds.sizes[d])
    picked = np.asarray(labels[ix])
    if picked.dtype.kind in "iuf":
        picked = np.where(found, picked, np.nan) if not found.all() else picked
    else:
        picked = np.where(found, picked, "")
    attrs = ({**ds[d].attrs, "long_name": f"{d} at the optimum"} if d in ds.coords
             else {"long_name": f"{d} index at the optimum"})
    return xr.DataArray(picked, dims=keep, attrs=attrs)


def _included(ds: xr.Dataset, extra: str, layout: list, full: Any, idx: np.ndarray, found: np.ndarray,
              keep: list) -> xr.DataArray:
    """Variable ``extra`` at the optimum (NaN where none is found, for numbers)."""
    if extra not in ds.variables:
        raise DsxInputError(f"best: include={extra!r} is not a variable of the dataset")
    var = ds[extra]
    bad = [d for d in var.dims if d not in layout]
    if bad:
        raise DsxInputError(f"best: include={extra!r} has dimensions {bad} outside the objective's; select them")
    pick = np.take_along_axis(full(var), idx[..., None], axis=-1)[..., 0]
    if pick.dtype.kind in "fc":
        pick = np.where(found, pick, np.nan)
    return xr.DataArray(pick, dims=keep, attrs=dict(var.attrs))
