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

__all__ = ["FACTORS", "factor_spreads", "update_registry", "main"]


#: Calibration factors whose spread each workload's residuals set.
FACTORS = {"training": ("kernel_efficiency",),
           "serving": ("engine_compute_efficiency", "engine_memory_efficiency")}


def factor_spreads(residuals: pd.DataFrame | str, level: float = 0.8, column: str = "predicted_loso") -> pd.DataFrame:
    """Log-normal spreads of the calibration factors from leave-one-source-out residuals.

    ``sigma = Q_level(|ln(published / predicted)|) / z_{(1+level)/2}``: the spread whose
    central ``level`` interval holds that share of the held-out residuals, so the intervals
    cover what they claim on sources the fit did not see. A time and a rate have the same
    ``|ln|`` error, so every metric counts.

    Parameters
    ----------
    residuals : DataFrame or path
        Columns ``run, source, workload, metric, published, predicted_in_sample,
        predicted_loso`` (``benchmarks/calibrate.py`` writes ``validation/loso_residuals.csv``).
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
    0.094
    """
    df = pd.read_csv(residuals) if not isinstance(residuals, pd.DataFrame) else residuals
    need = {"source", "workload", "published", column}
    missing = need - set(df.columns)
    if missing:
        raise DsxInputError(f"factor_spreads: residual table lacks columns {sorted(missing)}")
    z = NormalDist().inv_cdf((1 + level) / 2)
    rows = []
    for workload, group in df.groupby("workload"):
        r = np.abs(np.log(group["published"].astype(float) / group[column].astype(float)))
        r = r[np.isfinite(r)]
        if r.empty or workload not in FACTORS:
            continue
        sigma = float(np.quantile(r, level)) / z
        for factor in FACTORS[workload]:
            rows.append({"input": factor, "distribution": "lognormal", "sigma": round(sigma, 4),
                         "runs": int(r.size), "sources": int(group["source"].nunique()),
                         "source": f"{column} residuals of {r.size} {workload} runs from "
                                   f"{group['source'].nunique()} sources: sigma = Q{level:.0%}|ln(published/"
                                   f"predicted)| / {z:.4f}"})
    return pd.DataFrame(rows)


def update_registry(residuals: pd.DataFrame | str, path: Any = None, level: float = 0.8) -> pd.DataFrame:
    """Write :func:`factor_spreads` into the registry CSV (rows of the fitted factors only)."""
    spreads = factor_spreads(residuals, level).set_index("input")
    path = path or (resources.files("dsx.catalog") / "data" / "uncertainty.csv")
    reg = pd.read_csv(path).set_index("input")
    for name, row in spreads.iterrows():
        reg.loc[name, ["distribution", "sigma", "basis", "source"]] = [
            row["distribution"], row["sigma"], "leave_one_source_out", row["source"]]
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
