"""dsx: vectorized design-space exploration for machine-learning systems.

One call evaluates the whole stack — roofline, memory, parallel layout and communication,
step time, time to train or serve, reliability, energy, carbon, water and cost — for every
configuration of a labelled space at once.
"""

from __future__ import annotations

import pandas as pd

from . import accessor, catalog, units  # noqa: F401  (accessor registers ds.dsx)
from .codes import decode
from .analysis import best, pareto, sensitivity, synthesize
from .audit import audit
from .calibration import calibrate
from .errors import DsxInputError
from .space import Space
from .stacks import serving, training
from .uncertainty import lognormal, normal, probability, triangular, uniform
from . import analysis as _analysis, expr as _expr

_analysis.register_where_parser(_expr.where)  # where="ttft < 500 ms" strings use the safe parser


def __getattr__(name: str):
    # dsx.plot imports matplotlib: load it on first use so `dsx audit` starts fast
    if name == "plot":
        import importlib

        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module 'dsx' has no attribute {name!r}")

__version__ = "0.1.0"
__all__ = ["Space", "training", "serving", "decode",
           "audit", "pareto", "best", "sensitivity", "synthesize", "calibrate", "plot",
           "catalog", "units", "inputs", "DsxInputError",
           "normal", "lognormal", "uniform", "triangular", "probability"]


def inputs() -> pd.DataFrame:
    """Every input any solver reads: canonical unit, default and meaning, one row per name."""
    from . import solvers  # noqa: F401  (importing registers every solver's inputs)
    from .solvers.base import INPUTS

    rows = [{"name": n, "unit": s.unit if s.unit is not None else "(choice)",
             "default": s.default, "meaning": s.doc} for n, s in sorted(INPUTS.items())]
    return pd.DataFrame(rows, columns=["name", "unit", "default", "meaning"]).set_index("name")
