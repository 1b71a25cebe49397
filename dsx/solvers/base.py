"""The solver contract: named variables in, named variables (with units) out.

A solver is a plain function whose parameter names are Dataset variable names. Decorated
with :func:`solver`, it becomes ``Dataset -> Dataset``: the wrapper pulls each parameter
from the Dataset (or its :class:`Input` default), calls the kernel, and assigns the
returned variables with ``attrs["units"]`` and ``attrs["long_name"]``. The undecorated
kernel stays available as ``fn.kernel`` and works on floats, numpy arrays or DataArrays
alike, which is what the scalar reference tests call.

Parameters whose default is an :class:`Input` are user inputs: they are registered in
:data:`INPUTS` (name, canonical unit, default, meaning), which :class:`dsx.Space`, the CLI
and the documentation read. A parameter with no default must come from upstream; if it
is missing the error names the variable, the solver that needs it and the one that
provides it.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import xarray as xr

from ..errors import DsxInputError, MissingVariableError

__all__ = ["Input", "solver", "INPUTS", "PROVIDERS", "where", "first_reason"]


@dataclass(frozen=True)
class Input:
    """A documented, sweepable user input.

    Parameters
    ----------
    default : Any
        Value used when the space does not set it (a bare number is in ``unit``).
    unit : str or None
        Canonical unit of the magnitude inside kernels; ``""`` dimensionless, ``None`` for a
        categorical (string) input.
    doc : str
        Meaning, and where its default comes from.
    integer : bool
        A count (kept as int64, must be >= 1 unless ``minimum`` says otherwise).
    choices : tuple, optional
        Allowed values of a categorical input.
    minimum : float, optional
        Smallest allowed value (inclusive).
    """

    default: Any
    unit: str | None
    doc: str
    integer: bool = False
    choices: tuple | None = None
    minimum: float | None = None


#: Every user input any solver declares: name -> Input.
INPUTS: dict[str, Input] = {}
#: Which solver provides each output variable: name -> solver name.
PROVIDERS: dict[str, str] = {}
#: Units and long names of every output variable: name -> (units, long_name).
OUTPUTS: dict[str, tuple[str, str]] = {}


def _register_input(name: str, spec: Input, owner: str) -> None:
    old = INPUTS.get(name)
    if old is not None and (old.unit != spec.unit or old.default != spec.default):
        raise RuntimeError(
            f"input {name!r} declared twice with different unit/default: {old} vs {spec} (in {owner})"
        )
    INPUTS[name] = spec


def solver(outputs: dict[str, tuple[str, str]]) -> Callable:
    """Turn a kernel ``f(var_a, var_b, ..., option=Input(...)) -> dict`` into a solver.

    Parameters
    ----------
    outputs : dict
        ``{name: (units, long_name)}`` of every variable the kernel returns.
    """

    def wrap(kernel: Callable) -> Callable:
        sig = inspect.signature(kernel)
        params = list(sig.parameters.values())
        for p in params:
            if isinstance(p.default, Input):
                _register_input(p.name, p.default, kernel.__name__)
        for name, meta in outputs.items():
            PROVIDERS.setdefault(name, kernel.__name__)
            OUTPUTS[name] = meta

        @functools.wraps(kernel)
        def run(ds: xr.Dataset) -> xr.Dataset:
            kwargs = {}
            for p in params:
                if p.name in ds.variables:
                    kwargs[p.name] = _operand(ds, p.name)
                elif isinstance(p.default, Input):
                    kwargs[p.name] = p.default.default
                elif p.default is not inspect.Parameter.empty:
                    kwargs[p.name] = p.default
                else:
                    src = PROVIDERS.get(p.name)
                    hint = (f"it is computed by solver {src!r}, which must run first"
                            if src else "it is a catalog column or input; set it in the Space")
                    raise MissingVariableError(
                        f"solver {kernel.__name__!r} needs variable {p.name!r}, which is not in the dataset: {hint}"
                    )
            result = kernel(**kwargs)
            extra = set(result) - set(outputs)
            missing = set(outputs) - set(result)
            if extra or missing:
                raise RuntimeError(f"solver {kernel.__name__!r} returned {sorted(extra)} undeclared "
                                   f"and left out {sorted(missing)}")
            new = {}
            for name, value in result.items():
                units, long_name = outputs[name]
                da = value if isinstance(value, xr.DataArray) else xr.DataArray(value)
                da = da.copy(deep=False)
                da.attrs = {"units": units, "long_name": long_name}
                new[name] = da
            return ds.assign(new)

        @functools.wraps(kernel)
        def plain(*args: Any, **kw: Any) -> Any:
            # the raw formula, with every Input parameter defaulting to its documented default
            bound = sig.bind_partial(*args, **kw)
            for p in params:
                if p.name not in bound.arguments and isinstance(p.default, Input):
                    bound.arguments[p.name] = p.default.default
            return kernel(*bound.args, **bound.kwargs)

        run.kernel = plain
        run.outputs = outputs
        run.inputs = {p.name: p.default for p in params if isinstance(p.default, Input)}
        run.requires = [p.name for p in params if p.default is inspect.Parameter.empty]
        return run

    return wrap


def _operand(ds: xr.Dataset, name: str) -> Any:
    """A variable as the kernel sees it: 0-d -> numpy scalar, else a DataArray with index coords only.

    Scalar coordinates (the fixed ``model``, ``hardware``, ``region``, ...) would otherwise ride
    along on every DataArray and be re-merged by every arithmetic operation, which costs far
    more than the arithmetic on small spaces.
    """
    var = ds.variables[name]
    if var.ndim == 0:
        return var.values[()]
    return xr.DataArray(var, coords={d: ds.indexes[d] for d in var.dims if d in ds.indexes}, name=name)


def where(cond: Any, x: Any, y: Any) -> Any:
    """``xr.where`` when any argument is a DataArray, else ``np.where`` (scalar-friendly).

    >>> float(where(True, 1.0, 2.0))
    1.0
    """
    if any(isinstance(a, xr.DataArray) for a in (cond, x, y)):
        return xr.where(cond, x, y)
    out = np.where(cond, x, y)
    return out[()] if out.ndim == 0 else out


def first_reason(checks: list[tuple[str, Any]]) -> Any:
    """Code of the first failing check, ``""`` where all pass.

    Parameters
    ----------
    checks : list of (code, ok)
        Ordered by priority; ``ok`` is a boolean (array) that is True where the check passes.

    >>> str(first_reason([("oom", False), ("tp_exceeds_heads", True)]))
    'oom'
    """
    reason: Any = ""
    for code, ok in reversed(checks):
        reason = where(ok, reason, code)
    return reason


def check_choice(name: str, value: Any, choices: tuple) -> None:
    values = np.atleast_1d(np.asarray(value, dtype=object))
    bad = [v for v in values if v not in choices]
    if bad:
        raise DsxInputError(f"{name}: {bad[0]!r} is not allowed; expected one of {', '.join(map(repr, choices))}")
