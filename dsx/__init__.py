"""dsx: vectorized design-space exploration for machine-learning systems.

One call evaluates the whole stack — roofline, memory, parallel layout and communication,
step time, time to train or serve, reliability, energy, carbon, water and cost — for every
configuration of a labelled space at once.
"""

from . import accessor, catalog, units  # noqa: F401  (accessor registers ds.dsx)
from .codes import decode
from .analysis import best, pareto, sensitivity, synthesize
from .diagnosis import audit
from .calibration import calibrate
from .errors import DsxInputError
from .space import Space
from .stacks import serving, training
from .uncertainty import lognormal, normal, probability, triangular, uniform
from . import analysis as _analysis, expr as _expr

_analysis.register_where_parser(_expr.where)  # where="ttft < 500 ms" strings use the safe parser
del _analysis, _expr


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


def __dir__() -> list[str]:
    # the public API only: not the submodules Python binds here on import, nor helper names
    return sorted([*__all__, "__version__"])


def inputs():
    """Every input any solver reads, one row per name, from the registry (``dsx/variables.toml``).

    Returns
    -------
    pandas.DataFrame
        Indexed by name: canonical ``unit`` (``"(choice)"`` for a categorical input, whose
        ``choices`` are listed), ``default``, ``meaning`` and ``reference`` (a key of
        ``docs/references.bib`` or a ``docs/physics.md`` section).
    """
    import pandas as pd

    from .variables import INPUTS

    columns = ["name", "unit", "default", "choices", "meaning", "reference"]
    rows = [{"name": n, "unit": s.unit if s.unit is not None else "(choice)", "default": s.default,
             "choices": ", ".join(map(str, s.choices)) if s.choices else "", "meaning": s.doc,
             "reference": s.reference} for n, s in sorted(INPUTS.items())]
    return pd.DataFrame(rows, columns=columns).set_index("name")
