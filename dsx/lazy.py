"""Lazy, dask-backed evaluation: one task per piece of a space, any dask scheduler runs it.

``dsx.training(space, chunks=...)`` returns at once a Dataset whose variables are dask
arrays. Each task evaluates one piece of the space (a sub-``Space``) with the ordinary eager
stack, so threads, processes or a ``dask.distributed`` cluster all run the same graph, and
nothing is computed until asked for. Every variable keeps only its own dimensions: a variable
that does not depend on a split axis takes its block from the first piece along that axis, so
``capex`` is never copied along ``region`` pieces.

``chunks="auto"`` splits along the axes that most variables carry (the heavy core), never
along an axis that only a few cheap variables carry (such as ``region``) while another split
exists, until a piece fits the per-task memory target: the peak bytes of a piece are measured
from the probe evaluation (:func:`dsx.footprint.of`: each variable's item size times the
lengths of the axes it carries, times the kernels' transient factor), so the requested
outputs' pruned stack sizes its own pieces.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from . import footprint
from .errors import DsxInputError
from .space import Space

__all__ = ["evaluate_lazy", "piece_lengths", "pieces_of", "Shared", "TEXT_WIDTH"]

#: Width of text variables in lazy results (fixed, so every piece has the same dtype).
TEXT_WIDTH = 48
#: Default memory target of one task (a piece, with its intermediates), measured by
#: :mod:`dsx.footprint` from the probe evaluation of the requested outputs' stack.
TASK_BYTES = 256 * 2**20


@dataclass
class Pieces:
    """How a lazy result was cut: the piece tasks and where each piece sits in the space."""

    graph: dict                      # piece key -> task (an eager evaluation of a sub-space)
    name: str                        # key prefix of the piece tasks
    split: list[str]                 # axes cut into several pieces, in space order
    cuts: dict[str, list[slice]]     # axis -> the pieces' index ranges along it
    axes: dict[str, list]            # the whole space's axes
    dims: dict[str, tuple]           # variable -> its dimensions in the result

    def keys(self) -> list[tuple]:
        return [k for k in self.graph if isinstance(k, tuple)]  # the pieces (not the shared function)

    def space(self, key: tuple) -> Space:
        """The sub-space the piece with this key evaluates."""
        return self.graph[key][2]

    def offsets(self, key: tuple) -> dict[str, int]:
        """Start index, along each split axis, of the piece with this key."""
        return {a: self.cuts[a][i].start for a, i in zip(self.split, key[1:])}


class Shared:
    """Arguments that every task of one kind shares, stored once in the graph under its own key
    (an opaque value: dask hands it to each task instead of copying it into each)."""

    __slots__ = ("values",)

    def __init__(self, *values: Any) -> None:
        self.values = values


#: Lazy results still alive in this process: token -> how they were cut (reductions run on
#: the piece tasks themselves, so only small results come back to the client).
_PIECES: dict[str, Pieces] = {}
_KEEP = 16  # cut plans remembered (each holds one task per piece, no data)


def pieces_of(ds: xr.Dataset) -> Pieces | None:
    """The cut plan of a lazy dsx result, or None (eager, sliced, or from elsewhere)."""
    if not isinstance(ds, xr.Dataset):
        return None
    plan = _PIECES.get(ds.attrs.get("dsx_pieces", ""))
    if plan is None:
        return None
    if any(ds.sizes.get(a, len(v)) != len(v) for a, v in plan.axes.items()):
        return None  # sliced since: the pieces no longer tile it
    if not set(ds.data_vars) <= set(plan.dims):
        return None  # variables added since: the pieces do not compute them
    return plan


def normalized(piece: xr.Dataset, dims: Mapping[str, tuple]) -> xr.Dataset:
    """A piece's variables with exactly the result's dimensions (see :func:`_block`)."""
    out = {}
    for name, var in piece.data_vars.items():
        want = dims.get(name)
        out[name] = var if want is None or var.dims == want else _conform(var, want, piece.sizes)
    return xr.Dataset(out, coords=piece.coords, attrs=piece.attrs)


def _conform(var: xr.DataArray, dims: tuple, sizes: Mapping[str, int]) -> xr.DataArray:
    # a piece of length 1 along an axis may carry it where the template does not, or the
    # reverse (the traced dependency of a length-1 axis is conservative); the value does not
    # vary along such an axis, so squeeze or repeat it
    extra = [d for d in var.dims if d not in dims]
    missing = {d: sizes[d] for d in dims if d not in var.dims}
    var = var.squeeze(extra, drop=True) if extra else var
    var = var.expand_dims(missing) if missing else var
    return var.transpose(*dims)


def _probe(space: Space) -> Space:
    """The space cut to the first two values of every axis: the smallest evaluation whose
    variables show exactly which axes they carry (a length-1 axis cannot show it)."""
    return space.replace(**{k: v[:2] for k, v in space.axes.items()})


def _carriers(template: xr.Dataset, axes: Mapping[str, list]) -> dict[str, int]:
    """How many result variables carry each axis (the weight of splitting along it)."""
    return {a: sum(a in template[v].dims for v in template.data_vars) for a in axes}


def piece_lengths(space: Space, chunks: Any, template: xr.Dataset,
                  task_bytes: float = TASK_BYTES, working: xr.Dataset | None = None) -> dict[str, int]:
    """Piece length along each axis of ``space``.

    Parameters
    ----------
    space : Space
        The design space.
    chunks : "auto" or mapping
        ``"auto"``, or axis name -> piece length (axes not named stay whole; ``-1`` or
        ``None`` means whole).
    template : xarray.Dataset
        An evaluation of a one-configuration probe of the space (its variables' dimensions).
    task_bytes : float
        Memory target of one piece, in bytes (``"auto"`` only): the piece's peak as measured
        from ``template`` (:meth:`dsx.footprint.Footprint.working`) stays at or under it
        unless every split axis is down to one value.
    working : xarray.Dataset, optional
        The probe's every variable a piece task holds, when ``template`` has only the kept
        ones: its footprint sizes the pieces (``template`` still orders the axes). Default:
        ``template``.

    Returns
    -------
    dict
        Axis -> piece length (1 … axis length), for every axis of the space.
    """
    axes = space.dims
    if isinstance(chunks, str):
        if chunks != "auto":
            raise DsxInputError(f"chunks: expected 'auto' or a mapping of axis to piece length, got {chunks!r}")
        held = template if working is None else working
        fp = footprint.of(held)  # every variable a piece task holds (the pruned stack), as measured
        other = {d: n for d, n in held.sizes.items() if d not in axes}  # e.g. ``draw``: never cut

        def peak(piece: dict[str, int]) -> float:
            return fp.working({**other, **piece})

        return _auto(axes, _carriers(template, axes), task_bytes, peak)
    if not isinstance(chunks, Mapping):
        raise DsxInputError(f"chunks: expected 'auto' or a mapping such as {{'gpus': 1}}, got {type(chunks).__name__}")
    out = dict(axes)
    for name, length in chunks.items():
        if name not in axes:
            raise DsxInputError(f"chunks: {name!r} is not an axis of the space (axes: {', '.join(axes) or 'none'})")
        if length is None or length == -1:
            continue
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
            raise DsxInputError(f"chunks: piece length of {name!r} must be a whole number >= 1 (or -1 for whole), "
                                f"got {length!r}")
        out[name] = min(int(length), axes[name])
    return out


def _auto(axes: Mapping[str, int], weight: Mapping[str, int], task_bytes: float,
          peak: Callable[[dict[str, int]], float]) -> dict[str, int]:
    """Split the most-carried axes first until a piece's measured peak ``peak(lengths)`` is at most
    ``task_bytes`` (or every split axis is down to one value).

    The peak is a sum over variables of item size times the lengths of the axes each carries
    (:class:`dsx.footprint.Footprint`), so along one axis it is ``a + b·n`` for a piece ``n`` long:
    the longest ``n`` that fits is read off two evaluations of ``peak``.
    """
    out = dict(axes)
    # heavy axes first (carried by most variables), longer first among equals
    for axis in sorted(axes, key=lambda a: (-weight[a], -axes[a])):
        if peak(out) <= task_bytes:
            break
        fixed = peak({**out, axis: 0})                # the variables that do not carry this axis
        per_value = peak({**out, axis: 1}) - fixed    # bytes per value of it
        if per_value <= 0:
            continue
        out[axis] = max(1, min(out[axis], int((task_bytes - fixed) // per_value)))
    return out


def _slices(length: int, piece: int) -> list[slice]:
    return [slice(i, min(i + piece, length)) for i in range(0, length, piece)]


def _piece_graph(run: Callable[[Space], xr.Dataset], space: Space, split: list, cuts: dict, runner: str,
                 pieces: str) -> dict:
    """One task per piece, the eager evaluation of its sub-space; ``run`` in the graph once (it holds the stack)."""
    axes = space.axes
    graph: dict = {runner: run}
    for idx in itertools.product(*(range(len(cuts[a])) for a in split)):
        sub = space.replace(**{a: axes[a][cuts[a][i]] for a, i in zip(split, idx)}) if split else space
        graph[(pieces, *idx)] = (_call, runner, sub)
    return graph


def _lazy_variable(da: Any, graph: dict, pieces: str, split: list, cuts: dict, axes: dict,
                   template: xr.Dataset, name: str, token: str) -> xr.DataArray:
    """Variable ``name`` as a dask array: each block taken from the piece task that computes it."""
    var = template[name]
    dims, dtype = var.dims, _dtype(var)
    key = f"dsx-{name}-{token}"
    layer: dict = {}
    for bidx in itertools.product(*[range(len(cuts[d])) if d in cuts else range(1) for d in dims]):
        at = dict(zip(dims, bidx))
        layer[(key, *bidx)] = (_block, (pieces, *(at.get(a, 0) for a in split)), name, dims, dtype)
    chunk_sizes = tuple(tuple(s.stop - s.start for s in cuts[d]) if d in cuts
                        else ((len(axes[d]),) if d in axes else (template.sizes[d],)) for d in dims)
    arr = da.Array({**graph, **layer}, key, chunk_sizes, dtype=dtype, meta=np.empty((0,) * len(dims), dtype))
    return xr.DataArray(arr, dims=dims, attrs=var.attrs)


def one_graph(tasks: list) -> dict:
    """The graph of ``Delayed`` tasks, merged once (tasks of one lazy result share their graph)."""
    merged: dict = {}
    for graph in {id(g): g for g in (t.__dask_graph__() for t in tasks)}.values():
        merged.update(graph)
    return merged


def together(tasks: list) -> Any:
    """One ``Delayed`` of the list of the tasks' results, over their one merged graph."""
    from dask.delayed import Delayed

    key = f"dsx-together-{uuid.uuid4().hex[:12]}"
    return Delayed(key, {**one_graph(tasks), key: (list, [t.key for t in tasks])})


def compute_together(tasks: list) -> list:
    """``dask.compute(*tasks)`` sent as one graph: dask sends a list of collections as one graph per
    collection, quadratic in the pieces (16.6 MB pickled for 896 pieces of one lazy result, 0.43 MB
    as one)."""
    import dask

    return list(dask.compute(together(tasks))[0]) if tasks else []


def _block(ds: xr.Dataset, name: str, dims: tuple, dtype: np.dtype) -> np.ndarray:
    """One variable of an evaluated piece, in the template's dimension order and dtype."""
    var = ds[name]
    if var.dims != dims:
        var = _conform(var, dims, ds.sizes)
    return np.asarray(var.values).astype(dtype, copy=False)


def _call(run: Callable[[Space], xr.Dataset], sub: Space) -> xr.Dataset:
    """One piece task: ``run`` (a graph key, shipped to a worker once) on its sub-space."""
    return run(sub)


def _dtype(var: xr.DataArray) -> np.dtype:
    return np.dtype(f"<U{TEXT_WIDTH}") if var.dtype.kind in "OU" else var.dtype


def evaluate_lazy(run: Callable[[Space], xr.Dataset], space: Space, chunks: Any = "auto",
                  task_bytes: float = TASK_BYTES,
                  sizing: Callable[[Space], xr.Dataset] | None = None) -> xr.Dataset:
    """The result of ``run(space)`` as a Dataset of dask arrays, one task per piece.

    Parameters
    ----------
    run : callable
        ``Space -> Dataset``, the eager evaluation of one piece (picklable for a process or
        distributed scheduler, e.g. a ``functools.partial`` of a module-level function).
    space : Space
        The whole space.
    chunks : "auto" or mapping
        Piece lengths per axis (see :func:`piece_lengths`).
    task_bytes : float
        Memory target of one piece for ``"auto"``.
    sizing : callable, optional
        ``Space -> Dataset`` holding every variable a piece task computes, when ``run``
        returns only some of them (it drops what it does not keep): ``"auto"`` sizes the
        pieces by its probe's measured footprint. Default: ``run`` itself.

    Returns
    -------
    xarray.Dataset
        Same variables, dimensions, coordinates and attributes as ``run(space)``; text
        variables are fixed-width (``<U48``). ``.compute()`` equals the eager result.
    """
    try:
        import dask.array as da
    except ImportError:
        raise DsxInputError("chunks=: lazy evaluation needs dask: pip install 'dsx[dask]'") from None
    template = run(_probe(space))
    working = None if sizing is None or not isinstance(chunks, str) else sizing(_probe(space))
    lengths = piece_lengths(space, chunks, template, task_bytes, working)
    axes = space.axes
    split = [a for a in axes if lengths[a] < len(axes[a])]
    cuts = {a: _slices(len(axes[a]), lengths[a]) for a in split}
    token = uuid.uuid4().hex[:12]
    pieces = f"dsx-piece-{token}"
    runner = f"dsx-run-{token}"
    graph = _piece_graph(run, space, split, cuts, runner, pieces)
    out = xr.Dataset(coords={a: xr.DataArray(np.asarray(v), dims=a, attrs=template[a].attrs) for a, v in axes.items()})
    out = out.assign_coords({name: coord for name, coord in template.coords.items() if name not in axes})
    for name in template.data_vars:
        out[name] = _lazy_variable(da, graph, pieces, split, cuts, axes, template, name, token)
    _PIECES[token] = Pieces(graph, pieces, split, cuts, axes,
                            {n: v.dims for n, v in template.data_vars.items()})
    while len(_PIECES) > _KEEP:
        _PIECES.pop(next(iter(_PIECES)))
    out.attrs = {**template.attrs, "dsx_pieces": token}
    order = [d for d in axes if d in out.dims]
    return out.transpose(*order, ...)
