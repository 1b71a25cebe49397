"""Paper-ready figures of dsx results (matplotlib; safe under the Agg backend).

Every function takes a result Dataset first, draws on ``ax=`` when given (else a new
figure), labels axes as ``long_name [units]`` from the variables' attributes, and returns
the :class:`matplotlib.figure.Figure`. Colours come from one colour-blind-safe palette
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


def label(da: xr.DataArray, name: str | None = None) -> str:
    """``long_name [units]``; dimensionless values show ``[1]``.

    >>> label(xr.DataArray(1.0, attrs={"long_name": "step time", "units": "s"}))
    'step time [s]'
    """
    text = str(da.attrs.get("long_name") or name or da.name or "")
    if len(text) > 40 and ":" in text:  # "total cost of ownership: capex + opex" -> the part that names it
        text = text.split(":")[0]
    units = da.attrs.get("units")
    if units is None:
        return str(text)
    return f"{text} [{units or '1'}]"


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
        for k, g in enumerate(groups):  # one roof per hardware: a small, fixed set
            sub, m = (work, mask) if g is None else (work.sel({by: g}), mask.sel({by: g}) if by in mask.dims else mask)
            i, p = _flat(sub, ["i", "p"], m)
            ok = np.isfinite(i) & np.isfinite(p) & (i > 0) & (p > 0)
            i, p = i[ok], p[ok]
            colour = PALETTE[k % len(PALETTE)]
            pk = np.unique(np.asarray(sub["peak"].values, float).ravel())
            bw = np.unique(np.asarray(sub["bw"].values, float).ravel())
            ax.plot(xs, np.minimum(pk.max(), bw.max() * xs), color=colour, lw=1.5,
                    label=str(g) if g is not None else "roofline")
            if i.size:
                step = max(1, i.size // max_points)
                ax.scatter(i[::step], p[::step], s=6, color=colour, alpha=0.5, lw=0, rasterized=True)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(label(inten, intensity))
        ax.set_ylabel(label(perf, "performance"))
        ax.legend(frameon=False)
    return fig


def pareto_front(ds: xr.Dataset, x: str, y: str, maximize: Sequence[str] = (), where: Any = None,
                 gridsize: int = 60, logx: bool = False, logy: bool = False, ax: Any = None) -> Any:
    """Density of every feasible configuration (hexbin) with its Pareto front as a line.

    Works for millions of points: the cloud is a 2-D histogram, never one marker per point.

    Parameters
    ----------
    x, y : str
        Objectives; minimized unless listed in ``maximize``.
    where : mask, callable or str, optional
        Extra constraint (as in :func:`dsx.pareto`).
    """
    from matplotlib.colors import LogNorm

    from .analysis.pareto import pareto_kernel

    fig, ax = _figure(ax)
    with style():
        mask = _feasible(ds, where)
        xv, yv = _flat(ds, [x, y], mask)
        ok = np.isfinite(xv) & np.isfinite(yv)
        if logx:
            ok &= xv > 0
        if logy:
            ok &= yv > 0
        xv, yv = xv[ok], yv[ok]
        if xv.size:
            hb = ax.hexbin(xv, yv, gridsize=gridsize, cmap=CMAP, mincnt=1, norm=LogNorm(),
                           xscale="log" if logx else "linear", yscale="log" if logy else "linear",
                           rasterized=True)
            fig.colorbar(hb, ax=ax, label="configurations [1]")
            sx = -1.0 if x in maximize else 1.0
            sy = -1.0 if y in maximize else 1.0
            on = pareto_kernel(np.stack([sx * xv, sy * yv], axis=1))
            fx, fy = xv[on], yv[on]
            order = np.argsort(sx * fx, kind="stable")
            ax.plot(fx[order], fy[order], color=PALETTE[3], lw=1.5, marker="o", ms=3,
                    drawstyle="steps-post", label="Pareto front")
            ax.legend(frameon=False)
        if logx:
            ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel(label(ds[x], x))
        ax.set_ylabel(label(ds[y], y))
    return fig


def _categorical_axis(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    return np.arange(len(values)), [f"{v:g}" if isinstance(v, (float, np.floating)) else str(v) for v in values]


def heatmap(ds: xr.Dataset, var: str, x: str, y: str, col: str | None = None, where: Any = None,
            annotate: bool = False, ax: Any = None) -> Any:
    """``var`` as a coloured grid over two dimensions, one panel per value of ``col``.

    Infeasible cells (``feasible`` False or ``where`` False) are left blank. Axes are
    categorical (one cell per coordinate value), so numeric and string axes both work.
    Dimensions other than ``x``, ``y`` and ``col`` must be selected first.
    """
    import matplotlib.pyplot as plt

    da = _var(ds, var)
    dims = [d for d in (col, y, x) if d is not None]
    for d in dims:
        if d not in ds.dims:
            raise DsxInputError(f"heatmap: {d!r} is not a dimension of the dataset (have {list(ds.dims)})")
    mask = _feasible(ds, where)
    da = _only(da.where(mask), dims, "heatmap")
    panels = list(ds[col].values) if col else [None]
    if col and ax is not None:
        raise DsxInputError("heatmap: col= makes one panel per value; do not pass ax=")
    with style():
        if ax is None:
            fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels) + 0.8, 3.0),
                                     layout="constrained", squeeze=False, sharey=True)
            axes = list(axes[0])
        else:
            fig, axes = ax.figure, [ax]
        vals = np.asarray(da.values, float)
        finite = vals[np.isfinite(vals)]
        vmin, vmax = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
        xi, xl = _categorical_axis(ds[x].values)
        yi, yl = _categorical_axis(ds[y].values)
        mesh = None
        for k, (a, p) in enumerate(zip(axes, panels)):  # one panel per facet value (few)
            grid = vals[k] if col else vals
            mesh = a.pcolormesh(np.arange(len(xi) + 1) - 0.5, np.arange(len(yi) + 1) - 0.5,
                                np.ma.masked_invalid(grid), cmap=CMAP, vmin=vmin, vmax=vmax, shading="flat")
            a.set_facecolor("#E5E5E5")  # infeasible / excluded cells
            a.set_xticks(xi, xl)
            a.set_yticks(yi, yl)
            a.set_xlabel(label(ds[x], x))
            if k == 0:
                a.set_ylabel(label(ds[y], y))
            if p is not None:
                a.set_title(f"{col} = {p}")
            if annotate:
                for (r, c), v in np.ndenumerate(grid):  # cell labels of a small grid (a figure, not a sweep)
                    if np.isfinite(v):
                        a.text(c, r, f"{v:.3g}", ha="center", va="center", fontsize=7,
                               color="white" if v < (vmin + vmax) / 2 else "black")
        fig.colorbar(mesh, ax=axes, label=label(ds[var], var))
    return fig


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
    fig, ax = _figure(ax, (4.5, 3.0))
    comps = [_var(ds, v) for v in vars]
    units = {c.attrs.get("units", "") for c in comps}
    if len(units) > 1:
        raise DsxInputError(f"breakdown: components have different units {sorted(units)}; convert them first")
    if dim is None:
        dims = sorted({d for c in comps for d in c.dims})
        if len(dims) > 1:
            raise DsxInputError(f"breakdown: components vary along {dims}; choose dim= and select the others")
        dim = dims[0] if dims else None
    with style():
        if dim is None:
            pos, ticks = np.arange(1), [""]
            values = [np.atleast_1d(np.asarray(c.values, float)) for c in comps]
        else:
            pos, ticks = _categorical_axis(ds[dim].values)
            values = [np.asarray(_only(c, [dim], "breakdown").values, float) for c in comps]
        base = np.zeros(len(pos))
        for k, (name, v) in enumerate(zip(vars, values)):  # one layer per component (few)
            v = np.broadcast_to(np.nan_to_num(v), base.shape)
            long = ds[name].attrs.get("long_name", name)
            lab = labels[k] if labels else (long if len(long) <= 32 else name)  # keep the legend short
            if horizontal:
                ax.barh(pos, v, left=base, color=PALETTE[k % len(PALETTE)], label=lab)
            else:
                ax.bar(pos, v, bottom=base, color=PALETTE[k % len(PALETTE)], label=lab)
            base = base + v
        unit = units.pop() if units else ""
        whole = f"{ylabel or 'total'} [{unit or '1'}]"
        cat_label = label(ds[dim], dim) if dim is not None else ""
        if horizontal:
            ax.set_yticks(pos, ticks)
            ax.set_xlabel(whole)
            ax.set_ylabel(cat_label)
        else:
            ax.set_xticks(pos, ticks)
            ax.set_ylabel(whole)
            ax.set_xlabel(cat_label)
        ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
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


def by_region(ds: xr.Dataset, var: str, dim: str = "region", hue: str | None = None, sort: bool = True,
              where: Any = None, ax: Any = None) -> Any:
    """Bars of ``var`` per region (carbon, water, cost), optionally grouped by ``hue``."""
    da = _var(ds, var)
    if dim not in ds.dims:
        raise DsxInputError(f"by_region: {dim!r} is not a dimension of the dataset")
    dims = [dim] + ([hue] if hue else [])
    da = _only(da.where(_feasible(ds, where)) if where is not None else da, dims, "by_region")
    fig, ax = _figure(ax, (4.5, 3.0))
    with style():
        vals = np.asarray(da.values, float).reshape(len(ds[dim]), -1)
        order = np.argsort(np.nan_to_num(vals.mean(axis=1)), kind="stable") if sort else np.arange(len(vals))
        regions = [str(r) for r in ds[dim].values[order]]
        hues = [None] if hue is None else list(ds[hue].values)
        width = 0.8 / len(hues)
        pos = np.arange(len(regions))
        for k, h in enumerate(hues):  # one bar series per hue value (few)
            ax.bar(pos + (k - (len(hues) - 1) / 2) * width, vals[order, k], width=width,
                   color=PALETTE[k % len(PALETTE)], label=None if h is None else f"{hue} = {h}")
        ax.set_xticks(pos, regions, rotation=30 if len(regions) > 4 else 0, ha="right" if len(regions) > 4 else "center")
        ax.set_xlabel(label(ds[dim], dim) if ds[dim].attrs else dim)
        ax.set_ylabel(label(ds[var], var))
        if hue:
            ax.legend(frameon=False)
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
