"""``dsx run SWEEP --workers N`` or ``--scheduler ADDRESS``: a sweep file evaluated on dask.

The space is evaluated lazily (:mod:`dsx.lazy`, ``chunks="auto"``): one task per piece, each
the eager stack on a sub-space plus the file's ``[derived]`` variables and its constraints
(``meets_constraints``). Three consumers of every piece run as one graph, so each piece is
evaluated once, on a worker: its slice of ``result.zarr`` (:mod:`dsx.store`: region writes),
its optimum for ``best.csv`` and its Pareto front for ``front.csv`` (:mod:`dsx.analysis.ingraph`).
Only the per-piece optima and fronts come back to the client, never the space. The summary's
counts are dask reductions over the written store; figures are drawn from the store when the
space is small enough to hold (:data:`FIGURE_LIMIT` configurations), else skipped with a note.

The output folder follows :mod:`dsx.outdir` as in the local run (marked ``DIR.partial``,
manifest, one-step swap); workers write into it, so with ``--scheduler`` they must see the
same file system as the client.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import xarray as xr

from . import expr
from .errors import DsxInputError
from .sweep import Sweep, _finish, _stack, prepare

__all__ = ["run_on_dask", "check_options", "FIGURE_LIMIT"]

#: Largest space (configurations) whose figures are drawn from the store on the cluster path.
FIGURE_LIMIT = 2_000_000


def check_options(workers: int | None, scheduler: str | None, chunk_size: int | None) -> None:
    """``--workers`` xor ``--scheduler``, a whole number of workers, no ``--chunk-size``."""
    if workers is not None and scheduler is not None:
        raise DsxInputError("--workers and --scheduler: give one (--workers N starts a local cluster, "
                            "--scheduler ADDRESS uses a running one)")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise DsxInputError(f"--workers must be a whole number >= 1, got {workers!r}")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise DsxInputError(f"--scheduler: expected an address such as tcp://10.0.0.5:8786, got {scheduler!r}")
    if chunk_size is not None:
        raise DsxInputError("--chunk-size applies to the local evaluation; with --workers/--scheduler the "
                            "pieces are chosen to fit a worker (drop --chunk-size)")
    try:
        import dask.distributed  # noqa: F401
        import zarr  # noqa: F401
    except ImportError:
        raise DsxInputError("--workers/--scheduler need dask.distributed and zarr: pip install 'dsx[dask]'") from None


@contextlib.contextmanager
def _local_cluster(workers: int) -> Iterator[str]:
    """A LocalCluster of ``workers`` single-threaded processes; yields its address."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as lc:  # any free port: never a clash with another cluster
        yield lc.scheduler_address


@contextlib.contextmanager
def _client(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    from dask.distributed import Client

    with contextlib.ExitStack() as stack:
        address = scheduler if scheduler is not None else stack.enter_context(_local_cluster(workers))
        try:
            client = stack.enter_context(Client(address, timeout="30s"))
        except OSError as exc:
            raise DsxInputError(f"--scheduler {address!r}: cannot connect ({exc}); start the scheduler "
                                "(`dask scheduler`) or check the address") from None
        yield client


def _n(count: int, word: str) -> str:
    return f"{count:,} {word}{'s' if count != 1 else ''}"


def _piece(s: Sweep, keep: set[str] | None, sub: Any) -> xr.Dataset:
    """One task: the stack on a sub-space, the file's derived variables and constraint mask."""
    ds = _finish(s, _stack(s)(sub), keep)
    if s.constraints:
        ds["meets_constraints"] = expr.mask(s.constraints, ds).assign_attrs(
            units="", long_name=" and ".join(s.constraints))
    return ds


def _best_kwargs(s: Sweep, ds: xr.Dataset) -> dict:
    """The arguments of ``dsx.best`` for best.csv, as the local run chooses them."""
    goal = {"minimize": s.minimize[0]} if s.minimize else {"maximize": s.maximize[0]}
    span = {d for n in (*goal.values(), "feasible", "meets_constraints") if n in ds.variables for d in ds[n].dims}
    span |= set(s.best or ())
    others = [o for o in s.objectives[1:] if o in ds.data_vars and set(ds[o].dims) <= span]
    return {**goal, "where": s.constraints or None, "over": s.best, "include": others}


def run_on_dask(s: Sweep, tmp: Path, limit: int | None, workers: int | None, scheduler: str | None,
                progress: bool) -> None:
    """Evaluate the sweep on dask and write its outputs into ``tmp`` (the staged folder)."""
    from .analysis.ingraph import best_merge, best_tasks, front_frame, front_merge, front_tasks
    from . import lazy as lazy_module
    from .lazy import evaluate_lazy, pieces_of
    from .progress import Progress
    from .store import run_tasks, store_tasks
    from .sweep_outputs import figures, summary

    space, _, keep = prepare(s, limit)
    notes: list[str] = []
    with _client(workers, scheduler) as client:
        t0 = time.perf_counter()
        lazy = evaluate_lazy(functools.partial(_piece, s, keep), space, "auto", lazy_module.TASK_BYTES,
                             sizing=_stack(s))  # a piece holds the whole stack before _piece drops
        lazy.attrs.update({"dsx_sweep": Path(s.source).name, "dsx_workload": s.workload})
        plan = pieces_of(lazy)
        writes, pieces, finish = store_tasks(lazy, tmp / "result.zarr")
        tasks = list(writes)
        if s.objectives:
            kw = {"minimize": s.minimize, "maximize": s.maximize, "where": s.constraints or None}
            columns = [c for c in [*s.objectives, *sorted(expr.names(" and ".join(s.constraints))
                                                          if s.constraints else [])] if c in lazy.data_vars]
            fronts = front_tasks(plan, tuple(dict.fromkeys(columns)), **kw)
            optima = best_tasks(plan, **_best_kwargs(s, lazy))
            tasks += fronts + optima
        n_workers = len(client.scheduler_info().get("workers", {}))
        print(f"dsx run: {space.size:,} configurations in {_n(pieces, 'piece')} on {_n(n_workers, 'dask worker')}",
              file=sys.stderr)
        results = run_tasks(tasks, Progress(len(tasks), "dsx run", progress))
        ds = finish()
        made: dict = {}
        if s.objectives:
            front = front_merge(lazy, plan, results[len(writes):len(writes) + len(fronts)])
            made["front"] = front_frame(lazy, front, list(dict.fromkeys(columns)))
            made["front"].to_csv(tmp / "front.csv", index=False)
            optima = results[len(writes) + len(fronts):]
            best = best_merge(lazy, plan, optima)
            from .sweep_outputs import _frame

            order = list(_frame(optima[0], optima[0]).columns)  # a piece's table: the local run's order
            made["best"] = _frame(best, best)[order]
            made["best"].to_csv(tmp / "best.csv", index=False)
        seconds = time.perf_counter() - t0
        where = ds["meets_constraints"] if s.constraints else None
        files: list[str] = []
        if s.figures and space.size <= FIGURE_LIMIT:
            small = ds.load()
            files = figures(s, small, small["meets_constraints"] if s.constraints else None, tmp, notes)
        elif s.figures:
            notes.append(f"figures skipped: {space.size:,} configurations are more than the "
                         f"{FIGURE_LIMIT:,} drawn on a cluster run; draw them from result.zarr with a selection")
        notes.append(f"result.zarr written by {_n(n_workers, 'dask worker')} ({_n(pieces, 'piece')}); "
                     "open it with xarray.open_zarr")
        (tmp / "summary.md").write_text(summary(s, ds, where, made, files, notes, seconds))
    for n in notes[:-1]:
        print(f"dsx run: note: {n}", file=sys.stderr)
