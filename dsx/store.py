"""Writing a lazy result to a zarr store from the workers: resumable, idempotent, atomic.

The store is written aside, as ``NAME.partial``, marked as dsx's own (``.dsx-partial``, which
records a fingerprint of the space and the cut). First the template (every variable's
metadata and the coordinates), then one task per piece writes that piece's slice of every
variable (``region=`` writes; each zarr chunk is one piece, so no two tasks write the same
chunk) and marks the piece done inside the store. A run stopped by SIGTERM, SIGKILL or
pre-emption leaves only that marked ``.partial``; running the same evaluation again skips
the pieces already done. When every piece is written the markers are removed and the folder
is renamed to ``NAME`` in one step, so a complete store is the only thing that ever appears
under that name.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import xarray as xr

from .errors import DsxInputError
from .lazy import Pieces, Shared, compute_together, normalized, one_graph, pieces_of
from .outdir import PARTIAL_MARK
from .progress import Progress

__all__ = ["write_store", "store_tasks", "run_tasks"]

_DONE = ".dsx-done"


def _fingerprint(ds: xr.Dataset, plan: Pieces) -> str:
    """What the store will hold: the axes, the cut and the variables (not the task tokens)."""
    spec = {"axes": {a: [str(v) for v in vals] for a, vals in plan.axes.items()},
            "cuts": {a: [[s.start, s.stop] for s in plan.cuts[a]] for a in plan.split},
            "vars": sorted(ds.data_vars)}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _piece_id(index: list) -> str:
    return "-".join(map(str, index)) or "all"


def _write_shared(piece: xr.Dataset, index: list, shared: Any, partial: str) -> str:
    """A write task: :func:`_write_piece` with the layout every write shares (one graph key)."""
    return _write_piece(piece, index, *shared.values, partial)


def _write_piece(piece: xr.Dataset, index: list, dims: dict, dtypes: dict, split: list, cuts: dict,
                 partial: str) -> str:
    """Write one piece's slices into the store (a task run on a worker) and mark it done."""
    done = Path(partial) / _DONE / _piece_id(index)
    if done.exists():  # written by an earlier (killed or retried) run
        return done.name
    names = list(dtypes)
    piece = normalized(piece, dims)[names]
    piece = piece.assign({n: piece[n].astype(dtypes[n]) for n in names if piece[n].dtype != dtypes[n]})
    at = dict(zip(split, index))
    # variables that do not carry a split axis are written by the first piece along it only
    groups: dict[tuple, list] = defaultdict(list)
    for name in names:
        carried = tuple(a for a in split if a in dims[name])
        if all(at[a] == 0 for a in split if a not in carried):
            groups[carried].append(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr's notes on format-2 string dtypes
        for carried, group in groups.items():
            region = {a: cuts[a][at[a]] for a in carried}
            sub = piece[group].drop_vars([c for c in piece[group].coords], errors="ignore")
            sub.to_zarr(partial, region=region, zarr_format=2) if region else \
                sub.to_zarr(partial, mode="r+", zarr_format=2)
    done.touch()
    return done.name


def run_tasks(tasks: list, bar: Progress, done: int = 0) -> list:
    """Compute dask ``Delayed`` tasks with whatever scheduler is active, one bar step per task.

    With a ``dask.distributed`` client the tasks are submitted and counted as they finish on
    the workers (results stay small: a marker name, a per-piece optimum); otherwise the
    local scheduler runs them and reports each finished task to the bar.
    """
    if done:
        bar.update(done)
    try:
        from distributed import as_completed, default_client

        client = default_client()
    except (ImportError, ValueError):
        client = None
    if client is None or not tasks:
        from dask.callbacks import Callback

        wanted = {t.key for t in tasks}
        with Callback(posttask=lambda key, *_: bar.update() if key in wanted else None):
            return compute_together(tasks)
    # one graph for all the tasks (they share their pieces): a list of collections is sent as one graph
    # per task, quadratic in the pieces (16 MiB for 896, 160 MiB for 2,880: dask warned)
    futures = client.get(one_graph(tasks), [t.key for t in tasks], sync=False)
    try:
        for _ in as_completed(futures):
            bar.update()
        return client.gather(futures)
    except BaseException:  # interrupted or a task failed: stop the rest (a running task finishes)
        client.cancel(futures)
        raise


def write_store(ds: xr.Dataset, path: str | Path, progress: bool = False, label: str = "dsx") -> xr.Dataset:
    """Write a lazy dsx result to the zarr store ``path``, one task per piece; return it opened.

    Parameters
    ----------
    ds : xarray.Dataset
        A lazy result of ``dsx.training(space, chunks=...)`` (or ``dsx.serving``), possibly
        restricted to some variables (``outputs=``).
    path : path
        The store to create. It must not exist; ``PATH.partial`` may exist only as dsx's own
        unfinished store of the same evaluation (then its finished pieces are kept).
    progress : bool
        A progress bar on stderr, one step per piece written (``label`` before it).

    Returns
    -------
    xarray.Dataset
        The complete store, opened lazily.
    """
    tasks, total, finish = store_tasks(ds, path)
    run_tasks(tasks, Progress(total, label, progress), done=total - len(tasks))
    return finish()


def store_tasks(ds: xr.Dataset, path: str | Path) -> tuple[list, int, Any]:
    """The writes of :func:`write_store` as dask tasks, to be computed with other reductions.

    Returns the ``Delayed`` writes still to do (their graphs share the piece tasks, so a
    reduction computed together with them evaluates each piece once), the number of pieces,
    and ``finish()``, which, once every write is done, renames the store into place and
    returns it opened lazily.
    """
    from dask.delayed import Delayed

    plan = pieces_of(ds)
    if plan is None:
        raise DsxInputError("store: expected a lazy dsx result (dsx.training(space, chunks=...)), "
                            "unsliced and without added variables; for another Dataset use ds.to_zarr(path)")
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    if path.exists() or path.is_symlink():
        raise DsxInputError(f"store: {str(path)!r} exists; remove it or name another path")
    stamp = _fingerprint(ds, plan)
    mark = partial / PARTIAL_MARK  # the mark outdir uses: one name for "dsx's own partial"
    if partial.exists():
        if not mark.is_file():
            raise DsxInputError(f"store: {str(partial)!r} exists and is not an unfinished dsx store; "
                                "move it away or name another path (dsx never deletes what it did not write)")
        try:
            held = json.loads(mark.read_text()).get("fingerprint")
        except (ValueError, AttributeError):  # another kind of dsx partial (a streamed store)
            held = None
        if held != stamp:
            raise DsxInputError(f"store: {str(partial)!r} holds an unfinished store of another evaluation; "
                                "remove it (it is dsx's own) or name another path")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds.to_zarr(partial, compute=False, mode="w-", zarr_format=2)  # template + coordinates
        (partial / _DONE).mkdir()
        mark.write_text(json.dumps({"fingerprint": stamp, "what": "unfinished dsx store"}))
    dtypes = {n: ds[n].dtype for n in ds.data_vars}  # as the template has them (text: fixed width)
    layout = "dsx-layout-" + plan.name[len("dsx-piece-"):]
    graph = {**plan.graph, layout: Shared(plan.dims, dtypes, plan.split, plan.cuts)}  # once, not per task
    tasks = []
    for key in plan.keys():
        index = list(key[1:])
        if (partial / _DONE / _piece_id(index)).exists():
            continue
        k = ("dsx-write-" + plan.name[len("dsx-piece-"):], *key[1:])
        graph[k] = (_write_shared, key, index, layout, str(partial))
        tasks.append(Delayed(k, graph))

    def finish() -> xr.Dataset:
        missing = [k for k in plan.keys() if not (partial / _DONE / _piece_id(list(k[1:]))).exists()]
        if missing:  # never rename an incomplete store into place
            raise DsxInputError(f"store: {len(missing)} pieces of {str(path)!r} were not written; "
                                "run the same call again to finish them")
        shutil.rmtree(partial / _DONE)
        mark.unlink()
        partial.rename(path)
        return xr.open_zarr(path, zarr_format=2)

    return tasks, len(plan.keys()), finish

