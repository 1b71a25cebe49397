"""Checking one given value of an input against the registry (dsx/variables.toml): a choice, a flag,
a finite number in the input's unit, a whole number for a count, within its bounds. Every refusal is
a one-line :class:`~dsx.errors.DsxInputError` naming the input."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import DsxInputError
from .units import magnitude

__all__ = ["check_range", "choice", "finite_magnitude", "flag", "whole_number"]

#: Largest count accepted (2**53: above it float64 cannot hold every whole number).
_MAX_COUNT = 2**53
Bound = tuple[float, bool]  # (value, the value itself allowed)


def _range(name: str, spec: Any) -> tuple[Bound | None, Bound | None]:
    """(lowest, highest) allowed value of a numeric input, each ``(value, inclusive)`` or None."""
    if spec is None:  # a catalog column: its range in dsx/variables.toml
        from .variables import COLUMNS

        return COLUMNS[name].low, COLUMNS[name].high
    low = None if spec.minimum is None else (spec.minimum, not spec.exclusive_minimum)
    high = None if spec.maximum is None else (spec.maximum, not spec.exclusive_maximum)
    return low, high


def _describe(low: Bound | None, high: Bound | None) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>=' if low[1] else '>'} {low[0]:g}")
    if high is not None:
        parts.append(f"{'<=' if high[1] else '<'} {high[0]:g}")
    return "a value " + " and ".join(parts)



def choice(name: str, value: Any, spec: Any) -> Any:
    """A categorical input's value, one of the registry's choices when it lists them."""
    if spec.choices is not None and value not in spec.choices:
        raise DsxInputError(
            f"{name}: {value!r} is not allowed; expected one of {', '.join(map(repr, spec.choices))}"
        )
    return value


def flag(name: str, value: Any, unit: str | None, is_flag: bool) -> bool:
    """A true/false input's value; a boolean given to a numeric input (or the reverse) is an error."""
    if not isinstance(value, (bool, np.bool_)):
        raise DsxInputError(f"{name}: {value!r} must be true or false")
    if not is_flag:
        raise DsxInputError(f"{name}: {value!r} is a boolean; expected a number{f' in {unit}' if unit else ''}")
    return bool(value)


def finite_magnitude(name: str, value: Any, unit: str | None) -> float:
    """``value`` (a number or quantity) as a finite float in ``unit``."""
    try:
        mag = float(magnitude(value, unit, name=name))
    except OverflowError:
        mag = np.inf
    except DsxInputError:
        raise
    except (TypeError, ValueError):  # a set, a generator, a complex number, a nested array
        raise DsxInputError(f"{name}: {value!r:.60} is not a number; give a number, a quantity "
                            f"such as '1 {unit or 'dimensionless'}', or a list of them") from None
    if not np.isfinite(mag):
        raise DsxInputError(f"{name}: {value!r} is not a finite number")
    return mag


def whole_number(name: str, value: Any, mag: float, spec: Any) -> int:
    """A count: whole, at least its registry minimum (1 by default) and at most 2**53."""
    lo = 1 if spec.minimum is None else int(spec.minimum)
    if mag != int(mag) or mag < lo or mag > _MAX_COUNT:
        raise DsxInputError(f"{name}: {value!r} must be a whole number >= {lo} (and at most 2**53)")
    return int(mag)


def check_range(name: str, value: Any, mag: float, unit: str | None, spec: Any) -> None:
    """Raise unless ``mag`` lies within the input's bounds (each inclusive or exclusive)."""
    low, high = _range(name, spec)
    below = low is not None and (mag < low[0] or (mag == low[0] and not low[1]))
    above = high is not None and (mag > high[0] or (mag == high[0] and not high[1]))
    if below or above:
        raise DsxInputError(f"{name}: {value!r} is out of range; expected {_describe(low, high)}"
                            f"{f' (in {unit})' if unit else ''}")
