"""Units inside kernels, for the test that checks them: constants with a unit, quantities handed out.

Kernels compute on float magnitudes in canonical units. ``tests/test_kernel_units.py`` runs
each kernel on pint quantities instead (inside :func:`units_checked`) to verify its
dimensions; these helpers are what lets a kernel state a constant's unit there at no cost
in the fast path.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

__all__ = ["unit", "bare", "units_checked"]

_CHECKING = [False]


def unit(spec: str) -> Any:
    """The unit of a constant inside a kernel: ``1.0``, or the pint unit while units are checked.

    Kernels work on magnitudes in canonical units, so a constant that has a unit (the 6 of
    ``6ND``: flop per parameter per token) is written ``6.0 * unit("flop/param/token")``. In
    the fast path this is a multiplication by one; under :func:`units_checked` (the test
    ``tests/test_kernel_units.py``) it makes the constant a quantity, so the kernel's
    dimensions can be verified.

    >>> unit("flop/param/token")
    1.0
    """
    if _CHECKING[0]:
        from ..units import ureg

        return ureg.Quantity(1.0, spec)
    return 1.0


def bare(x: Any) -> Any:
    """``x`` itself; while units are checked, a dimensionless quantity as its plain magnitude.

    For the few places a kernel hands a dimensionless figure to code that takes no quantities
    (scipy's special functions in the Erlang C formula).
    """
    if _CHECKING[0] and hasattr(x, "to"):
        return x.to("").magnitude
    return x


@contextlib.contextmanager
def units_checked() -> Iterator[None]:
    """Within this block :func:`unit` returns pint quantities (for the kernel units test)."""
    _CHECKING[0] = True
    try:
        yield
    finally:
        _CHECKING[0] = False
