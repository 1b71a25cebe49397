"""Paper-ready figures of dsx results (matplotlib; safe under the Agg backend).

Every function takes a result Dataset first, draws on ``ax=`` when given (else a new
figure), labels axes as ``long_name [unit]`` from the variables' attributes in a human-scale
unit chosen per axis (days for a job, ms for a decode step, MUSD, tCO2e; :mod:`dsx.plot_units`),
with plain tick labels (no ``1e7`` offset), and returns the :class:`matplotlib.figure.Figure`.
Infeasible or excluded configurations get a legend entry; a selection that leaves nothing (or
one series) empty says so in the figure. Colours come from one colour-blind-safe palette
(:data:`PALETTE`, Okabe & Ito 2008) and a perceptually uniform colour map (``cividis``).
:func:`save` writes a vector PDF and a PNG.

>>> import xarray as xr
>>> ds = xr.Dataset({"carbon": ("region", [5.0, 1.0], {"units": "gCO2e", "long_name": "carbon"})},
...                 coords={"region": ["us", "quebec"]})
>>> fig = by_region(ds, "carbon")
>>> fig.axes[0].get_ylabel()
'carbon [gCO2e]'
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import xarray as xr

from .errors import DsxInputError
from .plot_units import display_unit, label, legend_below, notice, plain_ticks, scaled

__all__ = ["PALETTE", "CMAP", "label", "roofline", "pareto_front", "heatmap", "breakdown", "tornado",
           "by_region", "save", "style"]

#: Okabe-Ito colour-blind-safe palette (black first is left out: it is kept for lines/text).
PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9",
                            "#F0E442", "#000000")
#: Sequential colour map for densities and heatmaps (perceptually uniform, colour-blind safe).
CMAP = "cividis"

_RC = {
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "xtick.labelsize": 8,
    "ytick.labelsize": 8, "legend.fontsize": 8, "figure.dpi": 100, "savefig.dpi": 300,
    "axes.spines.top": False, "axes.spines.right": False, "pdf.fonttype": 42, "ps.fonttype": 42,
}


@contextmanager
def style() -> Iterator[None]:
    """Context with the dsx figure style (font sizes, palette, embedded TrueType fonts)."""
    import matplotlib.pyplot as plt
    from cycler import cycler

    import matplotlib

    with plt.rc_context({**_RC, "axes.prop_cycle": cycler(color=PALETTE)}):
        try:
            yield
        finally:
            # the first figure of a Jupyter session switches interactive mode on inside this
            # context; leaving rc_context would switch it off again and hide every later figure
            interactive = matplotlib.is_interactive()
    matplotlib.interactive(interactive)


def _figure(ax: Any, size: tuple[float, float] = (4.0, 3.0)) -> tuple[Any, Any]:
    """The given axes' figure, or a new figure in the dsx style."""
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax.figure, ax
    with style():
        fig, ax = plt.subplots(figsize=size, layout="constrained")
    return fig, ax


def _var(ds: xr.Dataset, name: str) -> xr.DataArray:
    if name not in ds.variables:
        raise DsxInputError(f"plot: no variable {name!r} in the dataset (have {sorted(ds.data_vars)})")
    return ds[name]


def _only(da: xr.DataArray, dims: Sequence[str], what: str) -> xr.DataArray:
    """``da`` broadcast over exactly ``dims``; other dimensions must have been selected."""
    extra = [d for d in da.dims if d not in dims]
    if extra:
        raise DsxInputError(f"{what}: {da.name!r} also varies along {extra}; select one value with "
                            f".sel({extra[0]}=...) or reduce it first")
    missing = [d for d in dims if d not in da.dims]
    return da.expand_dims(missing).transpose(*dims) if missing else da.transpose(*dims)


def _feasible(ds: xr.Dataset, where: Any) -> xr.DataArray:
    from .analysis.pareto import constraint_mask

    return constraint_mask(ds, where)


def _flat(ds: xr.Dataset, names: Sequence[str], mask: xr.DataArray) -> list[np.ndarray]:
    """1-D arrays of the masked configurations over the joint dims of ``names`` and the mask."""
    arrays = [ds[n] for n in names] + [mask]
    joint = xr.broadcast(*arrays)
    keep = np.asarray(joint[-1].values, bool).ravel()
    return [np.asarray(a.values, float).ravel()[keep] for a in joint[:-1]]


def roofline(ds: xr.Dataset, intensity: str = "arithmetic_intensity", performance: str | None = None,
             peak: str = "peak_flops", bandwidth: str = "hbm_bandwidth", by: str = "hardware",
             where: Any = None, max_points: int = 200_000, ax: Any = None) -> Any:
    """Configurations as points under the roofline of their hardware (log-log).

    Parameters
    ----------
    ds : xarray.Dataset
        Result with ``intensity`` (flop/B), the achieved rate ``performance`` (flop/s;
        default ``mb_flops / mb_time`` when present), ``peak`` and ``bandwidth``.
    by : str
        Dimension that selects the roof (one roof and colour per value); ignored when absent.
    where : mask, callable or str, optional
        Points to draw besides ``feasible``.
    max_points : int
        At most this many points are drawn per roof (an even subsample; rasterized).
    """
    fig, ax = _figure(ax)
    with style():
        inten = _var(ds, intensity)
        if performance is None:
            if "mb_flops" in ds.variables and "mb_time" in ds.variables:
                perf = (ds["mb_flops"] / ds["mb_time"]).assign_attrs(units="flop/s", long_name="achieved throughput")
            else:
                raise DsxInputError("roofline: give performance= (flop/s), or a result with mb_flops and mb_time")
        else:
            perf = _var(ds, performance)
        work = xr.Dataset({"i": inten, "p": perf, "peak": _var(ds, peak), "bw": _var(ds, bandwidth)})
        mask = _feasible(ds, where)
        groups = list(ds[by].values) if by in ds.dims else [None]
        i_all, _ = _flat(work, ["i", "p"], mask)
        i_all = i_all[np.isfinite(i_all) & (i_all > 0)]
        pk_all = np.asarray(work["peak"].values, float)
        bw_all = np.asarray(work["bw"].values, float)
        ridges = (pk_all.max() / bw_all.max(), pk_all.max() / bw_all.min())
        lo_i = min(i_all.min() if i_all.size else ridges[0], ridges[0]) / 10
        hi_i = max(i_all.max() if i_all.size else ridges[1], ridges[1]) * 10
        xs = np.geomspace(lo_i, hi_i, 256)
        # one unit per axis for every roof: intensity as it is, rates in the unit of the peaks
        x_unit, x_size = display_unit(inten.attrs.get("units"), [1.0])
        y_unit, y_size = display_unit(perf.attrs.get("units"), pk_all)
        for k, g in enumerate(groups):  # one roof per hardware: a small, fixed set
            sub, m = (work, mask) if g is None else (work.sel({by: g}), mask.sel({by: g}) if by in mask.dims else mask)
            i, p = _flat(sub, ["i", "p"], m)
            ok = np.isfinite(i) & np.isfinite(p) & (i > 0) & (p > 0)
            i, p = i[ok], p[ok]
            colour = PALETTE[k % len(PALETTE)]
            pk = np.unique(np.asarray(sub["peak"].values, float).ravel())
            bw = np.unique(np.asarray(sub["bw"].values, float).ravel())
            ax.plot(xs / x_size, np.minimum(pk.max(), bw.max() * xs) / y_size, color=colour, lw=1.5,
                    label=str(g) if g is not None else "roofline")
            if i.size:
                step = max(1, i.size // max_points)
                ax.scatter(i[::step] / x_size, p[::step] / y_size, s=6, color=colour, alpha=0.5, lw=0,
                           rasterized=True)
            elif g is not None:
                ax.plot([], [], " ", label=f"{g}: no feasible point")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(label(inten, intensity, x_unit))
        ax.set_ylabel(label(perf, "performance", y_unit))
        if not i_all.size:
            notice(ax, "no feasible configuration in this selection")
        ax.legend(frameon=False)
        plain_ticks(ax)
    return fig


def _drawable(ds: xr.Dataset, x: str, y: str, mask: xr.DataArray, logx: bool,
              logy: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat ``x`` and ``y`` of every configuration, and which can be drawn (feasible, finite, > 0 on a log axis)."""
    jx, jy, jm = xr.broadcast(ds[x], ds[y], mask)
    xv, yv = (np.asarray(j.values, float).ravel() for j in (jx, jy))
    ok = np.isfinite(xv) & np.isfinite(yv) & np.asarray(jm.values, bool).ravel()
    if logx:
        ok &= xv > 0
    if logy:
        ok &= yv > 0
    return xv, yv, ok


def _draw_configurations(fig: Any, ax: Any, xv: np.ndarray, yv: np.ndarray, gridsize: int, max_markers: int,
                         scale: dict[str, str]) -> None:
    """Configurations as markers, or as a hexbin density when there are more than ``max_markers``."""
    from matplotlib.colors import LogNorm

    if xv.size > max_markers:
        hb = ax.hexbin(xv, yv, gridsize=gridsize, cmap=CMAP, mincnt=1, norm=LogNorm(), rasterized=True, **scale)
        counts = np.asarray(hb.get_array(), float)
        hb.set_clim(1.0, max(2.0, float(counts.max())))  # a colour bar never spans a single value
        fig.colorbar(hb, ax=ax, label="configurations per cell [1]")
    elif xv.size:
        ax.scatter(xv, yv, s=10, color=PALETTE[0], alpha=0.6, lw=0, label="configuration", rasterized=True)


def _draw_front(ax: Any, xv: np.ndarray, yv: np.ndarray, max_x: bool, max_y: bool) -> None:
    """The Pareto front of the drawn points as a step line (objectives flipped where maximized)."""
    from .analysis.pareto import pareto_kernel

    sx = -1.0 if max_x else 1.0
    sy = -1.0 if max_y else 1.0
    on = pareto_kernel(np.stack([sx * xv, sy * yv], axis=1))
    fx, fy = xv[on], yv[on]
    order = np.argsort(sx * fx, kind="stable")
    ax.plot(fx[order], fy[order], color=PALETTE[3], lw=1.5, marker="o", ms=3,
            drawstyle="steps-post", label="Pareto front")


def pareto_front(ds: xr.Dataset, x: str, y: str, maximize: Sequence[str] = (), where: Any = None,
                 gridsize: int = 60, logx: bool = False, logy: bool = False, max_markers: int = 2000,
                 ax: Any = None) -> Any:
    """Every feasible configuration with its Pareto front as a line.

    Up to ``max_markers`` configurations are drawn as points; more become a density (hexbin,
    a 2-D histogram with a log colour bar), so millions of points stay one cheap image. The
    legend counts the infeasible (or excluded) configurations that are not drawn.

    Parameters
    ----------
    x, y : str
        Objectives; minimized unless listed in ``maximize``.
    where : mask, callable or str, optional
        Extra constraint (as in :func:`dsx.pareto`).
    max_markers : int
        Most configurations drawn as individual markers.
    """
    fig, ax = _figure(ax, (4.5, 3.4))
    with style():
        mask = _feasible(ds, where)
        xv, yv, ok = _drawable(ds, x, y, mask, logx, logy)
        hidden = xv.size - int(ok.sum())
        xv, x_unit = scaled(ds[x], xv[ok])
        yv, y_unit = scaled(ds[y], yv[ok])
        scale = {"xscale": "log" if logx else "linear", "yscale": "log" if logy else "linear"}
        _draw_configurations(fig, ax, xv, yv, gridsize, max_markers, scale)
        if xv.size:
            _draw_front(ax, xv, yv, x in maximize, y in maximize)
        else:
            notice(ax, "no feasible configuration in this selection")
        if hidden:
            what = "infeasible or excluded" if where is not None else "infeasible"
            ax.plot([], [], " ", label=f"{hidden:,} {what} (not drawn)")
        if logx:
            ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel(label(ds[x], x, x_unit))
        ax.set_ylabel(label(ds[y], y, y_unit))
        plain_ticks(ax)
        if xv.size or hidden:  # under the axes: a dense cloud leaves no free corner for it
            legend_below(ax)
    return fig


def _categorical_axis(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    return np.arange(len(values)), [f"{v:g}" if isinstance(v, (float, np.floating)) else str(v) for v in values]


#: Colour of infeasible or excluded cells (and their legend entry).
BLANK = "#E5E5E5"


def _colour_range(vals: np.ndarray) -> tuple[float, float]:
    """Finite min and max, widened around a single value so the colour bar spans a range."""
    finite = vals[np.isfinite(vals)]
    if not finite.size:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    if hi - lo <= 1e-12 * max(abs(hi), 1e-300):
        pad = 0.05 * abs(hi) if hi else 1.0
        lo, hi = lo - pad, hi + pad
    return lo, hi


def _grid_dims(ds: xr.Dataset, x: str, y: str, col: str | None) -> list[str]:
    """The heatmap's dimensions, facet first, each checked to be a dimension of ``ds``."""
    dims = [d for d in (col, y, x) if d is not None]
    for d in dims:
        if d not in ds.dims:
            raise DsxInputError(f"heatmap: {d!r} is not a dimension of the dataset (have {list(ds.dims)})")
    return dims


def _panels(ax: Any, n: int) -> tuple[Any, list[Any]]:
    """The given axes, or a new figure with a row of ``n`` panels sharing the y axis."""
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax.figure, [ax]
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n + 1.4, 3.0), layout="constrained", squeeze=False, sharey=True)
    return fig, list(axes[0])


def _draw_cells(a: Any, grid: np.ndarray, xs: np.ndarray, ys: np.ndarray, vmin: float, vmax: float) -> Any:
    """``grid`` as coloured cells over categorical axes, grey where no value; returns the mesh."""
    xi, xl = _categorical_axis(xs)
    yi, yl = _categorical_axis(ys)
    mesh = a.pcolormesh(np.arange(len(xi) + 1) - 0.5, np.arange(len(yi) + 1) - 0.5,
                        np.ma.masked_invalid(grid), cmap=CMAP, vmin=vmin, vmax=vmax, shading="flat")
    a.set_facecolor(BLANK)
    a.set_xticks(xi, xl, rotation=45 if max(map(len, xl)) * len(xl) > 24 else 0)
    a.set_yticks(yi, yl)
    return mesh


def _annotate_cells(a: Any, grid: np.ndarray, vmin: float, vmax: float) -> None:
    """Each finite cell's value, in a colour readable on the cell."""
    for (r, c), v in np.ndenumerate(grid):  # cell labels of a small grid (a figure, not a sweep)
        if np.isfinite(v):
            a.text(c, r, f"{v:.3g}", ha="center", va="center", fontsize=7,
                   color="white" if v < (vmin + vmax) / 2 else "black")


def _legend_blank_cells(fig: Any, ax: Any, where: Any) -> None:
    """A legend entry for the grey (infeasible or excluded) cells: under the figure, or in the given axes."""
    from matplotlib.patches import Patch

    blank = Patch(facecolor=BLANK, edgecolor="#999999", lw=0.5, label="infeasible" if where is None
                  else "infeasible or excluded")
    if ax is None:
        fig.legend(handles=[blank], loc="outside lower right", frameon=False, fontsize=8)
    else:
        ax.legend(handles=[blank], frameon=False, fontsize=8)


def heatmap(ds: xr.Dataset, var: str, x: str, y: str, col: str | None = None, where: Any = None,
            annotate: bool = False, ax: Any = None) -> Any:
    """``var`` as a coloured grid over two dimensions, one panel per value of ``col``.

    Infeasible cells (``feasible`` False or ``where`` False) are grey, with a legend entry; a
    panel with no feasible cell says so. Axes are categorical (one cell per coordinate
    value), so numeric and string axes both work; facets share one x label. Dimensions other
    than ``x``, ``y`` and ``col`` must be selected first.
    """
    da = _var(ds, var)
    dims = _grid_dims(ds, x, y, col)
    mask = _feasible(ds, where)
    da = _only(da.where(mask), dims, "heatmap")
    panels = list(ds[col].values) if col else [None]
    if col and ax is not None:
        raise DsxInputError("heatmap: col= makes one panel per value; do not pass ax=")
    with style():
        fig, axes = _panels(ax, len(panels))
        vals, unit = scaled(da)
        vmin, vmax = _colour_range(vals)
        mesh = None
        for k, (a, p) in enumerate(zip(axes, panels)):  # one panel per facet value (few)
            grid = vals[k] if col else vals
            mesh = _draw_cells(a, grid, ds[x].values, ds[y].values, vmin, vmax)
            if len(axes) == 1:
                a.set_xlabel(label(ds[x], x))
            if k == 0:
                a.set_ylabel(label(ds[y], y))
            if p is not None:
                a.set_title(f"{col} = {p}")
            if not np.isfinite(grid).any():
                notice(a, "no feasible\nconfiguration")
            if annotate:
                _annotate_cells(a, grid, vmin, vmax)
        if len(axes) > 1:
            fig.supxlabel(label(ds[x], x), fontsize=9)
        bar = fig.colorbar(mesh, ax=axes, label=label(ds[var], var, unit))
        plain_ticks(bar.ax)
        if not np.isfinite(vals).all():
            _legend_blank_cells(fig, ax, where)
    return fig


def save(fig: Any, path: str | Path, formats: Sequence[str] = ("pdf", "png"), dpi: int = 300) -> list[Path]:
    """Write ``fig`` as vector PDF and PNG (``path`` with or without a suffix); returns the paths."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix.lstrip(".") in {"pdf", "png", "svg", "eps"} else path
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:  # a fixed list of file formats
        p = stem.with_name(f"{stem.name}.{fmt}")
        fig.savefig(p, dpi=dpi, bbox_inches="tight")
        out.append(p)
    return out


# bar charts live in their own module (size); imported last, they use the helpers above
from .plot_bars import breakdown, by_region, tornado  # noqa: E402
