"""Routed-expert GEMMs: tokens per expert, the per-expert roofline and the busiest rank.

Physics reference §3 ("Routed experts"). With top-``k`` routing over ``E`` experts a step of
``T`` tokens gives each expert ``m_e`` tokens, ``m_e ~ Binomial(T, k/E)`` under uniform,
independent routing (mean ``μ = T k/E``, variance ``μ (1 − k/E)``). Each expert's GEMM is a
kernel tile of its own (a grouped GEMM: one problem per expert; Gale et al. 2023
[gale2023] §3–5): it reads that expert's weights whenever ``m_e > 0`` and does ``2 m_e`` flop per
weight, so its time is its own roofline [williams2009],
``p · max(F m_e / R_c, b_w / R_w)``: memory-bound below the ridge ``m* = b_w R_c / (F R_w)``
tokens. Summed over the GPU's experts this is ``P_x F / R_c · E_e[max(m_e, m*) · 1{m_e > 0}]``,
never less than the aggregate roofline of the expert phase.

Helpers here take magnitudes in canonical units (tokens as ``token``), broadcast, and carry no
per-configuration loop.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from .quantities import bare, unit


def expected_max_load(mean, bins):
    """Expected load of the busiest of ``bins`` bins that share balls evenly in expectation.

    Raab & Steger 1998 [raab1998], Theorem 1: ``m`` balls into ``n`` bins with ``m ≫ n log n``
    give a maximum load ``m/n + sqrt(2 (m/n) ln n)`` (to leading order). Here ``mean = m/n``
    tokens per bin; ``bins = 1`` gives the mean itself.

    Parameters
    ----------
    mean : float or array
        token: expected tokens per bin (per expert-parallel rank).
    bins : float or array
        Dimensionless number of bins (the expert-parallel degree).

    Returns
    -------
    float or array
        token: the expected busiest bin's load.

    >>> round(float(expected_max_load(1024.0, 8)), 1)   # 1024 + sqrt(2·1024·ln 8)
    1089.3
    >>> float(expected_max_load(100.0, 1))
    100.0
    """
    tok = unit("token")
    m = np.fmax(mean / tok, 0.0)
    return (m + np.sqrt(2.0 * m * np.log(np.fmax(bins, 1.0)))) * tok


def expert_gemm_tokens(tokens, experts, experts_per_token, ridge_tokens, ep=1.0):
    """Effective tokens per expert of a grouped expert GEMM under the per-expert roofline.

    ``E[max(m_e, m*) · 1{m_e > 0}]`` with ``m_e`` the tokens the expert receives, taken as
    normal with the binomial's moments (mean ``μ = T k/E``, variance ``μ(1 − k/E)``; the
    expected positive part of a normal, ``σ φ(z) + (μ − m*) Φ(z)``, ``z = (μ − m*)/σ``), and
    the ``m* · P(m_e = 0)`` an idle expert does not read (``P(m_e = 0) = (1 − k/E)^T``,
    exact). With ``ep > 1`` the busiest expert-parallel rank sets the pace: its experts see
    ``μ`` scaled by :func:`expected_max_load` over ``ep`` ranks of ``T k/ep`` tokens, and the
    touched experts it streams are the busiest rank's too: :func:`expected_max_load` of the
    ``E (1 − (1 − k/E)^T) / ep`` touched experts a rank holds on average, at most its ``E/ep``
    (at batch 1 with one expert per rank, a whole expert where tensor parallelism streams
    ``1/t`` of the touched ones). Raab–Steger holds for many balls per bin; at a few touched
    experts per rank it over-estimates the maximum (2 touched of 8 on 2 ranks: 2.18 for 1.43).

    Time of the expert phase on one GPU = ``P_x · F · result / R_c``, ``P_x`` its expert
    weights (param), ``F`` 2 flop/param/token. Limits: ``μ ≫ m*`` → ``μ`` (compute-bound,
    the aggregate FLOPs); ``μ ≪ m*`` → ``m* (1 − (1 − k/E)^T)`` (the touched experts'
    weights streamed, physics §3).

    Parameters
    ----------
    tokens : float or array
        token: tokens in the step (all sequences; every GPU of a TP group sees all of them).
    experts, experts_per_token : float or array
        ``E`` routed experts, top-``k`` (``E = 0``: dense, the result is 0).
    ridge_tokens : float or array
        token: ``m* = b_w R_c / (F R_w)``, the tokens per expert at which its GEMM turns
        compute-bound.
    ep : float or array
        Expert-parallel degree.

    Returns
    -------
    float or array
        token.

    >>> round(float(expert_gemm_tokens(1.0, 8, 2, 100.0)), 2)       # batch 1: 2 of 8 read
    25.0
    >>> round(float(expert_gemm_tokens(4096.0, 8, 2, 100.0)), 1)    # far above the ridge: μ
    1024.0
    """
    tok = unit("token")
    T = np.fmax(tokens / tok, 0.0)
    E = np.fmax(experts, 1.0)
    p = np.fmin(np.fmax(experts_per_token, 0.0) / E, 1.0)
    mu = T * p
    sigma = np.sqrt(np.fmax(mu * (1.0 - p), 1e-12))
    busy = np.fmax(expected_max_load(T * np.fmax(experts_per_token, 0.0) / np.fmax(ep, 1.0) * tok, ep) / tok, 0.0)
    scale = np.where(mu > 0.0, busy / np.fmax(T * np.fmax(experts_per_token, 0.0) / np.fmax(ep, 1.0), 1e-300), 1.0)
    mu_b, sigma_b = mu * scale, sigma * np.sqrt(scale)
    ms = np.fmax(ridge_tokens / tok, 0.0)
    z = (mu_b - ms) / sigma_b
    phi = np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)
    e_max = ms + sigma_b * phi + (mu_b - ms) * ndtr(bare(z))        # E[max(m, m*)], m normal
    idle = (1.0 - p) ** T                                      # P(m_e = 0), exact
    # the busiest rank's share of its experts that are touched (1 - idle on average; ep = 1: exactly)
    per_rank = E / np.fmax(ep, 1.0)
    touched = np.fmin(expected_max_load((1.0 - idle) * per_rank * tok, ep) / tok / per_rank, 1.0)
    # m* = 0: every expert compute-bound, exactly μ (the normal tail below 0 is not a load)
    out = np.where(ms > 0.0, np.fmax(e_max - ms * (1.0 - touched), mu_b), mu_b)
    return np.where(experts > 0, out, 0.0) * tok
