"""How much memory an evaluation takes, measured for the requested outputs (issue 12 item 6).

Every variable of an evaluation depends on a known subset of the space's axes, and that
subset does not change with the axes' lengths. So one evaluation of a tiny probe (each axis
cut to at most two values) gives each variable's dimensions and item size, and from them the
exact bytes of any space or piece: ``Σ_v itemsize(v) · Π_{d ∈ dims(v)} len(d)``.

* ``working`` bytes: every variable of the (pruned) stack, times :data:`TRANSIENT` for the
  kernels' temporaries — measured with ``tracemalloc`` on the spaces of
  ``benchmarks/bench_stacks.py``: peak / variables = 1.75 (training), 1.64 (serving).
* ``kept`` bytes: the variables ``outputs=`` keeps, which a chunked run concatenates (the
  concatenation holds the pieces and the whole: twice the kept bytes at its peak).
* fixed bytes a chunked run adds, whatever a piece's size: :data:`PIECE_OBJECTS` per piece in
  flight (one evaluation's Python objects: Datasets, Variables, attrs) and :data:`PIECE_HELD` per
  piece of the graph (its task and its finished result's objects, held until the concatenation).
  They matter only when pieces are tiny — they are what a toy budget runs out of first.

With draws, every variable is counted ``draws`` times (an upper bound: those that do not
depend on a drawn input have no ``draw`` dimension).
"""

from __future__ import annotations

import os

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import xarray as xr

__all__ = ["Footprint", "measure", "of", "TRANSIENT", "PIECE_OBJECTS", "PIECE_HELD"]

#: Peak memory of an evaluation over the bytes of its variables (kernels' temporaries), rounded up.
TRANSIENT = 2.0
#: Bytes of one piece's evaluation in flight besides its arrays (xarray's and dsx's Python objects):
#: the tracemalloc peak of a one-configuration training evaluation after a warm-up, 233 kB with two
#: outputs kept, 257 kB with every output, rounded up.
PIECE_OBJECTS = 256e3
#: Bytes per piece of a chunked run's graph until the concatenation (the task, the finished piece's
#: objects): tracemalloc peaks of ``chunks=`` runs over 30,720 configurations cut into 80…1,280
#: pieces on one thread grow by 27 kB per piece; rounded up.
PIECE_HELD = 32e3


@dataclass(frozen=True)
class Footprint:
    """Dimensions and item sizes of an evaluation's variables (from a probe), ``kept`` marked."""

    variables: tuple[tuple[tuple[str, ...], int, bool], ...]  # (dims, itemsize, kept)
    draws: int = 1

    def _bytes(self, sizes: dict[str, int], kept_only: bool) -> float:
        total = 0.0
        for dims, itemsize, kept in self.variables:
            if kept_only and not kept:
                continue
            total += itemsize * float(np.prod([sizes.get(d, 1) for d in dims]))
        return total * self.draws

    def working(self, sizes: dict[str, int]) -> float:
        """Peak bytes of evaluating a (piece of the) space with these axis lengths."""
        return TRANSIENT * self._bytes(sizes, False)

    def kept(self, sizes: dict[str, int]) -> float:
        """Bytes of the variables kept in the result."""
        return self._bytes(sizes, True)

    def chunked(self, sizes: dict[str, int], piece: dict[str, int], parallel: int = 1) -> float:
        """Peak bytes of a chunked run: ``parallel`` pieces in flight beside the kept results, or the final
        concatenation; each piece of the graph held until then (:data:`PIECE_HELD`)."""
        in_flight = parallel * (self.working(piece) + PIECE_OBJECTS) + self.kept(sizes)
        return max(in_flight, 2.0 * self.kept(sizes)) + _held(sizes, piece)

    def per_configuration(self, sizes: dict[str, int]) -> float:
        """Peak bytes per configuration of evaluating the whole space at once (what the guard reports)."""
        return self.working(sizes) / max(float(np.prod(list(sizes.values()) or [1])), 1.0)


def measure(run: Callable[[Any], xr.Dataset], space: Any, keep: set[str] | None, draws: int = 1) -> Footprint:
    """The :class:`Footprint` of ``run`` (the stack's steps over a Space) on ``space``, probed small."""
    probe = space.replace(**{k: v[:2] for k, v in space.axes.items() if len(v) > 2})
    return of(run(probe), keep, draws)


def of(ds: xr.Dataset, keep: set[str] | None = None, draws: int = 1) -> Footprint:
    """The :class:`Footprint` of an evaluation ``ds`` already made (of a probe: any lengths, only the
    dimensions and item sizes of its variables count)."""
    out = []
    for name, var in ds.variables.items():
        kept = keep is None or name in keep or name in ds.coords
        out.append((tuple(var.dims), int(var.dtype.itemsize), kept))
    return Footprint(tuple(out), max(int(draws), 1))


def plan(fp: Footprint, space: Any, keep: set[str] | None, budget: float,
         split_axes: Callable[[dict, int], dict]) -> int:
    """The configuration-draws to evaluate at once within ``budget`` bytes; refuses, with advice that fits.

    The whole space if its peak fits, else a :class:`~dsx.DsxInputError` naming a ``chunks=`` cut
    whose pieces, evaluated by dask's threads (``num_workers``, else one per core) beside the kept outputs, fit (or
    ``store=`` when the kept outputs alone do not).
    """
    from .errors import DsxInputError

    draws = fp.draws
    sizes = space.dims

    def piece(n: int) -> dict[str, int]:
        return {**sizes, **split_axes(space.axes, n)}

    def largest(fits: Callable[[int], bool]) -> int:  # the largest piece (configurations) that fits
        lo, hi = 0, space.size
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
        return lo

    need = fp.working(sizes)
    if need <= budget:
        return space.size * draws
    threads = _threads()
    # a fifth held back for what the measurement does not see: dask's scheduler and the result's assembly.
    # Smaller pieces take less each but more of them are held (PIECE_HELD): from the largest piece whose
    # pieces in flight fit, step down (5 % at a time) to the first whose held pieces fit too.
    size = largest(lambda n: fp.chunked(sizes, piece(n), threads) - _held(sizes, piece(n)) <= 0.8 * budget)
    while size >= 1 and fp.chunked(sizes, piece(size), threads) > 0.8 * budget:
        size = int(size * 0.95) if _held(sizes, piece(int(size * 0.95))) < 0.8 * budget else 0
    head = (f"space: {space.size:,} configurations need about {_size(need)} to evaluate at once "
            f"({need / space.size / draws:,.0f} B per configuration{'-draw' if draws > 1 else ''}, measured for "
            f"{'these outputs' if keep is not None else 'every output'}), more than half the free memory "
            f"({_size(budget)}); ")
    if size >= 1:
        cut = split_axes(space.axes, size)
        raise DsxInputError(
            head + f"pass chunks={cut!r} (a lazy result evaluated piece by piece; it fits with "
            f"{'these outputs' if keep is not None else 'every output kept'}), outputs=[...] to keep only what "
            f"you need, store='result.zarr' to stream it to disk, or run it as a sweep file (`dsx run`)")
    kept = fp.kept(sizes)
    why = (f"the {'kept outputs' if keep is not None else 'outputs'} alone take {_size(kept)}"
           if 2.0 * kept > 0.8 * budget else
           f"{threads} pieces in flight (dask's num_workers) with the kept outputs ({_size(kept)}) do not fit")
    raise DsxInputError(
        head + f"{why}, so no chunks= cut fits: keep fewer with outputs=[...], pass store='result.zarr' to stream the result to disk, "
        f"or run it as a sweep file (`dsx run`)")


def _threads() -> int:
    """Pieces dask's threaded scheduler evaluates at once: its configured ``num_workers``, else one per core."""
    try:
        import dask
    except ImportError:  # dask is optional: without it the advice is for one piece per core
        return os.cpu_count() or 1
    return int(dask.config.get("num_workers", None) or os.cpu_count() or 1)


def _held(sizes: dict[str, int], piece: dict[str, int]) -> float:
    """The graph's bytes held until the concatenation (:data:`PIECE_HELD` per piece)."""
    return float(np.prod([-(-sizes[d] // max(piece.get(d, sizes[d]), 1)) for d in sizes] or [1])) * PIECE_HELD


def _size(n: float) -> str:
    """Bytes in GiB, or MiB / kB when smaller."""
    return f"{n / 2**30:.1f} GiB" if n >= 2**29 else f"{n / 2**20:.1f} MiB" if n >= 2**19 else f"{n / 1e3:.0f} kB"
