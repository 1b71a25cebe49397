"""Sweep files: a parameter study written as TOML, run by ``dsx run SWEEP.toml -o DIR``.

The file format is documented in ``docs/sweeps.md``. In short::

    workload = "training"                       # or "serving"
    description = "time vs cost vs carbon"
    outputs = ["time_to_train", "tco", "carbon"] # variables to keep (default: all)
    constraints = ["time_to_train < 30 day"]    # expressions (dsx.expr), combined with `and`
    best = ["gpus", "tp", "pp"]                  # dimensions the optimum is taken over
    [space]                                      # exactly Space's names; lists are axes
    model = "llama-3.1-70b"
    gpus = [256, 512, 1024]
    [derived]                                    # new variables from expressions
    cost_per_day = "tco / (time_to_train / 1 day)"
    [objectives]
    minimize = ["time_to_train", "tco"]
    [[figures]]
    kind = "pareto_front"                        # a function of dsx.plot; other keys are its arguments

The whole file is validated before anything runs (unknown keys, wrong types, unknown
variable names, expression syntax), then the space is evaluated in chunks along its largest
axis (memory stays bounded) with a progress bar on stderr, and the outputs are written into
a temporary directory next to DIR that is renamed to DIR only when everything succeeded.

The file is validated in :mod:`dsx.sweep_file` (:class:`Sweep`, :func:`parse`, :func:`load`,
re-exported here) and its outputs written by :mod:`dsx.sweep_outputs`; this module evaluates
and runs it.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from . import expr
from .codes import is_coded
from .errors import DsxInputError, did_you_mean
# re-exported: callers (tests, dsx.cli, dsx.sweep_outputs) import these from dsx.sweep
from .sweep_file import Sweep, _err, load, parse as parse

__all__ = ["Sweep", "load", "prepare", "evaluate", "run", "CHUNK_SIZE"]

#: Configurations evaluated at once (the largest axis is split to stay below this).
CHUNK_SIZE = 2_000_000


# -- evaluation ----------------------------------------------------------------------------
def _limit(values: list, n: int | None) -> list:
    if n is None or len(values) <= n:
        return values
    idx = np.unique(np.linspace(0, len(values) - 1, max(n, 1)).round().astype(int))
    return [values[i] for i in idx]


def _space_values(s: Sweep, limit: int | None) -> dict:
    return {k: (_limit(v, limit) if isinstance(v, list) else v) for k, v in s.space.items()}


def _stack(s: Sweep) -> Any:
    from . import stacks

    return stacks.training if s.workload == "training" else stacks.serving


def _finish(s: Sweep, ds: xr.Dataset, keep: set[str] | None) -> xr.Dataset:
    for name, e in s.derived.items():
        try:
            ds[name] = expr.evaluate(e, ds)
        except DsxInputError as exc:
            raise _err(s.source, f"derived.{name}: {exc}") from None
    if keep is not None:
        ds = ds.drop_vars([v for v in ds.data_vars if v not in keep])
    return ds


#: Figure arguments that name variables (checked with the rest of the file before the run).
_FIGURE_VARIABLES = ("x", "y", "var", "vars", "col", "hue", "intensity", "performance")


#: Inputs that dsx.Space itself turns into others (bytes per element, per-link bandwidth).
_SPACE_DERIVES = {"precision_bytes", "scale_out_link_bandwidth"}


def unread(workload: str, names: Any) -> list[str]:
    """The ``names`` (Space inputs) that the ``workload`` stack never reads: setting them changes nothing."""
    import inspect

    from . import stacks
    from .space import KEYS

    read: set[str] = set()
    for step in stacks.TRAINING if workload == "training" else stacks.SERVING:
        params = list(inspect.signature(step).parameters)
        if params == ["ds"]:  # a plain Dataset -> Dataset step: it says what it reads, or it is unknown
            if getattr(step, "uses", None) is None:
                return []
            read |= set(step.uses)
            continue
        read |= set(params)
    return [k for k in names if k not in read and k not in KEYS and k not in _SPACE_DERIVES]


def _check_used(s: Sweep) -> None:
    """Refuse a [space] input the workload's stack never reads."""
    for k in unread(s.workload, s.space)[:1]:
        other = "serving" if s.workload == "training" else "training"
        where = f"it is an input of the {other} stack" if not unread(other, [k]) else "no solver reads it"
        raise _err(s.source, f"space.{k}: the {s.workload} stack does not read {k!r}, so it would change "
                             f"nothing; remove it ({where})")


def _check_names(s: Sweep, raw: xr.Dataset, probe: xr.Dataset, values: dict) -> None:
    """Every name the file uses exists, derived names are new, objectives are numbers,
    constraints are conditions, figure selections match an axis."""
    for name in s.derived:
        if name in raw.variables:
            raise _err(s.source, f"derived.{name}: {name!r} is already a variable of the result; "
                                 "name the new variable differently")
    known = set(map(str, probe.variables)) | set(s.derived)
    for name in sorted(_used_names(s)):
        if name not in known:
            raise _err(s.source, f"unknown variable {name!r}{did_you_mean(name, known)}")
    try:
        expr.mask(s.constraints or None, probe)
    except DsxInputError as exc:
        raise _err(s.source, f"constraints: {exc}") from None
    for key, names in (("objectives.minimize", s.minimize), ("objectives.maximize", s.maximize)):
        for name in names:
            if name in probe.variables and (not np.issubdtype(probe[name].dtype, np.number)
                                            or is_coded(probe[name])):
                raise _err(s.source, f"{key}: {name!r} is not a number (dtype {probe[name].dtype}); "
                                     "objectives are numeric outputs such as 'tco' or 'time_to_train'")
    from .space import Space

    axes = Space(**values).axes
    for i, f in enumerate(s.figures):
        for dim, label in (f.get("select") or {}).items():
            _check_selection(s, f"figures[{i}].select", dim, label, axes)


def _used_names(s: Sweep) -> set[str]:
    """The variable names the file uses: expressions, objectives, outputs and figure arguments."""
    used = set(s.names())
    for f in s.figures:
        for k in _FIGURE_VARIABLES:
            v = f.get(k)
            used |= {v} if isinstance(v, str) else {x for x in v if isinstance(x, str)} if isinstance(v, list) else set()
    return used


def _check_selection(s: Sweep, where: str, dim: str, label: Any, axes: dict) -> None:
    """``select = {dim = label}`` names an axis of [space] and one of the values run along it."""
    from .space import Space

    if dim not in axes:
        raise _err(s.source, f"{where}: {dim!r} is not an axis of [space] (axes: {', '.join(axes) or 'none'})")
    try:
        value = Space(**{dim: label}).values[dim]
    except DsxInputError as exc:
        raise _err(s.source, f"{where}.{dim}: {exc}") from None
    if value not in axes[dim]:
        raise _err(s.source, f"{where}.{dim}: {label!r} is not among the values run "
                             f"({', '.join(map(str, axes[dim]))})")


def _count(name: str, value: Any) -> int | None:
    """``limit``/``chunk_size``: None or a whole number >= 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DsxInputError(f"{name} must be a whole number >= 1, got {value!r}")
    return int(value)


def _check_figures(s: Sweep, values: dict, stack: Any) -> None:
    """Draw every figure on a small copy of the space (at most two values per axis, the
    selected ones kept) before the real run: a figure that needs ``select`` fails in seconds."""
    from .space import Space

    axes = Space(**values).axes
    chosen: dict[str, list] = {}
    for f in s.figures:
        for dim, label in (f.get("select") or {}).items():
            chosen.setdefault(dim, []).append(Space(**{dim: label}).values[dim])
    small = dict(values)
    for dim, vals in axes.items():
        pick = list(dict.fromkeys([*chosen.get(dim, []), vals[0], vals[-1]]))
        small[dim] = pick if len(pick) > 1 else pick[0]
    ds = _finish(s, stack(Space(**small)), None)
    where = expr.mask(s.constraints, ds) if s.constraints else None
    from .sweep_outputs import figures

    figures(s, ds, where, None, [])


def prepare(s: Sweep, limit: int | None = None) -> tuple[Any, Any, set[str] | None]:
    """Validate the sweep against a one-configuration probe (and draw its figures on a small
    copy); return the space, the stack and the variables to keep (None: all)."""
    from .space import Space

    limit = _count("limit", limit)
    values = _space_values(s, limit)
    space = Space(**values)
    stack = _stack(s)
    _check_used(s)
    # a one-configuration probe validates every name before the real work
    raw = stack(Space(**{k: (v[0] if isinstance(v, list) else v) for k, v in values.items()}))
    probe = _finish(s, raw.copy(), None)
    _check_names(s, raw, probe, values)
    if s.figures:
        _check_figures(s, values, stack)
    keep = None
    if s.outputs is not None:
        keep = set(s.outputs) | s.names() | set(s.derived) | {"feasible", "reason"}
    return space, stack, keep


def evaluate(s: Sweep, limit: int | None = None, chunk_size: int | None = None,
             progress: bool = False) -> xr.Dataset:
    """Evaluate the sweep's space in chunks along its largest axis; derived variables added."""
    chunk_size = _count("chunk_size", chunk_size)
    space, stack, keep = prepare(s, limit)
    from .stacks import chunked

    return chunked(stack, space, int(chunk_size or CHUNK_SIZE), lambda ds: _finish(s, ds, keep),
                   progress, "dsx run")


def run(path: str | os.PathLike, out: str | os.PathLike, limit: int | None = None, force: bool = False,
        chunk_size: int | None = None, progress: bool = True, workers: int | None = None,
        scheduler: str | None = None) -> Path:
    """Run a sweep file and write ``result.nc``, ``front.csv``, ``best.csv``, figures and
    ``summary.md`` into ``out`` atomically (:mod:`dsx.outdir`: nothing is left behind on error,
    an existing ``out`` is replaced only with ``force`` and only when dsx wrote it).

    ``limit`` keeps at most that many values per axis (default: env ``DSX_SWEEP_LIMIT``).
    ``workers`` (a LocalCluster of that many processes) or ``scheduler`` (the address of a
    running dask scheduler) evaluate it lazily on dask instead (:mod:`dsx.sweep_cluster`):
    the workers write ``result.zarr`` and reduce ``best``/``front`` piece by piece.
    """
    from . import outdir
    from .sweep_outputs import analysis_tables, figures, summary, to_netcdf

    s = load(path)
    if limit is None and os.environ.get("DSX_SWEEP_LIMIT"):
        text = os.environ["DSX_SWEEP_LIMIT"]
        if not text.strip().isdigit() or int(text) < 1:
            raise DsxInputError(f"DSX_SWEEP_LIMIT={text!r}: expected a whole number >= 1")
        limit = int(text)
    out = Path(out)
    if workers is not None or scheduler is not None:
        from .sweep_cluster import check_options

        check_options(workers, scheduler, chunk_size)
    outdir.check_replace(out, force, "output", keep=(Path(path),))
    # the marked folder is made first, so that an unwritable place fails before the evaluation
    with outdir.staged(out, force, "output", keep=(Path(path),)) as tmp:
        if workers is not None or scheduler is not None:
            from .sweep_cluster import run_on_dask

            run_on_dask(s, tmp, limit, workers, scheduler, progress)
            return out
        t0 = time.perf_counter()
        ds = evaluate(s, limit=limit, chunk_size=chunk_size, progress=progress)
        seconds = time.perf_counter() - t0
        where = expr.mask(s.constraints, ds) if s.constraints else None
        if where is not None:
            ds["meets_constraints"] = where.assign_attrs(units="", long_name=" and ".join(s.constraints))
        notes: list[str] = []
        made = analysis_tables(s, ds, where, tmp, notes)
        files = figures(s, ds, where, tmp, notes)
        ds.attrs.update({"dsx_sweep": Path(s.source).name, "dsx_workload": s.workload})
        to_netcdf(ds, tmp / "result.nc")
        (tmp / "summary.md").write_text(summary(s, ds, where, made, files, notes, seconds))
        for n in notes:
            print(f"dsx run: note: {n}", file=sys.stderr)
    return out
