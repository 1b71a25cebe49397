"""What ``dsx run`` writes: ``front.csv``, ``best.csv``, figures, ``summary.md``, ``result.nc``.

Split from :mod:`dsx.sweep` (which validates and evaluates the file); every function takes the
validated :class:`dsx.sweep.Sweep` and the evaluated Dataset.
"""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from . import expr
from .codes import decode
from .errors import DsxInputError
from .sweep import Sweep, _err

__all__ = ["analysis_tables", "figures", "summary", "to_netcdf"]


def _frame(ds: xr.Dataset, obj: Any) -> Any:
    """A pandas table, units in the column names, from an analysis result."""
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        return obj
    if isinstance(obj, xr.DataArray):
        obj = obj.to_dataset(name=obj.name or "value")
    obj = decode(obj)  # categorical codes as their labels
    df = obj.to_dataframe().reset_index() if obj.dims else pd.DataFrame(
        [{n: np.asarray(obj[n].values)[()] for n in obj.variables}])
    return df.rename(columns={c: f"{c} [{obj[c].attrs['units']}]" for c in df.columns
                              if c in obj.variables and obj[c].attrs.get("units")})


def _cell(v: Any) -> str:
    if isinstance(v, float) and 1e4 <= abs(v) < 1e12:
        return f"{v:,.0f}"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _md_table(df: Any, rows: int = 10) -> str:
    cols = list(map(str, df.columns))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.head(rows).iterrows():  # at most `rows` lines of a summary table
        lines.append("| " + " | ".join(_cell(v) for v in r) + " |")
    if len(df) > rows:
        lines.append(f"\n({len(df) - rows} more rows in the CSV file)")
    return "\n".join(lines)


def _analysis(s: Sweep, ds: xr.Dataset, where: Any, tmp: Path, notes: list[str]) -> dict:
    """front.csv (the Pareto front of the objectives) and best.csv (the best by the first one)."""
    if not s.objectives:
        return {}
    made = {"front": _front_table(s, ds, where), "best": _best_table(s, ds, where)}
    for key, table in made.items():
        table.to_csv(tmp / f"{key}.csv", index=False)
    return made


def _front_table(s: Sweep, ds: xr.Dataset, where: Any) -> Any:
    from . import analysis

    front = analysis.pareto(ds, minimize=s.minimize, maximize=s.maximize, where=where)
    cols = [c for c in [*s.objectives, *sorted(expr.names(" and ".join(s.constraints)) if s.constraints else [])]
            if c in ds.data_vars and set(ds[c].dims) <= set(front.dims)]
    return analysis.front_table(ds, front, list(dict.fromkeys(cols)))


def _best_table(s: Sweep, ds: xr.Dataset, where: Any) -> Any:
    from . import analysis

    goal = {"minimize": s.minimize[0]} if s.minimize else {"maximize": s.maximize[0]}
    span = {d for n in (*goal.values(), "feasible") if n in ds.variables for d in ds[n].dims}
    span |= set(where.dims if where is not None else ()) | set(s.best or ())
    others = [o for o in s.objectives[1:] if o in ds.data_vars and set(ds[o].dims) <= span]
    return _frame(ds, analysis.best(ds, **goal, where=where, over=s.best, include=others))


def _figures(s: Sweep, ds: xr.Dataset, where: Any, tmp: Path | None, notes: list[str]) -> list[str]:
    """Draw every figure; save it into ``tmp`` (``None``: draw only, to check the arguments)."""
    if not s.figures:
        return []
    try:
        import matplotlib

        matplotlib.use("Agg")
        from . import plot
    except ImportError as exc:
        notes.append(f"figures skipped: dsx.plot cannot be imported ({exc})")
        return []
    files = []
    for i, spec in enumerate(s.figures):
        sub, mask = _figure_data(s, i, spec, ds, where)
        fn = _plot_function(s, i, plot, spec["kind"])
        args = {k: v for k, v in spec.items() if k not in ("kind", "name", "select")}
        if isinstance(args.get("where"), str):
            args["where"] = expr.mask(args["where"], sub)
        elif mask is not None and "where" in inspect.signature(fn).parameters and "where" not in args:
            args["where"] = mask
        fig = _draw(s, i, spec["kind"], fn, sub, args)
        if tmp is not None:
            files += [Path(p).name for p in plot.save(fig, tmp / spec.get("name", f"{i + 1:02d}_{spec['kind']}"))]
        import matplotlib.pyplot as plt

        plt.close(fig)
    return files


def _figure_data(s: Sweep, i: int, spec: dict, ds: xr.Dataset, where: Any) -> tuple[xr.Dataset, Any]:
    """The result and the constraint mask at the figure's ``select``."""
    if not spec.get("select"):
        return ds, where
    try:
        sub = ds.sel(spec["select"])
    except (KeyError, ValueError) as exc:
        raise _err(s.source, f"figures[{i}].select {spec['select']}: {exc}") from None
    if where is not None:
        where = where.sel({k: v for k, v in spec["select"].items() if k in where.dims})
    return sub, where


def _plot_function(s: Sweep, i: int, plot: Any, kind: str) -> Any:
    fn = getattr(plot, kind, None)
    if fn is None or kind.startswith("_"):
        names = [n for n in getattr(plot, "__all__", dir(plot)) if not n.startswith("_") and not n.isupper()
                 and callable(getattr(plot, n)) and n not in ("save", "style", "label")]
        raise _err(s.source, f"figures[{i}]: dsx.plot has no {kind!r} (available: {', '.join(names)})")
    return fn


def _draw(s: Sweep, i: int, kind: str, fn: Any, sub: xr.Dataset, args: dict) -> Any:
    """The figure of ``fn(sub, **args)``; bad arguments named with the figure's index."""
    try:
        inspect.signature(fn).bind(sub, **args)
    except TypeError as exc:
        raise _err(s.source, f"figures[{i}] ({kind}): {exc}") from None
    try:
        fig = fn(sub, **args)
    except DsxInputError as exc:
        hint = "; in a sweep file: select = { dim = value }" if ".sel(" in str(exc) else ""
        raise _err(s.source, f"figures[{i}] ({kind}): {exc}{hint}") from None
    return getattr(fig, "figure", fig)


def _summary(s: Sweep, ds: xr.Dataset, where: Any, made: dict, files: list[str], notes: list[str],
             seconds: float) -> str:
    lines = [f"# {Path(s.source).stem}", "", *([s.description, ""] if s.description else []),
             *_counts(s, ds, where, seconds)]
    for key, title in (("best", "Best configuration"), ("front", "Pareto front")):
        if key in made:
            n = len(made[key])
            lines += ["", f"## {title} ({key}.csv, {n} row{'s' if n != 1 else ''})", "", _md_table(made[key])]
    if files:
        lines += ["", "## Figures", "", *[f"- {f}" for f in files]]
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(x for x in lines if x is not None) + "\n"


def _counts(s: Sweep, ds: xr.Dataset, where: Any, seconds: float) -> list[str]:
    """The summary's list: configurations, feasible ones, those meeting the constraints, objectives."""
    size = int(np.prod([ds.sizes[d] for d in ds.dims])) if ds.dims else 1
    axes = " × ".join(f"{d}[{ds.sizes[d]}]" for d in ds.dims) or "one configuration"
    lines = [f"- workload: {s.workload}; {size:,} configurations ({axes}); evaluated in {seconds:.2f} s"]
    if "feasible" in ds:
        lines.append(f"- feasible: {int(ds['feasible'].sum()) * size // max(ds['feasible'].size, 1):,}")
    if where is not None:
        n = int(where.sum()) * size // max(where.size, 1)
        lines.append(f"- constraints ({' and '.join(s.constraints)}): {n:,} configurations satisfy them")
    if s.objectives:
        lines.append(f"- objectives: minimize {', '.join(s.minimize) or '-'}; maximize {', '.join(s.maximize) or '-'}")
    return lines


def _netcdf_engine() -> str:
    """h5netcdf when its HDF5 backend (h5py) is installed, else netCDF4; both write netCDF-4."""
    for engine, module in (("h5netcdf", "h5py"), ("netcdf4", "netCDF4")):
        if importlib.util.find_spec(module) is not None:
            return engine
    raise DsxInputError("writing result.nc needs h5py (for h5netcdf) or netCDF4: pip install h5py")


def _to_netcdf(ds: xr.Dataset, path: Path) -> None:
    """netCDF-4 with units in attrs; booleans and strings are encoded by xarray (CF)."""
    ds.to_netcdf(path, engine=_netcdf_engine())


analysis_tables, figures, summary, to_netcdf = _analysis, _figures, _summary, _to_netcdf
