"""Initial calibration-factor spreads from the in-sample validation errors, in factor space.

    python benchmarks/uncertainty_spreads.py           # print the residual table and the spreads
    python benchmarks/uncertainty_spreads.py --write   # also rewrite the factor rows of the registry

Evaluates the training and serving validation sets (``tests/test_validation_training.py``,
``tests/test_validation_serving.py``) with the calibrated defaults, measures each run's
elasticity to each calibration factor (``d ln metric / d ln factor``, central difference at
±5 %), and hands the residual table to :func:`dsx.uncertainty.factor_spreads`. These are
*in-sample* errors: once ``benchmarks/calibrate.py`` writes leave-one-source-out predictions,
add the same elasticity columns to that file and run ``python -m dsx.uncertainty FILE``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import dsx
from dsx.uncertainty import factor_spreads, update_registry

TESTS = Path(__file__).resolve().parents[1] / "tests"
STEP = 0.95  # factor x STEP and / STEP


def _module(name: str):
    sys.path.insert(0, str(TESTS))
    spec = importlib.util.spec_from_file_location(name, TESTS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _training_metric(run: dict, **factors: float) -> float:
    ds = dsx.training(**{**run["space"], **factors})
    v = ds.hfu * ds.peak_flops if run["metric"] == "hw_tflops_per_gpu" else ds.tokens_per_s_per_gpu
    return float(v)


def training() -> pd.DataFrame:
    tv = _module("test_validation_training")
    k = dsx.inputs().loc["kernel_efficiency", "default"]
    rows = []
    for run in tv.RUNS:
        lo, hi = _training_metric(run, kernel_efficiency=k * STEP), _training_metric(run, kernel_efficiency=k / STEP)
        rows.append({"run": run.get("name", ""), "source": run.get("source", ""), "workload": "training",
                     "metric": run["metric"], "published": run["published"],
                     "predicted_in_sample": _training_metric(run),
                     "elasticity_kernel_efficiency": np.log(hi / lo) / np.log(1 / STEP**2)})
    return pd.DataFrame(rows)


def serving() -> pd.DataFrame:
    vs = _module("test_validation_serving")
    base = vs.table()
    out = pd.DataFrame({"run": base.model + " " + base.hardware, "source": base.table, "workload": "serving",
                        "metric": base.metric, "published": base.published, "predicted_in_sample": base.predicted})
    for factor in ("engine_compute_efficiency", "engine_memory_efficiency"):
        k = dsx.inputs().loc[factor, "default"]
        lo = vs.table(**{factor: k * STEP}).predicted.to_numpy()
        hi = vs.table(**{factor: k / STEP}).predicted.to_numpy()
        out[f"elasticity_{factor}"] = np.log(hi / lo) / np.log(1 / STEP**2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true", help="rewrite the factor rows of dsx/catalog/data/uncertainty.csv")
    args = ap.parse_args()
    table = pd.concat([training(), serving()], ignore_index=True)
    spreads = factor_spreads(table, column="predicted_in_sample")
    with pd.option_context("display.width", 200, "display.max_colwidth", 120):
        print(spreads.to_string(index=False))
    if args.write:
        path = Path(dsx.__file__).parent / "catalog" / "data" / "uncertainty.csv"
        update_registry(table, path, column="predicted_in_sample")
        print(f"wrote {path} (from in-sample errors)")


if __name__ == "__main__":
    main()
