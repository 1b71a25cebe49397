"""docs/validation.md and validation/loso_residuals.csv are what benchmarks/calibrate.py writes."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dsx import validation
from dsx.calibration import DEFAULT_FACTORS, bounds

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("calibrate_benchmark", ROOT / "benchmarks" / "calibrate.py")
bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bench
_spec.loader.exec_module(bench)


@pytest.fixture(scope="module")
def kept():
    return pd.read_csv(bench.RESIDUALS)


def test_residuals_cover_every_published_run(kept):
    """One residual row per validation row, same published value: a new CSV row means a rerun."""
    for workload in bench.WORKLOADS:
        rows = validation.load(workload)
        mine = kept[kept.workload == workload]
        assert list(mine.run) == list(rows.run.astype(str)), "rerun: python benchmarks/calibrate.py"
        np.testing.assert_allclose(mine.published, rows.published.astype(float), rtol=1e-5)


def test_page_states_the_loso_error_of_the_residuals(kept):
    """The headline LOSO figures of docs/validation.md are the mean errors of the kept residuals."""
    page = bench.DOC.read_text()
    for workload in bench.WORKLOADS:
        mine = kept[kept.workload == workload]
        loso = float((mine.predicted_loso / mine.published - 1).abs().mean())
        insample = float((mine.predicted_in_sample / mine.published - 1).abs().mean())
        row = re.search(rf"^\| {workload} \| (\d+) \| \d+ \| [0-9.]+% \| ([0-9.]+)% \| \*\*([0-9.]+)%\*\* \|$", page, re.M)
        assert row, f"no {workload} row in docs/validation.md"
        assert int(row.group(1)) == len(mine)
        assert float(row.group(2)) / 100 == pytest.approx(insample, abs=6e-4)
        assert float(row.group(3)) / 100 == pytest.approx(loso, abs=6e-4)


def test_intervals_cover_what_they_claim_under_leave_one_source_out(kept):
    """Issue 9's test of honesty: published values inside the nominal 80 % interval 70-90 % of the
    time, each source predicted by factors fitted without it and drawn with the spread of the
    other sources' held-out residuals (benchmarks/calibrate.py writes low80/high80 per run)."""
    for workload in bench.WORKLOADS:
        mine = kept[kept.workload == workload]
        inside = ((mine.low80 <= mine.published) & (mine.published <= mine.high80)).mean()
        half = ((mine.high80 - mine.low80) / 2 / mine.predicted_loso).mean()
        print(f"{workload}: {inside:.1%} of {len(mine)} runs inside their 80 % interval, mean half-width {half:.1%}")
        assert 0.70 <= inside <= 0.90, workload
        assert (mine.low80 <= mine.predicted_loso * 1.0001).all() and (mine.predicted_loso <= mine.high80 * 1.0001).all()
        by_source = ((mine.low80 <= mine.published) & (mine.published <= mine.high80)).groupby(mine.source).mean().mean()
        page = bench.DOC.read_text()
        assert f"| {workload} | {len(mine)} | {inside:.1%} | {by_source:.1%} | {half:.1%} |" in page


def test_registry_spreads_are_the_held_out_residuals(kept):
    """The uncertainty registry's factor spreads are what the kept held-out residuals give."""
    from dsx.uncertainty import registry
    from dsx.uncertainty.spreads import factor_spreads

    reg = registry()  # indexed by input
    for _, row in factor_spreads(kept).iterrows():
        assert reg.loc[row["input"], "sigma"] == pytest.approx(row["sigma"], abs=1e-4), row["input"]
        assert reg.loc[row["input"], "basis"] == "leave_one_source_out"


@pytest.mark.slow
def test_kept_files_are_current():
    """The whole refit (about a minute): the kept page and residuals match a fresh run."""
    assert bench.main(["--check"]) == 0, "stale: run python benchmarks/calibrate.py"


@pytest.mark.parametrize("workload", ["training", "serving"])
def test_ideal_hardware_bounds_every_prediction(workload):
    """benchmarks/calibrate.py flags published values beyond what their stated configuration reaches on
    ideal hardware (calibrate.IDEAL): that bound must hold over dsx's own predictions, defaults and fitted
    factors alike (a faster rate, a shorter time), or a flagged row would mean nothing."""
    df = validation.load(workload)
    ideal = validation.predict(df, workload, **bench.IDEAL).predicted.to_numpy()
    time = bench.is_time(df.metric, workload)
    for factors in ({}, {n: hi for n in DEFAULT_FACTORS[workload] for hi in [bounds(n)[1]]}):
        pred = validation.predict(df, workload, **factors).predicted.to_numpy()
        slack = np.where(time, pred / ideal, ideal / pred) - 1.0
        print(f"{workload} {'defaults' if not factors else 'factors at their upper bounds'}: "
              f"smallest margin to the ideal bound {np.nanmin(slack):+.2%}")
        assert np.nanmin(slack) >= -1e-9
    print("beyond the ideal bound:", list(bench.beyond_ideal(df.assign(ideal=ideal), workload).run))
