"""notebooks/bring_your_own_model.ipynb runs top to bottom: a config.json folder on three accelerators."""

from __future__ import annotations

from pathlib import Path

import pytest

import notebook_runner as runner

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "bring_your_own_model.ipynb"


@pytest.mark.slow
def test_bring_your_own_model_notebook_runs(tmp_path, monkeypatch):
    run = runner.execute(NOTEBOOK, tmp_path, monkeypatch, timeout=300)
    assert not run.errors, run.errors
    assert run.figures >= 1, "the owned-vs-rented figure is drawn"
    assert "parameters: 7.615 B" in run.text and "safetensors index: 7.616 B" in run.text
    assert "renting at the median listing costs" in run.text
