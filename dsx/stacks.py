"""The stacks: every solver composed, in order, in one visible place.

Reading this file shows the whole flow of data: inputs -> layout -> compute and memory ->
communication -> step time -> time to train (or serve) -> reliability -> energy, carbon,
water -> cost. Each step is a pure ``Dataset -> Dataset`` solver (``dsx.solvers``).
"""

from __future__ import annotations

from typing import Any

import xarray as xr

from .space import Space

__all__ = ["training", "serving", "evaluate", "TRAINING", "SERVING"]

# Filled in as the solver modules land (see docs/architecture.md).
TRAINING: tuple = ()
SERVING: tuple = ()


def _dataset(space: Space | xr.Dataset | None, options: dict[str, Any]) -> xr.Dataset:
    if isinstance(space, xr.Dataset):
        if options:
            return space.assign(Space(**options).to_dataset().data_vars)
        return space
    if space is None:
        space = Space(**options)
    elif options:
        space = space.replace(**options)
    return space.to_dataset()


def evaluate(steps: tuple, ds: xr.Dataset) -> xr.Dataset:
    """Run ``steps`` (solvers) over ``ds`` in order."""
    for step in steps:
        ds = step(ds)
    return ds


def training(space: Space | xr.Dataset | None = None, **options: Any) -> xr.Dataset:
    """Evaluate the training stack over every configuration of ``space`` at once.

    ``options`` are further inputs (scalars or lists), merged into the space.
    """
    return evaluate(TRAINING, _dataset(space, options))


def serving(space: Space | xr.Dataset | None = None, **options: Any) -> xr.Dataset:
    """Evaluate the serving stack over every configuration of ``space`` at once."""
    return evaluate(SERVING, _dataset(space, options))
