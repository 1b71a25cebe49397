"""The sweep file itself: the validated :class:`Sweep`, :func:`parse` (keys, types, space
values, expressions of the TOML dict) and :func:`load` (read a file, then parse it).

Split from :mod:`dsx.sweep` (which evaluates and runs a Sweep and re-exports these names).
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import expr
from .errors import DsxInputError

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
    _unknown(source, "the file", set(data), set(_KEYS))
    for k, v in data.items():
        if k not in ("outputs", "constraints", "best"):
            _typed(source, k, v, _KEYS[k])
    s = Sweep(source)
    s.workload = data.get("workload", "training")
    if s.workload not in ("training", "serving"):
        raise _err(source, f"workload must be 'training' or 'serving', got {s.workload!r}")
    s.description = data.get("description", "")
    s.space = _space(source, data)
    if "outputs" in data:
        s.outputs = _strings(source, "outputs", data["outputs"])
    s.derived = _derived(source, data.get("derived", {}), s.space)
    s.constraints = _strings(source, "constraints", data.get("constraints", []))
    _objectives(s, data.get("objectives", {}))
    if "best" in data:
        s.best = _best(s, data["best"])
    s.figures = _figures(source, data.get("figures", []))
    for label, e in [*((f"constraints[{i}]", c) for i, c in enumerate(s.constraints)),
                     *((f"derived.{k}", v) for k, v in s.derived.items())]:
        try:
            expr.parse(e)
        except DsxInputError as exc:
            raise _err(source, f"{label}: {exc}") from None
    return s


def _space(source: str, data: dict) -> dict:
    """The [space] table, each entry checked as a Space input; fitted factors of ``calibration`` under it."""
    from .space import Space

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
    space = dict(data["space"])
    if "calibration" in data:  # fitted factors (`dsx calibrate`); the [space] table wins where both set one
        from .calibration import read_toml

        space = {**read_toml(data["calibration"]), **space}
    return space


def _derived(source: str, derived: dict, space: dict) -> dict:
    for k, v in derived.items():
        _typed(source, f"derived.{k}", v, str)
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", k) or k in space:
            why = "is an input of [space]" if k in space else "must be a name (letters, digits, '_')"
            raise _err(source, f"derived.{k}: {k!r} {why}; name the new variable differently")
    return dict(derived)


def _objectives(s: Sweep, obj: dict) -> None:
    _unknown(s.source, "[objectives]", set(obj), {"minimize", "maximize"})
    s.minimize = _strings(s.source, "objectives.minimize", obj.get("minimize", []))
    s.maximize = _strings(s.source, "objectives.maximize", obj.get("maximize", []))
    twice = sorted({o for o in s.objectives if s.objectives.count(o) > 1})
    if twice:
        raise _err(s.source, f"objectives: {twice[0]!r} is listed twice (once, in minimize or maximize)")


def _best(s: Sweep, value: Any) -> list[str]:
    best = _strings(s.source, "best", value)
    if not s.objectives:
        raise _err(s.source, "best needs [objectives] (minimize or maximize)")
    axes = {k for k, v in s.space.items() if isinstance(v, list)}
    for d in best:
        if d not in axes:
            raise _err(s.source, f"best: {d!r} is not an axis of [space] (axes: {', '.join(sorted(axes)) or 'none'})")
    return best


def _figures(source: str, figures: list) -> list[dict]:
    for i, fig in enumerate(figures):
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
    stems = [f.get("name", f"{i + 1:02d}_{f['kind']}") for i, f in enumerate(figures)]
    for i, stem in enumerate(stems):
        if stem in stems[:i]:
            raise _err(source, f"figures[{i}].name {stem!r} is used twice; each figure needs its own name")
    return [dict(f) for f in figures]


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
