"""Inverse design: the smallest (or largest) input value that meets a target, per configuration.

"How many FLOP/s does each configuration need to train in 30 days?", "what is the smallest
HBM that fits?", "the largest batch under a latency budget?": each is a search over one
monotone input. :func:`synthesize` bisects every configuration *simultaneously*: the input
becomes an array over the configurations, and each iteration is one evaluation of the
whole stack. Counts (GPUs, batch) use integer bisection; a swept axis is searched exactly
among its given values; a closed-form inverse, when known, is used and then verified.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from ..errors import DsxInputError
from ..units import magnitude
from .sensitivity import as_stack, input_dataset, with_defaults

__all__ = ["synthesize"]

_OPS = {"<=": np.less_equal, "<": np.less, ">=": np.greater_equal, ">": np.greater}


def _units_of(ds: xr.Dataset, name: str) -> str:
    if name in ds.variables and "units" in ds[name].attrs:
        return ds[name].attrs["units"]
    try:
        from ..solvers.base import INPUTS
        spec = INPUTS.get(name)
        if spec is not None and spec.unit is not None:
            return spec.unit
    except ImportError:  # pragma: no cover
        pass
    return ""


def _is_integer(ds: xr.Dataset, name: str) -> bool:
    if name in ds.variables and ds[name].dtype.kind in "iu":
        return True
    from ..solvers.base import INPUTS
    spec = INPUTS.get(name)
    return bool(spec is not None and spec.integer)


def synthesize(stack: Any, space_or_dataset: Any, target: str | None = "time_to_train", value: Any = None,
               vary: str = "peak_flops", direction: str = "min", lo: Any = None, hi: Any = None,
               sense: str = "<=", integer: bool | None = None, multiple_of: int = 1,
               rtol: float = 1e-4, inverse: Callable[[xr.Dataset, float], Any] | None = None,
               require_feasible: bool = True) -> xr.Dataset:
    """The minimum (or maximum) value of ``vary`` for which ``target sense value`` holds.

    Parameters
    ----------
    stack : tuple of solvers or callable
        ``dsx.stacks.TRAINING``, ``dsx.training`` or any ``Dataset -> Dataset`` function.
    space_or_dataset : dsx.Space or xarray.Dataset
        The inputs.
    target : str or None
        Result variable to constrain (``time_to_train``, ``e2e_q``, ``tco``, ``carbon``...).
        ``None``: only feasibility is required (e.g. the smallest ``hbm_capacity`` that fits).
    value : float, str or pint.Quantity
        The target's limit; bare numbers are in the target's units (``attrs["units"]``).
    vary : str
        The input to solve for: a catalog column or numeric input (``peak_flops``,
        ``hbm_bandwidth``, ``hbm_capacity``, ``scale_out_bandwidth``, ``gpus``,
        ``global_batch``...). When it is a swept axis, its given values are searched exactly.
    direction : {"min", "max"}
        Smallest value that meets the target (more is better, e.g. FLOP/s, GPUs) or the
        largest (more is worse, e.g. batch under a latency budget).
    lo, hi : float, str, Quantity or DataArray
        Search interval (in the input's units); may differ per configuration. Defaults:
        the axis range for a swept axis, else ``x/1000`` and ``x·1000`` around the baseline
        value (``1`` and ``hi`` required for integer inputs).
    sense : {"<=", "<", ">=", ">"}
        How ``target`` must compare with ``value``.
    integer : bool, optional
        Integer bisection (default: when the input is an integer count).
    multiple_of : int
        Integer mode searches multiples of this (e.g. 8 GPUs per node).
    rtol : float
        Relative precision of the float bisection (the answer meets the target; one
        ``rtol`` less may not).
    inverse : callable ``(input_ds, value) -> DataArray``, optional
        Closed-form candidate; it is verified with one stack evaluation (NaN where it fails).
    require_feasible : bool
        Also require ``feasible`` (when the stack produces it).

    Returns
    -------
    xarray.Dataset
        ``<vary>``: the required value per configuration, in the input's units (NaN where
        no value in ``[lo, hi]`` meets the target); ``reachable`` (bool); ``<target>`` at
        that value.

    Notes
    -----
    The test ``ok(v) = feasible & (target sense value)`` must be monotone in ``v`` over
    ``[lo, hi]``: false then true for ``direction="min"``. Bisection runs on ``log v`` when
    ``lo > 0`` (specifications span orders of magnitude), a fixed number of iterations, one
    stack evaluation each. The final answer is evaluated once more and kept only where it
    meets the target.

    Divisibility checks make feasibility non-monotone in counts (``gpus`` must keep ``dp``
    a divisor of the batch): bisection then still returns a verified value, but not
    necessarily the smallest. Search such counts among allowed values instead, by making
    them an axis (``gpus=[64, 128, 256, ...]``; exact, one evaluation) or with
    ``multiple_of``.

    Examples
    --------
    >>> ds = xr.Dataset({"flops": 1e15, "work": ("job", [1e18, 4e18])})
    >>> stack = lambda d: d.assign(t=(d.work / d.flops).assign_attrs(units="s"))
    >>> r = synthesize(stack, ds, target="t", value=100.0, vary="flops", lo=1e12, hi=1e18)
    >>> (r.flops / 1e16).round(3).values.tolist(), r.reachable.values.tolist()
    ([1.0, 4.0], [True, True])
    """
    run = as_stack(stack)
    ds = input_dataset(space_or_dataset)
    _check_request(ds, target, value, vary, direction, sense)
    ds = with_defaults(ds, [vary])
    vunits = _units_of(ds, vary)
    base = run(ds)
    search = _Search(run, ds, vary, vunits, target, _limit_of(base, target, value), _OPS[sense], require_feasible,
                     direction)
    if vary in ds.dims:
        return _grid(base, ds, vary, search.ok(base), target, direction, vunits)

    integer = _is_integer(ds, vary) if integer is None else integer
    lo_v, hi_v = _bounds(ds, vary, lo, hi, vunits, integer)
    # configuration dims: whatever the test depends on, plus the input's own dims
    ok0 = search.ok(base)
    template = xr.broadcast(ok0, ds[vary] if vary in ds.variables else xr.DataArray(0.0), lo_v, hi_v)[0]
    zeros = xr.zeros_like(template, dtype=float)
    lo_a, hi_a = (lo_v + zeros), (hi_v + zeros)
    if inverse is not None:
        return _from_inverse(search, inverse, zeros, lo_a, hi_a, integer, multiple_of)
    return _bisect(search, zeros, lo_a, hi_a, integer, multiple_of, rtol)


def _check_request(ds: xr.Dataset, target: str | None, value: Any, vary: str, direction: str, sense: str) -> None:
    """Refuse a direction, sense, missing value or unknown input before any evaluation."""
    if direction not in ("min", "max"):
        raise DsxInputError(f"synthesize: direction={direction!r}; expected 'min' or 'max'")
    if sense not in _OPS:
        raise DsxInputError(f"synthesize: sense={sense!r}; expected one of {list(_OPS)}")
    if target is not None and value is None:
        raise DsxInputError("synthesize: give value= (the target's limit) or target=None for feasibility only")
    if vary not in ds.variables and vary not in _known_inputs():
        raise DsxInputError(f"synthesize: {vary!r} is neither a variable of the input dataset nor a known input")


def _limit_of(base: xr.Dataset, target: str | None, value: Any) -> float | None:
    """The target's limit in the units the stack gives the target (None: feasibility only)."""
    if target is not None and target not in base.variables:
        raise DsxInputError(f"synthesize: the stack produced no {target!r}")
    tunits = base[target].attrs.get("units", "") if target is not None else ""
    return float(magnitude(value, tunits, name=target)) if target is not None else None


@dataclass(frozen=True)
class _Search:
    """What every evaluation of the search shares: the stack, its inputs and the test to meet."""

    run: Callable[[xr.Dataset], xr.Dataset]
    ds: xr.Dataset
    vary: str
    units: str
    target: str | None
    limit: float | None
    op: Callable
    require_feasible: bool
    direction: str

    def ok(self, res: xr.Dataset) -> xr.DataArray:
        """Where a result meets the target (finite) and, if asked, is feasible."""
        good = xr.DataArray(True)
        if self.target is not None:
            good = xr.DataArray(self.op(res[self.target], self.limit)) & np.isfinite(res[self.target])
        if self.require_feasible and "feasible" in res.variables:
            good = good & res["feasible"].astype(bool)
        return good

    def at(self, v: xr.DataArray) -> xr.Dataset:
        """The stack's result with the varied input set to ``v`` (keeping the input's attributes)."""
        v = v.copy()
        v.attrs = dict(self.ds[self.vary].attrs) if self.vary in self.ds.variables else {"units": self.units}
        return self.run(self.ds.assign({self.vary: v}))

    def result(self, res: xr.Dataset, answer: xr.DataArray, reach: xr.DataArray) -> xr.Dataset:
        """The answer Dataset (see :func:`_result`)."""
        return _result(res, answer, reach, self.target, self.vary, self.units)


def _from_inverse(search: _Search, inverse: Callable[[xr.Dataset, float], Any], zeros: xr.DataArray,
                  lo_a: xr.DataArray, hi_a: xr.DataArray, integer: bool, multiple_of: int) -> xr.Dataset:
    """The closed-form candidate, kept where one evaluation confirms it meets the target inside the range."""
    cand = xr.DataArray(inverse(search.ds, search.limit)) + zeros
    if integer:
        cand = np.ceil(cand / multiple_of) * multiple_of
    inside = (cand >= lo_a) & (cand <= hi_a)
    res = search.at(xr.where(inside, cand, hi_a if search.direction == "min" else lo_a))
    good = search.ok(res) & inside
    return search.result(res, cand.where(good), good)


def _bisect(search: _Search, zeros: xr.DataArray, lo_a: xr.DataArray, hi_a: xr.DataArray, integer: bool,
            multiple_of: int, rtol: float) -> xr.Dataset:
    """Bisection of every configuration at once, a fixed number of evaluations, the answer verified."""
    if integer:  # search the multiples of multiple_of: bisect their index
        lo_a = np.ceil(lo_a / multiple_of)
        hi_a = np.floor(hi_a / multiple_of)
        scale = float(multiple_of)
    else:
        scale = 1.0
    false = zeros.astype(bool)

    def ok_at(c: xr.DataArray) -> xr.DataArray:
        return search.ok(search.at(c * scale)) | false

    ok_lo, ok_hi = ok_at(lo_a), ok_at(hi_a)
    if search.direction == "min":
        good_end, bad_end, reach, done = hi_a, lo_a, ok_hi, ok_lo   # answer is lo where ok(lo)
    else:
        good_end, bad_end, reach, done = lo_a, hi_a, ok_lo, ok_hi
    good_end, bad_end = good_end.copy(), bad_end.copy()
    if bool((~reach & ~done).any()):  # the far end fails (e.g. infeasible): search the feasible part
        good_end, bad_end, reach = _scan(ok_at, lo_a, hi_a, search.direction, integer, good_end, bad_end, reach)
    use_log = not integer and bool((lo_a > 0).all())
    for _ in range(_iterations(lo_a, hi_a, integer, use_log, rtol)):  # fixed number of whole-space evaluations
        mid = _midpoint(good_end, bad_end, integer, use_log)
        ok_mid = ok_at(mid)
        good_end = xr.where(ok_mid, mid, good_end)
        bad_end = xr.where(ok_mid, bad_end, mid)
    answer = xr.where(done, bad_end, good_end) * scale
    answer = answer.where(reach)
    res = search.at(answer.fillna(hi_a * scale if search.direction == "min" else lo_a * scale))
    verify = search.ok(res) & reach
    return search.result(res, answer.where(verify), verify)


def _midpoint(good: xr.DataArray, bad: xr.DataArray, integer: bool, use_log: bool) -> xr.DataArray:
    """The next probe: floor of the mean (integers), geometric mean (log scale) or arithmetic mean."""
    if integer:
        return np.floor((good + bad) / 2)
    if use_log:
        return np.sqrt(good * bad)
    return (good + bad) / 2


#: Points of the scan that looks for a value meeting the target when the far end of the range
#: does not (geometric between lo and hi; integer searches add every power of two).
SCAN_POINTS = 24


def _scan(ok_at: Callable[[xr.DataArray], xr.DataArray], lo: xr.DataArray, hi: xr.DataArray, direction: str,
          integer: bool, good: xr.DataArray, bad: xr.DataArray, reach: xr.DataArray) -> tuple:
    """Bracket the answer inside ``[lo, hi]`` where the far end fails the test.

    The far end of a range (``hi`` for ``direction="min"``) can fail for a reason the target
    does not measure: too many GPUs for the batch (``dp_exceeds_batch``), a count that does
    not divide. Each candidate — :data:`SCAN_POINTS` geometric points between ``lo`` and
    ``hi`` (linear where ``lo <= 0``) and, for integer searches, every power of two — is one
    whole-space evaluation; the nearest candidate that passes becomes the good end and the
    nearest failing one beyond it the bad end, so the bisection then runs inside the
    feasible part. Configurations where no candidate passes stay unreachable.

    Returns
    -------
    tuple of DataArray
        ``good``, ``bad`` (ends for the bisection) and ``reach`` (a passing value was found).
    """
    t = (np.arange(1, SCAN_POINTS + 1) / (SCAN_POINTS + 1))
    geometric = bool((lo > 0).all())
    cands = [lo * (hi / lo) ** f if geometric else lo + (hi - lo) * f for f in t]
    if integer:
        cands = [np.floor(c) for c in cands]
        top = float(hi.max())
        cands += [xr.DataArray(2.0 ** k) for k in range(int(np.log2(max(top, 1.0))) + 1)]
    minimize = direction == "min"
    sign = 1.0 if minimize else -1.0
    best = xr.where(reach, good, np.inf * sign)   # nearest passing value toward the near end
    passing = []
    for c in cands:  # a fixed number of whole-space evaluations
        c = c + 0 * lo
        inside = (c > lo) & (c < hi)
        ok = ok_at(c.where(inside, good)) & inside
        passing.append((c, ok))
        best = xr.where(ok & (sign * c < sign * best), c, best)
    found = np.isfinite(best)
    near = bad.copy()   # the failing value closest to the passing one, on the near side
    for c, ok in passing:
        beyond = (sign * c < sign * best) & (sign * c > sign * near) & ~ok & (c > lo) & (c < hi)
        near = xr.where(beyond, c, near)
    new_good = xr.where(reach, good, xr.where(found, best, good))
    new_bad = xr.where(reach, bad, xr.where(found, near, bad))
    return new_good, new_bad, reach | found


def _known_inputs() -> set:
    from ..solvers.base import INPUTS
    return set(INPUTS)


def _bounds(ds: xr.Dataset, vary: str, lo: Any, hi: Any, units: str, integer: bool) -> tuple[Any, Any]:
    def conv(v: Any, what: str) -> Any:
        if isinstance(v, xr.DataArray):
            return v.astype(float)
        return xr.DataArray(float(magnitude(v, units, name=f"{vary} ({what})")))

    if lo is None or hi is None:
        if integer and lo is None:
            lo = 1
        if vary not in ds.variables and (lo is None or hi is None):
            raise DsxInputError(f"synthesize: give lo= and hi= for {vary!r} (it has no baseline value)")
        if vary in ds.variables:
            x = ds[vary].astype(float)
            lo = x / 1000 if lo is None else lo
            hi = x * 1000 if hi is None else hi
    lo_v, hi_v = conv(lo, "lo"), conv(hi, "hi")
    if bool((lo_v > hi_v).any()):
        raise DsxInputError(f"synthesize: lo > hi for {vary!r}")
    return lo_v, hi_v


def _iterations(lo: xr.DataArray, hi: xr.DataArray, integer: bool, use_log: bool, rtol: float) -> int:
    with np.errstate(divide="ignore", invalid="ignore"):
        if integer:
            span = float((hi - lo).max())
            return int(np.ceil(np.log2(max(span, 1.0)))) + 1
        if use_log:
            span = float(np.log(hi / lo).max()) / np.log1p(rtol)
        else:
            width = float((hi - lo).max())
            scale = float(np.maximum(np.abs(hi), np.abs(lo)).max()) * rtol
            span = width / scale if scale > 0 else 1.0
    return int(np.ceil(np.log2(max(span, 1.0)))) + 1


def _result(res: xr.Dataset, answer: xr.DataArray, reach: xr.DataArray, target: str | None, vary: str,
            units: str) -> xr.Dataset:
    out = xr.Dataset()
    out[vary] = answer.assign_attrs(units=units, long_name=f"required {vary}")
    out["reachable"] = reach.assign_attrs(units="", long_name="target met within [lo, hi]")
    if target is not None:
        out[target] = res[target].where(reach)
        out[target].attrs = dict(res[target].attrs)
    return out


def _grid(base: xr.Dataset, ds: xr.Dataset, vary: str, ok: xr.DataArray, target: str | None,
          direction: str, units: str) -> xr.Dataset:
    """Exact search among the values of a swept axis (one evaluation, already done)."""
    ok = ok.broadcast_like(ds[vary]) if vary not in ok.dims else ok
    coord = ds[vary].astype(float)
    key = xr.where(ok, coord if direction == "min" else -coord, np.inf)
    found = ok.any(vary)
    pos = key.argmin(vary)
    answer = coord.isel({vary: pos}).drop_vars(vary, errors="ignore").where(found)
    out = xr.Dataset()
    out[vary] = answer.assign_attrs(units=units, long_name=f"required {vary} (among the axis values)")
    out["reachable"] = found.assign_attrs(units="", long_name="target met by some axis value")
    if target is not None:
        t = base[target]
        t = t.broadcast_like(ds[vary]) if vary not in t.dims else t
        out[target] = t.isel({vary: pos}).drop_vars(vary, errors="ignore").where(found)
        out[target].attrs = dict(base[target].attrs)
    return out
