"""Execute a notebook top to bottom in a kernel running this test interpreter; collect its outputs.

Shared by the notebook tests (``tests/`` is on pytest's ``pythonpath``)::

    import notebook_runner as runner
    run = runner.execute(NOTEBOOK, tmp_path, monkeypatch)
    assert not run.errors and run.figures >= 3

The kernel is a ``python3`` kernelspec written into a temporary ``JUPYTER_PATH`` whose command
is ``sys.executable``, so the notebook sees the same interpreter and the same installed ``dsx``
as the test, whatever other ``python3`` kernels the machine has.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

__all__ = ["Run", "execute", "kernel_dir"]


@dataclass
class Run:
    """An executed notebook and what its code cells produced."""

    nb: nbformat.NotebookNode
    text: str          # stdout, stderr and text/plain of every output, in order
    figures: int       # outputs with an image (inline matplotlib figures)
    errors: list[str]  # "ename: evalue" of every error output


def kernel_dir(root: Path) -> Path:
    """Write a ``python3`` kernelspec for ``sys.executable`` under ``root/kernels``; return ``root``."""
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (test interpreter)", "language": "python",
    }))
    return root


def execute(path: Path, tmp_path: Path, monkeypatch, timeout: int = 300) -> Run:
    """Run every cell of ``path`` (working directory ``tmp_path``); outputs are not written back."""
    monkeypatch.delenv("MPLBACKEND", raising=False)   # the kernel draws inline, as in Jupyter
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_dir(tmp_path / "jupyter")))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)
    figures = sum(any(k.startswith("image/") for k in o.get("data", {})) for o in outputs)
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in outputs if o.get("output_type") == "error"]
    return Run(nb, text, figures, errors)
