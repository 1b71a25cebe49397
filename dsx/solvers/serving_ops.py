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

import inspect

import numpy as np
import xarray as xr

from .base import Input, solver, where
from .queueing import ARRIVAL_RATE, REPLICAS
from .serving import SERVING_CHECKS

__all__ = ["serving_operations", "serving_feasibility", "best_batch", "DURATION"]

DURATION = Input(30 * 86_400.0, "s", "Period the serving deployment is operated (and paid for). "
                 "Default 30 days, the seed audit's period; per-token figures do not depend on it.",
                 minimum=0.0, exclusive_minimum=True)


@solver({
    "gpus": ("", "accelerators of the whole deployment: replicas x gpus_per_replica"),
    "busy_fraction": ("", "fraction of slots busy: utilization at the arrival rate, 1 offline"),
    "tokens_served_per_s": ("token/s", "generated tokens per second of the deployment"),
    "wall_time_ideal": ("s", "period operated (failure-free)"),
    "wall_time": ("s", "period operated (the fleet is held throughout)"),
    "tokens_total": ("token", "tokens generated over the period"),
    "power_fraction": ("", "average over maximum node power"),
})
def serving_operations(gpus_per_replica, tokens_per_s, utilization, arrival_rate=ARRIVAL_RATE,
                       replicas=REPLICAS,
                       duration=DURATION,
                       busy_power_fraction=Input(
                           0.75, "", "Node power while serving at full batch over maximum node power. "
                           "Default 0.75: Epoch AI's average/TDP for GPU servers (the sustainability "
                           "solver's power_fraction default).", minimum=0.0, exclusive_minimum=True, maximum=1.0),
                       idle_power_fraction=Input(
                           0.3, "", "Node power while idle over maximum node power. Default 0.3, an "
                           "assumption (unverified; mlsysim's idle share of TDP).", minimum=0.0, maximum=1.0)):
    """Deployment size, tokens generated and average power for the operations solvers.

    ``gpus = replicas · gpus_per_replica``; busy fraction ``u = min(ρ, 1)`` at a given
    ``arrival_rate`` and 1 when it is 0 (offline / maximum load);
    ``tokens_total = replicas · tokens_per_s · u · duration``;
    ``power_fraction = p_idle + (p_busy − p_idle)·u`` (a utilisation-linear power model,
    physics reference §9 notes it is an assumption).

    Parameters
    ----------
    gpus_per_replica : float
        GPUs per replica.
    tokens_per_s : float
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
        ``gpus``, ``busy_fraction``, ``tokens_served_per_s`` (token/s), ``wall_time_ideal``,
        ``wall_time`` (s), ``tokens_total`` (token), ``power_fraction``.

    >>> out = serving_operations.kernel(8, 10_000.0, 0.5, 2.0, 1, 3600.0, 0.75, 0.3)
    >>> float(out["tokens_total"]), round(float(out["power_fraction"]), 3)
    (18000000.0, 0.525)
    """
    busy = where(arrival_rate > 0, np.minimum(utilization, 1.0), 1.0)
    served = replicas * tokens_per_s * busy
    wall = duration
    return {
        "gpus": replicas * gpus_per_replica,
        "busy_fraction": busy,
        "tokens_served_per_s": served,
        "wall_time_ideal": wall,
        "wall_time": wall,
        "tokens_total": served * duration,
        "power_fraction": idle_power_fraction + (busy_power_fraction - idle_power_fraction) * busy,
    }


_CODES = np.array([""] + [code for code, _ in SERVING_CHECKS])


def _feasibility(**flags):
    # same result as base.first_reason, but the strings are built once from an integer code
    # (string ``where`` over a full-size array costs ~10x an integer one)
    first = np.int8(0)
    ok = True
    for i, (_, name) in reversed(list(enumerate(SERVING_CHECKS))):
        first = np.where(flags[name], first, np.int8(i + 1))
        ok = ok & flags[name]
    return {"feasible": ok, "reason": _CODES[first]}


_feasibility.__signature__ = inspect.Signature(  # one parameter per flag in SERVING_CHECKS
    [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY) for _, name in SERVING_CHECKS])
_feasibility.__name__ = "serving_feasibility"
_feasibility.__doc__ = """Whether a serving configuration runs, and the first reason it does not.

    Checks in order (:data:`dsx.solvers.serving.SERVING_CHECKS`): ``precision_unsupported``,
    ``tp_exceeds_heads``, ``layers_not_divisible``, ``experts_not_divisible``,
    ``context_exceeds_max``, ``oom`` (weights do not fit), ``kv_does_not_fit`` (not one
    sequence), ``batch_exceeds_kv_capacity``, ``unstable_queue`` (saturated).

    Returns
    -------
    dict
        ``feasible`` (bool) and ``reason`` (code, ``""`` where feasible).

    >>> flags = {name: True for _, name in SERVING_CHECKS}
    >>> str(serving_feasibility.kernel(**{**flags, "ok_kv": False})["reason"])
    'kv_does_not_fit'
    """
serving_feasibility = solver({"feasible": ("", "configuration runs: every serving check passes"),
                              "reason": ("", "first failing check, '' where feasible")})(_feasibility)


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
