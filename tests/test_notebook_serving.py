"""notebooks/serving.ipynb runs top to bottom (small space, well under a minute)."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "serving.ipynb"

import notebook_runner as runner


@pytest.mark.slow
def test_serving_notebook_runs(tmp_path, monkeypatch):
    run = runner.execute(NOTEBOOK, tmp_path, monkeypatch, timeout=120)
    assert not run.errors, run.errors
    assert run.figures >= 1, "the frontier figure is drawn"
    assert "cost_per_mtoken" in run.text and "gpus_needed" in run.text
