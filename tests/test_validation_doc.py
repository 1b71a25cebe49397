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


@pytest.mark.slow
def test_kept_files_are_current():
    """The whole refit (about a minute): the kept page and residuals match a fresh run."""
    assert bench.main(["--check"]) == 0, "stale: run python benchmarks/calibrate.py"
