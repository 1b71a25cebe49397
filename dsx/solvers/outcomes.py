"""The last steps of both stacks: no feasible NaN, and no infeasible winner.

:func:`finite_outcomes` turns a configuration that passed every check but still has a
non-finite core outcome (an input it needs is missing that no specific check names) into an
infeasible one with reason ``not_computable``: ``feasible`` never sits beside a NaN time,
throughput, latency or memory. Outcomes that need a figure a catalog row may legitimately lack
(price, embodied carbon, power) are not core: they are NaN beside a feasible configuration.

:func:`mask_infeasible` sets every *outcome* of an infeasible configuration — the variables
in :data:`OUTCOMES`: time, latency, throughput (incl. MFU), energy, power, carbon, water,
cost — to NaN, so that a plain ``argmin``/``idxmin``/``min`` can never pick an out-of-memory
layout. Measures of *distance* (``memory_per_gpu``, ``memory_headroom``, ``micro_batches``,
``utilization``, ``max_batch``, ``replicas_needed``, the per-micro-batch diagnostics
``mb_*``) are not in the list and stay finite, so a result still shows how far a
configuration is from working. ``dsx.training(..., mask_infeasible=False)`` (and
``dsx.serving``) skip the masking and return the raw values.
"""

from __future__ import annotations

import sys

from typing import Any

import numpy as np
import xarray as xr

from .. import codes
from .base import _aligned

DRAW = "draw"  # the dimension of uncertainty draws (dsx.uncertainty)

__all__ = ["OUTCOMES", "CORE", "NOT_COMPUTABLE", "finite_outcomes", "mask_infeasible"]

#: Outcomes of running a configuration: NaN where it is infeasible (``mask_infeasible``).
OUTCOMES: tuple[str, ...] = (
    # time and latency
    "step_time", "step_compute_time", "step_comm_time", "step_bubble_time", "step_dp_exposed_time",
    "step_optimizer_time", "time_to_train", "wall_time_ideal", "wall_time",
    "prefill_latency", "decode_step_latency", "ttft", "tpot", "e2e_latency", "decode_time",
    "wait_time_mean", "wait_time_q", "ttft_q", "tpot_q", "e2e_q",
    # throughput and utilisation of the hardware
    "tokens_per_s", "replica_tokens_per_s", "tokens_per_s_per_gpu", "tflops_per_gpu", "mfu", "hfu",
    "scaling_efficiency",
    "request_capacity", "tokens_served_per_s", "tokens_total", "goodput",
    # reliability of the job
    "expected_failures", "failure_probability", "checkpoint_interval", "checkpoint_overhead", "failure_overhead",
    # power, energy, carbon, water
    "it_power", "it_energy", "energy", "energy_per_token",
    "carbon_operational", "carbon_embodied", "carbon", "carbon_per_mtoken",
    "water_onsite", "water_offsite", "water",
    # cost
    "capex", "capex_amortized", "opex_energy", "opex_maintenance", "opex", "tco", "cloud_cost",
    "cost_per_mtoken",
)

#: Core outcomes that must be finite wherever a configuration is feasible: what running it
#: needs (time, throughput, latency, memory). A catalog row without a ``price`` (or
#: ``embodied_carbon``, or a power figure, ``system_power`` / ``tdp``, as AWS publishes none for
#: Trainium1 and Inferentia2) still runs, so its cost (total carbon; energy and what follows
#: from it: operational carbon, water, energy cost) is NaN there while the configuration stays
#: feasible and keeps its other outcomes: those outcomes are not in this list.
CORE: tuple[str, ...] = (
    "step_time", "time_to_train", "tokens_per_s", "replica_tokens_per_s", "mfu", "ttft", "tpot", "e2e_latency",
    "ttft_q", "e2e_q", "memory_per_gpu", "weights_per_gpu",
)

#: Reason code of a configuration that passes every check but whose core outcome is not finite.
NOT_COMPUTABLE = "not_computable"


def finite_outcomes(ds: xr.Dataset) -> xr.Dataset:
    """Mark feasible configurations with a non-finite :data:`CORE` outcome as infeasible.

    ``feasible ← feasible ∧ ⋀ isfinite(core)`` and ``reason ← "not_computable"`` where this
    flips it: a catalog row with a missing (NaN) or zero figure that no specific check names
    is reported, never passed on as a feasible NaN.

    Parameters
    ----------
    ds : xr.Dataset
        A stack's result with ``feasible`` and ``reason``.

    Returns
    -------
    xr.Dataset
        ``ds`` with ``feasible`` and ``reason`` updated (unchanged where nothing is wrong).

    Examples
    --------
    >>> ds = xr.Dataset({"step_time": ("x", [1.0, np.nan]), "feasible": ("x", [True, True]),
    ...                  "reason": ("x", ["", ""])})
    >>> finite_outcomes(ds).reason.values.tolist()
    ['', 'not_computable']
    """
    new = _finite(ds)
    return ds.assign(new) if new else ds


def _finite(ns: Any) -> dict[str, xr.Variable]:
    """:func:`finite_outcomes` on anything with ``variables``, ``sizes`` and ``dims`` (a Dataset or
    the Namespace of an evaluation): the new ``feasible`` and ``reason``, or nothing to change."""
    if "feasible" not in ns.variables:
        return {}
    variables = dict(ns.variables)
    new: dict[str, xr.Variable] = {}
    if DRAW in variables["feasible"].dims:  # a configuration runs or not, whatever the draw of its factors
        new = _over_draws(variables["feasible"], variables["reason"])
        variables.update(new)
    core = [n for n in CORE if n in variables and variables[n].dtype.kind == "f"]
    names = ["feasible", "reason", *core]
    order = _order(ns, names, variables)
    arrays = _aligned({n: variables[n] for n in names}, order, ns.sizes)
    finite = _all_finite(arrays, core, len(order))
    keep = [d for d in order if d in variables["feasible"].dims or d in variables["reason"].dims]
    if len(keep) < len(order):
        # feasibility is a property of the configuration, not of a draw of its uncertain inputs:
        # it must hold in every draw (dimensions that feasible lacks are reduced away)
        finite = finite.all(axis=tuple(i for i, d in enumerate(order) if d not in keep))
        arrays = _aligned({n: variables[n] for n in ("feasible", "reason")}, keep, ns.sizes)
        order = keep
    broken = arrays["feasible"] & ~finite
    if not broken.any():
        return new
    return _not_computable(order, arrays, broken, variables["feasible"].attrs, variables["reason"])


def _all_finite(arrays: dict, names: list[str], ndim: int) -> np.ndarray:
    """Where every one of ``names`` (aligned arrays) is finite, broadcast over ``ndim`` axes."""
    finite = np.ones([1] * ndim, bool)
    for name in names:
        finite = finite & np.isfinite(arrays[name])
    return finite


def _not_computable(order: list[str], arrays: dict, broken: np.ndarray, attrs: dict,
                    reason: xr.Variable) -> dict[str, xr.Variable]:
    """``feasible`` off and ``reason`` = :data:`NOT_COMPUTABLE` where ``broken`` (aligned arrays over ``order``)."""
    feasible = _variable(order, arrays["feasible"] & ~broken, attrs)
    if codes.is_coded(reason):
        code = np.int8(codes.tables()["reason"].index(NOT_COMPUTABLE))
        new = np.where(broken, code, arrays["reason"]).astype(np.int8)
    else:
        new = np.where(broken, NOT_COMPUTABLE, arrays["reason"]).astype(str)
    return {"feasible": feasible, "reason": _variable(order, new, reason.attrs)}


def _over_draws(feasible: xr.Variable, reason: xr.Variable) -> dict[str, xr.Variable]:
    """``feasible`` in every draw, and the ``reason`` of the first draw that fails (none where all run)."""
    ok = xr.DataArray(feasible).all(DRAW)
    first_bad = (~xr.DataArray(feasible)).argmax(DRAW)
    coded = codes.is_coded(reason)
    picked = xr.DataArray(reason).isel({DRAW: first_bad}).where(~ok, 0 if coded else "").variable
    if coded:
        picked = xr.Variable(picked.dims, picked.values.astype(np.int8), dict(reason.attrs))
    return {"feasible": ok.variable, "reason": picked}


def _order(ds: Any, names: list[str], variables: Any = None) -> list[str]:
    variables = ds.variables if variables is None else variables
    used = {d for n in names for d in variables[n].dims}
    return [d for d in ds.dims if d in used]


def _variable(order: list[str], arr: np.ndarray, attrs: dict) -> xr.Variable:
    """An aligned array back as a Variable over ``order`` (no xarray alignment)."""
    return xr.Variable(order, arr, dict(attrs))


def mask_infeasible(ds: xr.Dataset) -> xr.Dataset:
    """Set the :data:`OUTCOMES` of every infeasible configuration to NaN.

    ``y ← y where feasible else NaN`` for each outcome present; an outcome that does not
    vary along a dimension of ``feasible`` gains that dimension (its value now depends on
    whether the configuration runs). Distances and inputs are left as they are.

    Parameters
    ----------
    ds : xr.Dataset
        A stack's result with ``feasible``.

    Returns
    -------
    xr.Dataset
        ``ds`` with masked outcomes (units and long names kept).

    Examples
    --------
    >>> ds = xr.Dataset({"step_time": ("x", [1.0, 2.0]), "memory_per_gpu": ("x", [5.0, 9.0]),
    ...                  "feasible": ("x", [True, False])})
    >>> out = mask_infeasible(ds)
    >>> out.step_time.values.tolist(), out.memory_per_gpu.values.tolist()
    ([1.0, nan], [5.0, 9.0])
    """
    new = _mask(ds, set(ds.coords))
    return ds.assign(new) if new else ds


def _mask(ns: Any, coords: set, only: set | None = None, writable: frozenset = frozenset()) -> dict[str, xr.Variable]:
    """:func:`mask_infeasible` on a Dataset or a Namespace: the masked outcomes (not ``coords``).

    The outcomes named in ``writable`` (arrays this evaluation made, see :func:`_writable`) are
    masked in place when already over every dimension of ``feasible``: allocating a fresh array
    per outcome cost more than the product itself (page faults on ~25 MB per call at 1e5 configurations).
    """
    if "feasible" not in ns.variables:
        return {}
    feasible = ns.variables["feasible"]
    if bool(np.all(feasible.values)):
        return {}
    new = {}
    factors: dict[tuple, np.ndarray] = {}  # 1 where feasible, NaN where not: one per dimension order
    for name in OUTCOMES:  # plain numpy on dimension-aligned arrays: xarray's alignment costs ~20x
        if only is not None and name not in only:
            continue
        var = ns.variables.get(name)
        if var is not None and name not in coords and var.dtype.kind in "fc":
            order = _order(ns, ["feasible", name])
            arrays = _aligned({"ok": feasible, "y": var}, order, ns.sizes)
            if var.dtype.kind == "f":  # y·1 = y exactly (inf, -0 too) and y·NaN = NaN: a product, not a select
                key = (tuple(order), var.dtype)
                if key not in factors:
                    factors[key] = np.where(arrays["ok"].astype(bool), var.dtype.type(1), var.dtype.type(np.nan))
                if name in writable and tuple(var.dims) == tuple(order):  # same shape: no new array
                    # the factor spelled out to the outcome's shape (once per shape): a broadcast factor
                    # makes numpy loop over the innermost axes, a few values each (~5x slower)
                    whole = (key, var.shape)
                    if whole not in factors:
                        factors[whole] = np.ascontiguousarray(np.broadcast_to(factors[key], var.shape))
                    np.multiply(var.data, factors[whole], out=var.data)
                    masked = var.data
                else:
                    masked = arrays["y"] * factors[key]
            else:
                masked = np.where(arrays["ok"].astype(bool), arrays["y"], np.nan)
            new[name] = xr.Variable(order, masked, dict(var.attrs))
    return new


#: Configurations from which masking in place pays for finding the arrays it may write (~0.5 ms).
IN_PLACE_FROM = 10_000


def _references(var: Any) -> tuple[int, int]:
    """``sys.getrefcount`` of a Variable's array and of the array it reshapes (0 when it owns its data).

    :data:`_ALONE` is this of arrays that nothing but their Variable holds, measured once at import
    by this same function (the counts an interpreter reports differ between Python versions)."""
    data = var.data
    base = data.base
    return sys.getrefcount(data), (0 if base is None else sys.getrefcount(base))


_ALONE = (_references(xr.Variable("x", np.empty(1)))[0], _references(xr.Variable("x", np.empty((1, 1)).reshape(1)))[1])


def _writable(ns: Any) -> frozenset:
    """The outcomes whose arrays a Namespace's evaluation made and nothing else holds: numpy arrays
    owning their data or reshaping the whole of one that does (a kernel's result with its length-1
    axes dropped), not given by the caller (``ns.given``), not shared with another variable. None for
    a small space (under :data:`IN_PLACE_FROM` configurations), where the search costs more than it saves."""
    if float(np.prod(list(ns.sizes.values()) or [1])) < IN_PLACE_FROM:
        return frozenset()
    held: dict[int, int] = {}
    for var in ns.variables.values():
        for ref in {id(var.data), id(getattr(var.data, "base", None))}:
            held[ref] = held.get(ref, 0) + 1
    return frozenset(name for name in OUTCOMES if name in ns.variables
                     and _sole_owner(ns.variables[name], ns.given, held))


def _sole_owner(var: Any, given: set, held: dict) -> bool:
    """The Variable's array is its own to write: a C-contiguous writable numpy array (or a whole
    reshape of one), not the caller's, held by no other variable and by nothing outside (a cache)."""
    data = var.data
    if not isinstance(data, np.ndarray) or not data.flags.writeable or not data.flags.c_contiguous:
        return False
    base = data.base
    if base is not None and not (isinstance(base, np.ndarray) and base.base is None and base.nbytes == data.nbytes):
        return False
    refs = [id(data)] + ([] if base is None else [id(base)])
    if any(r in given or held.get(r) != 1 for r in refs):
        return False
    del data, base  # counted as _ALONE was: the Variable's own references only
    count, base_count = _references(var)
    return count <= _ALONE[0] and base_count <= _ALONE[1]


# the variables the two steps read and write, results only (dsx.stacks.evaluate hands them just
# those; dsx.sweep.unread finds no user input among them)
finite_outcomes.uses = ("feasible", "reason", *CORE)
mask_infeasible.uses = ("feasible", *OUTCOMES)
# inside a stack (dsx.stacks.evaluate) both run on the evaluation's Namespace: no Dataset is built
finite_outcomes.compute = _finite
mask_infeasible.compute = lambda ns: _mask(ns, set(ns.coord_names), writable=_writable(ns))


def mask_only(names: set[str]) -> Any:
    """:func:`mask_infeasible` restricted to the outcomes in ``names`` (``outputs=`` keeps only those)."""
    def step(ds: xr.Dataset) -> xr.Dataset:
        new = _mask(ds, set(ds.coords), names)
        return ds.assign(new) if new else ds

    step.__name__ = "mask_infeasible"
    step.uses = ("feasible", *(n for n in OUTCOMES if n in names))
    step.compute = lambda ns: _mask(ns, set(ns.coord_names), names, _writable(ns))
    return step
