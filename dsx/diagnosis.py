"""The audit as data: the stack's result, its elasticities and the binding constraint of each domain.

:func:`audit` runs the training or serving stack, adds the elasticities of the headline
output to the hardware rates, and :func:`diagnose` adds the diagnosis — for each domain a
``binding_<domain>`` code (which term, cost or resource dominates) and the share or ratio
that backs it. Every figure is read from the solvers' outputs; the diagnosis only compares
them (largest share, ratio against a named threshold), vectorized over every configuration.
``dsx.report`` formats such a Dataset; ``dsx audit --json`` prints it.

>>> ds = xr.Dataset({"step_time": ((), 10.0), "step_compute_time": ((), 7.0), "step_comm_time": ((), 2.0)})
>>> d = diagnose(ds)
>>> d.binding_step.item(), float(d.binding_step_share), d.binding_step_overhead.item()
('compute', 0.7, 'comm')
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .solvers.scaling import RULE_TOKENS_PER_PARAM  # the rule of thumb shown beside a fitted law
from .codes import decode

__all__ = ["audit", "diagnose", "elasticities", "largest", "workload_of", "default", "DEFAULTS", "TRAINING_DEFAULTS",
           "SERVING_DEFAULTS", "SENSITIVITY", "STEP_TERMS", "OVER_TRAINED", "UNDER_TRAINED", "RULE_TOKENS_PER_PARAM",
           "UNCERTAINTY_LEVEL"]

#: The seed's job (``seed/full_stack_audit.qmd``): 64 DGX H100 nodes, TP 8 inside a node.
TRAINING_DEFAULTS: dict[str, Any] = {
    "model": "llama-3.1-70b", "hardware": "H100-SXM", "gpus": 512, "gpus_per_node": 8,
    "scale_out_fabric": "ib-ndr", "tp": 8, "pp": 1, "global_batch": 2048, "seq_len": 2048,
    "precision": "bf16", "region": "quebec", "days": 30,
}
#: A 70B model served on one 4-GPU tensor-parallel replica.
SERVING_DEFAULTS: dict[str, Any] = {
    "model": "llama-3.1-70b", "hardware": "H100-SXM", "tp": 4,  # gpus: the deployment, tp·pp·replicas unless given
    "precision": "bf16",
    "input_len": 2048, "output_len": 256, "region": "quebec",
}
#: What ``dsx.audit()`` and ``dsx audit`` audit when no space is given, per workload.
DEFAULTS = {"training": TRAINING_DEFAULTS, "serving": SERVING_DEFAULTS}
#: Hardware inputs whose elasticity the audit reports, per workload: (output, inputs).
SENSITIVITY = {"training": ("step_time", ("peak_flops", "hbm_bandwidth", "scale_up_bandwidth", "scale_out_bandwidth")),
               "serving": ("e2e_latency", ("peak_flops", "hbm_bandwidth", "scale_up_bandwidth"))}
#: The step-time terms (solver outputs ``step_<term>_time``) whose shares of the step are compared.
STEP_TERMS = ("compute", "comm", "bubble", "dp_exposed", "optimizer")
#: Tokens per parameter above this multiple of the compute-optimal ratio: over-trained.
OVER_TRAINED = 1.25
#: Tokens per parameter below this multiple of the compute-optimal ratio: under-trained.
UNDER_TRAINED = 0.8
#: Central interval of the key figures when the audit draws its uncertain inputs.
UNCERTAINTY_LEVEL = 0.8


#: Units of the diagnosis variables that are not plain ratios, shares or codes.
_UNITS = {"optimal_params_rule": "param", "optimal_tokens_per_param": "token/param"}


# -- reading variables ------------------------------------------------------------------------
def default(name: str) -> Any:
    """The registered default of an input the space left out (the stack used it too); else None."""
    from .solvers.base import INPUTS

    spec = INPUTS.get(name)
    return None if spec is None or isinstance(spec.default, (list, tuple, dict)) else spec.default


def _var(ds: xr.Dataset, name: str) -> xr.DataArray:
    """``ds[name]``; an input the space left out at its registered default; else NaN."""
    if name in ds.variables:
        return decode(ds[name])  # categorical codes as their labels
    value = default(name)
    return xr.DataArray(np.nan if value is None else value)


def _num(ds: xr.Dataset, name: str) -> xr.DataArray:
    """A numeric variable as float (NaN where missing)."""
    da = _var(ds, name)
    return da.astype(float) if da.dtype.kind in "biuf" else xr.DataArray(np.nan)


def _is(da: xr.DataArray, value: Any) -> xr.DataArray:
    """``da == value`` elementwise; False where ``da`` is missing (NaN) or of another kind."""
    if da.dtype.kind in "f" and not isinstance(value, (int, float)):
        return xr.zeros_like(da, dtype=bool)
    return da == value


def _nonzero(da: xr.DataArray) -> xr.DataArray:
    """Known and not zero (the truthiness of a number)."""
    return da.notnull() & (da != 0)


def _code(mask: xr.DataArray, code: xr.DataArray | str, otherwise: xr.DataArray | str = "") -> xr.DataArray:
    return xr.where(mask, code, otherwise)


def largest(parts: dict[str, xr.DataArray],
            total: xr.DataArray | float | None = None) -> tuple[xr.DataArray, xr.DataArray]:
    """(name, share) of the largest known part, per configuration; share of ``total`` when it is
    known and non-zero, else of the sum of the known parts; ``""`` and NaN where no part is known.
    Ties go to the first part named."""
    names = list(parts)
    stacked = xr.concat([xr.DataArray(parts[n]).astype(float) for n in names], dim="_part",
                        coords="minimal", compat="override", join="outer")
    known = stacked.notnull().any("_part")
    filled = stacked.fillna(-np.inf)
    top = filled.max("_part")
    index = filled.argmax("_part")
    name = xr.DataArray(np.asarray(names)[index.values], dims=index.dims, coords=index.coords)
    whole = stacked.sum("_part")
    if total is not None:
        total = xr.DataArray(total).astype(float)
        whole = xr.where(_nonzero(total), total, whole)
    share = xr.where(_nonzero(whole), top / whole, np.nan)
    return _code(known, name), share.where(known)


def _labelled(out: dict, key: str, parts: dict[str, xr.DataArray], total: Any = None) -> None:
    """``binding_<key>`` and ``binding_<key>_share`` of the largest part."""
    out[f"binding_{key}"], out[f"binding_{key}_share"] = largest(parts, total)


# -- training ------------------------------------------------------------------------------
def _node(ds: xr.Dataset, out: dict) -> None:
    tc, tm = _num(ds, "mb_compute_time"), _num(ds, "mb_memory_time")
    mem, cap = _num(ds, "memory_per_gpu"), _num(ds, "hbm_capacity")
    compute_bound = _is(_var(ds, "bound"), "compute")
    out["memory_fraction"] = xr.where(_nonzero(cap), mem / cap, np.nan)
    out["roofline_ratio"] = xr.where(compute_bound, tc / tm, tm / tc).where(np.fmin(tc, tm) > 0)
    oom = _is(_var(ds, "ok_memory"), False) | (mem > cap)
    roofline = _code(compute_bound, "peak_flops", "hbm_bandwidth")
    out["binding_node"] = _code(oom, "memory_capacity", _code(out["roofline_ratio"].notnull(), roofline))


def _data(ds: xr.Dataset, out: dict) -> None:
    util = _num(ds, "data_utilization")
    binding = _is(_var(ds, "data_stalled"), True) | (util > 1)
    out["binding_data"] = _code(util.notnull(), _code(binding, "data_pipeline", "none"))


def _algorithm(ds: xr.Dataset, out: dict) -> None:
    tpp = _num(ds, "tokens_per_param")
    optimal = _num(ds, "optimal_tokens_per_param")  # the law's, from the scaling solver
    ratio = (tpp / optimal).where(_nonzero(optimal))
    fitted_law = ~_is(_var(ds, "law"), "20x")
    out["optimal_tokens_per_param"] = optimal
    out["tokens_per_param_ratio"] = ratio
    out["tokens_per_param_ratio_rule"] = (tpp / RULE_TOKENS_PER_PARAM).where(fitted_law & ratio.notnull())
    out["optimal_params_rule"] = _num(ds, "rule_params").where(fitted_law)  # the 20x rule's size
    out["binding_algorithm"] = _code(ratio > OVER_TRAINED, "over_trained", _code(
        ratio < UNDER_TRAINED, "under_trained", _code(ratio.notnull(), "compute_optimal")))


def _step(ds: xr.Dataset, out: dict) -> dict[str, xr.DataArray]:
    step = _num(ds, "step_time")
    terms = {t: _num(ds, f"step_{t}_time") for t in STEP_TERMS}
    for t, v in terms.items():
        out[f"step_{t}_share"] = xr.where(_nonzero(step), v / step, np.nan)
    _labelled(out, "step", terms, step)
    _labelled(out, "step_overhead", {t: v for t, v in terms.items() if t != "compute"}, step)
    return terms


def _reliability(ds: xr.Dataset, out: dict) -> None:
    goodput = _num(ds, "goodput")
    code, share = largest({"checkpoint_writes": _num(ds, "checkpoint_overhead"),
                           "failures": _num(ds, "failure_overhead")}, 1.0)
    out["binding_reliability"] = _code(goodput.notnull(), code)
    out["binding_reliability_share"] = share.where(goodput.notnull())


def _cost(ds: xr.Dataset, out: dict, capex: xr.DataArray) -> None:
    _labelled(out, "cost", {"capex": capex, "energy": _num(ds, "opex_energy"),
                            "maintenance": _num(ds, "opex_maintenance")}, _num(ds, "tco"))


def _environment(ds: xr.Dataset, out: dict) -> None:
    _labelled(out, "carbon", {"operational": _num(ds, "carbon_operational"),
                              "embodied": _num(ds, "carbon_embodied")}, _num(ds, "carbon"))
    _labelled(out, "water", {"onsite": _num(ds, "water_onsite"), "offsite": _num(ds, "water_offsite")},
              _num(ds, "water"))


def _infeasible(ds: xr.Dataset) -> xr.DataArray:
    return _is(_var(ds, "feasible"), False)


def _analysis(ds: xr.Dataset, out: dict, terms: dict[str, xr.DataArray]) -> None:
    """What the wall-clock time goes to: each step term times goodput, and the reliability losses."""
    step = _num(ds, "step_time")
    goodput = _num(ds, "goodput").fillna(1.0)
    wall = {t: v / step * goodput for t, v in terms.items()}
    wall["reliability_losses"] = 1 - goodput
    code, share = largest(wall, 1.0)
    # the compute term is the GPU kernels: bound by peak FLOP/s or by HBM bandwidth
    kernels = _code(_is(_var(ds, "bound"), "compute"), "compute_peak_flops", "compute_hbm_bandwidth")
    code = _code(code == "compute", kernels, code)
    out["binding_analysis"] = _code(_infeasible(ds), "infeasible", _code(_nonzero(step), code))
    out["binding_analysis_share"] = share.where(_nonzero(step) & ~_infeasible(ds))


def _training(ds: xr.Dataset) -> dict:
    out: dict = {}
    _node(ds, out)
    _data(ds, out)
    _algorithm(ds, out)
    terms = _step(ds, out)
    _reliability(ds, out)
    amortized = _num(ds, "capex_amortized")
    _cost(ds, out, amortized.fillna(_num(ds, "capex")))
    _environment(ds, out)
    _analysis(ds, out, terms)
    return out


# -- serving -------------------------------------------------------------------------------
def _latency(ds: xr.Dataset, out: dict) -> None:
    ttft, decode = _num(ds, "ttft"), _num(ds, "decode_time")
    code, share = largest({"prefill": ttft, "decode": decode})
    known = ttft.notnull() & decode.notnull()
    out["binding_latency"], out["binding_latency_share"] = _code(known, code), share.where(known)


def _capacity(ds: xr.Dataset, out: dict) -> None:
    batch, max_batch = _num(ds, "batch"), _num(ds, "max_batch")
    out["kv_cache_fill"] = xr.where(_nonzero(max_batch), batch / max_batch, np.nan)
    kv = _code(batch > max_batch, "kv_cache_overflow",
               _code(_nonzero(max_batch), "kv_cache", "kv_cache_does_not_fit"))
    code = _code(batch.notnull() & max_batch.notnull(), kv)
    out["binding_capacity"] = _code(_is(_var(ds, "saturated"), True), "queue_saturated", code)


def _serving(ds: xr.Dataset) -> dict:
    out: dict = {}
    _latency(ds, out)
    bound = _var(ds, "decode_bound")
    out["binding_throughput"] = bound if bound.dtype.kind in "OU" else xr.DataArray("")
    _capacity(ds, out)
    _cost(ds, out, _num(ds, "capex_amortized"))
    out["binding_analysis"] = _code(_infeasible(ds), "infeasible", out["binding_latency"])
    out["binding_analysis_share"] = out["binding_latency_share"].where(~_infeasible(ds))
    return out


def workload_of(ds: xr.Dataset) -> str:
    """``"serving"`` for a serving result (it has TTFT or TPOT), else ``"training"``."""
    return "serving" if "ttft" in ds.variables or "tpot" in ds.variables else "training"


def diagnose(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with the diagnosis added: ``binding_<domain>`` codes and the shares and ratios behind them.

    Works on any result Dataset (a variable the stack did not compute gives ``""``/NaN) and on
    every configuration at once; variables without units are marked dimensionless (``""``).
    """
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero time or cost: inf/NaN, no warning
        new = _serving(ds) if workload_of(ds) == "serving" else _training(ds)
    return ds.assign({k: xr.DataArray(v).assign_attrs(units=_UNITS.get(k, "")) for k, v in new.items()})


# -- running the audit -----------------------------------------------------------------------
def elasticities(ds: xr.Dataset, inputs: xr.Dataset, axes: list[str], workload: str) -> xr.Dataset:
    """Add ``elasticity_<input>`` (d ln output / d ln input) and ``binding_input`` to the result."""
    from . import stacks
    from .analysis import sensitivity

    output, names = SENSITIVITY[workload]
    names = [n for n in names if n in inputs.data_vars and n not in axes]  # a swept axis cannot be scaled
    if output not in ds or not names:
        return ds
    sens = sensitivity(stacks.TRAINING if workload == "training" else stacks.SERVING, inputs,
                       output=output, inputs=names)
    new = {f"elasticity_{n}": sens["elasticity"].sel(input=n, drop=True).assign_attrs(
        units="", long_name=f"d ln {output} / d ln {n}") for n in names}
    new["binding_input"] = sens["binding"].assign_attrs(units="", long_name=f"input {output} is most sensitive to")
    return ds.assign(new)


def _intervals(drawn: xr.Dataset, workload: str) -> dict[str, xr.DataArray]:
    """``<figure>_low`` and ``<figure>_high``: the central interval of each key figure over the draws."""
    from .uncertainty import DIM, KEY_FIGURES, interval

    out = {}
    for name in KEY_FIGURES[workload]:  # a handful of figures, each over every configuration at once
        if name in drawn.variables and DIM in drawn[name].dims:
            band = interval(drawn[name], UNCERTAINTY_LEVEL)
            out[f"{name}_low"], out[f"{name}_high"] = band["low"], band["high"]
    return out


def audit(space: Any = None, workload: str = "training", *, draws: int | None = None, seed: int | None = None,
          calibration: Any = None, **options: Any) -> xr.Dataset:
    """Audit a configuration (or compare a few): the stack's result, elasticities and diagnosis.

    Parameters
    ----------
    space : dsx.Space, optional
        The configuration(s); default: :data:`DEFAULTS` of the workload (the seed's job for
        training). ``**options`` are merged into it (``dsx.audit(gpus=[512, 1024])``).
    workload : "training" or "serving"
    draws, seed, calibration
        As for :func:`dsx.training`: with draws, every figure is its median over the draws and
        each key figure gains ``<name>_low``/``<name>_high``, its central 80 % interval.

    Returns
    -------
    xr.Dataset
        Every input and result variable; ``elasticity_<input>`` and ``binding_input`` (the
        hardware rate the headline output is most sensitive to); ``binding_<domain>`` codes
        with their ``_share``/ratio variables (:func:`diagnose`). ``dsx.report`` formats it.
    """
    from . import stacks
    from .errors import DsxInputError
    from .space import Space, without_overridden

    if workload not in SENSITIVITY:
        raise DsxInputError(f"workload={workload!r}: expected 'training' or 'serving'")
    space = stacks._space(space, options) if space is not None else \
        Space(**{**without_overridden(DEFAULTS[workload], options), **options})
    inputs = space.to_dataset()
    run = stacks.training if workload == "training" else stacks.serving
    # a space holding distributions (dsx.normal(...)) is drawn even without draws=, as by dsx.training
    result = run(space, draws=draws, seed=seed, calibration=calibration)
    ds = result
    if "draw" in result.dims:
        from .uncertainty import at_median

        ds = at_median(result).assign(_intervals(result, workload))
        ds.attrs["draws"] = result.sizes["draw"]
    return diagnose(elasticities(ds, inputs, list(space.axes), workload))
