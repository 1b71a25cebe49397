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
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from . import expr
from .errors import DsxInputError

__all__ = ["Sweep", "load", "evaluate", "run", "CHUNK_SIZE"]

#: Configurations evaluated at once (the largest axis is split to stay below this).
CHUNK_SIZE = 2_000_000
_KEYS = {"workload": str, "description": str, "calibration": str, "space": dict, "outputs": list, "derived": dict,
         "constraints": list, "objectives": dict, "best": list, "figures": list}
_TYPES = {str: "a string", dict: "a table", list: "a list", int: "an integer"}
#: A figure's file stem: one plain name, so that it can only land inside the output folder.
_FILE_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@dataclass
class Sweep:
    """A validated sweep file."""

    source: str
    workload: str = "training"
    description: str = ""
    space: dict = field(default_factory=dict)
    outputs: list | None = None
    derived: dict = field(default_factory=dict)
    constraints: list = field(default_factory=list)
    minimize: list = field(default_factory=list)
    maximize: list = field(default_factory=list)
    best: list | None = None
    figures: list = field(default_factory=list)

    @property
    def objectives(self) -> list[str]:
        return [*self.minimize, *self.maximize]

    def names(self) -> set[str]:
        """Every variable the file refers to (outputs, expressions, objectives)."""
        out = set(self.outputs or ()) | set(self.objectives)
        for e in [*self.constraints, *self.derived.values()]:
            out |= expr.names(e)
        return out - set(self.derived)


def _err(source: str, msg: str) -> DsxInputError:
    return DsxInputError(f"{source}: {msg}")


def _typed(source: str, key: str, value: Any, kind: type) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _err(source, f"{key} must be {_TYPES[kind]}, got {type(value).__name__} {value!r}")
    return value


def _strings(source: str, key: str, value: Any) -> list[str]:
    value = [value] if isinstance(value, str) else value
    _typed(source, key, value, list)
    for i, v in enumerate(value):
        _typed(source, f"{key}[{i}]", v, str)
    return list(value)


def _unknown(source: str, where: str, keys: set, allowed: set) -> None:
    for k in sorted(keys - allowed):
        close = difflib.get_close_matches(k, sorted(allowed), n=2)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise _err(source, f"unknown key {k!r} in {where}{hint} (allowed: {', '.join(sorted(allowed))})")


def parse(data: dict, source: str = "<sweep>") -> Sweep:
    """Validate the keys, types and expressions of a sweep (the dict of a TOML file)."""
    from .space import Space

    _unknown(source, "the file", set(data), set(_KEYS))
    for k, v in data.items():
        if k not in ("outputs", "constraints", "best"):
            _typed(source, k, v, _KEYS[k])
    s = Sweep(source)
    s.workload = data.get("workload", "training")
    if s.workload not in ("training", "serving"):
        raise _err(source, f"workload must be 'training' or 'serving', got {s.workload!r}")
    s.description = data.get("description", "")
    if "space" not in data:
        raise _err(source, "missing [space] table (the inputs and axes to evaluate)")
    for k, v in data["space"].items():
        vals = v if isinstance(v, list) else [v]
        if any(isinstance(x, (dict, list)) for x in vals):
            raise _err(source, f"space.{k} must be a value or a list of values, got {v!r}")
        try:
            Space(**{k: v})
        except DsxInputError as exc:
            raise _err(source, f"space.{k}: {exc}") from None
    s.space = dict(data["space"])
    if "calibration" in data:  # fitted factors (`dsx calibrate`); the [space] table wins where both set one
        from .calibration import read_toml

        s.space = {**read_toml(data["calibration"]), **s.space}
    if "outputs" in data:
        s.outputs = _strings(source, "outputs", data["outputs"])
    for k, v in data.get("derived", {}).items():
        _typed(source, f"derived.{k}", v, str)
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", k) or k in s.space:
            why = "is an input of [space]" if k in s.space else "must be a name (letters, digits, '_')"
            raise _err(source, f"derived.{k}: {k!r} {why}; name the new variable differently")
    s.derived = dict(data.get("derived", {}))
    s.constraints = _strings(source, "constraints", data.get("constraints", []))
    obj = data.get("objectives", {})
    _unknown(source, "[objectives]", set(obj), {"minimize", "maximize"})
    s.minimize = _strings(source, "objectives.minimize", obj.get("minimize", []))
    s.maximize = _strings(source, "objectives.maximize", obj.get("maximize", []))
    twice = sorted({o for o in s.objectives if s.objectives.count(o) > 1})
    if twice:
        raise _err(source, f"objectives: {twice[0]!r} is listed twice (once, in minimize or maximize)")
    if "best" in data:
        s.best = _strings(source, "best", data["best"])
        if not s.objectives:
            raise _err(source, "best needs [objectives] (minimize or maximize)")
        axes = {k for k, v in s.space.items() if isinstance(v, list)}
        for d in s.best:
            if d not in axes:
                raise _err(source, f"best: {d!r} is not an axis of [space] (axes: {', '.join(sorted(axes)) or 'none'})")
    for i, fig in enumerate(data.get("figures", [])):
        _typed(source, f"figures[{i}]", fig, dict)
        if not isinstance(fig.get("kind"), str):
            raise _err(source, f"figures[{i}] needs kind = \"<function of dsx.plot>\"")
        if "name" in fig:
            _typed(source, f"figures[{i}].name", fig["name"], str)
            if not _FILE_STEM.fullmatch(fig["name"]) or ".." in fig["name"]:
                raise _err(source, f"figures[{i}].name {fig['name']!r} must be a plain file name (letters, "
                                   "digits, '_', '-', '.'; no folders): figures are written inside the output folder")
        if "select" in fig:
            _typed(source, f"figures[{i}].select", fig["select"], dict)
    s.figures = [dict(f) for f in data.get("figures", [])]
    stems = [f.get("name", f"{i + 1:02d}_{f['kind']}") for i, f in enumerate(s.figures)]
    for i, stem in enumerate(stems):
        if stem in stems[:i]:
            raise _err(source, f"figures[{i}].name {stem!r} is used twice; each figure needs its own name")
    for label, e in [*((f"constraints[{i}]", c) for i, c in enumerate(s.constraints)),
                     *((f"derived.{k}", v) for k, v in s.derived.items())]:
        try:
            expr.parse(e)
        except DsxInputError as exc:
            raise _err(source, f"{label}: {exc}") from None
    return s


def load(path: str | os.PathLike) -> Sweep:
    """Read and validate a sweep file."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DsxInputError(f"sweep file {str(p)!r} not found") from None
    except IsADirectoryError:
        raise DsxInputError(f"sweep file {str(p)!r} is a directory; name a .toml file") from None
    except UnicodeDecodeError:
        raise DsxInputError(f"sweep file {str(p)!r} is not UTF-8 text (a binary file?); name a .toml file") from None
    except OSError as exc:
        raise DsxInputError(f"sweep file {str(p)!r} cannot be read ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise DsxInputError(f"{p.name}: not valid TOML: {str(exc).splitlines()[0] if str(exc) else 'too deeply nested'}") from None
    if isinstance(data.get("calibration"), str):  # relative to the sweep file
        data["calibration"] = str(p.parent / data["calibration"])
    return parse(data, p.name)


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
_SPACE_DERIVES = {"precision_bytes", "scale_out_link_bandwidth", "nics_per_gpu"}


def unread(workload: str, names: Any) -> list[str]:
    """The ``names`` (Space inputs) that the ``workload`` stack never reads: setting them changes nothing."""
    import inspect

    from . import stacks
    from .space import KEYS

    read: set[str] = set()
    for step in stacks.TRAINING if workload == "training" else stacks.SERVING:
        params = list(inspect.signature(step).parameters)
        if params == ["ds"]:  # a plain Dataset -> Dataset step: it says what it reads, or it is unknown
            if getattr(step, "reads", None) is None:
                return []
            read |= set(step.reads)
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
    used = set(s.names())
    for f in s.figures:
        for k in _FIGURE_VARIABLES:
            v = f.get(k)
            used |= {v} if isinstance(v, str) else {x for x in v if isinstance(x, str)} if isinstance(v, list) else set()
    for name in sorted(used):
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise _err(s.source, f"unknown variable {name!r}{hint}")
    try:
        expr.mask(s.constraints or None, probe)
    except DsxInputError as exc:
        raise _err(s.source, f"constraints: {exc}") from None
    for key, names in (("objectives.minimize", s.minimize), ("objectives.maximize", s.maximize)):
        for name in names:
            if name in probe.variables and not np.issubdtype(probe[name].dtype, np.number):
                raise _err(s.source, f"{key}: {name!r} is not a number (dtype {probe[name].dtype}); "
                                     "objectives are numeric outputs such as 'tco' or 'time_to_train'")
    from .space import Space

    axes = Space(**values).axes
    for i, f in enumerate(s.figures):
        for dim, label in (f.get("select") or {}).items():
            if dim not in axes:
                raise _err(s.source, f"figures[{i}].select: {dim!r} is not an axis of [space] "
                                     f"(axes: {', '.join(axes) or 'none'})")
            try:
                value = Space(**{dim: label}).values[dim]
            except DsxInputError as exc:
                raise _err(s.source, f"figures[{i}].select.{dim}: {exc}") from None
            if value not in axes[dim]:
                raise _err(s.source, f"figures[{i}].select.{dim}: {label!r} is not among the values run "
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


def evaluate(s: Sweep, limit: int | None = None, chunk_size: int | None = None,
             progress: bool = False) -> xr.Dataset:
    """Evaluate the sweep's space in chunks along its largest axis; derived variables added."""
    from .space import Space

    limit = _count("limit", limit)
    chunk_size = _count("chunk_size", chunk_size)
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
    from .stacks import chunked

    return chunked(stack, space, int(chunk_size or CHUNK_SIZE), lambda ds: _finish(s, ds, keep),
                   progress, "dsx run")


def run(path: str | os.PathLike, out: str | os.PathLike, limit: int | None = None, force: bool = False,
        chunk_size: int | None = None, progress: bool = True) -> Path:
    """Run a sweep file and write ``result.nc``, ``front.csv``, ``best.csv``, figures and
    ``summary.md`` into ``out`` atomically (:mod:`dsx.outdir`: nothing is left behind on error,
    an existing ``out`` is replaced only with ``force`` and only when dsx wrote it).

    ``limit`` keeps at most that many values per axis (default: env ``DSX_SWEEP_LIMIT``).
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
    outdir.check_replace(out, force, "output", keep=(Path(path),))
    # the marked folder is made first, so that an unwritable place fails before the evaluation
    with outdir.staged(out, force, "output", keep=(Path(path),)) as tmp:
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
