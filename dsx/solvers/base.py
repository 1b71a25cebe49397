"""The solver contract: named variables in, named variables (with units) out.

A solver is a plain function whose parameter names are Dataset variable names. Decorated
with :func:`solver`, it becomes ``Dataset -> Dataset``: the wrapper pulls each parameter
from the Dataset (or the input's registry default), calls the kernel, and assigns the
returned variables with ``attrs["units"]`` and ``attrs["long_name"]``. The undecorated
kernel stays available as ``fn.kernel`` and works on floats, numpy arrays or DataArrays
alike, which is what the scalar reference tests call.

Every name is declared once in ``dsx/variables.toml`` (loaded by :mod:`dsx.variables`):
a parameter the registry declares an input is a user input (its unit, default and meaning
are in :data:`INPUTS`, which :class:`dsx.Space`, the CLI and the documentation read); any
other parameter without a default must come from upstream, and if it is missing the error
names the variable, the solver that needs it and the one that provides it. The returned
names take their units and long names from :data:`OUTPUTS`.
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Any, Callable

import numpy as np
import xarray as xr

from .. import codes
from ..fastds import variable
from .namespace import Namespace
from ..errors import DsxInputError, MissingVariableError
from ..variables import CALIBRATED, INPUTS, OUTPUTS, Input

__all__ = ["Input", "solver", "Namespace", "INPUTS", "OUTPUTS", "CALIBRATED", "PROVIDERS", "where", "first_reason",
           "traced"]


#: Which solver provides each output variable: name -> solver name.
PROVIDERS: dict[str, str] = {}


def _parameters(kernel: Callable, sig: inspect.Signature) -> list[inspect.Parameter]:
    """The kernel's parameters, each input given its registry entry as default.

    A parameter with no default is an input when ``variables.toml`` declares it one (it
    gets that entry), else a variable that must come upstream. A legacy ``name=Input(...)``
    default must agree with the registry's entry, which it then stands for.
    """
    params = []
    for p in sig.parameters.values():
        spec = INPUTS.get(p.name)
        if isinstance(p.default, Input):
            if spec is None or spec.unit != p.default.unit or not _same(spec.default, p.default.default):
                raise RuntimeError(f"solver {kernel.__name__!r}: input {p.name!r} is declared in its signature "
                                   f"({p.default.unit!r}, default {p.default.default!r}) differently from "
                                   "dsx/variables.toml: declare it there only and name it plainly in the signature")
            p = p.replace(default=spec)
        elif p.default is inspect.Parameter.empty and spec is not None and p.kind != p.VAR_KEYWORD:
            p = p.replace(default=spec)
        params.append(p)
    return params


def _same(a: Any, b: Any) -> bool:
    """Equal defaults (NaN, "not set", equals NaN)."""
    return a == b or isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)


def _declared_outputs(kernel: Callable, outputs: Any) -> dict[str, tuple[str, str]]:
    """``{name: (units, long_name)}`` of the kernel's returned variables, from the registry."""
    meta = {}
    for name in outputs:
        if name not in OUTPUTS:
            raise RuntimeError(f"solver {kernel.__name__!r} returns {name!r}, which dsx/variables.toml does not "
                               "declare as an output: add a [name] table there (kind, unit, long_name)")
        if isinstance(outputs, dict) and outputs[name][0] != OUTPUTS[name][0]:
            raise RuntimeError(f"solver {kernel.__name__!r}: output {name!r} in {outputs[name][0]!r}, but "
                               f"dsx/variables.toml declares {OUTPUTS[name][0]!r}: one unit per name")
        meta[name] = OUTPUTS[name]
    return meta


def solver(outputs: Any) -> Callable:
    """Turn a kernel ``f(var_a, var_b, ..., option) -> dict`` into a solver.

    Parameters
    ----------
    outputs : sequence of str
        Names of the variables the kernel returns; their units and long names come from
        ``dsx/variables.toml``. (A ``{name: (units, long_name)}`` dict is accepted when its
        units agree with the registry.)
    """

    names = outputs

    def wrap(kernel: Callable) -> Callable:
        sig = inspect.signature(kernel)
        params = _parameters(kernel, sig)
        outputs = _declared_outputs(kernel, names)
        for name in outputs:
            PROVIDERS.setdefault(name, kernel.__name__)

        # (name, default) of each parameter, read once: inspect.Parameter's properties cost per call
        plan = [(p.name, p.default) for p in params]
        # each Input default as the variable that states it in the result: value and attributes
        stated = {p.name: (np.asarray(p.default.default), {
            "units": p.default.unit if p.default.unit is not None else "",
            "long_name": p.default.doc.split(". ")[0], "input": "default"})
            for p in params if isinstance(p.default, Input)}

        names_out = frozenset(outputs)
        # each output's attributes, built once (variable() copies them into each result)
        plain_attrs = {name: {"units": units, "long_name": long_name} for name, (units, long_name) in outputs.items()}

        def compute(ds: Any) -> dict[str, Any]:
            # ``ds``: a Dataset or a Namespace (anything with .variables, .dims and .sizes)
            kwargs: dict[str, Any] = {}
            labelled: dict[str, Any] = {}
            defaults: dict[str, Input] = {}
            variables = ds.variables
            readings = getattr(ds, "readings", None)  # a Namespace keeps what kernels read of each variable
            for name, default in plan:
                got = None if readings is None else readings.get(name)
                if got is None:
                    var = variables.get(name)
                    got = None if var is None else _reading(var)
                    if got is not None and readings is not None:
                        readings[name] = got
                if got is not None:
                    if got[0]:
                        kwargs[name] = got[1]
                    else:
                        labelled[name] = got[1]
                elif isinstance(default, Input):
                    kwargs[name] = default.default
                    defaults[name] = default
                elif default is not inspect.Parameter.empty:
                    kwargs[name] = default
                else:
                    src = PROVIDERS.get(name)
                    hint = (f"it is computed by solver {src!r}, which must run first"
                            if src else "it is a catalog column or input; set it in the Space")
                    raise MissingVariableError(
                        f"solver {kernel.__name__!r} needs variable {name!r}, which is not in the dataset: {hint}"
                    )
            traced = None
            order: list[str] = []
            if labelled:  # else every input is a scalar: nothing to trace or align
                used = {d for v in labelled.values() for d in v.dims}
                order = [d for d in ds.dims if d in used]
                if any(ds.sizes[d] == 1 for d in order):
                    traced = _trace_dims(kernel, kwargs, labelled)
                kwargs.update(_aligned(labelled, order, ds.sizes))
            # infeasible corners (zero rates, empty queues) give inf/NaN as data, not warnings
            token = codes.coded_mode.set(True)  # first_reason / codes.choose give codes, not text
            try:
                with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                    result = kernel(**kwargs)
            finally:
                codes.coded_mode.reset(token)
            if result.keys() != names_out:
                extra = set(result) - names_out
                missing = names_out - set(result)
                raise RuntimeError(f"solver {kernel.__name__!r} returned {sorted(extra)} undeclared "
                                   f"and left out {sorted(missing)}")
            new = {}
            tables = codes.tables()
            for name, value in result.items():
                deps = None if traced is None else traced.get(name)
                attrs = plain_attrs[name]
                if name in tables:  # categorical: int8 codes with CF flag attributes (dsx.codes)
                    value = codes.encode(name, value, f"solver {kernel.__name__!r}")
                    attrs = {**attrs, **codes.attrs(name)}
                elif isinstance(value, codes.Coded):
                    raise RuntimeError(f"solver {kernel.__name__!r}: output {name!r} is categorical but not "
                                       f"declared in dsx.codes.tables(); add its labels to dsx.codes.EXTRA")
                new[name] = _label(value, order, ds, name, kernel.__name__, deps, attrs)
            # the defaults this solver assumed become variables, so later solvers (and the user)
            # see the same value: one default per input, stated in the result
            for name, spec in defaults.items():
                if name not in new:
                    value, attrs = stated[name]
                    new[name] = variable((), value.copy(), attrs)  # variable() copies attrs
            return new

        @functools.wraps(kernel)
        def run(ds: xr.Dataset) -> xr.Dataset:
            return ds.assign(compute(ds))

        input_defaults = {p.name: p.default.default for p in params if isinstance(p.default, Input)}
        has_var_kw = any(p.kind is p.VAR_KEYWORD for p in params)

        @functools.wraps(kernel)
        def plain(*args: Any, **kw: Any) -> Any:
            # the raw formula, with every input parameter defaulting to its registry default
            if not args and not has_var_kw:  # keywords only: the defaults under them (no binding needed)
                return kernel(**{**input_defaults, **kw})
            bound = sig.bind_partial(*args, **kw)
            for p in params:
                if p.name not in bound.arguments and isinstance(p.default, Input):
                    bound.arguments[p.name] = p.default.default
            return kernel(*bound.args, **bound.kwargs)

        run.kernel = plain
        run.compute = compute  # new variables only: stacks evaluate into one Namespace
        run.outputs = outputs
        run.inputs = {p.name: p.default for p in params if isinstance(p.default, Input)}
        run.requires = [p.name for p in params if p.default is inspect.Parameter.empty]
        return run

    return wrap


def _reading(var: Any) -> tuple[bool, Any]:
    """What a kernel reads of ``var``: ``(True, scalar)`` for a 0-d variable, else ``(False, variable)``
    (a categorical output as its text labels)."""
    if "flag_meanings" in var.attrs:
        var = codes.decode_variable(var)
    data = var.data
    if data.ndim == 0:
        return True, (data[()] if isinstance(data, np.ndarray) else var.values[()])
    return False, var


def _aligned(variables: dict[str, xr.Variable], order: list[str], sizes: Any) -> dict[str, np.ndarray]:
    """Labelled variables as plain numpy arrays that broadcast by dimension name.

    Each array is transposed to the common ``order`` and given length-1 axes for the
    dimensions it lacks, so numpy broadcasting is xarray broadcasting — without xarray's
    per-operation alignment, which costs far more than the arithmetic on these arrays.
    """
    out = {}
    for name, var in variables.items():
        data = var.transpose(*[d for d in order if d in var.dims]).values
        out[name] = data.reshape([sizes[d] if d in var.dims else 1 for d in order])
    return out


def _label(value: Any, order: list[str], ds: xr.Dataset, name: str, owner: str,
           deps: frozenset | None = None, attrs: dict | None = None) -> xr.Variable | xr.DataArray:
    """A kernel result back as a DataArray with only the dimensions it depends on.

    A dimension of length > 1 is kept where the result varies along it. A dimension of
    length 1 cannot show that, so the dependency traced by :func:`_trace_dims` decides; if
    tracing was not possible it is kept whenever some input had it (it costs nothing).
    """
    if isinstance(value, xr.DataArray):
        out = value.copy(deep=False)
        if attrs is not None:
            out.attrs = dict(attrs)
        return out
    arr = value if type(value) is np.ndarray else np.asarray(value)
    if arr.ndim == 0:
        return variable((), arr, attrs)
    if arr.ndim != len(order):
        raise RuntimeError(f"solver {owner!r}: output {name!r} has {arr.ndim} axes, expected 0 or {len(order)} "
                           "(kernels must broadcast, not reduce)")
    keep = [i for i, d in enumerate(order)
            if arr.shape[i] > 1 or (ds.sizes[d] == 1 and (deps is None or d in deps))]
    dims = [order[i] for i in keep]
    # a bare Variable: its dimensions are the dataset's own, so assigning it needs no alignment
    return variable(tuple(dims), arr.reshape([arr.shape[i] for i in keep]), attrs)


class _Dims:
    """Stands in for an array during a dependency trace: carries only its dimension names."""

    __array_priority__ = 1000

    def __init__(self, dims: Any) -> None:
        self.dims = frozenset(dims)

    def _join(self, *others: Any) -> "_Dims":
        return _Dims(self.dims.union(*(_dims_of(o) for o in others)))

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _join
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _join
    __pow__ = __rpow__ = __and__ = __rand__ = __or__ = __ror__ = __xor__ = __rxor__ = _join
    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = _join

    def __neg__(self) -> "_Dims":
        return self

    __pos__ = __abs__ = __invert__ = __neg__

    def astype(self, *args: Any, **kwargs: Any) -> "_Dims":
        return self

    copy = round = astype

    def clip(self, *args: Any, **kwargs: Any) -> "_Dims":
        return self._join(*args, *kwargs.values())

    ndim = 1  # never 0-d: a traced value stands for an array

    def __bool__(self) -> bool:
        raise TypeError("data-dependent branch")

    __hash__ = None  # type: ignore[assignment]

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        out = _Dims(frozenset().union(*(_dims_of(i) for i in inputs)))
        return tuple(out for _ in range(ufunc.nout)) if ufunc.nout > 1 else out

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> "_Dims":
        return _Dims(_dims_of(args) | _dims_of(tuple(kwargs.values())))


def _dims_of(value: Any) -> frozenset:
    if isinstance(value, _Dims):
        return value.dims
    if isinstance(value, (tuple, list)):
        return frozenset().union(*(_dims_of(v) for v in value))
    if isinstance(value, np.ndarray) and value.dtype == object:
        return frozenset().union(*(_dims_of(v) for v in value.flat))
    return frozenset()


def _trace_dims(kernel: Callable, scalars: dict, labelled: dict) -> dict | None:
    """Which dimensions each output of ``kernel`` depends on (None if the trace fails)."""
    try:
        result = kernel(**scalars, **{k: _Dims(v.dims) for k, v in labelled.items()})
        return {k: _dims_of(v) for k, v in result.items()}
    except Exception:  # a kernel the tracer cannot follow: keep length-1 dims conservatively
        return None


def traced(*values: Any) -> bool:
    """True when a value is a stand-in of a dependency trace (:func:`_trace_dims`), which has no data.

    A kernel that skips work by a branch on its data (``if np.any(offload): ...``) asks this
    first: the trace then follows the branch that reads every variable the result can depend on,
    so the result keeps a length-1 dimension it would vary along.

    >>> traced(1.0, np.ones(2)), traced(_Dims(("batch",)))
    (False, True)
    """
    return any(isinstance(v, _Dims) for v in values)


#: Scalar types of the common one-configuration ``where`` (a choice between two floats).
_TRUTH = (bool, np.bool_)
_FLOATS = (float, np.float64)


def where(cond: Any, x: Any, y: Any) -> Any:
    """``xr.where`` when any argument is a DataArray, else ``np.where`` (scalar-friendly).

    >>> float(where(True, 1.0, 2.0))
    1.0
    """
    if type(cond) in _TRUTH and type(x) in _FLOATS and type(y) in _FLOATS:
        return np.float64(x if cond else y)  # what np.where gives for these, at a tenth of its cost
    if isinstance(cond, xr.DataArray) or isinstance(x, xr.DataArray) or isinstance(y, xr.DataArray):
        return xr.where(cond, x, y)
    out = np.where(cond, x, y)
    return out[()] if getattr(out, "ndim", 1) == 0 else out


def first_reason(checks: list[tuple[str, Any]]) -> Any:
    """Code of the first failing check, ``""`` where all pass.

    Parameters
    ----------
    checks : list of (code, ok)
        Ordered by priority; ``ok`` is a boolean (array) that is True where the check passes.

    >>> str(first_reason([("oom", False), ("tp_exceeds_heads", True)]))
    'oom'
    """
    if codes.coded_mode.get():  # inside a stack: int8 codes (an integer where is ~10x a text one)
        table = codes.tables()["reason"]
        code: Any = np.int8(0)
        for label, ok in reversed(checks):
            code = np.where(ok, code, np.int8(codes._position(table, label, "reason", "first_reason")))
        return codes.Coded(code, table)
    reason: Any = ""
    for code, ok in reversed(checks):
        reason = where(ok, reason, code)
    return reason


def check_choice(name: str, value: Any, choices: tuple) -> None:
    values = np.atleast_1d(np.asarray(value, dtype=object))
    bad = [v for v in values if v not in choices]
    if bad:
        raise DsxInputError(f"{name}: {bad[0]!r} is not allowed; expected one of {', '.join(map(repr, choices))}")
