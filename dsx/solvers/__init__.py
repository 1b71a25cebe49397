"""Solvers: one module per physics domain; each a pure Dataset -> Dataset function.

Importing this package registers every solver's inputs (see :mod:`dsx.solvers.base`).
"""

from . import base  # noqa: F401
