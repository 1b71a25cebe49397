"""The variables of an evaluation in progress (:class:`Namespace`), the Dataset built once at the end."""

from __future__ import annotations

from typing import Any

import xarray as xr

__all__ = ["Namespace"]


class Namespace:
    """The variables of an evaluation in progress, the Dataset built once at the end.

    Each solver of a stack reads its inputs here and adds its outputs (``solver.compute``);
    assigning into an ``xr.Dataset`` after every solver would copy and re-align some 200
    variables each time, which is most of the cost of evaluating a small space.
    """

    def __init__(self, ds: xr.Dataset) -> None:
        self.variables: dict[str, Any] = dict(ds.variables)
        #: the arrays the evaluation was given (the caller's), by id: never written in place. The
        #: arrays themselves are held too: an id is unique only while its object lives, and an
        #: index coordinate's ``.data`` is a fresh array each time, freed at once, whose id a later
        #: outcome's array could take (and so never be written in place, by chance)
        self.given: dict[int, Any] = {}
        self.give(self.variables.values())
        #: what kernels read of each variable (``solver.compute`` fills it; an update drops the name)
        self.readings: dict[str, Any] = {}
        self.sizes: dict[str, int] = dict(ds.sizes)
        self._coords = list(ds.coords)
        self._attrs = dict(ds.attrs)

    def give(self, variables: Any) -> None:
        """Mark these variables' arrays (and the arrays they view) as not the evaluation's to write."""
        for v in variables:
            data = v.data
            for array in (data, getattr(data, "base", None)):
                if array is not None:
                    self.given[id(array)] = array

    @property
    def dims(self) -> list[str]:
        return list(self.sizes)

    @property
    def coord_names(self) -> list[str]:
        return list(self._coords)

    def update(self, new: dict[str, Any]) -> None:
        """Add (or replace) variables; a DataArray brings its new coordinates along."""
        for name, value in new.items():
            if isinstance(value, xr.DataArray):
                for c, coord in value.coords.items():
                    if c not in self.variables:
                        self.variables[c] = coord.variable
                        self._coords.append(c)
                value = value.variable
            for d, n in zip(value.dims, value.shape):
                self.sizes.setdefault(d, n)
            self.variables[name] = value
            self.readings.pop(name, None)

    def to_dataset(self) -> xr.Dataset:
        from ..fastds import build

        coords = {c: self.variables[c] for c in self._coords}
        data = {n: v for n, v in self.variables.items() if n not in coords}
        # coordinates first, so the dimensions keep the space's order; built once, no merge
        return build(coords, data, self._attrs)
