"""Solvers: one module per physics domain; each a pure Dataset -> Dataset function.

Every variable they read or return is declared in ``dsx/variables.toml`` (:mod:`dsx.variables`);
importing this package records which solver provides each output (``base.PROVIDERS``).
"""

from . import base  # noqa: F401
from . import reliability  # noqa: F401
from . import sustainability  # noqa: F401
from . import economics  # noqa: F401
from . import model, layout, compute, compute_training, memory  # noqa: F401,E401
from . import network, training, data, scaling  # noqa: F401,E401
from . import queueing, speculative, serving, serving_ops  # noqa: F401,E401
