"""Serving operations, feasibility and the best batch under latency objectives.

:func:`serving_operations` turns a serving configuration into what the shared
operations solvers (:mod:`dsx.solvers.reliability`, :mod:`dsx.solvers.sustainability`,
:mod:`dsx.solvers.economics`) read: the deployment's ``gpus``, its busy time
``wall_time_ideal`` (and ``wall_time``: a serving fleet is held for the whole period, no
checkpoints), the tokens it generates ``tokens_total`` and its average power fraction
``power_fraction``. Energy, carbon, water, TCO and cost per million tokens then come
from those solvers (one implementation each). :func:`serving_feasibility` combines the
flags; :func:`best_batch` is mlsysim's ``BatchingOptimizer`` as a masked arg-max over the
``batch`` axis.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import xarray as xr

from ..codes import choose
from ..errors import DsxInputError
from .base import solver, traced, where
from .queueing import REPLICAS
from .serving import SERVING_CHECKS

__all__ = ["deployment", "serving_operations", "serving_feasibility", "best_batch", "CHECKS"]


@solver(("gpus", "replicas", "ok_gpus_enough", "ok_gpus_divisible"))
def _deployment_size(gpus, gpus_per_replica):
    """Replicas of a deployment of ``gpus`` accelerators: ``replicas = gpus / gpus_per_replica``.

    A deployment that does not divide into whole replicas is *data* (``ok_gpus_divisible``
    False, reason ``gpus_not_divisible``); one smaller than a replica fails
    ``ok_gpus_enough`` (``model_parallel_exceeds_gpus``). The fractional ``replicas`` is
    kept (never rounded: an input is not silently replaced) and the outcomes are masked.

    Parameters
    ----------
    gpus : int or array
        Accelerators of the whole deployment.
    gpus_per_replica : float or array
        ``tp·pp`` (twice that when disaggregated).

    Returns
    -------
    dict
        ``gpus``, ``replicas`` and the two flags.

    >>> out = _deployment_size.kernel(64, 8)
    >>> float(out["replicas"]), bool(out["ok_gpus_divisible"])
    (8.0, True)
    >>> bool(_deployment_size.kernel(12, 8)["ok_gpus_divisible"])
    False
    """
    replicas = gpus / gpus_per_replica
    return {"gpus": gpus, "replicas": replicas, "ok_gpus_enough": replicas >= 1,
            "ok_gpus_divisible": (replicas >= 1) & (replicas == np.floor(replicas))}


def _given(ds: xr.Dataset, name: str) -> bool:
    """Whether the user set ``name`` (not a solver's default written into the dataset)."""
    return name in ds.variables and ds[name].attrs.get("input") != "default"


def deployment(ds: xr.Dataset) -> xr.Dataset:
    """Size the deployment from ``gpus`` (its total) or ``replicas`` (how many copies).

    ``gpus`` in a serving space is the deployment size, as people ask ("how many GPUs for
    20 req/s?"): it sets ``replicas = gpus / (tp·pp)`` (twice ``tp·pp`` per replica when
    disaggregated), and the queueing and SLA checks downstream use those replicas. Without
    ``gpus``, ``replicas`` (default 1) sets ``gpus = replicas · gpus_per_replica``. Giving
    both is refused: one would silently override the other.

    Parameters
    ----------
    ds : xr.Dataset
        The serving inputs after :func:`dsx.solvers.serving.serving_layout`.

    Returns
    -------
    xr.Dataset
        ``ds`` with ``gpus``, ``replicas``, ``ok_gpus_enough`` and ``ok_gpus_divisible``.
    """
    has_gpus, has_replicas = _given(ds, "gpus"), _given(ds, "replicas")
    if has_gpus and has_replicas:
        raise DsxInputError("serving: give gpus (the deployment size; replicas = gpus / (tp·pp)) or "
                            "replicas, not both")
    if has_gpus:
        return _deployment_size(ds)
    replicas = ds["replicas"] if has_replicas else xr.DataArray(float(REPLICAS.default))
    gpus = (replicas * ds["gpus_per_replica"]).assign_attrs(units="", long_name="")
    out = _deployment_size(ds.assign(gpus=gpus))
    if not has_replicas:  # the default replica count, stated in the result like any default
        out["replicas"] = out["replicas"].assign_attrs(input="default")
    return out


deployment.outputs = _deployment_size.outputs
deployment.requires = ["gpus_per_replica"]


def _deployment_compute(ns: Any) -> dict[str, Any]:
    """:func:`deployment` on the variables of an evaluation in progress (``dsx.stacks.evaluate``):
    the same arithmetic on bare Variables (all on the space's own axes, so nothing to align),
    without building a Dataset for it. Equal to :func:`deployment` (``tests/test_stacks.py``)."""
    var = ns.variables

    def given(name: str) -> bool:
        return name in var and var[name].attrs.get("input") != "default"

    has_gpus, has_replicas = given("gpus"), given("replicas")
    if has_gpus and has_replicas:
        return {n: v.variable for n, v in deployment(_view(ns)).data_vars.items()}  # raises, as deployment does
    if has_gpus:
        return _deployment_size.compute(ns)
    replicas = var["replicas"] if has_replicas else xr.Variable((), float(REPLICAS.default))
    gpus = replicas * var["gpus_per_replica"]
    gpus.attrs = {"units": "", "long_name": ""}
    view = types.SimpleNamespace(variables={**var, "gpus": gpus}, dims=ns.dims, sizes=ns.sizes)
    new = _deployment_size.compute(view)
    if not has_replicas:  # the default replica count, stated in the result like any default
        new["replicas"].attrs = {**new["replicas"].attrs, "input": "default"}
    return new


def _view(ns: Any) -> xr.Dataset:
    names = [n for n in deployment.uses if n in ns.variables]
    return xr.Dataset({n: ns.variables[n] for n in names})


deployment.on_namespace = _deployment_compute  # dsx.stacks.evaluate runs this (prune reads .uses)


@solver(("busy_fraction", "tokens_served_per_s", "wall_time_ideal", "wall_time", "tokens_total",
         "power_fraction"))
def serving_operations(replica_tokens_per_s, utilization, arrival_rate, replicas, duration, busy_power_fraction,
                       idle_power_fraction):
    """Tokens generated and average power of the deployment for the operations solvers.

    (Its size, ``gpus`` and ``replicas``, comes from :func:`deployment`.) Busy fraction ``u = min(ρ, 1)`` at a given
    ``arrival_rate`` and 1 when it is 0 (offline / maximum load);
    ``tokens_total = replicas · replica_tokens_per_s · u · duration``;
    ``power_fraction = p_idle + (p_busy − p_idle)·u`` (a utilisation-linear power model,
    physics reference §9 notes it is an assumption).

    Parameters
    ----------
    replica_tokens_per_s : float
        Generated tokens per second of one replica at full batch (token/s).
    utilization : float
        Slot utilization ρ (from :func:`dsx.solvers.queueing.queueing`).
    arrival_rate : float
        Requests per second (1/s); 0 = offline.
    replicas : int
        Replicas.
    duration : float
        Period (s).
    busy_power_fraction, idle_power_fraction : float
        Node power over maximum at full batch and idle.

    Returns
    -------
    dict
        ``busy_fraction``, ``tokens_served_per_s`` (token/s), ``wall_time_ideal``,
        ``wall_time`` (s), ``tokens_total`` (token), ``power_fraction``.

    >>> out = serving_operations.kernel(10_000.0, 0.5, 2.0, 1, 3600.0, 0.75, 0.3)
    >>> float(out["tokens_total"]), round(float(out["power_fraction"]), 3)
    (18000000.0, 0.525)
    """
    busy = where(arrival_rate > 0, np.minimum(utilization, 1.0), 1.0)
    served = replicas * replica_tokens_per_s * busy
    wall = duration
    return {
        "busy_fraction": busy,
        "tokens_served_per_s": served,
        "wall_time_ideal": wall,
        "wall_time": wall,
        "tokens_total": served * duration,
        "power_fraction": idle_power_fraction + (busy_power_fraction - idle_power_fraction) * busy,
    }


#: Size checks that come before the divisibility check of the same flag (the code says which of
#: the two is wrong): divisibility flag -> (size code, size flag, divisibility code).
_SIZE_FIRST = {"ok_tp_heads": ("tp_exceeds_heads", "ok_tp_within_heads", "tp_not_dividing_heads"),
               "ok_layers_divisible": ("pp_exceeds_layers", "ok_pp_within_layers", "layers_not_divisible"),
               "ok_experts_divisible": ("ep_exceeds_experts", "ok_ep_within_experts", "experts_not_divisible")}
_LINKS = (("no_scale_up_link", "ok_scale_up_link"), ("no_scale_out_link", "ok_scale_out_link"))


def _checks() -> list:
    out = []
    for code, flag in SERVING_CHECKS:
        if flag in _SIZE_FIRST:
            size_code, size_flag, code = _SIZE_FIRST[flag]
            out.append((size_code, size_flag))
        if flag == "ok_queue":  # a queue on a replica that cannot be computed says nothing
            out.extend(_LINKS)
        out.append((code, flag))
        if flag == "ok_precision":  # what is served, then the deployment's size, right after the hardware
            out += [("cnn_not_servable", "ok_servable"), ("model_parallel_exceeds_gpus", "ok_gpus_enough"),
                    ("gpus_not_divisible", "ok_gpus_divisible")]
    return out


#: (reason code, flag) of the serving stack in the order ``reason`` reports them:
#: :data:`dsx.solvers.serving.SERVING_CHECKS`, the deployment size, each size check before its
#: divisibility check, and the links (a hardware row without a scale-up or scale-out link).
CHECKS = _checks()
_DERIVED = {"ok_servable", "ok_tp_within_heads", "ok_pp_within_layers", "ok_ep_within_experts", "ok_scale_up_link",
            "ok_scale_out_link"}
_CODES = np.array([""] + [code for code, _ in CHECKS])


@solver(("feasible", "reason"))
def serving_feasibility(arch, heads, layers, experts, ttft, tpot, scale_up_bandwidth, scale_out_bandwidth,
                        ok_precision, ok_gpus_enough, ok_gpus_divisible, ok_tp_heads, ok_layers_divisible,
                        ok_experts_divisible, ok_context, ok_weights, ok_kv, ok_batch, ok_memory, ok_queue,
                        tp, pp, ep):
    """Whether a serving configuration runs, and the first reason it does not.

    Checks in the order of :data:`CHECKS`: ``precision_unsupported``, ``cnn_not_servable``
    (the stack models token generation), ``model_parallel_exceeds_gpus`` / ``gpus_not_divisible`` (the deployment's ``gpus`` into
    whole replicas), ``tp_exceeds_heads`` / ``tp_not_dividing_heads``, ``pp_exceeds_layers``
    / ``layers_not_divisible``, ``ep_exceeds_experts`` / ``experts_not_divisible``,
    ``context_exceeds_max``, ``oom`` (weights do not fit), ``kv_does_not_fit`` (not one
    sequence), ``batch_exceeds_kv_capacity``, ``oom`` again (the whole memory per GPU at this
    batch, :func:`dsx.solvers.memory.inference_memory`, over the HBM), ``no_scale_up_link`` / ``no_scale_out_link``
    (the latency needs a link the hardware row lacks), ``unstable_queue`` (saturated at the
    deployment's replicas).

    Returns
    -------
    dict
        ``feasible`` (bool) and ``reason`` (code, ``""`` where feasible).

    >>> flags = {name: True for _, name in CHECKS if name not in _DERIVED}
    >>> shape = dict(arch="decoder", heads=64, layers=80, experts=0, ttft=0.1, tpot=0.01, scale_up_bandwidth=450e9,
    ...              scale_out_bandwidth=50e9, tp=8, pp=1, ep=1)
    >>> str(serving_feasibility.kernel(**shape, **{**flags, "ok_kv": False})["reason"])
    'kv_does_not_fit'
    >>> str(serving_feasibility.kernel(**{**shape, "tp": 128}, **{**flags, "ok_tp_heads": False})["reason"])
    'tp_exceeds_heads'
    """
    # same result as base.first_reason, but the strings are built once from an integer code
    # (string ``where`` over a full-size array costs ~10x an integer one)
    computed = np.isfinite(ttft) & np.isfinite(tpot)
    flags = {"ok_precision": ok_precision, "ok_gpus_enough": ok_gpus_enough,
             "ok_gpus_divisible": ok_gpus_divisible, "ok_tp_heads": ok_tp_heads,
             "ok_layers_divisible": ok_layers_divisible, "ok_experts_divisible": ok_experts_divisible,
             "ok_context": ok_context, "ok_weights": ok_weights, "ok_kv": ok_kv, "ok_batch": ok_batch,
             "ok_memory": ok_memory, "ok_queue": ok_queue, "ok_servable": arch != "cnn",  # the stack models token generation; a CNN has none
             "ok_tp_within_heads": tp <= np.fmax(heads, 1.0),
             "ok_pp_within_layers": pp <= np.fmax(layers, 1.0),
             "ok_ep_within_experts": (ep == 1) | (ep <= np.fmax(experts, 0.0)),
             # a one-GPU replica has no scale-up traffic: its NaN latency is not the scale-up link's
             # (disaggregated prefill and decode instances share the KV cache over scale-out)
             "ok_scale_up_link": computed | np.isfinite(scale_up_bandwidth) | (tp * pp <= 1),
             "ok_scale_out_link": computed | np.isfinite(scale_out_bandwidth)}
    first = np.int8(0)
    ok = True
    for i, (_, name) in reversed(list(enumerate(CHECKS))):
        first = np.where(flags[name], first, np.int8(i + 1))
        ok = ok & flags[name]
    return {"feasible": ok, "reason": first if traced(first) else choose(tuple(_CODES), first)}  # (a trace: codes follow first)


def best_batch(ds: xr.Dataset, ttft_slo=None, tpot_slo=None, e2e_slo=None, *,
               metric: str = "tokens_per_s_per_gpu", over: str = "batch",
               tail: bool = True) -> xr.Dataset:
    """Best batch per configuration: the highest ``metric`` whose latencies meet the objectives.

    A vectorised version of mlsysim's ``BatchingOptimizer``: mask the configurations that
    are infeasible or miss an objective, then take the arg-max of ``metric`` over ``over``
    (no loop). Objectives apply to the tail latencies ``ttft_q``/``tpot_q``/``e2e_q``
    (``tail=True``, the default, which includes queueing at ``arrival_rate``) or to the
    unloaded ``ttft``/``tpot``/``e2e_latency``.

    Parameters
    ----------
    ds : xr.Dataset
        Result of :func:`dsx.serving` with an ``over`` axis.
    ttft_slo, tpot_slo, e2e_slo : float, optional
        Objectives in seconds (None: no objective).
    metric : str
        Variable to maximise (default throughput per GPU).
    over : str
        Axis to choose along (default ``batch``).
    tail : bool
        Use the quantile latencies.

    Returns
    -------
    xr.Dataset
        ``ds`` at the chosen batch for every other configuration (the ``over`` axis
        removed), with ``best_batch`` (NaN where nothing meets the objectives) and
        ``meets_slo``.

    Examples
    --------
    >>> import dsx
    >>> ds = xr.Dataset({"tokens_per_s_per_gpu": ("batch", [1.0, 5.0, 9.0]),
    ...                  "ttft_q": ("batch", [0.1, 0.2, 0.9]), "tpot_q": ("batch", [0.01] * 3),
    ...                  "e2e_q": ("batch", [1.0] * 3), "feasible": ("batch", [True] * 3)},
    ...                 coords={"batch": [1, 8, 64]})
    >>> int(best_batch(ds, ttft_slo=0.5).best_batch)
    8
    """
    names = ("ttft_q", "tpot_q", "e2e_q") if tail else ("ttft", "tpot", "e2e_latency")
    ok = ds["feasible"] if "feasible" in ds else xr.DataArray(True)
    for name, slo in zip(names, (ttft_slo, tpot_slo, e2e_slo)):
        if slo is not None:
            ok = ok & (ds[name] <= slo)
    score = ds[metric].where(ok)
    score, ok = xr.broadcast(score, ok)
    filled = score.fillna(-np.inf)
    idx = filled.argmax(over)
    meets = ok.any(over)
    chosen = ds.isel({over: idx})
    best = chosen[over].where(meets)
    chosen = chosen.drop_vars(over)
    return chosen.assign(best_batch=best.drop_vars(over, errors="ignore"),
                         meets_slo=meets)


# every variable this plain Dataset step reads or writes: dsx.stacks.evaluate hands it just those,
# and dsx.sweep.unread counts the inputs among them as read
deployment.uses = ("gpus", "replicas", "gpus_per_replica")
