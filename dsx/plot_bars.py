"""Bar charts of :mod:`dsx.plot`: component breakdowns, elasticities (tornado), per-region bars.

Imported by :mod:`dsx.plot`, which re-exports them; see there for the conventions (units per
axis, legend entries for infeasible configurations, notices for empty selections).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from .errors import DsxInputError
from .plot import PALETTE, _categorical_axis, _feasible, _figure, _only, _var, style
from .plot_units import MAX_LABEL, _short, display_unit, label, legend_below, notice, plain_ticks, scaled

__all__ = ["breakdown", "tornado", "by_region"]


def _common_unit(comps: Sequence[xr.DataArray]) -> str:
    """The one unit every component shares ("" when none is given); a stack of mixed units is refused."""
    units = {c.attrs.get("units", "") for c in comps}
    if len(units) > 1:
        raise DsxInputError(f"breakdown: components have different units {sorted(units)}; convert them first")
    return units.pop() if units else ""


def _shared_dim(comps: Sequence[xr.DataArray]) -> str | None:
    """The only dimension the components vary along (None for scalars); more than one is refused."""
    dims = sorted({d for c in comps for d in c.dims})
    if len(dims) > 1:
        raise DsxInputError(f"breakdown: components vary along {dims}; choose dim= and select the others")
    return dims[0] if dims else None


def _component_values(ds: xr.Dataset, comps: Sequence[xr.DataArray],
                      dim: str | None) -> tuple[np.ndarray, list[str], list[np.ndarray]]:
    """Bar positions, their tick labels and each component's values along ``dim`` (one bar without it)."""
    if dim is None:
        return np.arange(1), [""], [np.atleast_1d(np.asarray(c.values, float)) for c in comps]
    pos, ticks = _categorical_axis(ds[dim].values)
    return pos, ticks, [np.asarray(_only(c, [dim], "breakdown").values, float) for c in comps]


def _layer_label(ds: xr.Dataset, name: str, k: int, labels: Sequence[str] | None) -> str:
    """Legend entry of component ``k``: the given label, else its short long name, else its variable name."""
    if labels:
        return labels[k]
    short = _short(ds[name].attrs.get("long_name", name))
    return short if len(short) <= MAX_LABEL else name  # keep the legend short


def _stack(ax: Any, ds: xr.Dataset, vars: Sequence[str], values: Sequence[np.ndarray], pos: np.ndarray,
           labels: Sequence[str] | None, horizontal: bool) -> np.ndarray:
    """One bar layer per component, each on top of the previous ones; returns the totals."""
    base = np.zeros(len(pos))
    for k, (name, v) in enumerate(zip(vars, values)):  # one layer per component (few)
        v = np.broadcast_to(np.nan_to_num(v), base.shape)
        lab = _layer_label(ds, name, k, labels)
        if horizontal:
            ax.barh(pos, v, left=base, color=PALETTE[k % len(PALETTE)], label=lab)
        else:
            ax.bar(pos, v, bottom=base, color=PALETTE[k % len(PALETTE)], label=lab)
        base = base + v
    return base


def _label_bar_axes(ax: Any, pos: np.ndarray, ticks: list[str], whole: str, cat_label: str,
                    horizontal: bool) -> None:
    """Ticks and labels of the category axis and the value axis, whichever way the bars run."""
    if horizontal:
        ax.set_yticks(pos, ticks)
        ax.set_xlabel(whole)
        ax.set_ylabel(cat_label)
    else:
        ax.set_xticks(pos, ticks)
        ax.set_ylabel(whole)
        ax.set_xlabel(cat_label)


def breakdown(ds: xr.Dataset, vars: Sequence[str], dim: str | None = None, ylabel: str | None = None,
              labels: Sequence[str] | None = None, horizontal: bool = False, ax: Any = None) -> Any:
    """Stacked bars of components (e.g. the step-time or cost breakdown) along one dimension.

    Parameters
    ----------
    vars : list of str
        Components, all in the same units (checked).
    dim : str, optional
        Dimension along the bars; default the only dimension the components share (a single
        bar when they are scalars).
    ylabel : str, optional
        Name of the whole (e.g. ``"step time"``); the units are appended.
    labels : list of str, optional
        Legend entries (default: each long name, or the variable name when that is long).
    """
    own = ax is None
    fig, ax = _figure(ax, (4.5, 3.0))
    comps = [_var(ds, v) for v in vars]
    common = _common_unit(comps)
    if dim is None:
        dim = _shared_dim(comps)
    with style():
        pos, ticks, values = _component_values(ds, comps, dim)
        unit, size = display_unit(common, sum(np.nan_to_num(v) for v in values))
        values = [v / size for v in values]
        base = _stack(ax, ds, vars, values, pos, labels, horizontal)
        whole = f"{ylabel or 'total'} [{unit or '1'}]"
        cat_label = label(ds[dim], dim) if dim is not None else ""
        _label_bar_axes(ax, pos, ticks, whole, cat_label, horizontal)
        if not np.isfinite(base).any() or not np.any(base):
            notice(ax, "no value in this selection")
        if own:  # below the axes and their (possibly two-line) label, placed by the layout engine
            fig.legend(frameon=False, loc="outside lower center", ncol=2)
        else:
            legend_below(ax)
        plain_ticks(ax)
    return fig


def tornado(sens: xr.Dataset, ax: Any = None, **select: Any) -> Any:
    """Elasticities of one configuration as horizontal bars, largest ``|elasticity|`` on top.

    Parameters
    ----------
    sens : xarray.Dataset
        Result of :func:`dsx.sensitivity`.
    **select
        Coordinates that pick one configuration (``hardware="H100", gpus=64``) when the
        sensitivity covers several.
    """
    e = sens["elasticity"].sel(select) if select else sens["elasticity"]
    extra = [d for d in e.dims if d != "input"]
    if extra:
        raise DsxInputError(f"tornado: select one configuration, e.g. tornado(sens, {extra[0]}=...)")
    names = [str(n) for n in e["input"].values]
    vals = np.asarray(e.values, float)
    order = np.argsort(np.abs(np.nan_to_num(vals)), kind="stable")
    fig, ax = _figure(ax, (4.0, 0.35 * len(names) + 1.0))
    with style():
        colours = [PALETTE[0] if v < 0 else PALETTE[1] for v in vals[order]]
        ax.barh(np.arange(len(names)), np.nan_to_num(vals[order]), color=colours)
        ax.set_yticks(np.arange(len(names)), [names[i] for i in order])
        ax.axvline(0.0, color="black", lw=0.8)
        output = sens.attrs.get("output", "output")
        ax.set_xlabel(f"elasticity d ln {output} / d ln input [1]")
        if "binding" in sens:
            b = sens["binding"].sel(select) if select else sens["binding"]
            ax.set_title(f"binding: {b.values[()]}")
    return fig


def _region_grid(ds: xr.Dataset, var: str, dim: str, hue: str | None, where: Any) -> xr.DataArray:
    """``var`` over exactly (``dim``, ``hue``), blank where infeasible or excluded."""
    da = _var(ds, var)
    if dim not in ds.dims:
        raise DsxInputError(f"by_region: {dim!r} is not a dimension of the dataset")
    dims = [dim] + ([hue] if hue else [])
    mask = _feasible(ds, where)
    # ``feasible`` alone blanks bars only where it varies along the bars' own dimensions
    if where is not None or set(mask.dims) <= set(dims):
        da = da.where(mask)
    for d in dims:  # a value the same in every region still gets a bar per region
        da = da.broadcast_like(ds[d])
    return _only(da, dims, "by_region")


def _series_label(var: str, hue: str | None, h: Any, v: np.ndarray) -> tuple[str | None, str | None]:
    """Legend entry of one series, and its name for the "no feasible value" note when it has no value at all."""
    name = None if h is None else f"{hue} = {h}"
    if np.isfinite(v).any():
        return name, None
    return (None if name is None else f"{name}: no value"), name or var


def _bar_series(ax: Any, at: np.ndarray, v: np.ndarray, width: float, colour: str, name: str | None) -> bool:
    """One series of bars, a grey cross on the axis where a value is missing; returns whether one was."""
    ax.bar(at, np.nan_to_num(v), width=width, color=colour, label=name)
    gaps = ~np.isfinite(v)
    if gaps.any():
        ax.scatter(at[gaps], np.zeros(gaps.sum()), marker="x", s=18, color="#777777", zorder=3, clip_on=False)
    return bool(gaps.any())


def _legend_missing_bars(ax: Any, where: Any) -> None:
    """A legend entry for the grey crosses that stand for bars without a value."""
    ax.scatter([], [], marker="x", s=18, color="#777777",
               label="infeasible (no bar)" if where is None else "infeasible or excluded (no bar)")


def _region_ticks(ax: Any, pos: np.ndarray, regions: list[str]) -> None:
    """One tick per region, slanted when there are many so the names do not collide."""
    many = len(regions) > 4
    ax.set_xticks(pos, regions, rotation=30 if many else 0, ha="right" if many else "center")


def _say_empty(ax: Any, empty: list[str], n_series: int) -> None:
    """Names the series without any value: a notice when none has one, else a note in the corner."""
    if len(empty) == n_series:
        notice(ax, "no feasible value for " + ", ".join(empty))
    elif empty:
        ax.text(0.98, 0.98, "no feasible value for " + ", ".join(empty), transform=ax.transAxes, ha="right",
                va="top", fontsize=7, color="#444444", gid="dsx-notice")


def by_region(ds: xr.Dataset, var: str, dim: str = "region", hue: str | None = None, sort: bool = True,
              where: Any = None, ax: Any = None) -> Any:
    """Bars of ``var`` per region (carbon, water, cost), optionally grouped by ``hue``.

    A bar without a value (infeasible, or excluded by ``where``) is marked with a grey cross
    on the axis and a legend entry; a ``hue`` series with no value at all says so in its
    legend entry and in the figure.
    """
    da = _region_grid(ds, var, dim, hue, where)
    fig, ax = _figure(ax, (4.5, 3.2))
    with style():
        vals, unit = scaled(ds[var], np.asarray(da.values, float).reshape(len(ds[dim]), -1))
        order = np.argsort(np.nan_to_num(vals).mean(axis=1), kind="stable") if sort else np.arange(len(vals))
        regions = [str(r) for r in ds[dim].values[order]]
        hues = [None] if hue is None else list(ds[hue].values)
        width = 0.8 / len(hues)
        pos = np.arange(len(regions))
        empty, missing = [], False
        for k, h in enumerate(hues):  # one bar series per hue value (few)
            at = pos + (k - (len(hues) - 1) / 2) * width
            v = vals[order, k]
            name, unfilled = _series_label(var, hue, h, v)
            if unfilled is not None:
                empty.append(unfilled)
            missing = _bar_series(ax, at, v, width, PALETTE[k % len(PALETTE)], name) or missing
        if missing:
            _legend_missing_bars(ax, where)
        _region_ticks(ax, pos, regions)
        ax.set_xlabel(label(ds[dim], dim) if ds[dim].attrs else dim)
        ax.set_ylabel(label(ds[var], var, unit))
        _say_empty(ax, empty, len(hues))
        if hue or missing:
            ax.legend(frameon=False, fontsize=7)
        plain_ticks(ax)
    return fig
