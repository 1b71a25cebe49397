"""notebooks/calibration.ipynb runs top to bottom: measurements -> fit -> intervals before and after."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "calibration.ipynb"

import notebook_runner as runner


@pytest.mark.slow
def test_calibration_notebook_runs(tmp_path, monkeypatch):
    run = runner.execute(NOTEBOOK, tmp_path, monkeypatch, timeout=300)
    assert not run.errors, run.errors
    assert run.figures >= 1, "the front with intervals is drawn"
    assert "kernel_efficiency =" in run.text and "80 % interval width" in run.text
