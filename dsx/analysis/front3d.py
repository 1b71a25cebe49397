"""Three-objective Pareto front in O(n log n): a lexicographic sweep with a prefix-minimum tree.

Kung, Luccio & Preparata (1975, J. ACM 22(4), "On finding the maxima of a set of vectors")
showed that the non-dominated points of a 3-D set follow from one sweep in the order of the
first objective: a point is dominated exactly when an earlier point of the sweep is no worse
in the other two. "No worse in both" is a prefix-minimum query — the smallest third objective
among processed points whose second objective is at most this one's — which a Fenwick tree
(Fenwick 1994, Softw. Pract. Exper. 24(3)) answers in O(log n).

The sweep runs over blocks of points, each block as a handful of numpy operations: its points
query the tree (everything before the block), compare among themselves densely (a small
B × B matrix) and are then inserted. Cost O(n log n + n·B) whatever the shape of the front,
so a front holding every point (the quadratic worst case of a filter method) is as fast as
a random cloud.
"""

from __future__ import annotations

import numpy as np

__all__ = ["front_3d"]

_BLOCK = 256    # points per sweep block: B^2 comparisons each, n/B tree passes
_SCOUTS = 64    # best-ranked points that pre-filter the rest (most of a random cloud)
_CELLS = 1 << 22


def _prefilter(r: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Points that a few well-ranked points of their own group already dominate.

    The points with the smallest sum of ranks dominate most of a random cloud, so one pass
    of n × ``_SCOUTS`` comparisons leaves the sweep only the points that matter; on a front
    that holds every point it removes nothing and costs O(n).
    """
    n = len(g)
    k = min(_SCOUTS, n)
    scouts = np.argpartition(r.sum(axis=1), k - 1)[:k]
    sr, sg = r[scouts], g[scouts]
    out = np.zeros(n, bool)
    step = max(1, _CELLS // k)
    for lo in range(0, n, step):  # memory-bounded chunks of points
        p, pg = r[lo:lo + step], g[lo:lo + step]
        le = sg[None, :] == pg[:, None]
        lt = np.zeros_like(le)
        for j in range(r.shape[1]):  # three objectives
            le &= sr[None, :, j] <= p[:, None, j]
            lt |= sr[None, :, j] < p[:, None, j]
        out[lo:lo + step] = (le & lt).any(axis=1)
    return out


def _fenwick_levels(size: int) -> int:
    """Passes that reach the root of a Fenwick tree over 1 … size."""
    return max(int(size).bit_length(), 1)


def front_3d(r: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Non-dominated rows of an ``(n, 3)`` integer-rank array, one front per group.

    Parameters
    ----------
    r : ndarray of int, shape (n, 3)
        Dense ranks of the three objectives (smaller is better), as ``pareto_kernel`` makes them.
    g : ndarray of int, shape (n,)
        Dense group id of each point (0 … G-1); points of different groups never dominate.

    Returns
    -------
    ndarray of bool, shape (n,)
        True where no other point of the same group dominates the row. Equal points do not
        dominate each other: duplicates of a front point are all on the front.

    Notes
    -----
    Duplicates are folded first (one representative per distinct (group, point)), so that
    "no worse in every objective" means "dominates" for two distinct points. The group is
    folded into the third rank, ``z - g·(n + 1)``, with points sorted by group first, so a
    point of an earlier group can never pass the prefix test of a later one (the same device
    as the two-objective sweep).

    >>> r = np.array([[0, 2, 2], [1, 1, 1], [2, 0, 0], [2, 2, 2], [1, 1, 1]])
    >>> front_3d(r, np.zeros(5, np.int64)).tolist()
    [True, True, True, False, True]
    """
    g, r = np.asarray(g, np.int64), np.asarray(r, np.int64)
    if len(g) == 0:
        return np.zeros(0, bool)
    out = np.zeros(len(g), bool)
    keep = np.flatnonzero(~_prefilter(r, g))  # the dominated stay False
    g, r = g[keep], r[keep]
    n = len(g)
    order = np.lexsort((r[:, 2], r[:, 1], r[:, 0], g))  # lexicographic: group, x, y, z
    key = np.column_stack([g, r])[order]
    first = np.ones(n, bool)
    first[1:] = (key[1:] != key[:-1]).any(axis=1)
    uniq = key[first]
    inverse = np.empty(n, np.int64)
    inverse[order] = np.cumsum(first) - 1
    m = len(uniq)
    gs, y = uniq[:, 0], uniq[:, 2]
    z = uniq[:, 3] - gs * (n + 1)
    earlier = np.triu(np.ones((_BLOCK, _BLOCK), bool), k=1)  # earlier[q, p]: q before p
    # Fenwick index of a point: its y rank inside the whole (group, y) order, 1-based
    size = int(y.max()) + 1
    yi = gs * size + y + 1
    levels = _fenwick_levels(int(yi.max()))
    top = 1 << levels  # indices past the last node land on this spare slot
    big = np.iinfo(np.int64).max
    tree = np.full(top + 1, big, dtype=np.int64)  # tree[0] stays +inf: queries end there
    dominated = np.zeros(m, bool)
    for lo in range(0, m, _BLOCK):  # blocks of the sweep, each a few vectorised passes
        hi = min(lo + _BLOCK, m)
        bi, bz, by = yi[lo:hi], z[lo:hi], y[lo:hi]
        # 1. earlier blocks: smallest z among processed points with (group, y) <= this one's
        best = np.full(hi - lo, big, dtype=np.int64)
        i = bi.copy()
        for _ in range(levels):
            np.minimum(best, tree[i], out=best)
            i -= i & -i
        dom = best <= bz
        # 2. inside the block: lexicographic order puts every dominator before the point (so
        #    its x is no larger), and the folded z rules out earlier groups
        b = hi - lo
        le = earlier[:b, :b] & (by[:, None] <= by[None, :]) & (bz[:, None] <= bz[None, :])
        dom |= le.any(axis=0)
        dominated[lo:hi] = dom
        # 3. insert the block (dominated points too: domination is transitive, harmless)
        i = bi.copy()
        for _ in range(levels):
            np.minimum.at(tree, i, bz)
            i = np.minimum(i + (i & -i), top)
    out[keep] = ~dominated[inverse]
    return out
