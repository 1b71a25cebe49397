"""The three-objective sweep (dsx.analysis.front3d) against a brute-force dominance check."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from dsx.analysis.front3d import front_3d
from dsx.analysis.pareto import pareto_kernel


def brute_force(points: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """On the front unless another point of the same group is <= everywhere and < somewhere."""
    le = (points[:, None, :] <= points[None, :, :]).all(axis=2)
    lt = (points[:, None, :] < points[None, :, :]).any(axis=2)
    same = groups[:, None] == groups[None, :]
    return ~(le & lt & same).any(axis=0)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 600), st.integers(1, 8), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_equals_brute_force(n, levels, groups, seed):
    rng = np.random.default_rng(seed)
    pts = rng.integers(0, levels, (n, 3)).astype(float)  # few levels: many ties and duplicates
    g = rng.integers(0, groups, n)
    got = pareto_kernel(pts, g)
    want = brute_force(pts, g)
    assert np.array_equal(got, want), np.flatnonzero(got != want)[:5]


def test_every_point_of_a_simplex_is_on_the_front():
    rng = np.random.default_rng(0)
    pts = rng.random((5000, 3))
    pts[:, 2] = 3 - pts[:, 0] - pts[:, 1]  # x + y + z constant: no point dominates another
    assert pareto_kernel(pts).all()


def test_ranks_interface_keeps_duplicates():
    r = np.array([[0, 2, 2], [1, 1, 1], [2, 0, 0], [2, 2, 2], [1, 1, 1]])
    assert front_3d(r, np.zeros(5, np.int64)).tolist() == [True, True, True, False, True]
