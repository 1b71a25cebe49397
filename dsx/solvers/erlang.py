"""Queueing theory kernels: M/M/c (Erlang C), its G/G/c approximation, M/M/1 closed forms.

Vectorised: every function works on floats, numpy arrays and DataArrays, the Erlang C sum in
log space through the regularised upper incomplete gamma function, so thousands of servers
neither overflow nor loop. Used by :mod:`dsx.solvers.queueing`.

References
----------
A. O. Allen 1990, *Probability, Statistics, and Queueing Theory*, 2nd ed., Academic Press, §5
(Erlang C; Allen–Cunneen G/G/c approximation). J. F. C. Kingman 1961, Proc. Camb. Phil. Soc.
57(4). L. Kleinrock 1975, *Queueing Systems Vol. 1*, §3.2 (M/M/1 sojourn time).
"""

from __future__ import annotations

import numpy as np

from .base import where
from .quantities import unit

__all__ = ["erlang_c", "mmc_wait_mean", "allen_cunneen_factor", "wait_quantile",
           "mm1_wait_mean", "mm1_sojourn_quantile", "mmc_sojourn_quantile"]


def erlang_c(servers, offered_load):
    """Erlang C: probability that an arrival waits in an M/M/c queue.

    ``C(c, a) = [a^c/c! · 1/(1-ρ)] / [Σ_{k<c} a^k/k! + a^c/c! · 1/(1-ρ)]``, ``ρ = a/c``,
    evaluated in log space with ``Σ_{k<c} a^k/k! = e^a Q(c, a)`` (``Q`` the regularised
    upper incomplete gamma function), so thousands of servers do not overflow.

    Parameters
    ----------
    servers : float or array
        Number of servers ``c`` (≥ 1; need not be an integer for the formula).
    offered_load : float or array
        Offered load ``a = λ/μ`` (Erlang, dimensionless).

    Returns
    -------
    float or array
        Probability of waiting, in [0, 1]; 1 where ``a ≥ c`` (no steady state).

    References
    ----------
    Allen 1990, §5 (Erlang C formula).

    >>> round(float(erlang_c(1, 0.5)), 6)     # M/M/1: C = ρ
    0.5
    >>> round(float(erlang_c(2, 1.0)), 6)     # textbook: c=2, a=1 -> 1/3
    0.333333
    """
    from scipy.special import gammaincc, gammaln  # imported here: scipy costs 0.25 s at `import dsx`

    c = np.asarray(servers, dtype=float) if not hasattr(servers, "dims") else servers
    a = offered_load
    rho = a / c
    stable = rho < 1
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a_s = where(stable, a, 0.5 * c)  # any stable value where unstable; masked below
        rho_s = a_s / c
        log_tail = c * np.log(a_s) - gammaln(c + 1.0) - np.log1p(-rho_s)
        log_head = a_s + np.log(gammaincc(c, a_s))
        log_p = log_tail - np.logaddexp(log_head, log_tail)
        p = np.exp(log_p)
    return where(stable, np.minimum(np.maximum(p, 0.0), 1.0), 1.0)


def mmc_wait_mean(servers, arrival_rate, service_rate, prob_wait=None):
    """Mean waiting time in queue of M/M/c: ``E[W_q] = C(c, a) / (cμ − λ)``.

    Parameters
    ----------
    servers : float or array
        Servers ``c``.
    arrival_rate : float or array
        Arrival rate ``λ`` (1/s).
    service_rate : float or array
        Service rate of one server ``μ`` (1/s).
    prob_wait : float or array, optional
        Erlang C ``C(c, λ/μ)`` if already computed.

    Returns
    -------
    float or array
        Mean wait before service (s); ``inf`` where ``λ ≥ cμ``.

    References
    ----------
    Allen 1990, §5.

    >>> round(float(mmc_wait_mean(1, 0.5, 1.0)), 6)   # M/M/1: ρ/(μ-λ) = 1
    1.0
    """
    if prob_wait is None:
        prob_wait = erlang_c(servers, arrival_rate / service_rate)
    slack = servers * service_rate - arrival_rate
    with np.errstate(divide="ignore", invalid="ignore"):
        w = prob_wait / slack
    return where(slack > 0, w, np.inf * unit("s"))


def allen_cunneen_factor(arrival_cv2, service_cv2):
    """Allen–Cunneen G/G/c correction ``(c_a² + c_s²)/2`` applied to the M/M/c wait.

    Parameters
    ----------
    arrival_cv2, service_cv2 : float or array
        Squared coefficients of variation of inter-arrival and service times (1 for
        exponential, 0 for deterministic).

    Returns
    -------
    float or array
        Multiplier of the M/M/c mean wait (dimensionless); Kingman's formula for c = 1.

    References
    ----------
    Allen 1990 (Allen–Cunneen approximation); Kingman 1961.

    >>> allen_cunneen_factor(1.0, 0.0)     # M/D/c: half the M/M/c wait
    0.5
    """
    return 0.5 * (arrival_cv2 + service_cv2)


def wait_quantile(prob_wait, wait_mean, quantile):
    """``q``-quantile of the waiting time with a conditionally exponential tail.

    ``P(W > w) = C · exp(−w C / E[W])`` (exact for M/M/c, where ``E[W]/C = 1/(cμ−λ)``;
    the standard two-moment approximation for G/G/c), hence
    ``w_q = max(0, ln(C/(1−q)) · E[W]/C)``.

    Parameters
    ----------
    prob_wait : float or array
        Probability of waiting ``C`` (dimensionless).
    wait_mean : float or array
        Mean waiting time ``E[W]`` over all arrivals (s).
    quantile : float or array
        ``q`` in (0, 1).

    Returns
    -------
    float or array
        Waiting-time quantile (s); 0 where fewer than ``1 − q`` of arrivals wait.

    References
    ----------
    Allen 1990, §5 (M/M/c waiting-time distribution).

    >>> round(float(wait_quantile(0.5, 1.0, 0.99)), 4)   # M/M/1 ρ=.5, μ=1: 2·ln(50)
    7.824
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = wait_mean / prob_wait
        w = np.log(prob_wait / (1.0 - quantile)) * scale
    w = where(prob_wait > 0, np.maximum(w, 0.0), 0.0)
    return where(np.isfinite(wait_mean), w, np.inf * unit("s"))


def mm1_wait_mean(arrival_rate, service_rate):
    """M/M/1 closed form ``E[W_q] = ρ/(μ − λ)``, ``ρ = λ/μ`` (s); ``inf`` if ``ρ ≥ 1``.

    >>> round(float(mm1_wait_mean(0.8, 1.0)), 6)
    4.0
    """
    slack = service_rate - arrival_rate
    with np.errstate(divide="ignore", invalid="ignore"):
        w = (arrival_rate / service_rate) / slack
    return where(slack > 0, w, np.inf * unit("s"))


def mm1_sojourn_quantile(arrival_rate, service_rate, quantile):
    """M/M/1 sojourn (wait + service) time quantile ``−ln(1−q)/(μ−λ)`` (s).

    References
    ----------
    Kleinrock 1975, §3.2: the sojourn time is exponential with rate ``μ − λ``.

    >>> round(float(mm1_sojourn_quantile(0.5, 1.0, 0.99)), 4)
    9.2103
    """
    slack = service_rate - arrival_rate
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -np.log1p(-quantile) / slack
    return where(slack > 0, t, np.inf)


def mmc_sojourn_quantile(servers, arrival_rate, service_rate, quantile, iterations=60):
    """M/M/c sojourn-time ``q``-quantile (FCFS, exponential service), by bisection.

    Tail (wait independent of own service): ``P(T > x) = e^{−μx}[1 + C/(c−a−1)·(1 −
    e^{−(cμ−λ−μ)x})]`` for ``c − a ≠ 1`` (the limit ``e^{−μx}(1 + Cμx)`` at ``c − a = 1``),
    inverted with a fixed number of bisection steps (the trip count does not depend on
    the number of configurations).

    Parameters
    ----------
    servers, arrival_rate, service_rate, quantile : float or array
        ``c``, ``λ`` (1/s), ``μ`` (1/s), ``q``.
    iterations : int
        Bisection steps (60 halves the bracket to ~1e-18 of its width).

    Returns
    -------
    float or array
        Sojourn-time quantile (s); ``inf`` where unstable.

    >>> round(float(mmc_sojourn_quantile(1, 0.5, 1.0, 0.99)), 4)   # = M/M/1 closed form
    9.2103
    """
    a = arrival_rate / service_rate
    cw = erlang_c(servers, a)
    d = servers - a - 1.0
    nu = servers * service_rate - arrival_rate - service_rate

    def tail(x):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            near = np.abs(d) < 1e-9
            d_s = where(near, 1.0, d)
            general = 1.0 + cw / d_s * (1.0 - np.exp(-nu * x))
            limit = 1.0 + cw * service_rate * x
            return np.exp(-service_rate * x) * where(near, limit, general)

    target = 1.0 - quantile
    # bracket: the tail is at most e^{-μx}(1 + C μ x / ...) ≤ that of an M/M/1 at rate min(μ, cμ−λ)
    rate = np.minimum(service_rate, servers * service_rate - arrival_rate)
    with np.errstate(divide="ignore", invalid="ignore"):
        hi = where(rate > 0, 4.0 * (-np.log(target) + 1.0) / rate, np.inf)
    lo = 0.0 * hi
    hi_s = where(np.isfinite(hi), hi, 1.0)
    for _ in range(iterations):  # fixed trip count: bisection steps, not configurations
        mid = 0.5 * (lo + hi_s)
        above = tail(mid) > target
        lo = where(above, mid, lo)
        hi_s = where(above, hi_s, mid)
    return where(np.isfinite(hi), 0.5 * (lo + hi_s), np.inf)
