"""The variable registry: every input and output of dsx, declared once in ``variables.toml``.

The file is data; this module reads it (stdlib :mod:`tomllib`), checks it on import and
exposes the views the rest of dsx reads:

- :data:`INPUTS` — name -> :class:`Input` (unit, default, bounds, choices, meaning, reference),
- :data:`OUTPUTS` — name -> ``(units, long_name)`` of every variable a solver computes,
- :data:`COLUMNS` — name -> :class:`Column` of every catalog column (``dsx/catalog/data/*.csv``)
  and every column :class:`dsx.Space` derives from them (``peak_flops``, ``weight_bytes``, ...),
- :data:`CALIBRATED` — the inputs ``dsx.calibrate`` may fit,
- :data:`MEANINGS` and :data:`REFERENCES` — name -> meaning, name -> reference key.

A solver's kernel names its parameters and returned variables; :func:`dsx.solvers.base.solver`
looks each name up here (an input gets its default, an output its unit and long name).
A malformed entry — an unknown field, a unit pint cannot read, a default outside its
bounds — stops the import with a message naming the entry and the fix.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["Input", "Column", "INPUTS", "OUTPUTS", "COLUMNS", "CATALOGS", "CALIBRATED", "MEANINGS", "REFERENCES",
           "load"]


@dataclass(frozen=True)
class Input:
    """A documented, sweepable user input (one entry of ``variables.toml`` of kind input/both).

    Parameters
    ----------
    default : Any
        Value used when the space does not set it (a bare number is in ``unit``).
    unit : str or None
        Canonical unit of the magnitude inside kernels; ``""`` dimensionless, ``None`` for a
        categorical (string) input.
    doc : str
        Meaning, and where its default comes from.
    integer : bool
        A count (kept as int64, must be >= 1 unless ``minimum`` says otherwise).
    choices : tuple, optional
        Allowed values of a categorical input.
    minimum, maximum : float, optional
        Allowed range (inclusive unless ``exclusive_minimum`` / ``exclusive_maximum``).
    exclusive_minimum, exclusive_maximum : bool
        The bound itself is not allowed (efficiencies in (0, 1], quantiles in (0, 1)).
    calibrated : bool
        A calibration factor (efficiency, overlap, latency) that ``dsx.calibrate`` may fit.
    reference : str
        A key of ``docs/references.bib`` or a ``docs/physics.md`` section (``"physics.md §4"``).
    """

    default: Any
    unit: str | None
    doc: str
    integer: bool = False
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    calibrated: bool = False
    reference: str = ""


Bound = tuple[float, bool]  # (value, the value itself allowed)


@dataclass(frozen=True)
class Column:
    """A catalog column, or a column :class:`dsx.Space` derives from the catalogs.

    Parameters
    ----------
    catalogs : tuple of str
        The catalogs whose file holds this column (empty for a derived column).
    type : str
        ``number`` (a figure in ``unit``), ``count``, ``flag``, ``text`` or ``key`` (id, aliases).
    unit : str or None
        Canonical unit of a number or count (``""`` dimensionless); None for flag, text and key.
    long_name, meaning, reference : str
        Label in the catalog Dataset; what the column is; a docs reference (may be empty).
    low, high : Bound or None
        Allowed range ``(value, inclusive)`` of a number or count; None: unbounded on that side.
    required : bool
        Every row of a user catalog must fill it.
    derived_from : str
        For a derived column, the ``catalog.column`` it is computed from.
    """

    catalogs: tuple[str, ...]
    type: str
    unit: str | None
    long_name: str
    meaning: str
    low: Bound | None = None
    high: Bound | None = None
    required: bool = False
    derived_from: str = ""
    reference: str = ""


KINDS = ("input", "output", "both", "catalog", "derived")
#: The catalogs (dsx/catalog/data/<name>.csv), in the order ``dsx catalog`` lists them.
CATALOGS = ("hardware", "models", "regions", "fabrics", "precisions")
#: Column types: a figure with a unit, a whole number, true/false, text, or how a row is named.
COLUMN_TYPES = ("number", "count", "flag", "text", "key")
_COMMON = {"kind", "unit", "meaning", "reference"}
_BOUNDS = {"minimum", "maximum", "exclusive_minimum", "exclusive_maximum"}
_FIELDS = {
    "input": _COMMON | _BOUNDS | {"default", "integer", "choices", "calibrated", "catalog", "long_name"},
    "output": _COMMON | {"long_name"},
    "catalog": _COMMON | _BOUNDS | {"catalog", "type", "required", "long_name"},
    "derived": _COMMON | _BOUNDS | {"derived_from", "long_name"},
}
_FIELDS["both"] = _FIELDS["input"] | _FIELDS["output"]
_WHAT = {"input": "an input", "output": "an output", "both": "an input", "catalog": "a catalog column",
         "derived": "a derived column"}
_TYPES = {"kind": str, "unit": str, "meaning": str, "reference": str, "long_name": str, "integer": bool,
          "calibrated": bool, "exclusive_minimum": bool, "exclusive_maximum": bool, "choices": list,
          "minimum": (int, float), "maximum": (int, float), "catalog": list, "type": str, "required": bool,
          "derived_from": str}


class RegistryError(ValueError):
    """``variables.toml`` declares a variable wrongly (raised on import, naming the entry)."""


def _fail(name: str, problem: str) -> None:
    raise RegistryError(f"dsx/variables.toml [{name}]: {problem}")


def _check_column(name: str, entry: dict) -> None:
    """The catalog fields: known catalogs, a known type, a unit exactly where the type has one."""
    cats = entry.get("catalog", [])
    bad = [c for c in cats if c not in CATALOGS]
    if bad or (entry["kind"] == "catalog" and not cats):
        _fail(name, f"catalog = {cats!r}; expected a non-empty list of {', '.join(map(repr, CATALOGS))}")
    if "catalog" in entry and "long_name" not in entry:
        _fail(name, "a catalog column needs a long_name (its label in the catalog Dataset)")
    kind = entry["kind"]
    if kind == "catalog" and entry.get("type") not in COLUMN_TYPES:
        _fail(name, f"type is {entry.get('type')!r}; expected one of {', '.join(map(repr, COLUMN_TYPES))}")
    if kind == "derived" and "derived_from" not in entry:
        _fail(name, "a derived column needs derived_from (the catalog column it is computed from, 'catalog.column')")
    _check_column_unit(name, entry)


def _check_column_unit(name: str, entry: dict) -> None:
    """A figure (a number or a count) has a unit; a text or flag column has neither unit nor bounds."""
    figure = entry["kind"] != "catalog" or entry["type"] in ("number", "count")
    misplaced = sorted(set(entry) & (_BOUNDS | {"unit"}))
    if not figure and misplaced:
        _fail(name, f"a {entry['type']} column has no unit or bounds: remove {', '.join(misplaced)}")
    if figure and "unit" not in entry:
        _fail(name, "no unit: give unit (\"\" if dimensionless)")


def _check(name: str, entry: dict, parse_unit: Any) -> None:
    kind = entry.get("kind")
    if kind not in KINDS:
        _fail(name, f"kind is {kind!r}; expected one of {', '.join(map(repr, KINDS))}")
    _check_fields(name, entry, kind)
    _check_required(name, entry, kind)
    if kind in ("catalog", "derived") or "catalog" in entry:
        _check_column(name, entry)
    _check_unit(name, entry, kind, parse_unit)
    _check_default(name, entry)


def _check_fields(name: str, entry: dict, kind: str) -> None:
    """Only the fields of its kind, each of its type (a bool is not a number)."""
    allowed = _FIELDS[kind]
    unknown = sorted(set(entry) - allowed)
    if unknown:
        _fail(name, f"unknown field(s) {', '.join(unknown)} for kind {kind!r}; allowed: {', '.join(sorted(allowed))}")
    for field, value in entry.items():
        expected = _TYPES.get(field)
        if expected and (not isinstance(value, expected) or isinstance(value, bool) != (expected is bool)):
            _fail(name, f"{field} = {value!r} has the wrong type; expected {getattr(expected, '__name__', 'a number')}")


def _check_required(name: str, entry: dict, kind: str) -> None:
    """An input has a default and a meaning; an output, a column or a derived column a long name."""
    is_input = kind in ("input", "both")
    if is_input and "default" not in entry:
        _fail(name, "an input needs a default (the value used when the space does not set it)")
    if kind != "input" and "long_name" not in entry:
        _fail(name, f"{_WHAT[kind]} needs a long_name (its label in tables and plots)")
    if "meaning" not in entry and kind != "output":
        _fail(name, f"{_WHAT[kind]} needs a meaning (what it is{', and where its default comes from' if is_input else ''})")


def _check_unit(name: str, entry: dict, kind: str, parse_unit: Any) -> None:
    """A unit ``parse_unit`` reads, or choices (a categorical input) instead, never both."""
    if "choices" in entry and "unit" in entry:
        _fail(name, "a categorical input (choices) has no unit: remove unit")
    if "unit" in entry:
        try:
            parse_unit(entry["unit"])
        except Exception as err:  # pint raises several types for an unreadable unit
            _fail(name, f"unit {entry['unit']!r} is not a unit dsx knows ({err}); use a pint unit such as 'B/s'")
    elif kind in ("output", "both", "derived") or kind == "input" and "choices" not in entry:
        _fail(name, "no unit: give unit (\"\" if dimensionless) or, for a categorical input, choices")


def _check_default(name: str, entry: dict) -> None:
    """Bounds in order; the default one of the choices and within the bounds (inclusive unless exclusive)."""
    low, high = entry.get("minimum"), entry.get("maximum")
    if low is not None and high is not None and low > high:
        _fail(name, f"minimum {low} is above maximum {high}")
    default = entry.get("default")
    if "choices" in entry and default not in entry["choices"]:
        _fail(name, f"default {default!r} is not one of its choices {entry['choices']}")
    if _outside(default, low, entry.get("exclusive_minimum"), below=True) or \
            _outside(default, high, entry.get("exclusive_maximum"), below=False):
        _fail(name, f"default {default!r} is outside its bounds [{low}, {high}]")


def _outside(value: Any, bound: Any, exclusive: Any, below: bool) -> bool:
    """A number beyond one bound (``below``: under a minimum), or on it when the bound is exclusive."""
    if bound is None or not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        return False
    beyond = value < bound if below else value > bound
    return bool(beyond or (exclusive and value == bound))


def load(text: str | None = None, parse_unit: Any = None) -> dict[str, dict]:
    """Parse and check the registry (``text``, default the packaged ``variables.toml``).

    >>> load('[x]\\nkind = "output"\\nunit = "s"\\nlong_name = "x"')["x"]["unit"]
    's'
    """
    if text is None:
        text = resources.files("dsx").joinpath("variables.toml").read_text(encoding="utf-8")
    if parse_unit is None:
        from .units import ureg
        parse_unit = ureg.Unit
    try:
        table = tomllib.loads(text)  # a repeated [name] is a TOML error: one declaration per name
    except tomllib.TOMLDecodeError as err:
        raise RegistryError(f"dsx/variables.toml is not valid TOML ({err}); "
                            "each variable is one [name] table, declared once") from None
    for name, entry in table.items():
        if not isinstance(entry, dict):
            _fail(name, "expected a table ([name] followed by its fields)")
        _check(name, entry, parse_unit)
    return table


def _column(e: dict) -> Column:
    typ = e.get("type") or ("count" if e.get("integer") else "number")
    low = None if e.get("minimum") is None else (float(e["minimum"]), not e.get("exclusive_minimum", False))
    if low is None and e["kind"] == "input" and e.get("integer"):
        low = (0.0, False)  # a count read from a catalog: > 0
    high = None if e.get("maximum") is None else (float(e["maximum"]), not e.get("exclusive_maximum", False))
    return Column(tuple(e.get("catalog", ())), typ, e.get("unit"), e["long_name"], e["meaning"], low, high,
                  e.get("required", False), e.get("derived_from", ""), e.get("reference", ""))


def _views(table: dict[str, dict]) -> tuple[dict, dict, dict, dict, dict]:
    inputs, outputs, columns, meanings, references = {}, {}, {}, {}, {}
    for name, e in table.items():
        meanings[name] = e.get("meaning", e.get("long_name", ""))
        references[name] = e.get("reference", "")
        if e["kind"] in ("input", "both"):
            inputs[name] = Input(
                e["default"], e.get("unit"), e["meaning"], integer=e.get("integer", False),
                choices=tuple(e["choices"]) if "choices" in e else None, minimum=e.get("minimum"),
                maximum=e.get("maximum"), exclusive_minimum=e.get("exclusive_minimum", False),
                exclusive_maximum=e.get("exclusive_maximum", False), calibrated=e.get("calibrated", False),
                reference=e.get("reference", ""))
        if e["kind"] in ("output", "both"):
            outputs[name] = (e["unit"], e["long_name"])
        if e["kind"] in ("catalog", "derived") or "catalog" in e:
            columns[name] = _column(e)
    return inputs, outputs, columns, meanings, references


#: Every user input: name -> Input.
INPUTS: dict[str, Input]
#: Units and long names of every output variable: name -> (units, long_name).
OUTPUTS: dict[str, tuple[str, str]]
#: What each variable means (an output without its own meaning: its long name).
MEANINGS: dict[str, str]
#: The reference of each variable: a docs/references.bib key or a docs/physics.md section.
REFERENCES: dict[str, str]
#: Every catalog column and every column Space derives from the catalogs: name -> Column.
COLUMNS: dict[str, Column]
INPUTS, OUTPUTS, COLUMNS, MEANINGS, REFERENCES = _views(load())
#: Inputs that are calibration factors (fitted by ``dsx.calibrate``, refitted by
#: ``benchmarks/calibrate.py``): efficiencies, overlaps and latencies of the solvers.
CALIBRATED = frozenset(n for n, s in INPUTS.items() if s.calibrated)
