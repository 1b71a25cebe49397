"""Catalogs as data files: hardware, models, regions, fabrics, precisions.

Each catalog is a CSV file in ``dsx/catalog/data/``: one row per entry, every figure written
with the unit it was published in (``80 GB``, ``3.35 TB/s``, ``400 Gbit/s``) and a ``source``
column; ``data/sources.csv`` (catalog, id, column, source) gives a figure its own source,
the words of the row's ``source`` that name it (:func:`sources`). Loaded once, converted to
canonical units (:mod:`dsx.units`; each column's unit, type and range are declared in
``dsx/variables.toml``), and returned as an ``xr.Dataset`` indexed by id, so a catalog
dimension is a sweep axis like any other.

User catalogs: a directory named by the ``DSX_CATALOG`` environment variable, or registered
with :func:`use`, holding files with the same names; their rows add to or override (by
``id``) the built-in ones, without code.

>>> hw = hardware()
>>> float(hw.hbm_bandwidth.sel(hardware="H100-SXM")) / 1e12
3.35
>>> resolve("hardware", "h100")
'H100-SXM'
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import DsxInputError, did_you_mean
from ..units import magnitude
from ..variables import CATALOGS, COLUMNS, Column
from . import hf, prices

__all__ = ["hardware", "models", "regions", "fabrics", "precisions", "load", "names", "resolve", "use", "sources",
           "SCHEMA"]

_DATA = Path(__file__).parent / "data"
_USER_DIRS: list[Path] = []
_ADDED: dict[str, dict[str, dict[str, str]]] = {"models": {}}  # rows read at run time (Hugging Face configs)

def _schema() -> dict[str, dict[str, Column]]:
    return {kind: {name: col for name, col in COLUMNS.items() if kind in col.catalogs and col.type != "key"}
            for kind in CATALOGS}


#: Columns of each catalog: kind -> {column: Column}, read from the registry (dsx/variables.toml,
#: kind = "catalog"), which gives each column's type, canonical unit, range and long name. The
#: ``id`` and ``aliases`` columns (type key) name rows; they are declared there too but hold no figure.
SCHEMA: dict[str, dict[str, Column]] = _schema()
#: Columns every row of a user catalog must fill (``required = true`` in the registry).
REQUIRED = {kind: tuple(c for c, col in cols.items() if col.required) for kind, cols in SCHEMA.items()}

#: The sweep dimension each catalog indexes.
DIMENSION = {"hardware": "hardware", "models": "model", "regions": "region",
             "fabrics": "fabric", "precisions": "precision"}


def use(path: str | os.PathLike) -> None:
    """Merge the catalog files in directory ``path`` over the built-in ones (by ``id``)."""
    p = Path(path)
    if not p.is_dir() or not any((p / f"{k}.csv").exists() for k in SCHEMA):
        why = "is not a directory" if not p.is_dir() else "holds no catalog file"
        raise DsxInputError(f"user catalog: {str(p)!r} {why}; expected a folder holding "
                            "hardware.csv / models.csv / regions.csv / fabrics.csv")
    _USER_DIRS.append(p)
    _clear_cache()


def _user_dirs() -> list[Path]:
    env = os.environ.get("DSX_CATALOG")
    if env:
        p = Path(env)
        if not p.is_dir():
            raise DsxInputError(f"DSX_CATALOG={env!r} is {'a file' if p.exists() else 'missing'}; it must name "
                                "a folder holding hardware.csv / models.csv / regions.csv / fabrics.csv / "
                                "precisions.csv (or unset it)")
    return ([Path(env)] if env else []) + _USER_DIRS


def _read(path: Path, kind: str, user: bool = False) -> pd.DataFrame:
    """One catalog file, every cell checked (unit, sign, range), errors naming file, row and column."""
    df = _read_csv(path)
    _check_header(path, kind, df.columns)
    df["id"] = _checked_ids(path, df["id"])
    df = df.set_index("id")
    for col in df.columns:
        if col in SCHEMA[kind] and SCHEMA[kind][col].type != "text":
            _check_column(path, kind, col, df[col])
    if user:
        _check_required(path, kind, df)
    return df


def _read_csv(path: Path) -> pd.DataFrame:
    """The file's cells as strings; any read or parse failure becomes a DsxInputError naming the file."""
    try:
        header = path.read_bytes()[:4096]
        if b"\0" in header:
            raise UnicodeDecodeError("utf-8", header, 0, 1, "NUL byte")
        return pd.read_csv(path, dtype=str, keep_default_na=False, comment=None, skipinitialspace=True,
                           encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise DsxInputError(f"catalog file {str(path)!r} is empty; expected a header row 'id,...' and rows") from None
    except UnicodeDecodeError:
        raise DsxInputError(f"catalog file {str(path)!r} is not UTF-8 text (a binary file?)") from None
    except pd.errors.ParserError as exc:
        raise DsxInputError(f"catalog file {str(path)!r} is not valid CSV: {str(exc).strip()}") from None
    except OSError as exc:
        raise DsxInputError(f"catalog file {str(path)!r} cannot be read ({exc.strerror or exc})") from None


def _check_header(path: Path, kind: str, columns: pd.Index) -> None:
    """Refuse a repeated column, a missing ``id`` or a column the registry does not give ``kind``."""
    cols = [re.sub(r"\.\d+$", "", c) for c in columns]  # pandas renames a repeat "x" to "x.1"
    twice = sorted({c for c in cols if cols.count(c) > 1})
    if twice:
        raise DsxInputError(f"catalog file {str(path)!r}: column {twice[0]!r} appears twice in the header")
    if "id" not in columns:
        raise DsxInputError(f"catalog file {str(path)!r}: needs an 'id' column")
    unknown = set(columns) - {c for c, col in COLUMNS.items() if kind in col.catalogs}
    if unknown:
        raise DsxInputError(f"catalog file {str(path)!r}: unknown columns {sorted(unknown)}; "
                            f"expected some of {sorted(SCHEMA[kind])}")


def _checked_ids(path: Path, column: pd.Series) -> pd.Series:
    """The stripped ids, refusing an empty or repeated one (rows named by their line in the file)."""
    ids = column.str.strip()
    for i, ident in enumerate(ids):
        row = f"catalog file {str(path)!r} row {i + 2}"  # line in the file (the header is line 1)
        if not ident:
            raise DsxInputError(f"{row}: empty id")
        if ident in set(ids[:i]):
            raise DsxInputError(f"{row}: id {ident!r} appears twice (first on row {list(ids).index(ident) + 2})")
    return ids


def _check_required(path: Path, kind: str, df: pd.DataFrame) -> None:
    """Refuse a user row that leaves a required column empty (or a file without that column)."""
    for col in REQUIRED[kind]:
        blank = df[col].str.strip() == "" if col in df.columns else pd.Series(True, index=df.index)
        if blank.any():
            i = int(np.flatnonzero(blank.to_numpy())[0])
            raise DsxInputError(f"catalog file {str(path)!r} row {i + 2} (id {df.index[i]!r}), column {col!r}: "
                                f"required, but empty or missing (every {kind} row needs {', '.join(REQUIRED[kind])})")


def _check_column(path: Path, kind: str, col: str, values: pd.Series) -> None:
    """Units and physical range of one column (its registry entry's minimum/maximum)."""
    try:
        data = _convert(kind, col, values)
    except DsxInputError as exc:
        ident = next((i for i in values.index if repr(str(i)) in str(exc)), None)
        row = f" row {list(values.index).index(ident) + 2}" if ident is not None else ""
        raise DsxInputError(f"catalog file {str(path)!r}{row}, column {col!r}: {exc}") from None
    spec = SCHEMA[kind][col]
    if spec.type == "flag":
        return
    bad = np.isinf(data)
    if spec.low is not None:
        bad |= (data < spec.low[0]) | ((data == spec.low[0]) & (not spec.low[1]))
    if spec.high is not None:
        bad |= (data > spec.high[0]) | ((data == spec.high[0]) & (not spec.high[1]))
    bad &= ~np.isnan(data) | np.isinf(data)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DsxInputError(f"catalog file {str(path)!r} row {i + 2} (id {values.index[i]!r}), column {col!r}: "
                            f"{values.iloc[i]!r} is out of range; expected a finite value{_describe(spec)} "
                            f"(dsx/variables.toml [{col}])")


def _describe(spec: Column) -> str:
    parts = [f"{'>=' if spec.low[1] else '>'} {spec.low[0]:g}"] if spec.low else []
    parts += [f"{'<=' if spec.high[1] else '<'} {spec.high[0]:g}"] if spec.high else []
    return " " + " and ".join(parts) if parts else ""


def _convert(kind: str, col: str, values: pd.Series) -> np.ndarray:
    spec = SCHEMA[kind][col]
    blank = values.str.strip().isin(["", "-", "nan", "NaN", "n/a"])
    if spec.type == "text":
        return values.to_numpy(dtype=object)
    if spec.type == "flag":
        low = values.str.strip().str.lower()
        bad = ~low.isin(["true", "false", "1", "0", "yes", "no"]) & ~blank
        if bad.any():
            raise DsxInputError(f"{kind} catalog column {col!r}: expected true/false, got {list(values[bad])}")
        return low.isin(["true", "1", "yes"]).to_numpy()
    out = np.full(len(values), np.nan)
    target = "" if spec.type == "count" else spec.unit  # a count is written bare; its unit names what it counts
    for i, (ident, text) in enumerate(values.items()):
        if blank.iloc[i]:
            continue
        name = f"{kind} catalog {ident!r} column {col!r}"
        match = _NUMBER_UNIT.match(text)
        if match:  # "989 TFLOP/s": scale by the unit's factor, parsed once per unit string
            try:
                out[i] = float(match.group(1)) * _factor(match.group(2).strip(), target)
            except DsxInputError:
                out[i] = magnitude(text, target, name=name)  # re-raises, naming the cell
        else:
            out[i] = magnitude(text, target, name=name)
    return out


_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*)$")


@functools.lru_cache(maxsize=None)
def _factor(unit: str, target: str) -> float:
    return magnitude(f"1 {unit}", target) if unit else 1.0


@functools.lru_cache(maxsize=None)
def _table(kind: str) -> pd.DataFrame:
    frames = [_read(_DATA / f"{kind}.csv", kind)]
    for d in _user_dirs():
        f = d / f"{kind}.csv"
        if f.exists():
            frames.append(_read(f, kind, user=True))
            _warn_shadowing(kind, frames[0], frames[-1], f)
    if _ADDED.get(kind):
        frames.append(pd.DataFrame.from_dict(_ADDED[kind], orient="index", dtype=str))
    df = frames[0]
    for extra in frames[1:]:
        extra = extra.reindex(columns=df.columns, fill_value="")
        df = pd.concat([df.drop(index=extra.index, errors="ignore"), extra])
    return df


def load(kind: str) -> xr.Dataset:
    """The catalog ``kind`` as an ``xr.Dataset`` indexed by id, values in canonical units."""
    if kind not in SCHEMA:
        raise DsxInputError(f"catalog kind {kind!r} unknown; expected one of {sorted(SCHEMA)}")
    return _dataset(kind).copy()


@functools.lru_cache(maxsize=None)
def _dataset(kind: str) -> xr.Dataset:
    df = _table(kind)
    dim = DIMENSION[kind]
    ds = xr.Dataset(coords={dim: np.array(df.index, dtype=object)})
    peak = {}
    for col in [c for c in df.columns if c in SCHEMA[kind]]:  # in the order of the built-in file
        spec = SCHEMA[kind][col]
        data = _convert(kind, col, df[col])
        if col.startswith("peak_"):
            peak[col[5:]] = data
            continue
        # counts, flags and labels are dimensionless: every variable states its units
        ds[col] = (dim, data, {"long_name": spec.long_name, "units": spec.unit or ""})
    if peak:
        ds["peak_flops"] = xr.DataArray(
            np.stack(list(peak.values()), axis=1), dims=(dim, "precision"),
            coords={"precision": list(peak)},
            attrs={"units": COLUMNS["peak_flops"].unit, "long_name": COLUMNS["peak_flops"].long_name},
        )
    return ds


def hardware() -> xr.Dataset:
    """Accelerators: peak FLOP/s per precision, HBM, power, links, price, embodied carbon."""
    return load("hardware")


def models() -> xr.Dataset:
    """Model architectures (decoder, encoder, MoE, CNN) with their published parameter counts."""
    return load("models")


def regions() -> xr.Dataset:
    """Grid regions: carbon intensity, PUE, water (on-site WUE, off-site EWIF), electricity price."""
    return load("regions")


def fabrics() -> xr.Dataset:
    """Interconnect fabrics: bandwidth per direction and latency."""
    return load("fabrics")


def precisions() -> xr.Dataset:
    """Numeric formats and their bytes per element."""
    return load("precisions")


def names(kind: str) -> list[str]:
    """The ids in catalog ``kind``."""
    return list(_table(kind).index)


def _warn_shadowing(kind: str, builtin: pd.DataFrame, user: pd.DataFrame, path: Path) -> None:
    """A user id equal to a built-in alias (of another id) takes that alias over: say so."""
    aliases = {a.strip().lower(): ident for ident, al in builtin.get("aliases", pd.Series(dtype=str)).items()
               for a in str(al).split(";") if a.strip()}
    for i, ident in enumerate(user.index):
        owner = aliases.get(ident.lower())
        if owner is not None and owner.lower() != ident.lower():
            warnings.warn(f"catalog file {str(path)!r} row {i + 2}: id {ident!r} is also an alias of the "
                          f"built-in {kind[:-1] if kind.endswith('s') else kind} {owner!r}; {ident!r} now "
                          f"means your row, not {owner!r}", UserWarning, stacklevel=4)


@functools.lru_cache(maxsize=None)
def _aliases(kind: str) -> dict[str, str]:
    df = _table(kind)
    table = {i.lower(): i for i in df.index}
    if "aliases" in df.columns:
        for ident, al in df["aliases"].items():
            for a in str(al).split(";"):
                if a.strip():
                    table.setdefault(a.strip().lower(), ident)
    return table


def resolve(kind: str, name: str) -> str:
    """Map a name or alias (case-insensitive) to its catalog id, or raise with close matches."""
    if kind == "models" and hf.is_source(name) and str(name).strip().lower() not in _aliases(kind):
        ident, cells = hf.catalog_row(name)  # a Hugging Face config: folder, config.json or dict
        if _aliases(kind).get(ident.lower(), ident) not in (ident, *_ADDED[kind]):
            ident += "-hf"  # never shadow a built-in id or alias (e.g. a folder named Qwen2.5-7B)
        if _ADDED[kind].get(ident) != cells:
            _ADDED[kind][ident] = cells
            _clear_cache()
        return ident
    table = _aliases(kind)
    key = str(name).strip().lower()
    if key in table:
        return table[key]
    hint = did_you_mean(key, table, n=4, cutoff=0.5, canonical=table)  # offer ids, not their aliases
    raise DsxInputError(
        f"{DIMENSION[kind]}: unknown {kind[:-1] if kind.endswith('s') else kind} {name!r}{hint} "
        f"(`dsx catalog {kind}` lists all {len(_table(kind))}; add your own with a user catalog file)"
    )


#: Separates the quoted fragments of one figure's source in ``sources.csv``.
QUOTE_SEPARATOR = " ... "


@functools.lru_cache(maxsize=None)
def _figure_sources() -> dict[tuple[str, str], dict[str, str]]:
    """``sources.csv``: (catalog, id) -> {column: source}, each entry checked against the registry."""
    path = _DATA / "sources.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    table: dict[tuple[str, str], dict[str, str]] = {}
    for i, (kind, ident, col, text) in enumerate(df[["catalog", "id", "column", "source"]].itertuples(index=False)):
        if kind not in SCHEMA or col not in SCHEMA[kind] or not text.strip():
            raise DsxInputError(f"catalog file {str(path)!r} row {i + 2}: {kind!r}/{col!r} is not a declared "
                                "catalog column (dsx/variables.toml) or its source is empty")
        table.setdefault((kind, ident), {})[col] = text
    return table


def sources(kind: str, name: str) -> dict[str, str]:
    """Where each figure of one catalog row comes from: column -> source.

    A figure's own source (``data/sources.csv``: the words of the row's ``source`` that name
    that figure, fragments joined by ``" ... "``) where one is given, else the row's whole
    ``source``. An own source applies only while the row's text still holds every fragment, so a
    user row that replaces a built-in one keeps its own ``source`` for every figure.

    >>> sources("hardware", "H100")["scale_up_bandwidth"]
    'NVLink 4: 900 GB/s total = 450 GB/s per direction'
    """
    ident = resolve(kind, name)
    row = _table(kind).loc[ident]
    whole = str(row.get("source", ""))
    own = {col: text for col, text in _figure_sources().get((kind, ident), {}).items()
           if all(f in whole for f in text.split(QUOTE_SEPARATOR))}  # still quoted from this row
    return {col: own.get(col, whole) for col in row.index  # in the order of the file
            if col in SCHEMA[kind] and SCHEMA[kind][col].type in ("number", "count")
            and (str(row[col]).strip() or col in own)}  # a blank figure: only where its source says why


def _clear_cache() -> None:
    for f in (_table, _dataset, _aliases):
        f.cache_clear()
    prices.clear_cache()
