"""Every solver kernel run on pint quantities: each output has its declared dimension.

The kernels work on float magnitudes in canonical units (no cost in the fast path); here
each parameter is handed a quantity in its declared unit — an input's registry unit, an
upstream variable's ``OUTPUTS`` unit, a catalog column's unit from the catalog schema —
and each output's dimensionality must equal its declaration's. Adding seconds to bytes,
or a count of tokens to a plain number, raises inside the kernel; a wrong declaration
shows as a mismatch. Dimensionless values (counts, fractions) stay plain numbers: pint
accepts them wherever a dimensionless value is right and refuses them anywhere else.
Constants with a unit are written ``c * unit("flop/param/token")`` in the kernels
(:func:`dsx.solvers.quantities.unit`: ``1.0`` in the fast path, a quantity while checked).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings

import numpy as np
import pytest

import dsx
import dsx.solvers
from dsx.solvers import base, quantities
from dsx.space import _catalog_columns
from dsx.stacks import SERVING, TRAINING
from dsx.units import ureg

#: Kernels that cannot run on quantities, each with the reason. A kernel that starts to
#: pass must leave this list, and a new failure fails the test.
CANNOT_RUN: dict[str, str] = {}

#: Outputs that come out as plain numbers although their unit is not dimensionless, with
#: the reason (looked up by name from a table, so no input quantity reaches them).
PLAIN_OUTPUTS: dict[tuple[str, str], str] = {
    ("rental_price", "listed_cloud_price"): "a price looked up by hardware, cloud and tier names",
}


def _solvers() -> dict[str, object]:
    """Every ``@solver`` in dsx.solvers, keyed by kernel name (the stacks' steps among them)."""
    found = {}
    for info in pkgutil.iter_modules(dsx.solvers.__path__):
        mod = importlib.import_module(f"dsx.solvers.{info.name}")
        for obj in vars(mod).values():
            if hasattr(obj, "kernel") and hasattr(obj, "outputs") and obj.__module__ == mod.__name__:
                found[obj.__name__] = obj
    return found


SOLVERS = _solvers()


def test_every_stack_step_is_covered():
    steps = {s.__name__ for s in (*TRAINING, *SERVING) if hasattr(s, "kernel")}
    assert steps <= set(SOLVERS), sorted(steps - set(SOLVERS))
    # the plain Dataset -> Dataset steps (no kernel) only select, mask or dispatch to a solver
    plain = {s.__name__ for s in (*TRAINING, *SERVING) if not hasattr(s, "kernel")}
    assert plain == {"deployment", "finite_outcomes", "mask_infeasible"}


@pytest.fixture(scope="module")
def datasets():
    """Realistic values of every variable: a training and a serving evaluation, infeasible kept."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train = dsx.training(dsx.Space(model=["llama-3.1-70b", "mixtral-8x7b"], hardware="H100", gpus=64, tp=8,
                                       pp=[1, 2]), mask_infeasible=False)
        serve = dsx.serving(dsx.Space(model=["llama-3.1-70b", "mixtral-8x7b"], hardware="H100", tp=8,
                                      batch=[1, 64], spec_draft_model="llama-3.2-1b", spec_tokens=4,
                                      arrival_rate=5.0), mask_infeasible=False)
    return train, serve


def _unit(name: str) -> str | None:
    """The declared unit of a variable: input, then upstream output, then catalog column."""
    if name in base.INPUTS:
        return base.INPUTS[name].unit
    if name in base.OUTPUTS:
        return base.OUTPUTS[name][0]
    unit = _catalog_columns().get(name)
    if unit is None and name.startswith("draft_"):  # the draft model's columns: a model's units
        return _unit(name[len("draft_"):])
    return unit


def _argument(name: str, value: np.ndarray):
    unit = _unit(name)
    if value.dtype.kind not in "fiu" or not unit:  # labels, flags, counts and fractions: as they are
        return value
    return ureg.Quantity(value.astype(float), unit)


def _arguments(fn, ds) -> dict:
    """The kernel's arguments from ``ds`` as broadcastable arrays (aligned as the wrapper does)."""
    sig = inspect.signature(fn.kernel)
    present = [p for p in sig.parameters if p in ds.variables]
    order = [d for d in ds.dims if any(d in ds.variables[p].dims for p in present)]
    kwargs = {}
    for p in sig.parameters.values():
        if p.name in ds.variables:
            var = ds.variables[p.name]
            data = var.transpose(*[d for d in order if d in var.dims]).values
            data = data.reshape([ds.sizes[d] if d in var.dims else 1 for d in order])
            kwargs[p.name] = _argument(p.name, data)
        elif p.name in base.INPUTS:
            kwargs[p.name] = _argument(p.name, np.asarray(base.INPUTS[p.name].default))
        elif p.default is not inspect.Parameter.empty:
            kwargs[p.name] = p.default
        else:
            raise AssertionError(f"{fn.__name__}: no value for {p.name!r} in the test datasets")
    return kwargs


def _problems(fn, ds) -> list[str]:
    with quantities.units_checked(), np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fn.kernel(**_arguments(fn, ds))
    problems = []
    for name, value in result.items():
        declared = fn.outputs[name][0]
        want = ureg.Quantity(1, declared or "dimensionless").dimensionality
        if hasattr(value, "dimensionality"):
            if value.dimensionality != want:
                problems.append(f"{name}: declared {declared!r} ({want}), computed {value.units} "
                                f"({value.dimensionality})")
        elif np.asarray(value).dtype.kind in "fiu" and declared and (fn.__name__, name) not in PLAIN_OUTPUTS:
            problems.append(f"{name}: declared {declared!r}, computed a plain number (the unit was lost)")
    return problems


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_kernel_outputs_have_declared_dimensions(name, datasets):
    fn = SOLVERS[name]
    train, serve = datasets
    ds = train if all(p in train.variables for p in fn.requires) else serve
    if name in CANNOT_RUN:
        with pytest.raises(Exception):
            _problems(fn, ds)
        return
    problems = _problems(fn, ds)
    assert not problems, f"solver {name!r}:\n  " + "\n  ".join(problems)


def test_unit_is_one_in_the_fast_path():
    assert quantities.unit("flop/param/token") == 1.0
    with quantities.units_checked():
        assert quantities.unit("flop/param/token") == ureg.Quantity(1.0, "flop/param/token")
    assert quantities.unit("s") == 1.0


def test_every_numeric_parameter_has_a_declared_unit(datasets):
    """A number a kernel reads from the dataset is declared (input, output or catalog column): else
    the test above would hand it over unit-less and could not check what the kernel does with it."""
    train, serve = datasets
    undeclared = []
    for name, fn in SOLVERS.items():
        ds = train if all(p in train.variables for p in fn.requires) else serve
        for p in inspect.signature(fn.kernel).parameters:
            if p in ds.variables and ds.variables[p].dtype.kind in "fiu" and _unit(p) is None:
                undeclared.append(f"{name}({p})")
    assert not undeclared, undeclared
