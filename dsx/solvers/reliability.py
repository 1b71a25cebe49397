"""Reliability: interruptions, checkpointing and goodput of a long job on a large fleet.

A job on ``gpus`` accelerators is a series system: any interruption stops all of them, so
the job's interruption rate is ``gpus`` times the all-cause rate of one accelerator slot
(exponential lifetimes). Checkpoints are written every ``checkpoint_interval`` seconds of
work; after an interruption the job restarts (``restart_time``) and redoes the work done
since the last checkpoint. The useful fraction of wall-clock time (``goodput``) is Daly's
exact expected value for exponential failures, and the job's wall time is its
failure-free busy time divided by the goodput.

Solvers, in order: :func:`reliability` (fleet MTBF) -> :func:`checkpointing` (size, write
time, interval) -> :func:`job_goodput` (goodput, wall time, expected failures).

References
----------
Llama Team 2024, "The Llama 3 Herd of Models", arXiv:2407.21783, §3.3.4 and Table 5.
J. W. Young 1974, "A first order approximation to the optimum checkpoint interval",
CACM 17(9). J. T. Daly 2006, "A higher order estimate of the optimum checkpoint interval
for restart dumps", FGCS 22(3), Eq. 37 (as implemented in LLNL/scr
``scripts/common/scr_ckpt_interval.py``). Daly, "Quantifying checkpoint efficiency"
(progress-rate model; the useful-work expression ``U`` below).
"""

from __future__ import annotations

import numpy as np

from .base import solver, where
from .quantities import unit

__all__ = ["reliability", "checkpointing", "job_goodput",
           "young_interval", "daly_interval", "daly_useful_fraction", "LLAMA3_INTERRUPTION_RATE"]

#: All-cause unexpected interruptions per GPU-second on Llama 3 405B pre-training:
#: 419 unexpected interruptions in 54 days on 16,384 H100 (arXiv:2407.21783 §3.3.4, Table 5),
#: i.e. one per ~50,700 GPU-hours.
LLAMA3_INTERRUPTION_RATE = 419 / (54 * 86_400 * 16_384)


def young_interval(checkpoint_time, mtbf):
    """Young's first-order optimum checkpoint interval ``sqrt(2 δ M)``.

    Parameters
    ----------
    checkpoint_time : float or array
        Blocking time δ to write one checkpoint (s).
    mtbf : float or array
        Mean time between job interruptions M (s).

    Returns
    -------
    float or array
        Compute time between checkpoints (s).

    References
    ----------
    Young 1974, CACM 17(9).

    >>> round(float(young_interval(60.0, 11_135.0)))
    1156
    """
    return np.sqrt(2.0 * checkpoint_time * mtbf)


def daly_interval(checkpoint_time, mtbf):
    """Daly's higher-order optimum checkpoint interval (Daly 2006, Eq. 37).

    ``τ = sqrt(2δM)·[1 + ⅓·sqrt(δ/2M) + (δ/2M)/9] − δ`` for ``δ < 2M``, else ``τ = M``.

    Parameters
    ----------
    checkpoint_time : float or array
        Blocking time δ to write one checkpoint (s).
    mtbf : float or array
        Mean time between job interruptions M (s).

    Returns
    -------
    float or array
        Compute time between checkpoints (s).

    References
    ----------
    Daly 2006, FGCS 22(3), Eq. 37; LLNL/scr ``scripts/common/scr_ckpt_interval.py``.

    >>> round(float(daly_interval(60.0, 11_135.0)))
    1116
    >>> float(daly_interval(300.0, 100.0))   # δ >= 2M: checkpoint once per MTBF
    100.0
    """
    x = checkpoint_time / (2.0 * mtbf)
    tau = np.sqrt(2.0 * checkpoint_time * mtbf) * (1.0 + np.sqrt(x) / 3.0 + x / 9.0) - checkpoint_time
    return where(checkpoint_time < 2.0 * mtbf, tau, mtbf)


def daly_useful_fraction(interval, checkpoint_time, restart_time, mtbf):
    """Expected fraction of wall time spent on useful work, exponential failures.

    ``U = (τ/M)·exp(−R/M) / (exp((τ+δ)/M) − 1)``: each segment of τ useful seconds costs
    τ + δ; a failure inside a segment loses the work done since the last checkpoint
    (≈ (τ+δ)/2 on average) and the restart time R. To first order
    ``1 − U ≈ δ/τ + (τ+δ)/2M + R/M``.

    Parameters
    ----------
    interval : float or array
        Compute time τ between checkpoints (s).
    checkpoint_time : float or array
        Blocking checkpoint write time δ (s).
    restart_time : float or array
        Time R from an interruption to the job running again, incl. checkpoint reload (s).
    mtbf : float or array
        Mean time between job interruptions M (s); ``inf`` gives no failures.

    Returns
    -------
    float or array
        Useful fraction of wall time, in (0, 1].

    References
    ----------
    Daly, "Quantifying checkpoint efficiency" (progress-rate model built on Daly 2006; the
    equation number is unverified, physics reference §7).

    >>> print(f"{daly_useful_fraction(1116.0, 60.0, 600.0, 11_135.0):.4f}")
    0.8526
    """
    lam = 1.0 / mtbf  # failure rate; 0 where mtbf is infinite
    has_failures = lam > 0
    lam_safe = where(has_failures, lam, 1.0 * unit("1/s"))
    finite = np.isfinite(interval)
    tau = where(finite, interval, 1.0 * unit("s"))
    u = (tau * lam_safe) * np.exp(-restart_time * lam_safe) / np.expm1((tau + checkpoint_time) * lam_safe)
    # without failures only the checkpoint writes cost time (none when never checkpointing)
    u_free = where(finite, tau / (tau + checkpoint_time), 1.0)
    return where(has_failures, u, u_free)


@solver(("fleet_mtbf",))
def reliability(gpus, gpu_interruption_rate):
    """Mean time between interruptions of a job spanning ``gpus`` accelerators.

    Series system with exponential lifetimes: ``M = 1 / (gpus · r)``.

    Parameters
    ----------
    gpus : int or array
        Accelerators the job occupies.
    gpu_interruption_rate : float or array
        All-cause interruptions per accelerator-second (1/s).

    Returns
    -------
    fleet_mtbf : float or array
        Mean time between job interruptions (s).

    References
    ----------
    Llama Team 2024, arXiv:2407.21783, §3.3.4, Table 5 (the all-cause default; 16,384 GPUs →
    M = 3.09 h).

    >>> out = reliability.kernel(16_384, LLAMA3_INTERRUPTION_RATE)
    >>> print(f"{out['fleet_mtbf'] / 3600:.2f} h")
    3.09 h
    """
    with np.errstate(divide="ignore"):  # a zero rate means no interruptions: M = inf
        mtbf = 1.0 / np.multiply(gpus, gpu_interruption_rate)
    return {"fleet_mtbf": mtbf}


@solver(("checkpoint_size", "checkpoint_time", "checkpoint_interval"))
def checkpointing(params, weight_bytes, gpus, host_bandwidth, fleet_mtbf, optimizer_bytes, checkpoint_bandwidth):
    """Checkpoint size, blocking write time, and the optimal checkpoint interval.

    ``S = N·(s_opt + b_w)``; ``δ = S / min(gpus · host_bandwidth, checkpoint_bandwidth)`` (every
    GPU writes its shard through its host link, the storage system caps the total);
    ``τ`` from Daly's Eq. 37 with the fleet MTBF.

    Parameters
    ----------
    params : float or array
        Total parameters N (param).
    weight_bytes : float or array
        Bytes per saved weight (B), e.g. 2 for bf16.
    gpus : int or array
        Accelerators writing shards in parallel.
    host_bandwidth : float or array
        Device-to-host bandwidth per accelerator (B/s).
    fleet_mtbf : float or array
        Mean time between job interruptions (s).
    optimizer_bytes : float
        Optimizer state per parameter (B/param), default 12: the same figure the memory
        solver holds per parameter, all of it saved (gradients are not).
    checkpoint_bandwidth : float
        Storage-system aggregate write bandwidth (B/s), default 2 TB/s.

    Returns
    -------
    checkpoint_size : bytes (B)
    checkpoint_time : blocking write time δ (s)
    checkpoint_interval : Daly optimum τ (s)

    References
    ----------
    Physics reference §7 (``S ≈ N(12 + b_w)``); Daly 2006, Eq. 37.

    >>> out = checkpointing.kernel(70e9, 2.0, 512, 64e9, 356_000.0, 12.0, 2e12)
    >>> print(f"{out['checkpoint_size'] / 1e9:.0f} GB in {out['checkpoint_time']:.2f} s")
    980 GB in 0.49 s
    """
    size = params * (optimizer_bytes + weight_bytes)
    # fmin: a device with no published host link is limited by the storage system alone
    bandwidth = np.fmin(gpus * host_bandwidth, checkpoint_bandwidth)
    delta = size / bandwidth
    return {"checkpoint_size": size, "checkpoint_time": delta,
            "checkpoint_interval": daly_interval(delta, fleet_mtbf)}


@solver(("goodput", "wall_time", "expected_failures", "failure_probability", "checkpoint_overhead",
         "failure_overhead"))
def job_goodput(wall_time_ideal, fleet_mtbf, checkpoint_time, checkpoint_interval, restart_time):
    """Goodput and wall time of a job: Daly's useful-work fraction at the chosen interval.

    ``goodput = U(τ, δ, R, M)``; ``wall_time = wall_time_ideal / goodput``;
    ``expected_failures = wall_time / M``; ``failure_probability = 1 − exp(−wall_time/M)``.
    Failures are counted over the real wall time, which includes the overheads. The loss
    ``1 − U ≈ δ/τ + (τ+δ)/2M + R/M`` splits into ``checkpoint_overhead = δ/τ`` (its first-order
    term) and ``failure_overhead = 1 − U − δ/τ`` (rework and restarts); NaN ``τ``: all failures.

    Parameters
    ----------
    wall_time_ideal : float or array
        Failure-free busy time of the job (s).
    fleet_mtbf : float or array
        Mean time between job interruptions M (s).
    checkpoint_time : float or array
        Blocking checkpoint write time δ (s).
    checkpoint_interval : float or array
        Compute time between checkpoints τ (s).
    restart_time : float
        Restart + reload time R (s), default 600 s.

    Returns
    -------
    goodput : useful fraction in (0, 1]
    wall_time : s
    expected_failures : count
    failure_probability : in [0, 1)
    checkpoint_overhead, failure_overhead : fractions of wall time

    References
    ----------
    Daly 2006 and "Quantifying checkpoint efficiency"; physics reference §7 (worked example
    M = 11,135 s, δ = 60 s, R = 600 s → τ = 1,116 s, U = 0.852).

    >>> out = job_goodput.kernel(86_400.0, 11_135.0, 60.0, 1116.0, 600.0)
    >>> print(f"{out['goodput']:.4f}, {out['wall_time'] / 3600:.2f} h")
    0.8526, 28.15 h
    """
    u = daly_useful_fraction(checkpoint_interval, checkpoint_time, restart_time, fleet_mtbf)
    wall = wall_time_ideal / u
    n = wall / fleet_mtbf
    writes = where(checkpoint_interval != 0, checkpoint_time / checkpoint_interval, np.nan)
    return {"goodput": u, "wall_time": wall, "expected_failures": n,
            "failure_probability": -np.expm1(-n), "checkpoint_overhead": writes,
            "failure_overhead": where(np.isnan(writes), 1.0 - u, 1.0 - u - writes)}
