"""Pareto front for four or more objectives: Kung's divide and conquer, exact, O(n log^(k-2) n).

Kung, Luccio & Preparata (1975, J. ACM 22(4), "On finding the maxima of a set of vectors";
[kung1975] in docs/references.bib):

* **front(P, k)**: split P at the median of the first objective into a better half A and a
  worse half B (every point of A strictly better in that objective than every point of B),
  take the fronts of both halves, and drop from B's front the points that some point of A's
  front is no worse than in the remaining k - 1 objectives (the first is already strictly
  better). A half whose first objective is constant loses that objective instead.
* **filter(A, B, d)**: which points of B some point of A is no worse than in all d objectives.
  Split A ∪ B at the median of the first objective; the low parts and the high parts are
  filtered with d objectives, and the low A against the high B with d - 1 (the first
  objective is settled). Two objectives are one sort and a running minimum; small inputs are
  compared densely in numpy (a block of at most ``_CELLS`` comparisons).

Every step is a handful of numpy operations on whole arrays; the recursion is over halves,
never over configurations. Groups (one front per group) are folded into the first two
objectives, ``x + g·M`` and ``y - g·M`` with ``M`` above every rank, so that a point is no
worse than another in both only when they share a group (the device of the 3-D sweep).
"""

from __future__ import annotations

import numpy as np

from .front3d import _prefilter

__all__ = ["front_nd"]

_LEAF = 64          # points compared densely in a front
_CELLS = 1 << 12     # |A|·|B| compared densely in a filter
_BLOCK = 128         # points per block of the three-column sweep
_EARLIER = np.triu(np.ones((_BLOCK, _BLOCK), bool), k=1)  # earlier[q, p]: q before p in a block


def _dense_front(r: np.ndarray) -> np.ndarray:
    """Non-dominated rows of a small ``(n, k)`` array: all pairs at once."""
    le = (r[:, None, :] <= r[None, :, :]).all(axis=2)   # le[q, p]: q no worse than p
    lt = (r[:, None, :] < r[None, :, :]).any(axis=2)
    return ~(le & lt).any(axis=0)


def _filter(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each row of ``b``, whether some row of ``a`` is no worse in every column."""
    n, d = len(b), b.shape[1]
    if n == 0 or len(a) == 0:
        return np.zeros(n, bool)
    if d == 1:
        return a[:, 0].min() <= b[:, 0]
    if d == 2:  # sort a by the first column; running minimum of the second
        order = np.argsort(a[:, 0], kind="stable")
        x, ymin = a[order, 0], np.minimum.accumulate(a[order, 1])
        count = np.searchsorted(x, b[:, 0], side="right")  # points of a with x <= b's x
        return (count > 0) & (ymin[np.maximum(count - 1, 0)] <= b[:, 1])
    if len(a) * n <= _CELLS:
        return (a[None, :, :] <= b[:, None, :]).all(axis=2).any(axis=1)
    if d == 3:
        return _filter3(a, b)
    both = np.concatenate([a[:, 0], b[:, 0]])
    m = np.partition(both, len(both) // 2)[len(both) // 2]
    a_low, b_low = a[:, 0] < m, b[:, 0] < m
    if not a_low.any() and not b_low.any():  # split at m inclusive instead
        a_low, b_low = a[:, 0] <= m, b[:, 0] <= m
        if a_low.all() and b_low.all():      # the first column is constant: it decides nothing
            return _filter(a[:, 1:], b[:, 1:])
    out = np.zeros(n, bool)
    out[b_low] = _filter(a[a_low], b[b_low])
    high = ~b_low
    out[high] = _filter(a[~a_low], b[high]) | _filter(a[a_low][:, 1:], b[high][:, 1:])
    return out


def _filter3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`_filter` for three columns in O((|a| + |b|) log): one sweep in the order of the
    first column (a before b on ties), a Fenwick tree (Fenwick 1994) over the second column's
    rank holding the smallest third column of the a-points inserted so far, in blocks
    ([fenwick1994] in docs/references.bib)."""
    na = len(a)
    pts = np.concatenate([a, b])
    is_a = np.arange(len(pts)) < na
    order = np.lexsort((~is_a, pts[:, 0]))          # by the first column; a first among equals
    pts, is_a = pts[order], is_a[order]
    yi = np.unique(pts[:, 1], return_inverse=True)[1].reshape(-1) + 1  # 1-based Fenwick index
    z = pts[:, 2]
    levels = max(int(yi.max()).bit_length(), 1)
    top = 1 << levels
    big = np.iinfo(np.int64).max
    tree = np.full(top + 1, big, dtype=np.int64)
    earlier = _EARLIER
    hit = np.zeros(len(pts), bool)
    for lo in range(0, len(pts), _BLOCK):  # blocks of the sweep, a few numpy passes each
        hi = min(lo + _BLOCK, len(pts))
        bi, bz, by, ba = yi[lo:hi], z[lo:hi], yi[lo:hi], is_a[lo:hi]
        best = np.full(hi - lo, big, dtype=np.int64)
        i = bi.copy()
        for _ in range(levels):  # prefix minimum over y-ranks <= this one's
            np.minimum(best, tree[i], out=best)
            i -= i & -i
        w = hi - lo
        inside = (earlier[:w, :w] & ba[:, None] & (by[:, None] <= by[None, :]) & (bz[:, None] <= bz[None, :]))
        hit[lo:hi] = (best <= bz) | inside.any(axis=0)
        i, v = bi[ba], bz[ba]
        for _ in range(levels):
            np.minimum.at(tree, i, v)
            i = np.minimum(i + (i & -i), top)
    out = np.empty(len(pts), bool)
    out[order] = hit
    return out[na:]


def _front(r: np.ndarray) -> np.ndarray:
    """Non-dominated rows of ``r`` (every column minimized), Kung's recursion."""
    n, k = r.shape
    if n <= _LEAF:
        return _dense_front(r)
    if k == 1:
        return r[:, 0] == r[:, 0].min()
    if k == 2:  # sort + running minimum (equal points do not dominate each other)
        order = np.lexsort((r[:, 1], r[:, 0]))
        x, y = r[order, 0], r[order, 1]
        first = np.ones(n, bool)
        first[1:] = x[1:] != x[:-1]
        start = np.maximum.accumulate(np.where(first, np.arange(n), 0))  # where each x run begins
        before = np.minimum.accumulate(y)[np.maximum(start - 1, 0)]      # smallest y of smaller x
        dominated = ((start > 0) & (before <= y)) | (y[start] < y)
        out = np.empty(n, bool)
        out[order] = ~dominated
        return out
    m = np.partition(r[:, 0], n // 2)[n // 2]
    low = r[:, 0] < m
    if not low.any():
        low = r[:, 0] <= m
        if low.all():  # the first objective is constant: the front of the others
            return _front(r[:, 1:])
    out = np.zeros(n, bool)
    out[low] = _front(r[low])
    hi = np.flatnonzero(~low)
    hi_front = hi[_front(r[hi])]
    # the better half's front removes what it is no worse than in the other objectives
    lo_front = np.flatnonzero(low)[out[low]]
    out[hi_front] = ~_filter(r[lo_front][:, 1:], r[hi_front][:, 1:])
    return out


def front_nd(r: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Non-dominated rows of an ``(n, k)`` integer-rank array (k >= 2), one front per group.

    Parameters
    ----------
    r : ndarray of int, shape (n, k)
        Dense ranks of the objectives (smaller is better), as ``pareto_kernel`` makes them.
    g : ndarray of int, shape (n,)
        Dense group id of each point (0 … G-1); points of different groups never dominate.

    Returns
    -------
    ndarray of bool, shape (n,)
        True where no other point of the same group dominates the row; equal points do not
        dominate each other.

    >>> r = np.array([[0, 2, 2, 1], [1, 1, 1, 1], [2, 0, 0, 0], [2, 2, 2, 2], [1, 1, 1, 1]])
    >>> front_nd(r, np.zeros(5, np.int64)).tolist()
    [True, True, True, False, True]
    """
    g, r = np.asarray(g, np.int64), np.asarray(r, np.int64)
    n = len(g)
    out = np.zeros(n, bool)
    if n == 0:
        return out
    keep = np.flatnonzero(~_prefilter(r, g))  # most of a random cloud, in one O(n) pass
    r, g = r[keep], g[keep]
    if g.any():  # fold the group into the first two objectives: no worse in both => same group
        big = int(r.max()) + 1
        r = r.copy()
        r[:, 0] += g * big
        r[:, 1] -= g * big
    out[keep] = _front(r)
    return out
