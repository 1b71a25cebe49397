"""Human-scale units, short axis labels and plain tick labels for :mod:`dsx.plot`.

Results are stored in canonical units (s, B, USD, gCO2e, J, ...); a figure shows each axis in
the unit a reader would write: a 30-day job in days, a decode step in ms, a cluster's cost in
MUSD, its carbon in tCO2e. :func:`display_unit` picks that unit from the values' typical
magnitude, :func:`label` writes ``long name [unit]`` short enough for a figure, and
:func:`plain_ticks` removes matplotlib's offset text (``1e7`` above an axis).

>>> import numpy as np
>>> display_unit("s", np.array([20.0, 30.0]) * 86400)
('day', 86400.0)
>>> display_unit("s", np.array([0.005, 0.03]))
('ms', 0.001)
>>> display_unit("USD", np.array([8e6, 1e8]))
('MUSD', 1000000.0)
>>> display_unit("gCO2e", np.array([2e8, 9e8]))
('tCO2e', 1000000.0)
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import numpy as np

__all__ = ["LADDERS", "display_unit", "scaled", "label", "plain_ticks", "notice", "legend_below"]

#: Display units per canonical unit, smallest first: (unit, size in the canonical unit).
LADDERS: dict[str, tuple[tuple[str, float], ...]] = {
    "s": (("ns", 1e-9), ("µs", 1e-6), ("ms", 1e-3), ("s", 1.0), ("min", 60.0), ("h", 3600.0), ("day", 86400.0)),
    "B": (("B", 1.0), ("kB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("PB", 1e15)),
    "B/s": (("B/s", 1.0), ("kB/s", 1e3), ("MB/s", 1e6), ("GB/s", 1e9), ("TB/s", 1e12)),
    "USD": (("USD", 1.0), ("kUSD", 1e3), ("MUSD", 1e6)),
    "gCO2e": (("gCO2e", 1.0), ("kgCO2e", 1e3), ("tCO2e", 1e6), ("ktCO2e", 1e9), ("MtCO2e", 1e12)),
    "J": (("J", 1.0), ("kJ", 1e3), ("MJ", 1e6), ("kWh", 3.6e6), ("MWh", 3.6e9), ("GWh", 3.6e12)),
    "W": (("W", 1.0), ("kW", 1e3), ("MW", 1e6)),
    "L": (("mL", 1e-3), ("L", 1.0), ("kL", 1e3), ("ML", 1e6)),
    "flop": (("flop", 1.0), ("GFLOP", 1e9), ("TFLOP", 1e12), ("PFLOP", 1e15), ("EFLOP", 1e18), ("ZFLOP", 1e21)),
    "flop/s": (("flop/s", 1.0), ("GFLOP/s", 1e9), ("TFLOP/s", 1e12), ("PFLOP/s", 1e15), ("EFLOP/s", 1e18)),
    "token": (("token", 1.0), ("ktoken", 1e3), ("Mtoken", 1e6), ("Gtoken", 1e9), ("Ttoken", 1e12)),
    "token/s": (("token/s", 1.0), ("ktoken/s", 1e3), ("Mtoken/s", 1e6)),
    "param": (("param", 1.0), ("Mparam", 1e6), ("Gparam", 1e9), ("Tparam", 1e12)),
}
#: Axis-label text longer than this is shortened (parentheses, then the part before a colon)
#: and then wrapped onto a second line.
MAX_LABEL = 32


def _typical(values: Any) -> float:
    """Median magnitude of the finite, non-zero values (1.0 when there are none)."""
    v = np.abs(np.asarray(values, float).ravel())
    v = v[np.isfinite(v) & (v > 0)]
    return float(np.median(v)) if v.size else 1.0


def _in_canonical(unit: str) -> tuple[str, float] | None:
    """``(ladder key, size of one unit in the ladder's unit)``, or None when no ladder fits."""
    if unit in LADDERS:
        return unit, 1.0
    for key, ladder in LADDERS.items():
        for name, size in ladder:
            if unit == name:
                return key, size
    try:
        from .units import ureg

        q = ureg.Quantity(1.0, unit)
        for key in LADDERS:
            if q.dimensionality == ureg.Quantity(1.0, key).dimensionality:
                return key, float(q.to(key).magnitude)
    except Exception:  # noqa: BLE001 - an unparsable unit is shown as it is
        return None
    return None


def display_unit(unit: str | None, values: Any) -> tuple[str, float]:
    """``(unit to show, its size in `unit`)`` for ``values`` given in ``unit``.

    The largest unit of the ladder in which the typical (median) value is at least 1; a unit
    without a ladder is kept when its typical value lies in [1e-3, 1e4) and otherwise shown
    as ``10^k unit``, so that tick labels stay plain numbers.

    >>> display_unit("", [3e7, 5e7])
    ('$10^{6}$', 1000000.0)
    >>> display_unit("s", [])
    ('s', 1.0)
    """
    unit = unit or ""
    typical = _typical(values)
    found = _in_canonical(unit) if unit else None
    if found is not None:
        key, size = found
        typical *= size
        ladder = LADDERS[key]
        name, step = ladder[0]
        for candidate, candidate_size in ladder:
            if typical >= candidate_size:
                name, step = candidate, candidate_size
        return name, step / size
    if 1e-3 <= typical < 1e4:
        return unit, 1.0
    power = int(np.floor(np.log10(typical) / 3.0) * 3)
    return (f"$10^{{{power}}}$ {unit}".strip(), 10.0 ** power)


def scaled(da: Any, values: Any | None = None) -> tuple[np.ndarray, str]:
    """``(values in the display unit, that unit)`` of a DataArray (or of ``values`` in its units)."""
    data = np.asarray(da.values if values is None else values, float)
    unit, size = display_unit(da.attrs.get("units"), data)
    return data / size, unit


def _short(text: str) -> str:
    if len(text) > MAX_LABEL:
        text = re.sub(r"\s*\([^)]*\)", "", text).strip()
    if len(text) > MAX_LABEL and ":" in text:
        text = text.split(":")[0].strip()
    return text


def label(da: Any, name: str | None = None, unit: str | None = None) -> str:
    """``long name [unit]`` for a figure: at most two lines of about :data:`MAX_LABEL` characters.

    ``unit`` overrides the variable's own (use the one :func:`scaled` chose); dimensionless
    values show ``[1]``; a variable without ``units`` shows no brackets.

    >>> import xarray as xr
    >>> label(xr.DataArray(1.0, attrs={"long_name": "step time", "units": "s"}))
    'step time [s]'
    >>> print(label(xr.DataArray(1.0, attrs={"long_name": "time per output token (decode step / tokens per "
    ...                                      "step)", "units": "s"}), unit="ms"))
    time per output token [ms]
    """
    text = _short(str(da.attrs.get("long_name") or name or da.name or ""))
    units = da.attrs.get("units") if unit is None else unit
    suffix = "" if units is None else f" [{units or '1'}]"
    if len(text) + len(suffix) <= MAX_LABEL + 8:
        return text + suffix
    lines = textwrap.wrap(text + suffix, MAX_LABEL)
    if len(lines) > 2:  # a sentence, not a name: the variable's own name says it shorter
        return str(name or da.name or text).replace("_", " ") + suffix
    return "\n".join(lines)


def plain_ticks(ax: Any) -> None:
    """Plain-number tick labels on both axes of ``ax``: no offset text, no ``1e7`` multiplier.

    Log axes label their decades as plain numbers (``0.01``, ``100``) and, when they span
    less than two decades, the 2x and 5x minor ticks too.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, ScalarFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale == "log":
            axis.set_major_formatter(plain)
            lo, hi = sorted(ax.get_xlim() if axis is ax.xaxis else ax.get_ylim())
            if lo > 0 and np.log10(hi / lo) < 2:
                axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
                axis.set_minor_formatter(plain)
            else:
                axis.set_minor_formatter(NullFormatter())
        elif scale == "linear" and isinstance(axis.get_major_formatter(), ScalarFormatter):
            fmt = ScalarFormatter(useOffset=False)
            fmt.set_scientific(False)
            axis.set_major_formatter(fmt)


def notice(ax: Any, text: str) -> Any:
    """Write ``text`` in the middle of ``ax`` (an empty selection says so in the figure)."""
    return ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=8,
                   color="#444444", wrap=True, gid="dsx-notice")


def legend_below(ax: Any, **kw: Any) -> Any:
    """A legend under ``ax``, below its tick labels and axis label, so it covers no data.

    The offset is measured in points from the axes' bottom edge, so it holds when a layout
    engine later resizes the axes.
    """
    from matplotlib.transforms import ScaledTranslation

    fig = ax.figure
    try:
        renderer = fig.canvas.get_renderer()
        below = (ax.get_window_extent(renderer).y0 - ax.get_tightbbox(renderer).y0) / fig.dpi
    except (AttributeError, TypeError):  # a canvas without a renderer: a typical tick + label height
        below = 0.45
    shift = ScaledTranslation(0.0, -(max(below, 0.0) + 0.04), fig.dpi_scale_trans)
    if "ncol" not in kw:  # two columns only where the axes are wide enough to hold them
        kw["ncol"] = 2 if ax.get_position().width * fig.get_figwidth() >= 4.0 else 1
    return ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=ax.transAxes + shift,
                     frameon=False, **kw)
