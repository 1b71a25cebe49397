"""Rental prices per accelerator-hour, per cloud and tier, from ``data/cloud_prices.csv``.

One row per (hardware, cloud, tier) with the price per accelerator-hour (an instance price
divided by its accelerators), the date it was read and its source. Tiers: ``on-demand``,
``reserved-1y``, ``reserved-3y`` (commitments), ``capacity-block`` (AWS reserved blocks),
``spot``. A user catalog (``DSX_CATALOG`` or :func:`dsx.catalog.use`) may add a
``cloud_prices.csv`` with the same columns; its rows replace built-in rows with the same
(hardware, cloud, tier).

``cloud`` selects a provider (``aws``, ``gcp``, ``lambda``, ...) or an aggregate over all
providers that list the accelerator at that tier: ``median`` (the default of
:func:`dsx.solvers.economics.rental_price`), ``lowest`` or ``highest``.

>>> price("H100-SXM", "lambda", "on-demand")
3.29
>>> price("H100-SXM", "median", "on-demand")
4.03
>>> import math; math.isnan(price("CS-3", "median", "on-demand"))   # no listing: NaN, never a guess
True
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from ..errors import DsxInputError
from ..units import magnitude

__all__ = ["TIERS", "AGGREGATES", "table", "clouds", "price", "lookup", "summary"]

TIERS = ("on-demand", "reserved-1y", "reserved-3y", "capacity-block", "spot")
AGGREGATES = {"median": np.median, "lowest": np.min, "highest": np.max}
_FILE = "cloud_prices.csv"


@functools.lru_cache(maxsize=None)
def table() -> pd.DataFrame:
    """All listings: hardware, cloud, tier, price (USD per accelerator-hour), date, source."""
    from . import _DATA, _user_dirs, resolve

    frames = [pd.read_csv(_DATA / _FILE, dtype=str, keep_default_na=False)]
    frames += [pd.read_csv(d / _FILE, dtype=str, keep_default_na=False) for d in _user_dirs() if (d / _FILE).exists()]
    df = pd.concat(frames, ignore_index=True).drop_duplicates(["hardware", "cloud", "tier"], keep="last")
    bad = sorted(set(df.tier) - set(TIERS))
    if bad:
        raise DsxInputError(f"{_FILE}: unknown tier {bad}; expected one of {', '.join(TIERS)}")
    df["hardware"] = [resolve("hardware", h) for h in df.hardware]
    df["price"] = [magnitude(p, "USD/h", name=f"{_FILE} price of {h} at {c}")
                   for h, c, p in zip(df.hardware, df.cloud, df.price)]
    return df.reset_index(drop=True)


def clouds() -> list[str]:
    """Providers with at least one listing."""
    return sorted(set(table().cloud))


def price(hardware: str, cloud: str = "median", tier: str = "on-demand") -> float:
    """Rental price (USD per accelerator-hour) of one accelerator at ``cloud`` and ``tier``; NaN if unlisted."""
    df = table()
    rows = df[(df.hardware == hardware) & (df.tier == tier)]
    if cloud in AGGREGATES:
        return float(AGGREGATES[cloud](rows.price.to_numpy())) if len(rows) else float("nan")
    rows = rows[rows.cloud == cloud]
    return float(rows.price.iloc[0]) if len(rows) else float("nan")


def lookup(hardware, cloud, tier) -> np.ndarray:
    """:func:`price` broadcast over arrays of labels (one call per distinct label triple)."""
    h, c, t = np.broadcast_arrays(np.asarray(hardware, dtype=object), np.asarray(cloud, dtype=object),
                                  np.asarray(tier, dtype=object))
    out = np.empty(h.shape)
    for idx in np.ndindex(h.shape):  # the labels of a few catalog rows, not configurations
        out[idx] = _cached(str(h[idx]), str(c[idx]), str(t[idx]))
    return out


@functools.lru_cache(maxsize=None)
def _cached(hardware: str, cloud: str, tier: str) -> float:
    return price(hardware, cloud, tier)


def summary() -> pd.DataFrame:
    """Per accelerator: median, lowest and highest on-demand price, number of clouds, newest date, sources."""
    df = table()
    od = df[df.tier == "on-demand"].groupby("hardware")
    out = pd.DataFrame({"cloud_price_median": od.price.median(), "cloud_price_lowest": od.price.min(),
                        "cloud_price_highest": od.price.max(), "clouds": od.cloud.apply(lambda s: ";".join(sorted(s))),
                        "newest": od.date.max()})
    return out


def clear_cache() -> None:
    for f in (table, _cached):
        f.cache_clear()
