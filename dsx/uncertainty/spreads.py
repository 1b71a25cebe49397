"""Honest spreads: calibration-factor distributions from leave-one-source-out residuals.

    python -m dsx.uncertainty validation/loso_residuals.csv   # rewrites the factor rows of the registry
"""

from __future__ import annotations

from importlib import resources
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DsxInputError

__all__ = ["FACTORS", "factor_spreads", "source_quantile", "update_registry", "main"]


#: Calibration factors whose spread each workload's residuals set.
FACTORS = {"training": ("kernel_efficiency",),
           "serving": ("engine_compute_efficiency", "engine_memory_efficiency")}


def factor_spreads(residuals: pd.DataFrame | str, level: float = 0.8, column: str = "predicted_loso") -> pd.DataFrame:
    """Log-normal spreads of the calibration factors from leave-one-source-out residuals.

    Each run's error ``r = ln(published / predicted)`` is taken back to the factor that moves
    the prediction: with columns ``elasticity_<factor>`` (``d ln metric / d ln factor`` of that
    run), the run counts for its dominant factor, as ``r / elasticity``; without them every
    factor of the workload gets the run at elasticity 1 (then the spread is too narrow where
    the metric moves less than the factor). Per factor,
    ``sigma = Q_level(|r / e|) / z_{(1+level)/2}``: the spread whose central ``level`` interval
    holds that share of the held-out errors, so the intervals cover what they claim on
    sources the fit did not see. The quantile weighs every *source* alike (each run
    ``1 / runs of its source``, :func:`source_quantile`): a new source is what the interval must
    cover, and one source's many runs share its bias. A time and a rate have the same ``|ln|``
    error, so every metric counts.

    Parameters
    ----------
    residuals : DataFrame or path
        Columns ``run, source, workload, metric, published, predicted_in_sample,
        predicted_loso`` (``benchmarks/calibrate.py`` writes ``validation/loso_residuals.csv``),
        optionally ``elasticity_<factor>`` per factor of :data:`FACTORS`.
    level : float
        Coverage the spread is set for (0.8).
    column : str
        Which prediction to use (``predicted_loso``; ``predicted_in_sample`` for comparison).

    Returns
    -------
    pandas.DataFrame
        One row per factor: ``input, distribution, sigma, runs, sources, source``.

    >>> df = pd.DataFrame({"run": list("abcde"), "source": list("ppqqr"), "workload": ["training"] * 5,
    ...                    "metric": ["tokens_per_s"] * 5, "published": [1.0] * 5,
    ...                    "predicted_in_sample": [1.0] * 5, "predicted_loso": [1.1, 0.9, 1.0, 1.2, 0.95]})
    >>> round(float(factor_spreads(df).sigma.iloc[0]), 3)
    0.1
    >>> round(float(factor_spreads(df.assign(elasticity_kernel_efficiency=0.5)).sigma.iloc[0]), 3)
    0.201
    """
    df = pd.read_csv(residuals) if not isinstance(residuals, pd.DataFrame) else residuals
    need = {"source", "workload", "published", column}
    missing = need - set(df.columns)
    if missing:
        raise DsxInputError(f"factor_spreads: residual table lacks columns {sorted(missing)}")
    z = NormalDist().inv_cdf((1 + level) / 2)
    rows = []
    for workload, group in df.groupby("workload"):
        if workload not in FACTORS:
            continue
        factors = FACTORS[workload]
        r = np.log(group["published"].astype(float) / group[column].astype(float)).to_numpy()
        cols = [f"elasticity_{f}" for f in factors]
        if all(c in group.columns for c in cols):
            e = group[cols].astype(float).to_numpy()
            owner = np.argmax(np.abs(e), axis=1)
            scaled = r / e[np.arange(len(r)), owner]
            how = "|r / elasticity| of the runs it dominates"
        else:
            owner = None
            scaled = r
            how = "|r| (no elasticity columns: elasticity 1)"
        for i, factor in enumerate(factors):
            x = np.abs(scaled if owner is None else scaled[owner == i])
            x = x[np.isfinite(x)]
            if x.size == 0:
                continue
            src = group["source"].to_numpy() if owner is None else group["source"].to_numpy()[owner == i]
            src = src[np.isfinite(np.abs(scaled if owner is None else scaled[owner == i]))]
            sigma = source_quantile(x, src, level) / z
            rows.append({"input": factor, "distribution": "lognormal", "sigma": round(sigma, 4),
                         "runs": int(x.size), "sources": int(pd.unique(src).size),
                         "source": f"{column} residuals of {x.size} {workload} runs from {pd.unique(src).size} "
                                   f"sources ({'; '.join(map(str, pd.unique(src)))}): sigma = Q{level:.0%} of "
                                   f"{how} / {z:.4f}"})
    return pd.DataFrame(rows)


def source_quantile(x: np.ndarray, sources: np.ndarray, level: float) -> float:
    """The ``level`` quantile of ``x`` with every source weighted alike (each value ``1 / count``).

    Midpoint plotting positions ``p_i = (C_i - w_i / 2) / W`` over the sorted values (cumulative
    weight ``C_i``, total ``W``), interpolated; with one value per source this is numpy's
    ``method="hazen"``.

    Four runs of one source at 0.1 and one of another at 0.5: the median is 0.1 unweighted.

    >>> round(source_quantile(np.array([0.1, 0.1, 0.1, 0.1, 0.5]), np.array(list("aaaab")), 0.5), 3)
    0.18
    """
    x = np.asarray(x, float)
    labels = pd.Series(sources).astype(str)  # a missing source is one source of its own ("nan")
    counts = labels.map(labels.value_counts()).to_numpy(float)
    order = np.argsort(x, kind="stable")
    xs, w = x[order], 1.0 / counts[order]
    cw = np.cumsum(w)
    return float(np.interp(level, (cw - w / 2) / cw[-1], xs))


def update_registry(residuals: pd.DataFrame | str, path: Any = None, level: float = 0.8,
                    column: str = "predicted_loso") -> pd.DataFrame:
    """Write :func:`factor_spreads` into the registry CSV (rows of the fitted factors only)."""
    spreads = factor_spreads(residuals, level, column).set_index("input")
    path = path or (resources.files("dsx.catalog") / "data" / "uncertainty.csv")
    reg = pd.read_csv(path).set_index("input")
    basis = "leave_one_source_out" if column == "predicted_loso" else "in_sample"
    note = "" if basis == "leave_one_source_out" else (
        "Spread from in-sample errors, too narrow for unseen sources; regenerate from "
        "leave-one-source-out residuals: python benchmarks/calibrate.py. ")
    for name, row in spreads.iterrows():
        reg.loc[name, ["distribution", "sigma", "basis", "source"]] = [
            row["distribution"], row["sigma"], basis, note + row["source"]]
    reg.reset_index().to_csv(path, index=False)
    return reg


def main(argv: list[str] | None = None) -> int:
    """``python -m dsx.uncertainty RESIDUALS.csv``: rewrite the factor spreads from a residual file."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m dsx.uncertainty RESIDUALS.csv  (rewrites the factor spreads)", file=sys.stderr)
        return 2
    print(update_registry(argv[0]).to_string())
    return 0
