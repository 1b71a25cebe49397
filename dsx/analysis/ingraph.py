"""Reductions of a lazy result inside the task graph: only small results reach the client.

A lazy result (``dsx.training(space, chunks=...)``) is a set of piece tasks, each the eager
evaluation of a sub-space. ``best`` and ``pareto`` run on each piece where it is computed
(one reduction task per piece) and the client merges the small per-piece answers:

- best: pieces cut along a dimension that is kept (not optimised over) answer disjoint
  groups; pieces cut along an optimised dimension compete, and the better candidate wins
  (ties: the first configuration in axis order, as the eager reduction reports).
- pareto: the front of a union is the front of the union of per-piece fronts, so each piece
  sends only its own front points; the global front is computed from those, and the mask is
  a lazy array whose blocks mark the points of that front.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..lazy import Pieces, Shared, compute_together, normalized
from .best import near_optimum
from .pareto import pareto, pareto_kernel

__all__ = ["best_in_graph", "pareto_in_graph", "best_tasks", "best_merge", "front_tasks", "front_merge"]


def _tasks(plan: Pieces, fn: Any, *args: Any) -> list:
    """One task ``fn(piece, index, dims, *args)`` per piece, as dask ``Delayed`` objects.

    Their graphs share the piece tasks' keys, so computing them together with other
    reductions or with the store's writes (:mod:`dsx.store`) evaluates every piece once.
    """
    from dask.delayed import Delayed

    token = fn.__name__ + "-" + plan.name[len("dsx-piece-"):]
    name, shared = "dsx-reduce-" + token, "dsx-args-" + token
    graph = {**plan.graph, shared: Shared(fn, plan.dims, *args)}  # the arguments once, not per task
    outs = []
    for key in plan.keys():
        k = (name, *key[1:])
        graph[k] = (_apply, key, list(key[1:]), shared)  # the index as a list: not a key
        outs.append(Delayed(k, graph))
    return outs


def _apply(piece: xr.Dataset, index: list, shared: Shared) -> Any:
    fn, *args = shared.values
    return fn(piece, index, *args)


def _compute(plan: Pieces, fn: Any, *args: Any) -> list:
    """Run ``fn`` on every piece as a task; gather the small results (with whatever scheduler
    is active: threads, processes or a distributed client)."""
    return compute_together(_tasks(plan, fn, *args))


# --------------------------------------------------------------------------------------------
# best
# --------------------------------------------------------------------------------------------
def _best_piece(piece: xr.Dataset, index: list, dims: dict, kwargs: dict) -> xr.Dataset:
    from .best import best

    return best(normalized(piece, dims), **kwargs)


def best_tasks(plan: Pieces, **kwargs: Any) -> list:
    """The per-piece optima of :func:`dsx.best` (same arguments), as tasks (see :func:`best_merge`)."""
    return _tasks(plan, _best_piece, kwargs)


def best_in_graph(ds: xr.Dataset, plan: Pieces, **kwargs: Any) -> xr.Dataset:
    """:func:`dsx.best` on a lazy result, one reduction task per piece (same arguments)."""
    return best_merge(ds, plan, compute_together(best_tasks(plan, **kwargs)))


def best_merge(ds: xr.Dataset, plan: Pieces, results: list) -> xr.Dataset:
    """The optimum from the per-piece optima (the results of :func:`best_tasks`, in order)."""
    over = [d for d in results[0].attrs.get("over", "").split(",") if d]
    name = results[0].attrs["objective"]
    sign = 1.0 if results[0].attrs.get("sense", "minimize") == "minimize" else -1.0
    merged = [_merge_best(cands, name, sign, over, plan.axes) for cands in _competing(plan, results, over)]
    out = merged[0] if len(merged) == 1 else xr.combine_by_coords(merged, combine_attrs="override")
    # combine_by_coords sorts the labels; restore the space's own order
    out = out.reindex({d: plan.axes[d] for d in out.dims if d in plan.axes})
    keep = [d for d in ds.dims if d in out.dims]
    return _restore_dtypes(out, ds).transpose(*keep, ...)


def _competing(plan: Pieces, results: list, over: list) -> list[list]:
    """The per-piece optima grouped by what they compete for: pieces that differ only along
    optimised dimensions answer for the same groups."""
    groups: dict[tuple, list] = defaultdict(list)
    for key, res in zip(plan.keys(), results):
        at = dict(zip(plan.split, key[1:]))
        if any(i and a not in over and a not in res.dims for a, i in at.items()):
            continue  # the answer does not depend on this axis: its first piece stands for all
        groups[tuple(i for a, i in at.items() if a not in over)].append(res)
    return list(groups.values())


def _restore_dtypes(out: xr.Dataset, like: xr.Dataset) -> xr.Dataset:
    """Integer labels (the optimum's ``gpus``, ``tp`` ...) back to the dtype they have in ``like`` where
    a piece without a feasible answer (NaN) made them float; as the eager best, a group left without an
    answer keeps its NaN (and its float)."""
    for name, var in out.data_vars.items():
        dtype = like[name].dtype if name in like else None
        if dtype is not None and dtype.kind in "iu" and var.dtype.kind == "f" and not bool(var.isnull().any()):
            out[name] = var.astype(dtype)
    return out


def _merge_best(cands: list, name: str, sign: float, over: list, axes: dict) -> xr.Dataset:
    if len(cands) == 1:
        return cands[0]
    c = xr.concat(cands, dim="piece", data_vars="all", coords="minimal", compat="override",
                  combine_attrs="override")
    score = (sign * c[name]).where(c["found"], np.inf)
    top = score.min("piece")
    # among equal candidates, the first configuration in axis order (as the eager best)
    position = xr.zeros_like(score)
    for d in over:
        if d in axes:
            labels = c[d].values
            pos = pd.Index(axes[d]).get_indexer(labels.ravel()).reshape(labels.shape)
            position = position * len(axes[d]) + xr.DataArray(pos, dims=c[d].dims)
    rank = position.where(score == top, np.inf)
    pick = rank.argmin("piece")
    out = c.isel(piece=pick)
    out["found"] = c["found"].any("piece")
    # ties as the eager best counts them: every piece whose optimum is within TIE_RTOL of the best
    out["ties"] = c["ties"].where(near_optimum(score, top), 0).sum("piece").where(out["found"], 0).astype(c["ties"].dtype)
    out["ties"].attrs = cands[0]["ties"].attrs
    out["found"].attrs = cands[0]["found"].attrs
    return out.drop_vars("piece", errors="ignore")


# --------------------------------------------------------------------------------------------
# pareto
# --------------------------------------------------------------------------------------------
def _front_piece(piece: xr.Dataset, index: list, dims: dict, kwargs: dict, split: list,
                 starts: dict, columns: tuple = ()) -> dict:
    """This piece's front points: global positions along the joint dims, objective values (and
    the values of ``columns``, variables over those dims, for a table of the front)."""
    piece = normalized(piece, dims)
    mask = pareto(piece, **kwargs)
    offset = {a: starts[a][i] for a, i in zip(split, index)}
    hit = np.nonzero(np.asarray(mask.values, bool))
    rows = {d: xr.DataArray(ix, dims="row") for d, ix in zip(mask.dims, hit)}
    mins = [n for n in mask.attrs.get("minimize", "").split(",") if n]
    maxs = [n for n in mask.attrs.get("maximize", "").split(",") if n]
    n_hit = len(hit[0]) if hit else 1

    def picked(name: str) -> np.ndarray:
        var = piece[name]
        return np.broadcast_to(var.isel({d: rows[d] for d in var.dims}).values, (n_hit,)).astype(float)

    values = np.stack([picked(n) for n in mins] + [-picked(n) for n in maxs], axis=1)
    extra = {c: np.broadcast_to(piece[c].isel({d: rows[d] for d in piece[c].dims}).values, (n_hit,))
             for c in columns if set(piece[c].dims) <= set(mask.dims)}
    return {"dims": mask.dims, "attrs": dict(mask.attrs), "values": values, "columns": extra,
            "pos": {d: ix + offset.get(d, 0) for d, ix in zip(mask.dims, hit)} if mask.dims else {}}


def front_tasks(plan: Pieces, columns: tuple = (), **kwargs: Any) -> list:
    """The per-piece fronts of :func:`dsx.pareto` (same arguments), as tasks (see :func:`front_merge`)."""
    starts = {a: [s.start for s in plan.cuts[a]] for a in plan.split}
    return _tasks(plan, _front_piece, kwargs, plan.split, starts, tuple(columns))


def front_merge(ds: xr.Dataset, plan: Pieces, parts: list, over: Any = None) -> dict:
    """The global front from the per-piece fronts (the results of :func:`front_tasks`).

    Returns ``{"dims", "attrs", "pos": {dim: positions of the front points}, "columns":
    {name: their values}}``: the front of a union is the front of the union of the pieces'
    fronts, so only those points are compared here.
    """
    dims = parts[0]["dims"]
    over = [over] if isinstance(over, str) else list(over or [])
    group_dims = [d for d in dims if over and d not in over]
    values = np.concatenate([p["values"] for p in parts], axis=0)
    pos = {d: np.concatenate([p["pos"][d] for p in parts]).astype(np.int64) for d in dims}
    group = np.zeros(len(values), np.int64)
    for d in group_dims:
        group = group * ds.sizes[d] + pos[d]
    keep = pareto_kernel(values, group if group_dims else None) if len(values) else np.zeros(0, bool)
    columns = {c: np.concatenate([p["columns"][c] for p in parts])[keep] for c in parts[0].get("columns", {})}
    return {"dims": dims, "attrs": parts[0]["attrs"], "pos": {d: pos[d][keep] for d in dims},
            "columns": columns, "any": bool(keep.any())}


def pareto_in_graph(ds: xr.Dataset, plan: Pieces, **kwargs: Any) -> xr.DataArray:
    """:func:`dsx.pareto` on a lazy result: per-piece fronts, merged; the mask stays lazy."""
    import dask.array as da

    parts = compute_together(front_tasks(plan, **kwargs))
    merged = front_merge(ds, plan, parts, kwargs.get("over"))
    dims, front = merged["dims"], merged["pos"]
    coords = {d: ds[d] for d in dims if d in ds.coords}
    if not dims:
        return xr.DataArray(merged["any"], name="pareto", attrs=merged["attrs"])
    chunks = tuple(tuple(s.stop - s.start for s in plan.cuts[d]) if d in plan.cuts else (ds.sizes[d],)
                   for d in dims)
    mask = da.map_blocks(_mark, front=front, dims=dims, dtype=bool, chunks=chunks,
                         meta=np.empty((0,) * len(dims), bool))
    out = xr.DataArray(mask, dims=dims, coords=coords, name="pareto", attrs=merged["attrs"])
    return out.transpose(*[d for d in ds.dims if d in dims])


def front_frame(ds: xr.Dataset, merged: dict, columns: list) -> pd.DataFrame:
    """The merged front as :func:`dsx.analysis.front_table` shows it: one row per front point,
    the coordinates of its dims, then ``name [units]`` per column, sorted by the first column."""
    data: dict = {}
    for d in [d for d in ds.dims if d in merged["dims"]]:  # the result's own order, as front_table
        data[d] = ds[d].values[merged["pos"][d]] if d in ds.coords else merged["pos"][d]
    labels = []
    for c in columns:
        if c in merged["columns"]:
            units = ds[c].attrs.get("units", "")
            labels.append(f"{c} [{units}]" if units else c)
            data[labels[-1]] = merged["columns"][c]
    df = pd.DataFrame(data)
    return df.sort_values(labels[:1], kind="stable").reset_index(drop=True) if labels else df


def _mark(block_info: Any = None, front: dict | None = None, dims: tuple = ()) -> np.ndarray:
    """One block of the front mask: True at the front points that fall inside it."""
    loc = block_info[None]["array-location"]
    out = np.zeros(tuple(hi - lo for lo, hi in loc), bool)
    inside = np.ones(len(front[dims[0]]), bool)
    for d, (lo, hi) in zip(dims, loc):
        inside &= (front[d] >= lo) & (front[d] < hi)
    out[tuple(front[d][inside] - lo for d, (lo, _) in zip(dims, loc))] = True
    return out
