"""Numbers and tables as text: a value in readable units (``fmt``), aligned columns (``_grid``), JSON lines.

Used by the audit report, the uncertainty summary and the ``dsx catalog``/``dsx inputs`` tables.

>>> fmt(9625.2e-3, "s"), fmt(3.17e6, "gCO2e"), fmt(502983.0, "USD"), fmt(0.9630, "", "goodput")
('9.63 s', '3.17 t CO2e', '$502,983', '96.3 %')
"""

from __future__ import annotations

import json
import math
import textwrap
from typing import Any

import numpy as np
import xarray as xr

from .codes import decode

__all__ = ["fmt"]

_PREFIX = [(1e24, "Y"), (1e21, "Z"), (1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
_COUNT = [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")]
_FRACTIONS = ("mfu", "hfu", "goodput", "efficiency", "utilization", "fraction", "probability",
              "headroom_fraction", "prefix_cache_hit", "acceptance")


def _num(x: float) -> str:
    """Three significant figures, thousands separators above 1000."""
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    if a == 0:
        return "0"
    return f"{x:#.3g}"


def _si(x: float, unit: str, table: list = _PREFIX) -> str:
    """SI prefix glued to the unit (``1.2 GB``) or, for counts, a word apart (``1.2 T tokens``)."""
    sep = " " if table is _COUNT else ""
    for scale, p in table:
        if abs(x) >= scale:
            return f"{_num(x / scale)} {p}{sep}{unit}"
    return f"{_num(x)} {unit}"


def _time(x: float) -> str:
    a = abs(x)
    if a == 0:
        return "0 s"
    if a < 1e-3:
        return f"{_num(x * 1e6)} µs"
    if a < 1:
        return f"{_num(x * 1e3)} ms"
    if a < 120:
        return f"{_num(x)} s"
    if a < 7200:
        return f"{_num(x / 60)} min"
    if a < 72 * 3600:
        return f"{_num(x / 3600)} h"
    return f"{_num(x / 86400)} days"


def _usd(x: float) -> str:
    sign = "-" if x < 0 else ""
    a = abs(x)
    if a >= 100:
        return f"{sign}${a:,.0f}"
    if a >= 0.01:
        return f"{sign}${a:.2f}"
    return f"{sign}${a:.3g}"


def _litres(v: float) -> str:
    return f"{_num(v)} L" if abs(v) < 1e4 else f"{_num(v / 1e3)} m³"


def _energy(v: float) -> str:
    return f"{_num(v)} J" if abs(v) < 3.6e3 else _si(v / 3.6e3, "Wh")


def _carbon(v: float) -> str:
    if abs(v) < 1e3:
        return f"{_num(v)} g CO2e"
    return f"{_num(v / 1e3)} kg CO2e" if abs(v) < 1e6 else f"{_num(v / 1e6)} t CO2e"


def _plain(v: float) -> str:
    return f"{v:,.0f}" if v.is_integer() and abs(v) < 1e15 else _num(v)


#: Canonical unit -> how a value in it reads.
_BY_UNIT = {
    "s": _time, "USD": _usd, "B": lambda v: _si(v, "B"), "B/s": lambda v: _si(v, "B/s"),
    "flop": lambda v: _si(v, "flop"), "flop/s": lambda v: _si(v, "flop/s"),
    "W": lambda v: _si(v, "W"), "token": lambda v: _si(v, "tokens", _COUNT),
    "token/s": lambda v: _si(v, "tokens/s", _COUNT), "param": lambda v: _si(v, "params", _COUNT),
    "L": _litres, "J": _energy, "gCO2e": _carbon, "": _plain,
}


def fmt(value: Any, units: str | None = "", name: str | None = None) -> str:
    """A readable string for one value given its canonical ``units`` (and variable name).

    >>> fmt(1.2e11, "B"), fmt(149.7e9 * 3.6, "J"), fmt(8.4e23, "flop"), fmt(1e8, "token")
    ('120 GB', '150 MWh', '840 Zflop', '100 M tokens')
    """
    if value is None or isinstance(value, (bool, np.bool_, str, np.str_)):
        return _label(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    return _number(x, units or "", name)


def _label(value: bool | str | None) -> str:
    """``None`` as "n/a", a flag as yes/no, a string as itself ("-" when empty)."""
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return str(value) or "-"


def _number(x: float, u: str, name: str | None) -> str:
    """A float in canonical unit ``u``; a dimensionless fraction (by ``name``) as a percentage."""
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "∞"
    if u == "" and name and any(k in name for k in _FRACTIONS):
        return f"{_num(x * 100)} %"
    if u in _BY_UNIT:
        return _BY_UNIT[u](x)
    if u.startswith("USD/"):
        return f"{_usd(x)}/{u[4:]}"
    return f"{_num(x)} {u}"


def _grid(header: list[str], body: list[list[str]], wrap: int | None = None) -> str:
    """Aligned columns; with ``wrap``, cells of the value columns are wrapped to that width."""
    if wrap:
        lines = []
        for row in body:
            cells = [textwrap.wrap(c, wrap) or [""] if i >= 2 else [c] for i, c in enumerate(row)]
            lines += [[c[k] if k < len(c) else "" for c in cells] for k in range(max(map(len, cells)))]
        body = lines
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    line = lambda r: "  ".join(s.ljust(w) for s, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), "  ".join("─" * w for w in widths), *map(line, body)])


# -- JSON ----------------------------------------------------------------------------------
def _json_value(da: xr.DataArray) -> Any:
    da = decode(da)  # categorical codes as their labels
    v = np.asarray(da.values)[()]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (str, np.str_)) or da.dtype.kind in "OUS":
        return str(v)
    x = float(v)
    value: Any = None if math.isnan(x) or math.isinf(x) else (int(x) if da.dtype.kind in "iu" else x)
    return {"value": value, "units": da.attrs.get("units", "")}


def _json_lines(data: dict | list) -> str:
    if isinstance(data, list):
        return "[\n" + ",\n".join(_json_lines(d) for d in data) + "\n]"
    body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in data.items())
    return "{\n" + body + "\n}"
