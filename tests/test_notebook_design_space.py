"""notebooks/design_space.ipynb runs top to bottom: a ~160k-configuration training sweep, constraints,
Pareto fronts, best layouts, sensitivities, inverse design, a serving slice and paper figures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "design_space.ipynb"

import notebook_runner as runner


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"no match for {pattern!r} in the notebook output"
    return float(match.group(1).replace(",", ""))


@pytest.mark.slow
def test_design_space_notebook_runs(tmp_path, monkeypatch):
    run = runner.execute(NOTEBOOK, tmp_path, monkeypatch)
    assert not run.errors, run.errors
    # training front, layout heatmap, tornado, serving front, roofline, two breakdowns, by region
    assert run.figures >= 8, f"{run.figures} figures drawn"
    text = run.text

    # 1. one call over the whole space, timed
    size = _number(r"space\.size = ([\d,]+) configurations", text)
    assert 100_000 <= size <= 300_000
    assert _number(r"([\d,]+) configurations/s", text) > 0

    # 2. constraints and the three-objective fronts
    assert _number(r"meet 'memory_per_gpu < 0\.9 \* hbm_capacity and mfu > 0\.3': ([\d,]+) of", text) > 0
    assert _number(r"front size \(llama-3\.1-70b\): (\d+)", text) > 0
    assert "time_to_train [day]" in text and "tco [MUSD]" in text and "carbon [tCO2e]" in text

    # 4. sensitivity: a ranking and a binding input
    assert "binding input of the TCO:" in text and "inputs by |elasticity|:" in text

    # 5. inverse design: the synthesized values meet their targets, and a little less does not
    assert "round trip meets the target: True" in text
    assert "1 % less misses it:          True" in text
    sizing = re.findall(r"min gpus\s+(\d+):\s+([\d.]+) day <= 14: (True|False)", text)
    assert sizing, "the minimum-GPU table is printed"
    assert all(ok == "True" and float(days) <= 14 for _, days, ok in sizing), sizing

    # 6. serving under an SLA
    assert _number(r"serving front: (\d+) configurations", text) > 0

    # 7./8. figures written as PDF + PNG; the sweep file route produces its files
    assert _number(r"saved (\d+) files", text) == 16
    assert "'front.csv'" in text and "'summary.md'" in text
