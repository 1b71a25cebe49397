"""``dsx catalog``: the catalog kinds, one kind as a table (display units) or JSON, the cloud prices."""

from __future__ import annotations

import json
from typing import Any

from .errors import DsxInputError

__all__ = ["catalog_command"]

_KINDS = {"hardware": "hardware", "models": "models", "model": "models", "regions": "regions",
          "region": "regions", "fabrics": "fabrics", "fabric": "fabrics", "precisions": "precisions",
          "precision": "precisions"}
#: Columns shown by ``dsx catalog KIND``: (column, display unit); ``peak:<p>`` is peak_flops at <p>.
_COLUMNS = {
    "hardware": [("name", None), ("peak:bf16", "TFLOP/s"), ("peak:fp8", "TFLOP/s"), ("hbm_capacity", "GB"),
                 ("hbm_bandwidth", "TB/s"), ("tdp", "W"), ("scale_up_bandwidth", "GB/s"),
                 ("scale_out_bandwidth", "Gbit/s"), ("gpus_per_node", ""), ("price", "USD")],
    "models": [("name", None), ("params_published", "Gparam"), ("layers", ""), ("hidden", ""), ("heads", ""),
               ("kv_heads", ""), ("ffn", ""), ("vocab", ""), ("experts", ""), ("max_context", "")],
    "regions": [("name", None), ("carbon_intensity", "gCO2e/kWh"), ("pue", ""), ("wue", "L/kWh"),
                ("ewif", "L/kWh"), ("electricity_price", "USD/kWh")],
    "fabrics": [("name", None), ("scope", None), ("bandwidth", "Gbit/s"), ("latency", "us")],
    "precisions": [("name", None), ("bytes", "B")],
}


def catalog_command(kind_name: str | None, as_json: bool = False, ident: str | None = None) -> int:
    """``dsx catalog [KIND [ID]] [--json]``: the kinds, one kind's table (or JSON), one entry's figures
    with their sources, or the cloud-price listings."""
    from . import catalog
    from .formatting import _grid

    if kind_name is None:
        body = [[k, str(len(catalog.names(k))), f"dsx catalog {k}"] for k in catalog.SCHEMA]
        body.append(["cloud-prices", str(len(catalog.prices.table())), "dsx catalog cloud-prices"])
        print(_grid(["kind", "entries", "command"], body))
        return 0
    if kind_name.lower() in ("cloud-prices", "cloud_prices", "prices"):  # every listing with its source
        rows = catalog.prices.table()
        body = [[r.hardware, r.cloud, r.tier, f"{r.price:.4g}", r.date, r.source] for r in rows.itertuples()]
        print(_grid(["hardware", "cloud", "tier", "price [USD/h]", "date", "source"], body))
        return 0
    kind = _KINDS.get(kind_name.lower())
    if kind is None:
        raise DsxInputError(f"catalog: unknown kind {kind_name!r}; expected one of {', '.join(catalog.SCHEMA)}")
    if ident is not None:
        return _entry(kind, ident, as_json)
    ds = catalog.load(kind)
    dim = catalog.DIMENSION[kind]
    ids = [str(i) for i in ds[dim].values]
    if as_json:
        print(json.dumps({ident: _catalog_row(ds, dim, i) for i, ident in enumerate(ids)}, indent=2, default=str))
        return 0
    header, cols = _catalog_columns(kind, ds)
    if kind == "hardware":
        _rent_columns(ids, header, cols)
    body = [[ident, *(_catalog_cell(values[i], factor, is_text) for values, factor, is_text in cols)]
            for i, ident in enumerate(ids)]
    print(_grid(header, body))
    return 0


def _entry(kind: str, name: str, as_json: bool) -> int:
    """One catalog entry: each figure as written in the catalog file, with its unit and its own source."""
    from . import catalog
    from .formatting import _grid

    ident = catalog.resolve(kind, name)
    row = catalog._table(kind).loc[ident]
    sources = catalog.sources(kind, ident)
    figures = {col: {"value": str(row[col]).strip() or None, "units": catalog.SCHEMA[kind][col].unit,
                     "meaning": catalog.SCHEMA[kind][col].meaning, "source": src} for col, src in sources.items()}
    if as_json:
        print(json.dumps({"id": ident, "name": str(row.get("name", "")), "figures": figures}, indent=2))
        return 0
    whole = str(row.get("source", ""))
    print(f"{ident}: {row.get('name', '')}")
    print(_grid(["column", "value", "source"], [[c, f["value"] or "-", "row source (below)" if f["source"] == whole
                                                 else f["source"]] for c, f in figures.items()]))
    print(f"row source: {whole}")
    return 0


def _catalog_row(ds: Any, dim: str, i: int) -> dict:
    """One catalog entry as JSON values (NaN -> null)."""
    import numpy as np

    row = {}
    for name, da in ds.data_vars.items():
        v = da.isel({dim: i}).values
        if np.ndim(v):
            row[name] = v.tolist()
        elif isinstance(v[()], float) and np.isnan(v):
            row[name] = None
        else:
            row[name] = v[()].item() if hasattr(v[()], "item") else v[()]
    return row


def _catalog_columns(kind: str, ds: Any) -> tuple[list[str], list[tuple[Any, float, bool]]]:
    """Header and (values, unit factor, is text) of the table's columns after ``id``."""
    from .units import ureg

    header, cols = ["id"], []
    for col, unit in _COLUMNS[kind]:
        name, _, prec = col.partition(":")
        da = ds["peak_flops"].sel(precision=prec) if name == "peak" and "peak_flops" in ds else ds.get(name)
        if da is None or (name == "peak" and prec not in ds["peak_flops"].precision):
            continue
        factor = ureg.Quantity(1.0, da.attrs.get("units") or "dimensionless").to(unit).magnitude if unit else 1.0
        label = f"{prec} peak" if name == "peak" else name
        header.append(f"{label} [{unit}]" if unit else label)
        cols.append((da.values, factor, unit is None))
    return header, cols


def _rent_columns(ids: list[str], header: list[str], cols: list) -> None:
    """Rental price of each device: median of the on-demand listings, their range and clouds."""
    import numpy as np

    from . import catalog

    rent = catalog.prices.summary().reindex(ids)
    header += ["rent median [USD/h]", "rent range [USD/h]", "rent source (dsx catalog cloud-prices)"]
    cols += [(rent.cloud_price_median.to_numpy(), 1.0, False),
             ([f"{a:.3g}-{b:.3g}" if np.isfinite(a) else "-" for a, b in
               zip(rent.cloud_price_lowest, rent.cloud_price_highest)], 1.0, True),
             ([f"{c} (to {d})" if isinstance(c, str) else "-" for c, d in zip(rent.clouds, rent.newest)], 1.0, True)]


def _catalog_cell(v: Any, factor: float, is_text: bool) -> str:
    import numpy as np

    if is_text:
        return str(v) if v not in (None, "") else "-"
    if v is None or not np.isfinite(float(v)):
        return "-"
    x = float(v) * factor
    return f"{x:,.0f}" if x.is_integer() else f"{x:,.4g}"
