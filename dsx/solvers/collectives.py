"""α–β collective costs, flat and over a placed group (the kernels the communication solver uses).

Collectives (ring algorithms; Thakur, Rabenseifner & Gropp 2005; Patarasuk & Yuan 2009;
NVIDIA/nccl-tests ``doc/PERFORMANCE.md``), for ``n`` ranks, ``M`` bytes (the full,
unsharded buffer), per-direction bandwidth ``β`` and per-message latency ``α``:

================  =====================================================
all-reduce         ``2(n-1)α + 2(n-1)/n · M/β``
reduce-scatter     ``(n-1)α + (n-1)/n · M/β``
all-gather         ``(n-1)α + (n-1)/n · M/β``
all-to-all         ``(n-1)α + (n-1)/n · M/β`` (M = what each rank sends in total)
point-to-point     ``α + M/β``
================  =====================================================

Placement (:func:`group_split`) follows Megatron's default rank order ``tp-cp-ep-dp-pp``;
see :mod:`dsx.solvers.network`.
"""

from __future__ import annotations

import numpy as np

from .base import traced, where

__all__ = ["all_reduce_time", "reduce_scatter_time", "all_gather_time", "all_to_all_time", "p2p_time",
           "hierarchical_all_reduce_time", "group_split", "group_bandwidth",
           "group_all_reduce_time", "group_all_gather_time", "group_all_to_all_time"]


# -- flat collectives --------------------------------------------------------------------------
def all_reduce_time(size, n, bandwidth, latency=0.0):
    """Ring all-reduce time.

    Parameters
    ----------
    size : float or array
        Bytes of the buffer on each rank (B).
    n : int or array
        Ranks in the group; ``n = 1`` costs nothing.
    bandwidth : float or array
        Achieved per-direction bandwidth per rank (B/s).
    latency : float or array
        Per-message latency (s).

    Returns
    -------
    float or array
        Seconds: ``2(n-1)·α + 2(n-1)/n · M/β``.

    References
    ----------
    Thakur, Rabenseifner & Gropp 2005 (IJHPCA 19(1)), ring all-reduce; NVIDIA/nccl-tests
    ``doc/PERFORMANCE.md`` (bus bandwidth factor ``2(n-1)/n``).

    Examples
    --------
    >>> float(all_reduce_time(1e9, 8, 100e9))   # 2·7/8 · 10 ms
    0.0175
    >>> float(all_reduce_time(1e9, 1, float('nan'), 1e-6))   # one rank: no link needed
    0.0
    """
    k = n - 1
    return where(k > 0, 2.0 * k * latency + 2.0 * k / n * size / bandwidth, 0.0)  # n = 1: no link needed


def reduce_scatter_time(size, n, bandwidth, latency=0.0):
    """Ring reduce-scatter time of a buffer of ``size`` bytes (unsharded) over ``n`` ranks.

    Parameters
    ----------
    size, n, bandwidth, latency : float or array
        Bytes of the full buffer on each rank before the scatter (B); ranks; per-direction
        bandwidth per rank (B/s); per-message latency (s).

    Returns
    -------
    float or array
        Seconds: ``(n-1)·α + (n-1)/n · M/β`` (half an all-reduce).

    References
    ----------
    Thakur, Rabenseifner & Gropp 2005; NVIDIA/nccl-tests ``doc/PERFORMANCE.md``.

    Examples
    --------
    >>> float(reduce_scatter_time(1e9, 4, 100e9))
    0.0075
    """
    k = n - 1
    return where(k > 0, k * latency + k / n * size / bandwidth, 0.0)


def all_gather_time(size, n, bandwidth, latency=0.0):
    """Ring all-gather time; ``size`` is the gathered (full) buffer in bytes.

    Parameters
    ----------
    size : float or array
        Bytes of the full buffer after the gather (B).
    n : int or array
        Ranks.
    bandwidth : float or array
        Per-direction bandwidth per rank (B/s).
    latency : float or array
        Per-message latency (s).

    Returns
    -------
    float or array
        Seconds: ``(n-1)·α + (n-1)/n · M/β``.

    References
    ----------
    Thakur, Rabenseifner & Gropp 2005; NVIDIA/nccl-tests ``doc/PERFORMANCE.md``.

    Examples
    --------
    >>> float(all_gather_time(1e9, 2, 100e9, 5e-6))
    0.005005
    """
    return reduce_scatter_time(size, n, bandwidth, latency)


def all_to_all_time(size, n, bandwidth, latency=0.0):
    """Pairwise all-to-all; ``size`` is what each rank sends in total (B).

    Parameters
    ----------
    size : float or array
        Bytes each rank sends (its ``1/n`` share to itself stays local) (B).
    n : int or array
        Ranks.
    bandwidth : float or array
        Per-direction bandwidth per rank (B/s).
    latency : float or array
        Per-message latency (s).

    Returns
    -------
    float or array
        Seconds: ``(n-1)·α + (n-1)/n · M/β``.

    References
    ----------
    NVIDIA/nccl-tests ``doc/PERFORMANCE.md`` (alltoall bus factor ``(n-1)/n``).

    Examples
    --------
    >>> float(all_to_all_time(8e8, 8, 100e9))
    0.007
    """
    return reduce_scatter_time(size, n, bandwidth, latency)


def p2p_time(size, bandwidth, latency=0.0):
    """Point-to-point send of ``size`` bytes.

    Parameters
    ----------
    size : float or array
        Bytes sent (B).
    bandwidth : float or array
        Per-direction bandwidth (B/s).
    latency : float or array
        Latency (s).

    Returns
    -------
    float or array
        Seconds: ``α + M/β``.

    Examples
    --------
    >>> p2p_time(1e6, 1e9, 1e-5)
    0.00101
    """
    return latency + size / bandwidth


def hierarchical_all_reduce_time(size, n_in, n_out, bw_in, bw_out, lat_in=0.0, lat_out=0.0):
    """Hierarchical all-reduce over ``n_out`` domains × ``n_in`` GPUs per domain.

    Reduce-scatter inside the domain, all-reduce of ``M/n_in`` across domains (each GPU
    on its own rail), all-gather inside the domain.

    Parameters
    ----------
    size : float or array
        Bytes on each rank (B).
    n_in, n_out : int or array
        Peers per scale-up domain and number of domains.
    bw_in, bw_out : float or array
        Per-direction bandwidth per GPU inside / across domains (B/s).
    lat_in, lat_out : float or array
        Latencies inside / across domains (s).

    Returns
    -------
    float or array
        Seconds: ``2(n_in-1)/n_in·M/β_in + 2(n_out-1)/n_out·(M/n_in)/β_out`` + latency terms.

    References
    ----------
    physics.md §5.1 (derived from the ring table); NCCL's tree/ring over rails.

    Examples
    --------
    >>> round(float(hierarchical_all_reduce_time(8e9, 8, 4, 400e9, 50e9)), 4)   # 35 ms + 30 ms
    0.065
    >>> bool(hierarchical_all_reduce_time(8e9, 8, 1, 400e9, 50e9) == all_reduce_time(8e9, 8, 400e9))
    True
    """
    return (reduce_scatter_time(size, n_in, bw_in, lat_in)
            + all_reduce_time(size / n_in, n_out, bw_out, lat_out)
            + all_gather_time(size, n_in, bw_in, lat_in))


# -- placement ---------------------------------------------------------------------------------
def group_split(n, stride, domain):
    """Peers per scale-up domain and number of domains of a parallel group.

    Parameters
    ----------
    n : int or array
        Group size.
    stride : int or array
        Product of the sizes of the faster-varying groups in the rank order
        (``tp-cp-ep-dp-pp``): 1 for TP, ``t`` for CP, ``t·c`` for EP, ``t`` for the DP×CP
        gradient group, ``t·c·d`` for PP.
    domain : int or array
        GPUs per scale-up domain (node).

    Returns
    -------
    (n_in, n_out)
        ``n_in``: the largest divisor of ``n`` not above ``max(1, ⌊D/S⌋)``, the peers that share
        a domain (an integer, so that every domain holds the same number of peers and the
        hierarchical phases are whole rings); ``n_out = n/n_in`` domains. For powers of two this
        is ``min(n, D/S)``; a 72-GPU NVLink domain with stride 8 holds 8 peers of a 64-rank
        group (8 domains), not 9 (7.1 domains).

    References
    ----------
    physics.md §5.2; NVIDIA/Megatron-LM ``RankGenerator(order='tp-cp-ep-dp-pp')``.

    Examples
    --------
    >>> [float(x) for x in group_split(64, 8, 8)]     # DP with t = 8: one peer per node
    [1.0, 64.0]
    >>> [float(x) for x in group_split(8, 1, 8)]      # TP = 8 inside the node
    [8.0, 1.0]
    >>> [float(x) for x in group_split(16, 2, 8)]     # 4 peers per node, 4 nodes
    [4.0, 4.0]
    >>> [float(x) for x in group_split(64, 8, 72)]    # NVL72, t = 8: 8 peers per domain, 8 domains
    [8.0, 8.0]
    >>> [float(x) for x in group_split(12, 1, 8)]     # 12 ranks on 8-GPU nodes: 6 + 6
    [6.0, 2.0]
    """
    cap = np.floor(np.maximum(1.0, domain / stride))
    n_in = np.minimum(n, cap)
    whole = np.isfinite(n) & (n == np.floor(n))
    exact = whole & (np.fmod(n, n_in) == 0)
    # (a dependency trace has no values: it takes this shortcut, which reads the same n and cap)
    if not traced(exact) and not np.all(exact):
        # largest divisor of n not above the cap: a loop over the candidate counts (at most the
        # largest scale-up domain, a small fixed set), vectorised over the configurations
        best = 1.0 + 0.0 * n_in
        caps = np.asarray(cap, dtype=float)
        top = int(np.nanmax(np.where(np.isfinite(caps), caps, 1.0)))
        for k in range(2, top + 1):
            best = where(whole & (np.fmod(n, k) == 0) & (k <= cap), float(k), best)
        n_in = where(exact, n_in, where(whole, best, n_in))
    return n_in, n / n_in


def group_bandwidth(n, stride, domain, bw_up, bw_out):
    """Bandwidth a ring over the group is limited by: scale-up if it fits in one domain.

    Parameters
    ----------
    n, stride, domain : int or array
        Group size, rank stride, GPUs per scale-up domain (see :func:`group_split`).
    bw_up, bw_out : float or array
        Per-direction scale-up and scale-out bandwidth per GPU (B/s).

    Returns
    -------
    float or array
        B/s: ``bw_up`` where ``stride·n ≤ domain``, else ``bw_out``.

    Examples
    --------
    >>> float(group_bandwidth(64, 8, 8, 450e9, 50e9))
    50000000000.0
    """
    return where(stride * n <= domain, bw_up, bw_out)


def group_all_reduce_time(size, n, stride, domain, bw_up, bw_out, lat_up=0.0, lat_out=0.0, call=0.0):
    """All-reduce over a placed group (hierarchical where it spans domains).

    Parameters
    ----------
    size : float or array
        Bytes per rank (B).
    n, stride, domain : int or array
        Group size, rank stride, GPUs per scale-up domain.
    bw_up, bw_out : float or array
        Per-direction bandwidths per GPU (B/s).
    lat_up, lat_out : float or array
        Per-hop latencies (s).
    call : float or array
        Fixed cost of the collective call (s), once when ``n > 1`` (:data:`COLLECTIVE_LATENCY`).

    Returns
    -------
    float or array
        Seconds.

    Examples
    --------
    >>> round(float(group_all_reduce_time(17.65e9, 64, 8, 8, 450e9, 50e9)), 4)   # seed DP term
    0.695
    >>> round(float(group_all_reduce_time(16e3, 8, 1, 8, 360e9, 50e9, 0.5e-6, 5e-6, 10e-6)) * 1e6, 1)
    17.1
    """
    n_in, n_out = group_split(n, stride, domain)
    return where(n > 1, call, 0.0) + hierarchical_all_reduce_time(size, n_in, n_out, bw_up, bw_out,
                                                                  lat_up, lat_out)


def group_all_gather_time(size, n, stride, domain, bw_up, bw_out, lat_up=0.0, lat_out=0.0, call=0.0):
    """All-gather (= reduce-scatter time) of a ``size``-byte buffer over a placed group.

    Across domains first (``M/n_in`` per rail), then inside the domain.

    Parameters
    ----------
    size : float or array
        Bytes of the full gathered buffer (B).
    n, stride, domain : int or array
        Group size, rank stride, GPUs per scale-up domain.
    bw_up, bw_out : float or array
        Per-direction bandwidths per GPU (B/s).
    lat_up, lat_out : float or array
        Per-hop latencies (s).
    call : float or array
        Fixed cost of the collective call (s), once when ``n > 1``.

    Returns
    -------
    float or array
        Seconds.

    Examples
    --------
    >>> float(group_all_gather_time(8e9, 8, 1, 8, 400e9, 50e9))
    0.0175
    """
    n_in, n_out = group_split(n, stride, domain)
    return (where(n > 1, call, 0.0) + all_gather_time(size / n_in, n_out, bw_out, lat_out)
            + all_gather_time(size, n_in, bw_up, lat_up))


def group_all_to_all_time(size, n, stride, domain, bw_up, bw_out, lat_up=0.0, lat_out=0.0, call=0.0):
    """All-to-all over a placed group; intra- and inter-domain shares run concurrently.

    Parameters
    ----------
    size : float or array
        Bytes each rank sends in total (B).
    n, stride, domain : int or array
        Group size, rank stride, GPUs per scale-up domain.
    bw_up, bw_out : float or array
        Per-direction bandwidths per GPU (B/s).
    lat_up, lat_out : float or array
        Per-hop latencies (s).
    call : float or array
        Fixed cost of the collective call (s), once when ``n > 1``.

    Returns
    -------
    float or array
        Seconds: ``α₀ + max(M(n_in-1)/n/β_up + (n_in-1)α_up, M(n-n_in)/n/β_out + (n-n_in)α_out)``.

    Examples
    --------
    >>> bool(group_all_to_all_time(8e8, 8, 1, 8, 100e9, 50e9) == all_to_all_time(8e8, 8, 100e9))
    True
    """
    n_in, _ = group_split(n, stride, domain)
    share = size / n
    t_up = where(n_in > 1, share * (n_in - 1) / bw_up + (n_in - 1) * lat_up, 0.0)
    t_out = where(n > n_in, share * (n - n_in) / bw_out + (n - n_in) * lat_out, 0.0)
    return where(n > 1, call, 0.0) + np.maximum(t_up, t_out)


# -- the solver --------------------------------------------------------------------------------
