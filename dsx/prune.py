"""``outputs=``: run only the solvers the requested outputs need.

Every solver declares what it reads (its parameters: ``run.requires`` and ``run.inputs``,
plus parameters with plain defaults) and what it writes (``run.outputs``); a plain step
declares both in ``step.uses`` (and may add ``step.outputs``). Walking the stack backwards
from the requested names keeps a step when it writes a needed variable, and then needs what
it reads. ``feasible`` and ``reason`` are always requested, so every check (and every core
outcome :func:`~dsx.solvers.outcomes.finite_outcomes` tests) still runs: a pruned result is
the full result restricted to the kept variables (``tests/test_prune.py``).
"""

from __future__ import annotations

import inspect
from typing import Any

from .solvers import outcomes

__all__ = ["prune", "reads", "writes"]


def reads(step: Any) -> set[str] | None:
    """Variables ``step`` reads (None: unknown, a plain step that sees the whole Dataset)."""
    if getattr(step, "compute", None) is not None and hasattr(step, "outputs") and step not in _PLAIN:
        return set(inspect.signature(step).parameters)
    uses = getattr(step, "uses", None)
    return None if uses is None else set(uses)


def writes(step: Any) -> set[str] | None:
    """Variables ``step`` writes (None: unknown)."""
    if step is outcomes.finite_outcomes:
        return {"feasible", "reason"}
    if step is outcomes.mask_infeasible:
        return set(outcomes.OUTCOMES)
    out = getattr(step, "outputs", None)
    if out is not None:
        return set(out) | set(getattr(step, "uses", ()) or ())
    uses = getattr(step, "uses", None)
    return None if uses is None else set(uses)


_PLAIN = (outcomes.finite_outcomes, outcomes.mask_infeasible)


def prune(steps: tuple, keep: set[str]) -> tuple:
    """The steps of ``steps`` (in order) that ``keep`` needs; ``mask_infeasible`` masks only those.

    A step whose reads or writes are not declared is kept, and so is everything before it.
    """
    needed = set(keep) | {"feasible", "reason"}
    kept: list = []
    for i in range(len(steps) - 1, -1, -1):
        step = steps[i]
        out, into = writes(step), reads(step)
        if out is None or into is None:  # undeclared: keep it and everything upstream
            return tuple(steps[:i + 1]) + tuple(reversed(kept))
        if not out & needed:
            continue
        if step is outcomes.mask_infeasible:
            kept.append(outcomes.mask_only(out & needed))
            needed |= {"feasible"}
            continue
        kept.append(step)
        needed |= into
    return tuple(reversed(kept))
