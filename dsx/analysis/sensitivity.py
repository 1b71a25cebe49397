"""Elasticities of any output to any numeric input, for every configuration at once.

The elasticity of output ``y`` to input ``x`` is ``d ln y / d ln x``: the percent change of
``y`` per percent change of ``x``. A purely compute-bound step time has elasticity -1 to
``peak_flops`` and 0 to ``hbm_bandwidth``. It is estimated by central differences on the
whole stack: every chosen input is scaled by ``1 ± h`` in the *input* Dataset and the stack
re-run; by default all perturbations travel together along one extra dimension, so the
stack runs once.

The input with the largest ``|elasticity|`` is the *binding* one. Inputs within
``tie_tol`` of the largest are all reported (``"peak_flops=hbm_bandwidth"``); where nothing
moves the output the answer is ``"none"``; where the baseline configuration is infeasible
it is ``"infeasible"`` (with the reason code when the stack gives one) and the elasticities
are NaN.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..codes import decode
from ..errors import DsxInputError, did_you_mean

__all__ = ["sensitivity", "as_stack", "input_dataset"]

_PERT = "_perturbation"
_BATCH_BYTES = 2 * 1024**3   # above this estimate the perturbations run one after another


def as_stack(stack: Any) -> Callable[[xr.Dataset], xr.Dataset]:
    """A ``Dataset -> Dataset`` callable from a tuple of solvers or a callable (e.g. ``dsx.training``)."""
    if callable(stack):
        return stack
    if isinstance(stack, (tuple, list)):
        steps = tuple(stack)
        if not steps:
            raise DsxInputError("stack: the solver list is empty")

        def run(ds: xr.Dataset) -> xr.Dataset:
            for step in steps:
                ds = step(ds)
            return ds

        return run
    raise DsxInputError(f"stack: expected a callable Dataset -> Dataset or a tuple of solvers, got {type(stack)}")


def _raw(stack: Any) -> Any:
    """``dsx.training``/``dsx.serving`` without masking (a perturbation may cross feasibility)."""
    from .. import stacks

    if stack is stacks.training or stack is stacks.serving:
        return functools.partial(stack, mask_infeasible=False)
    return stack


def input_dataset(space: Any) -> xr.Dataset:
    """The input Dataset of a :class:`dsx.Space` (a Dataset is returned as is)."""
    if isinstance(space, xr.Dataset):
        return space
    if hasattr(space, "to_dataset"):
        return space.to_dataset()
    raise DsxInputError(f"expected a dsx.Space or an xarray.Dataset, got {type(space)}")


def _numeric(da: xr.DataArray) -> bool:
    return da.dtype.kind in "iuf"


def with_defaults(ds: xr.Dataset, names: Sequence[str]) -> xr.Dataset:
    """Add registered solver inputs (e.g. ``matmul_efficiency``) missing from ``ds`` at their defaults."""
    from ..solvers.base import INPUTS

    new = {}
    for n in names:
        spec = INPUTS.get(n)
        if n not in ds.variables and spec is not None and spec.unit is not None \
                and isinstance(spec.default, (int, float)) and not isinstance(spec.default, bool):
            new[n] = xr.DataArray(float(spec.default), attrs={"units": spec.unit, "long_name": spec.doc.split(".")[0]})
    return ds.assign(new) if new else ds


def _check_inputs(ds: xr.Dataset, inputs: Sequence[str] | None) -> list[str]:
    if inputs is None:
        names = [n for n, v in ds.data_vars.items() if v.dtype.kind == "f"]
        if not names:
            raise DsxInputError("sensitivity: the input dataset has no float variables; name inputs=[...]")
        return names
    names = [inputs] if isinstance(inputs, str) else list(inputs)
    for n in names:
        if n in ds.dims:
            raise DsxInputError(
                f"sensitivity: {n!r} is a swept axis; its values label the configurations and cannot be "
                f"scaled. Fix it to one value (or compare along the axis with ds.differentiate({n!r}))"
            )
        if n not in ds.variables:
            raise DsxInputError(f"sensitivity: input {n!r} is not in the input dataset"
                                f"{did_you_mean(n, ds.data_vars)}")
        if not _numeric(ds[n]) or ds[n].dtype == bool:
            raise DsxInputError(f"sensitivity: input {n!r} is not numeric (dtype {ds[n].dtype})")
    if len(set(names)) != len(names):
        raise DsxInputError(f"sensitivity: input listed twice in {names}")
    return names


def _scaled(ds: xr.Dataset, factors: dict[str, Any]) -> xr.Dataset:
    new = {}
    for name, f in factors.items():
        da = ds[name].astype(float) * f
        da.attrs = dict(ds[name].attrs)
        new[name] = da
    return ds.assign(new)


def _evaluate(run: Callable, ds: xr.Dataset, names: list[str], h: float, wanted: list[str],
              batch: bool) -> dict[str, tuple[xr.DataArray, xr.DataArray]]:
    """Each wanted result variable at (1+h) and (1-h) for every input, stacked along ``input``."""
    m = len(names)
    out = {}
    if batch:
        factors = {}
        for i, n in enumerate(names):
            f = np.ones(2 * m)
            f[2 * i], f[2 * i + 1] = 1 + h, 1 - h
            factors[n] = xr.DataArray(f, dims=_PERT)
        res = run(_scaled(ds, factors))
        for v in wanted:
            y = res[v]
            if _PERT not in y.dims:
                y = y.expand_dims({_PERT: 2 * m})
            y = y.drop_vars([c for c in y.coords if _PERT in y[c].dims], errors="ignore")
            up = y.isel({_PERT: slice(0, None, 2)}).rename({_PERT: "input"})
            down = y.isel({_PERT: slice(1, None, 2)}).rename({_PERT: "input"})
            out[v] = (up, down)
    else:
        runs = [(run(_scaled(ds, {n: 1 + h})), run(_scaled(ds, {n: 1 - h}))) for n in names]  # per input
        for v in wanted:
            up = xr.concat([r[0][v] for r in runs], dim="input", coords="minimal", compat="override", join="outer")
            down = xr.concat([r[1][v] for r in runs], dim="input", coords="minimal", compat="override", join="outer")
            out[v] = (up, down)
    return {v: (u.assign_coords(input=names), d.assign_coords(input=names)) for v, (u, d) in out.items()}


def _one_sided(up: xr.DataArray, down: xr.DataArray, y0: xr.DataArray, h: float) -> tuple:
    """Central, forward and backward elasticities from ``y(x(1+h))``, ``y(x(1-h))`` and ``y(x)``.

    Log form ``ln(y+/y-) / ln((1+h)/(1-h))`` (exact for power laws) where all three are
    positive, else the linear form ``Δy / (Δx/x · y0)``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        log_c = (np.log(up) - np.log(down)) / (np.log1p(h) - np.log1p(-h))
        log_u = (np.log(up) - np.log(y0)) / np.log1p(h)
        log_d = (np.log(y0) - np.log(down)) / -np.log1p(-h)
        lin_c, lin_u, lin_d = (up - down) / (2 * h * y0), (up - y0) / (h * y0), (y0 - down) / (h * y0)
    positive = (up > 0) & (down > 0) & (y0 > 0)
    return (xr.where(positive, log_c, lin_c), xr.where(positive, log_u, lin_u), xr.where(positive, log_d, lin_d))


def _jumps(y0: Any, up: Any, down: Any, up_half: Any, down_half: Any, ratio: float = 0.75) -> tuple:
    """Whether the output jumps above / below the baseline.

    A continuous output's change over a step ``h`` is about twice its change over ``h/2``;
    a discontinuity's is the same. A side is a jump where the change does not shrink below
    ``ratio`` of itself when the step is halved (and is not zero).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        full_u, half_u = np.abs(up - y0), np.abs(up_half - y0)
        full_d, half_d = np.abs(y0 - down), np.abs(y0 - down_half)
        tiny = 1e-9 * np.abs(y0)
        return ((full_u > tiny) & (half_u > ratio * full_u)), ((full_d > tiny) & (half_d > ratio * full_d))


def _binding(elast: xr.DataArray, names: list[str], tie_tol: float) -> tuple[xr.DataArray, xr.DataArray]:
    """Ranking (inputs by decreasing |elasticity|) and the binding input(s) as strings."""
    a = np.abs(elast.transpose("input", ...).values)
    filled = np.where(np.isfinite(a), a, -1.0)
    order = np.argsort(-filled, axis=0, kind="stable")
    rest = [d for d in elast.dims if d != "input"]
    table = np.asarray(names, dtype=object)
    ranking = xr.DataArray(table[order], dims=["rank", *rest],
                           coords={"rank": np.arange(1, len(names) + 1),
                                   **{d: elast[d] for d in rest if d in elast.coords}})
    top = filled.max(axis=0)
    tie = (filled >= top - tie_tol) & (filled >= 0)
    code = np.zeros(top.shape, np.int64)
    for i in range(len(names)):  # fixed loop over inputs: a bit per input
        code |= tie[i].astype(np.int64) << i
    code = np.where(top < tie_tol, -1, code)
    uniq, inv = np.unique(code, return_inverse=True)
    labels = np.array(["none" if u < 0 else "=".join(n for i, n in enumerate(names) if u >> i & 1)
                       for u in uniq], dtype=object)  # one label per distinct tie pattern
    binding = xr.DataArray(labels[inv.reshape(top.shape)], dims=rest,
                           coords={d: elast[d] for d in rest if d in elast.coords})
    return ranking, binding


def sensitivity(stack: Any, space_or_dataset: Any, output: str = "step_time",
                inputs: Sequence[str] | None = None, rel_step: float = 0.01, tie_tol: float = 1e-3,
                batch: bool | None = None, kink_tol: float = 0.05) -> xr.Dataset:
    """Elasticities ``d ln(output) / d ln(input)`` for every configuration, by central differences.

    Parameters
    ----------
    stack : tuple of solvers or callable
        ``dsx.stacks.TRAINING``, ``dsx.training`` or any ``Dataset -> Dataset`` function.
    space_or_dataset : dsx.Space or xarray.Dataset
        The inputs (not a result): ``Space(...)`` or ``Space(...).to_dataset()``.
    output : str
        Result variable to differentiate (must be positive for the log form).
    inputs : list of str, optional
        Numeric input variables to scale: catalog columns (``peak_flops``,
        ``hbm_bandwidth``, ``scale_out_bandwidth``, ...), fixed numeric inputs, or solver
        inputs left at their defaults (``matmul_efficiency``: the default is scaled). Swept
        axes cannot be scaled. Default: every float variable of the input Dataset.
    rel_step : float
        Relative step ``h``; inputs are evaluated at ``x·(1+h)`` and ``x·(1-h)``.
    tie_tol : float
        Inputs whose ``|elasticity|`` is within ``tie_tol`` of the largest are reported as
        tied; below ``tie_tol`` overall the binding input is ``"none"``.
    batch : bool, optional
        Evaluate all perturbations along one extra dimension in a single stack run
        (default when the estimated size is below 2 GiB) or one run per perturbation.
    kink_tol : float
        Where the forward and backward elasticities differ by more than this, the baseline
        sits on a ``min``/``max`` corner or a discrete switch: ``kink`` is True. Smooth
        outputs differ by ``O(h)`` (power laws: 0).

    Returns
    -------
    xarray.Dataset
        ``elasticity`` (dims ``input`` + configuration dims; dimensionless; NaN where the
        baseline is infeasible or the output is not positive), ``baseline`` (the output,
        with its units), ``elasticity_up`` / ``elasticity_down`` (one-sided), ``kink`` and
        ``discontinuous`` (bool, per input), ``baseline_feasible``, ``ranking`` (dims ``rank`` + configuration
        dims: input names by decreasing ``|elasticity|``), ``binding`` (str: the top input,
        ties joined by ``=``, ``"none"`` or ``"infeasible[:reason]"``) and
        ``feasibility_changes`` (bool, per input: a ±h step flips feasibility).

    Notes
    -----
    With ``y± = y(x·(1±h))``: ``e = (ln y+ - ln y-) / (ln(1+h) - ln(1-h))``, exact for power
    laws ``y = c·x^e``. At a continuous kink of ``max(a/x, b/y)`` (within ``h``) the central
    estimate lies between the two one-sided slopes ``ln(y+/y0)/ln(1+h)`` and
    ``ln(y0/y-)/(-ln(1-h))`` (at ``a/x = b/y`` both inputs read -0.5: a tie, ``kink`` set).
    Across a discrete switch (``activation_bytes`` at exactly 2 B: 1 % less is an 8-bit
    nominal width, and attention's peak halves) one one-sided change does not shrink with
    the step, so it is no derivative at all and grows like ``1/h``; it is detected by a
    second evaluation at ``h/2`` and the elasticity is the other side's (NaN where both
    sides jump). Finite differences of non-smooth functions: Nocedal & Wright 2006,
    *Numerical Optimization*, 2nd ed., §8.1.
    ``dsx.training`` and ``dsx.serving`` are run with ``mask_infeasible=False`` so that a
    step that crosses a feasibility boundary still has a value (``feasibility_changes``
    says where).

    Examples
    --------
    >>> ds = xr.Dataset({"x": 2.0, "y": ("cfg", [1.0, 8.0])})
    >>> def stack(d):
    ...     return d.assign(t=np.maximum(4.0 / d.x, 8.0 / d.y))
    >>> s = sensitivity(stack, ds, output="t", inputs=["x", "y"])
    >>> s.elasticity.round(6).values.tolist()
    [[0.0, -1.0], [-1.0, 0.0]]
    >>> s.binding.values.tolist()
    ['y', 'x']
    """
    run = as_stack(_raw(stack))
    ds = input_dataset(space_or_dataset)
    if not kink_tol > 0:
        raise DsxInputError(f"sensitivity: kink_tol={kink_tol} must be > 0")
    if not 0 < rel_step < 0.5:
        raise DsxInputError(f"sensitivity: rel_step={rel_step} must be in (0, 0.5)")
    if inputs is not None:
        ds = with_defaults(ds, [inputs] if isinstance(inputs, str) else inputs)
    names = _check_inputs(ds, inputs)
    base_ds = run(ds)
    if output not in base_ds.variables:
        raise DsxInputError(f"sensitivity: the stack produced no {output!r} (have {sorted(base_ds.data_vars)})")
    y0 = base_ds[output]
    if batch is None:
        batch = base_ds.nbytes * 2 * len(names) < _BATCH_BYTES
    wanted = [output] + (["feasible"] if "feasible" in base_ds.variables else [])
    pert = _evaluate(run, ds, names, rel_step, wanted, batch)
    up, down = pert[output]
    central, above, below = _one_sided(up, down, y0, rel_step)
    # half the step: a continuous output's one-sided change halves, a jump's does not
    up_half, down_half = _evaluate(run, ds, names, rel_step / 2, [output], batch)[output]
    jump_up, jump_down = _jumps(y0, up, down, up_half, down_half)
    kink = (np.abs(above - below) > kink_tol) | jump_up | jump_down
    # across a discrete switch on one side the derivative is the other side's; at a continuous
    # min/max corner the central value (the mean of the two slopes) is kept, and flagged
    elast = xr.where(jump_down & ~jump_up, above, xr.where(jump_up & ~jump_down, below, central))
    elast = elast.where(~(jump_up & jump_down))
    feasible = base_ds["feasible"].astype(bool) if "feasible" in base_ds.variables else xr.DataArray(True)
    valid = feasible & np.isfinite(elast)
    elast = elast.where(valid).transpose("input", ...)
    elast.attrs = {"units": "", "long_name": f"elasticity of {output} (d ln {output} / d ln input; the smaller "
                   "one-sided slope where `kink`)"}

    ranking, binding = _binding(elast, names, tie_tol)
    if "reason" in base_ds.variables:
        reason = decode(base_ds["reason"]).astype(str)  # categorical codes as their labels
        infeas = "infeasible:" + reason
        infeas = xr.where(reason == "", "infeasible", infeas)
    else:
        infeas = xr.DataArray("infeasible")
    binding = xr.where(feasible, binding, infeas).astype(object)
    binding.attrs = {"units": "", "long_name": f"input that binds {output} (largest |elasticity|; ties joined by '=')"}
    ranking.attrs = {"units": "", "long_name": "inputs by decreasing |elasticity|"}

    out = xr.Dataset({"elasticity": elast, "ranking": ranking, "binding": binding})
    for name, side, word in (("elasticity_up", above, "increase"), ("elasticity_down", below, "decrease")):
        out[name] = side.where(valid).transpose("input", ...)
        out[name].attrs = {"units": "", "long_name": f"one-sided elasticity of {output} for a {word} of the input"}
    out["kink"] = (kink & valid).transpose("input", ...)
    out["kink"].attrs = {"units": "", "long_name": f"one-sided elasticities differ by more than {kink_tol} "
                         "(a min/max corner or a discrete switch at the baseline)"}
    out["discontinuous"] = (jump_up | jump_down).transpose("input", ...) & feasible
    out["discontinuous"].attrs = {"units": "", "long_name": f"{output} jumps on one side of the baseline "
                                  "(its change does not shrink with the step): that side is left out"}
    out["baseline"] = y0.copy()
    out["baseline"].attrs = {**y0.attrs, "long_name": f"{output} at the baseline"}
    out["baseline_feasible"] = feasible
    out["baseline_feasible"].attrs = {"units": "", "long_name": "baseline configuration is feasible"}
    if "feasible" in pert:
        fu, fd = pert["feasible"]
        out["feasibility_changes"] = ((fu != feasible) | (fd != feasible)).transpose("input", ...)
        out["feasibility_changes"].attrs = {"units": "", "long_name": "a ±rel_step change flips feasibility"}
    out.attrs = {"output": output, "rel_step": rel_step, "tie_tol": tie_tol}
    return out
