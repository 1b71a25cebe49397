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
    made: dict = {}
    if not s.objectives:
        return made
    try:
        from . import analysis
    except ImportError as exc:  # pragma: no cover - analysis is part of the package
        notes.append(f"front.csv and best.csv skipped: dsx.analysis cannot be imported ({exc})")
        return made
    kw = {"minimize": s.minimize, "maximize": s.maximize, "where": where}
    if hasattr(analysis, "pareto"):
        front = analysis.pareto(ds, **kw)
        cols = [c for c in [*s.objectives, *sorted(expr.names(" and ".join(s.constraints)) if s.constraints else [])]
                if c in ds.data_vars and set(ds[c].dims) <= set(front.dims)]
        table = (analysis.front_table(ds, front, list(dict.fromkeys(cols))) if hasattr(analysis, "front_table")
                 else _frame(ds, ds[cols].where(front, drop=True)))
        table.to_csv(tmp / "front.csv", index=False)
        made["front"] = table
    else:
        notes.append("front.csv skipped: dsx.analysis has no pareto()")
    if hasattr(analysis, "best"):
        goal = {"minimize": s.minimize[0]} if s.minimize else {"maximize": s.maximize[0]}
        span = {d for n in (*goal.values(), "feasible") if n in ds.variables for d in ds[n].dims}
        span |= set(where.dims if where is not None else ()) | set(s.best or ())
        others = [o for o in s.objectives[1:] if o in ds.data_vars and set(ds[o].dims) <= span]
        over = s.best if s.best is not None else None
        table = _frame(ds, analysis.best(ds, **goal, where=where, over=over, include=others))
        table.to_csv(tmp / "best.csv", index=False)
        made["best"] = table
    else:
        notes.append("best.csv skipped: dsx.analysis has no best()")
    return made


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
        args = {k: v for k, v in spec.items() if k not in ("kind", "name", "select")}
        sub, mask = ds, where
        if spec.get("select"):
            try:
                sub = ds.sel(spec["select"])
            except (KeyError, ValueError) as exc:
                raise _err(s.source, f"figures[{i}].select {spec['select']}: {exc}") from None
            if mask is not None:
                mask = mask.sel({k: v for k, v in spec["select"].items() if k in mask.dims})
        fn = getattr(plot, spec["kind"], None)
        if fn is None or spec["kind"].startswith("_"):
            names = [n for n in getattr(plot, "__all__", dir(plot)) if not n.startswith("_") and not n.isupper()
                     and callable(getattr(plot, n)) and n not in ("save", "style", "label")]
            raise _err(s.source, f"figures[{i}]: dsx.plot has no {spec['kind']!r} (available: {', '.join(names)})")
        if isinstance(args.get("where"), str):
            args["where"] = expr.mask(args["where"], sub)
        elif mask is not None and "where" in inspect.signature(fn).parameters and "where" not in args:
            args["where"] = mask
        try:
            inspect.signature(fn).bind(sub, **args)
        except TypeError as exc:
            raise _err(s.source, f"figures[{i}] ({spec['kind']}): {exc}") from None
        try:
            fig = fn(sub, **args)
        except DsxInputError as exc:
            hint = "; in a sweep file: select = { dim = value }" if ".sel(" in str(exc) else ""
            raise _err(s.source, f"figures[{i}] ({spec['kind']}): {exc}{hint}") from None
        fig = getattr(fig, "figure", fig)
        stem = spec.get("name", f"{i + 1:02d}_{spec['kind']}")
        if tmp is None:
            pass
        elif hasattr(plot, "save"):
            files += [Path(p).name for p in plot.save(fig, tmp / stem)]
        else:  # pragma: no cover - dsx.plot always has save
            for ext in ("pdf", "png"):
                fig.savefig(tmp / f"{stem}.{ext}", bbox_inches="tight")
                files.append(f"{stem}.{ext}")
        import matplotlib.pyplot as plt

        plt.close(fig)
    return files


def _summary(s: Sweep, ds: xr.Dataset, where: Any, made: dict, files: list[str], notes: list[str],
             seconds: float) -> str:
    size = int(np.prod([ds.sizes[d] for d in ds.dims])) if ds.dims else 1
    axes = " × ".join(f"{d}[{ds.sizes[d]}]" for d in ds.dims) or "one configuration"
    lines = [f"# {Path(s.source).stem}", "", *([s.description, ""] if s.description else []),
             f"- workload: {s.workload}; {size:,} configurations ({axes}); evaluated in {seconds:.2f} s"]
    if "feasible" in ds:
        lines.append(f"- feasible: {int(ds['feasible'].sum()) * size // max(ds['feasible'].size, 1):,}")
    if where is not None:
        n = int(where.sum()) * size // max(where.size, 1)
        lines.append(f"- constraints ({' and '.join(s.constraints)}): {n:,} configurations satisfy them")
    if s.objectives:
        lines.append(f"- objectives: minimize {', '.join(s.minimize) or '-'}; maximize {', '.join(s.maximize) or '-'}")
    for key, title in (("best", "Best configuration"), ("front", "Pareto front")):
        if key in made:
            n = len(made[key])
            lines += ["", f"## {title} ({key}.csv, {n} row{'s' if n != 1 else ''})", "", _md_table(made[key])]
    if files:
        lines += ["", "## Figures", "", *[f"- {f}" for f in files]]
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(x for x in lines if x is not None) + "\n"


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
