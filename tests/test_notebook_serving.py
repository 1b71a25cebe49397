"""notebooks/serving.ipynb runs top to bottom (small space, well under a minute)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "serving.ipynb"


def test_serving_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)   # the kernel draws inline, as in Jupyter
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("data", {}).get("text/plain", "") for o in outputs)
    figure = any("image/png" in o.get("data", {}) for o in outputs) or "<Figure size" in text
    assert figure, "the frontier figure is drawn"
    assert "cost_per_mtoken" in text and "gpus_needed" in text
