"""Pareto fronts against a brute-force oracle, with ties, NaNs, infeasible points and groups."""

import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

from dsx.analysis import front_table, pareto, pareto_kernel
from dsx.errors import DsxInputError


def brute(points, groups=None):
    """Scalar oracle: q dominates p iff q <= p everywhere and q < p somewhere (same group)."""
    n = len(points)
    groups = np.zeros(n) if groups is None else groups
    out = []
    for i in range(n):
        dominated = False
        for j in range(n):
            if groups[i] == groups[j] and np.all(points[j] <= points[i]) and np.any(points[j] < points[i]):
                dominated = True
                break
        out.append(not dominated)
    return np.array(out, bool)


# small integer grids give many exact ties
points_st = st.integers(1, 3).flatmap(
    lambda k: st.lists(st.lists(st.integers(0, 4), min_size=k, max_size=k), min_size=1, max_size=40))


def brute_np(points, groups):
    """The same oracle, all pairs at once (for a few thousand points)."""
    le = (points[:, None, :] <= points[None, :, :]).all(axis=2) & (groups[:, None] == groups[None, :])
    lt = (points[:, None, :] < points[None, :, :]).any(axis=2)
    return ~(le & lt).any(axis=0)


many_st = st.integers(4, 6).flatmap(
    lambda k: st.lists(st.lists(st.integers(0, 4), min_size=k, max_size=k), min_size=1, max_size=60))


@given(many_st, st.integers(1, 3))
def test_four_or_more_objectives_match_brute_force_through_every_branch(pts, ngroups):
    """Kung's recursion (dsx.analysis.frontnd) with its dense cut-offs lowered, so that small
    inputs go through the splits, the dropped constant objectives and the 3-column sweep."""
    from unittest import mock

    from dsx.analysis import frontnd

    p = np.array(pts, float)
    g = np.arange(len(p)) % ngroups
    with mock.patch.object(frontnd, "_LEAF", 2), mock.patch.object(frontnd, "_CELLS", 2), \
            mock.patch.object(frontnd, "_BLOCK", 3):
        assert np.array_equal(pareto_kernel(p, g), brute(p, g))
    assert np.array_equal(pareto_kernel(p), brute(p))


@pytest.mark.parametrize("k", [4, 5])
@pytest.mark.parametrize("shape", ["uniform", "simplex", "ties"])
def test_four_or_more_objectives_on_thousands_of_points(k, shape):
    rng = np.random.default_rng(k)
    n = 1500
    p = {"uniform": rng.random((n, k)), "ties": rng.integers(0, 6, (n, k)).astype(float),
         "simplex": (lambda x: x / x.sum(axis=1, keepdims=True))(rng.random((n, k)))}[shape]
    g = rng.integers(0, 3, n)
    got, want = pareto_kernel(p, g), brute_np(p, g)
    print(f"k={k} {shape}: {int(want.sum())} of {n} on the fronts")
    assert np.array_equal(got, want)


@given(points_st, st.integers(1, 3))
def test_kernel_matches_brute_force(pts, ngroups):
    p = np.array(pts, float)
    g = np.arange(len(p)) % ngroups
    assert np.array_equal(pareto_kernel(p), brute(p))
    assert np.array_equal(pareto_kernel(p, g), brute(p, g))


def test_kernel_many_objectives_and_blocks(monkeypatch):
    import importlib

    mod = importlib.import_module("dsx.analysis.frontnd")

    monkeypatch.setattr(mod, "_BLOCK", 7)  # force many blocks of the 3-column sweep on a small input
    monkeypatch.setattr(mod, "_CELLS", 50)  # and many splits before the dense comparisons
    monkeypatch.setattr(mod, "_LEAF", 5)
    rng = np.random.default_rng(1)
    for k in (3, 4, 5):
        p = rng.integers(0, 5, size=(150, k)).astype(float)
        g = rng.integers(0, 3, size=150)
        assert np.array_equal(pareto_kernel(p), brute(p))
        assert np.array_equal(pareto_kernel(p, g), brute(p, g))


def test_duplicates_are_all_on_the_front():
    p = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    assert pareto_kernel(p).tolist() == [True, True, False]
    assert pareto_kernel(p[:, :2]).tolist() == [True, True, False]


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.booleans(), st.booleans()),
                min_size=1, max_size=30))
def test_dataset_wrapper_masks_infeasible_and_nan(rows):
    t = np.array([r[0] for r in rows], float)
    c = np.array([r[1] for r in rows], float)
    t[[r[3] for r in rows]] = np.nan
    feas = np.array([r[2] for r in rows])
    ds = xr.Dataset({"t": ("cfg", t), "c": ("cfg", c), "feasible": ("cfg", feas)})
    got = pareto(ds, minimize="t", maximize="c").values
    ok = feas & np.isfinite(t)
    want = np.zeros(len(rows), bool)
    idx = np.flatnonzero(ok)
    want[idx] = brute(np.stack([t[idx], -c[idx]], 1))
    assert np.array_equal(got, want)


def test_joint_dims_only_and_groups():
    rng = np.random.default_rng(0)
    ds = xr.Dataset(
        {"time": (("hardware", "gpus", "tp"), rng.random((2, 3, 4))),
         "cost": (("hardware", "gpus"), rng.random((2, 3))),
         "carbon": (("hardware", "gpus", "region"), rng.random((2, 3, 5)))},
        coords={"hardware": ["a", "b"], "gpus": [8, 16, 32], "tp": [1, 2, 4, 8], "region": list("vwxyz")})
    m = pareto(ds, minimize=["time", "cost"])
    assert m.dims == ("hardware", "gpus", "tp")  # no region axis
    per_hw = pareto(ds, minimize=["time", "cost"], over=["gpus", "tp"])
    assert per_hw.dims == ("hardware", "gpus", "tp")
    for hw in ("a", "b"):  # each hardware front equals the front of that slice alone
        alone = pareto(ds.sel(hardware=hw), minimize=["time", "cost"])
        assert np.array_equal(per_hw.sel(hardware=hw).values, alone.values)
    # the global front is a subset of the union of the per-group fronts
    assert bool((m <= per_hw).all())
    m3 = pareto(ds, minimize=["time", "cost", "carbon"])
    assert m3.dims == ("hardware", "gpus", "tp", "region")


def test_where_callable_and_dataarray():
    ds = xr.Dataset({"t": ("x", [1.0, 2.0, 3.0]), "c": ("x", [3.0, 2.0, 1.0]), "mem": ("x", [9.0, 1.0, 1.0])})
    a = pareto(ds, minimize=["t", "c"], where=lambda d: d.mem < 5)
    b = pareto(ds, minimize=["t", "c"], where=ds.mem < 5)
    assert a.values.tolist() == b.values.tolist() == [False, True, True]
    c = pareto(ds, minimize=["t", "c"], where="mem < 5")
    d = pareto(ds, minimize=["t", "c"], where=["mem < 5", "t > 1"])
    assert c.values.tolist() == [False, True, True] and d.values.tolist() == [False, True, True]


def test_errors_are_named():
    ds = xr.Dataset({"t": ("x", [1.0])})
    with pytest.raises(DsxInputError, match="nope"):
        pareto(ds, minimize=["nope"])
    with pytest.raises(DsxInputError, match="at least one"):
        pareto(ds)
    with pytest.raises(DsxInputError, match="over"):
        pareto(ds, minimize="t", over="gpus")


def test_front_table_units_and_sorting():
    ds = xr.Dataset({"step_time": (("hw", "n"), [[4.0, 2.0], [1.0, 3.0]], {"units": "s"}),
                     "capex": ("n", [1.0, 2.0], {"units": "USD"})},
                    coords={"hw": ["a", "b"], "n": [8, 16]})
    m = pareto(ds, minimize=["step_time", "capex"])
    df = front_table(ds, m)
    assert list(df.columns) == ["hw", "n", "step_time [s]", "capex [USD]"]
    assert df["step_time [s]"].tolist() == [1.0]
    assert df["hw"].tolist() == ["b"]
    empty = front_table(ds, m & False, ["step_time"])
    assert len(empty) == 0


def test_front_table_at_a_quantile_of_the_draws():
    import dsx

    ds = dsx.training(model="llama-3.1-70b", hardware="H100", gpus=[256, 512, 1024], tp=8, pp=[2, 4],
                      global_batch=1024, seq_len=4096, train_tokens=1e12, draws=50, seed=0)
    table = ds.dsx.front(minimize=["wall_time@q90", "cost_per_mtoken"])
    q90 = ds.wall_time.quantile(0.9, dim="draw")
    for row in table.itertuples(index=False):
        assert row[2] == pytest.approx(float(q90.sel(gpus=row[0], pp=row[1])))
    assert "draw" not in dsx.pareto(ds, minimize=["wall_time", "cost_per_mtoken"], quantile=0.9).dims
