"""Queueing: waiting time, saturation and replicas needed for LLM serving.

A serving deployment of ``replicas`` identical replicas, each running up to ``batch``
sequences at once (continuous batching, Orca/vLLM), is modelled as a multi-server queue
with ``c = replicas * batch`` servers ("slots"). A slot is held by one request for
``batch / request_capacity`` — the unloaded end-to-end latency at that batch (the slower
pool's share when prefill and decode are disaggregated) — so ``μ = request_capacity/batch``
per slot. Arrivals are Poisson (``arrival_cv2 = 1``) or general (Allen–Cunneen correction
with the squared coefficients of variation ``arrival_cv2``, ``service_cv2``).

The queueing-theory kernels (Erlang C in log space, M/M/c and G/G/c waits, quantiles,
M/M/1 closed forms, the M/M/c sojourn tail) are in :mod:`dsx.solvers.erlang` and
re-exported here; :func:`queueing` is the solver, and :func:`replicas_for_slo` finds the
fewest replicas that meet a TTFT / TPOT objective by a fixed-trip integer bisection (no
loop over configurations).

References
----------
A. O. Allen 1990, *Probability, Statistics, and Queueing Theory*, 2nd ed., Academic
Press, §5 (Erlang C, p. 276 of the 1978 edition; Allen–Cunneen G/G/c approximation).
J. F. C. Kingman 1961, "The single server queue in heavy traffic", Proc. Camb. Phil. Soc.
57(4). P. Tran-Gia, T. Hossfeld 2021, *Performance Modeling and Analysis of Communication
Networks*, §5.6.3. L. Kleinrock 1975, *Queueing Systems Vol. 1*, §3.2 (M/M/1 sojourn
time is exponential with rate μ − λ).
"""

from __future__ import annotations


import numpy as np

from .base import INPUTS, solver, traced, where
from .quantities import bare
from .erlang import (allen_cunneen_factor, erlang_c, mm1_sojourn_quantile, mm1_wait_mean,  # noqa: F401
                     mmc_sojourn_quantile, mmc_wait_mean, wait_quantile)

__all__ = ["REPLICAS", "erlang_c", "mmc_wait_mean", "allen_cunneen_factor", "wait_quantile",
           "mm1_wait_mean", "mm1_sojourn_quantile", "mmc_sojourn_quantile",
           "replicas_for_slo", "queueing"]


REPLICAS = INPUTS["replicas"]


def _slo_met(replicas, batch, arrival_rate, service_time, first_token_time, tpot,
             factor, quantile, ttft_slo, tpot_slo):
    """Whether ``replicas`` replicas meet the TTFT quantile and TPOT objectives."""
    servers = replicas * batch
    mu = 1.0 / service_time
    pw = erlang_c(servers, arrival_rate / mu)
    w = wait_quantile(pw, factor * mmc_wait_mean(servers, arrival_rate, mu, pw), quantile)
    return (w + first_token_time <= ttft_slo) & (tpot <= tpot_slo) & (arrival_rate < servers * mu)


def replicas_for_slo(batch, arrival_rate, service_time, first_token_time, tpot, quantile,
                     ttft_slo, tpot_slo, factor=1.0, max_doublings=48):
    """Fewest replicas whose ``quantile`` TTFT and TPOT meet the objectives.

    Integer bisection between the smallest stable count ``⌊λ S/B⌋ + 1`` and a sufficient
    count (from ``C ≤ 1``: ``c μ − λ ≥ k ln(1/(1−q)) / (TTFT_slo − t_first)``); each step
    is one vectorised Erlang C evaluation and the number of steps is
    ``⌈log2(largest bracket)⌉`` (≤ ``max_doublings``), independent of how many
    configurations are evaluated.

    Parameters
    ----------
    batch : float or array
        Slots per replica (concurrent sequences).
    arrival_rate : float or array
        Requests per second offered to the whole deployment (1/s).
    service_time : float or array
        Mean time a request holds a slot (s), i.e. the unloaded end-to-end latency.
    first_token_time : float or array
        Unloaded time to first token (s).
    tpot : float or array
        Time per output token (s).
    quantile : float or array
        Quantile of TTFT the objective applies to.
    ttft_slo, tpot_slo : float or array
        Objectives (s); ``inf`` for none.
    factor : float or array
        Allen–Cunneen factor ``(c_a² + c_s²)/2``.

    Returns
    -------
    float or array
        Replicas needed (≥ 1); NaN where no replica count meets the objective (TPOT or
        unloaded TTFT already above it).

    >>> float(replicas_for_slo(1, 0.5, 1.0, 0.1, 0.01, 0.99, np.inf, np.inf))   # ρ<1 needs 1
    1.0
    >>> float(replicas_for_slo(1, 0.5, 1.0, 0.1, 0.01, 0.99, 2.0, np.inf))
    2.0
    """
    lam_s = arrival_rate * service_time
    lo = np.maximum(np.floor(lam_s / batch) + 1.0, 1.0)
    slack_t = ttft_slo - first_token_time
    with np.errstate(divide="ignore", invalid="ignore"):
        extra = factor * np.log(1.0 / (1.0 - quantile)) * service_time / slack_t
    extra = where(np.isfinite(extra) & (slack_t > 0), np.maximum(extra, 0.0), 0.0)
    hi = np.maximum(np.ceil((lam_s + extra) / batch) + 1.0, lo)
    possible = (tpot <= tpot_slo) & (slack_t >= 0)
    if not traced(ttft_slo) and np.all(np.isinf(ttft_slo)):  # (shortcut) no TTFT objective: the fewest stable replicas
        return where(possible, lo, np.nan)
    ok_lo = _slo_met(lo, batch, arrival_rate, service_time, first_token_time, tpot,
                     factor, quantile, ttft_slo, tpot_slo)
    # invariant: pred(hi) holds (sufficient count); pred(lo) may not
    if traced(hi, lo):  # a dependency trace: the bisection reads what ok_lo and hi already read
        steps = 0
    else:
        width = np.asarray(hi - lo, dtype=float)
        width = width[np.isfinite(width)]
        steps = int(np.ceil(np.log2(np.max(width) + 1.0))) if width.size else 0
        steps = min(steps, max_doublings)
    left, right = lo, hi  # pred(left) unknown/false, pred(right) true
    for _ in range(steps):  # fixed trip count: bisection steps over the value range
        mid = np.floor(0.5 * (left + right))
        ok = _slo_met(mid, batch, arrival_rate, service_time, first_token_time, tpot,
                      factor, quantile, ttft_slo, tpot_slo)
        right = where(ok, mid, right)
        left = where(ok, left, mid)
    needed = where(ok_lo, lo, right)
    return where(possible, needed, np.nan)


@solver(("utilization", "saturated", "ok_queue", "wait_time_mean", "wait_time_q", "ttft_q", "tpot_q",
         "e2e_q", "replicas_needed"))
def queueing(ttft, tpot, e2e_latency, request_capacity, batch, arrival_rate, replicas, quantile, arrival_cv2,
             service_cv2, ttft_slo, tpot_slo):
    """Continuous-batching queue: utilization, saturation, waiting and tail latency.

    ``c = replicas · batch`` slots, each held for ``batch / request_capacity`` (the
    unloaded ``e2e_latency``, or the slower pool's share when disaggregated), so
    ``μ = request_capacity / batch`` per slot. Erlang C gives the
    probability of waiting and the M/M/c mean wait, scaled by the Allen–Cunneen factor
    ``(c_a² + c_s²)/2`` for G/G/c; the wait quantile uses the conditionally exponential
    tail. Prefill and decode are deterministic in this model, so ``ttft_q`` = wait
    quantile + ``ttft`` and ``e2e_q`` = wait quantile + ``e2e_latency`` (no mean service
    time is added to a percentile), and ``tpot_q`` = ``tpot``. Where saturated the wait
    is ``inf`` (no steady state) and ``ok_queue`` is False.

    Parameters
    ----------
    batch : int or array
        Concurrent sequences per replica.
    ttft, tpot, e2e_latency : float or array
        Unloaded latencies at that batch (s).
    request_capacity : float or array
        Requests per second one replica completes at that batch (1/s).
    arrival_rate : float or array
        Requests per second (1/s).
    replicas : int or array
        Replicas.
    quantile : float or array
        Quantile in (0, 1).
    arrival_cv2, service_cv2 : float or array
        Squared coefficients of variation.
    ttft_slo, tpot_slo : float or array
        Objectives for ``replicas_needed`` (s).

    Returns
    -------
    dict
        ``utilization``, ``saturated``, ``ok_queue``, ``wait_time_mean``, ``wait_time_q``,
        ``ttft_q``, ``tpot_q``, ``e2e_q`` (s) and ``replicas_needed``.

    References
    ----------
    Allen 1990 §5; Kingman 1961; Yu et al. 2022 (Orca, OSDI) and Kwon et al. 2023 (vLLM,
    SOSP) for continuous batching.

    >>> r = queueing.kernel(batch=1, ttft=0.1, tpot=0.01, e2e_latency=1.0, request_capacity=1.0,
    ...                     arrival_rate=0.5,
    ...                     replicas=1, quantile=0.99, arrival_cv2=1.0, service_cv2=1.0,
    ...                     ttft_slo=2.0, tpot_slo=np.inf)
    >>> round(float(r["wait_time_mean"]), 6), round(float(r["ttft_q"]), 4), float(r["replicas_needed"])
    (1.0, 7.924, 2.0)
    """
    servers = replicas * batch
    hold = batch / request_capacity  # slot holding time (= e2e_latency unless disaggregated)
    mu = 1.0 / hold
    load = arrival_rate / mu
    rho = load / servers
    saturated = rho >= 1.0
    factor = allen_cunneen_factor(arrival_cv2, service_cv2)
    if traced(arrival_rate) or np.any(arrival_rate > 0):
        pw = erlang_c(servers, bare(load))
        wq = factor * mmc_wait_mean(servers, arrival_rate, mu, pw)
        wq_q = wait_quantile(pw, wq, quantile)
    else:  # (shortcut) no load anywhere: nobody waits
        wq = wq_q = 0.0 * arrival_rate
    needed = replicas_for_slo(batch, arrival_rate, hold, ttft, tpot, quantile,
                              ttft_slo, tpot_slo, factor)
    return {
        "utilization": rho,
        "saturated": saturated,
        "ok_queue": np.logical_not(saturated),
        "wait_time_mean": wq,
        "wait_time_q": wq_q,
        "ttft_q": ttft + wq_q,
        "tpot_q": tpot,
        "e2e_q": e2e_latency + wq_q,
        "replicas_needed": needed,
    }
