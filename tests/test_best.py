"""Constrained optimum against a brute-force search, with ties, NaNs and empty groups."""

import itertools

import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

from dsx.analysis import best
from dsx.errors import DsxInputError

COORDS = {"gpus": [8, 16], "tp": [1, 2, 4], "pp": [1, 2]}


def dataset(vals, feas):
    shape = (2, 3, 2)
    return xr.Dataset(
        {"step_time": (("gpus", "tp", "pp"), np.array(vals, float).reshape(shape), {"units": "s"}),
         "mfu": (("gpus", "tp", "pp"), np.arange(12.0).reshape(shape) / 12, {"units": ""}),
         "feasible": (("gpus", "tp", "pp"), np.array(feas, bool).reshape(shape))},
        coords=COORDS)


cells = st.lists(st.one_of(st.integers(0, 3).map(float), st.just(float("nan"))), min_size=12, max_size=12)
flags = st.lists(st.booleans(), min_size=12, max_size=12)


@given(cells, flags, st.sampled_from(["min", "max"]))
def test_matches_brute_force(vals, feas, sense):
    ds = dataset(vals, feas)
    kw = {"minimize": "step_time"} if sense == "min" else {"maximize": "step_time"}
    r = best(ds, over=["tp", "pp"], include=["mfu"], **kw)
    for g in COORDS["gpus"]:  # scalar oracle: plain loop over the layouts
        cands = []
        for tp, pp in itertools.product(COORDS["tp"], COORDS["pp"]):
            pt = ds.sel(gpus=g, tp=tp, pp=pp)
            v = float(pt.step_time)
            if bool(pt.feasible) and np.isfinite(v):
                cands.append((v if sense == "min" else -v, tp, pp))
        got = r.sel(gpus=g)
        if not cands:
            assert not bool(got.found) and np.isnan(float(got.step_time)) and np.isnan(float(got.tp))
            continue
        top = min(c[0] for c in cands)
        winners = [c for c in cands if c[0] == top]
        assert bool(got.found)
        assert float(got.step_time) == (top if sense == "min" else -top)
        assert int(got.ties) == len(winners)
        assert (float(got.tp), float(got.pp)) == (winners[0][1], winners[0][2])  # first in axis order
        assert float(got.mfu) == float(ds.mfu.sel(gpus=g, tp=winners[0][1], pp=winners[0][2]))


def test_units_and_dims():
    ds = dataset(range(12), [True] * 12)
    r = best(ds, minimize="step_time", over=["tp", "pp"])
    assert r.step_time.dims == ("gpus",) and r.step_time.attrs["units"] == "s"
    assert r.tp.dtype.kind == "i"  # every group found: coordinates keep their dtype
    glob = best(ds, minimize="step_time")
    assert glob.step_time.dims == () and int(glob.gpus) == 8 and int(glob.tp) == 1


def test_objective_without_an_over_dim_and_where():
    ds = xr.Dataset({"capex": ("gpus", [2.0, 1.0]), "carbon": (("gpus", "region"), [[1.0, 5.0], [3.0, 0.5]])},
                    coords={"gpus": [8, 16], "region": ["us", "qc"]})
    r = best(ds, minimize="capex", over=["gpus"], where=lambda d: d.carbon < 2)
    assert r.capex.dims == ("region",)
    assert r.gpus.values.tolist() == [8, 16]
    s = best(ds, minimize="carbon", over="region")
    assert s.region.values.tolist() == ["us", "qc"]
    none = best(ds, minimize="carbon", over="region", where=ds.carbon > 10)
    assert none.region.values.tolist() == ["", ""] and not none.found.any()


def test_errors():
    ds = dataset(range(12), [True] * 12)
    with pytest.raises(DsxInputError, match="exactly one"):
        best(ds, minimize="step_time", maximize="mfu")
    with pytest.raises(DsxInputError, match="over"):
        best(ds, minimize="step_time", over="region")


@pytest.mark.parametrize("call, message", [
    (lambda ds: best(ds, "mfu"), r"^best: objective 'mfu' given without a direction; say best\(ds, maximize='mfu'\)"),
    (lambda ds: ds.dsx.best("mfu"), r"^best: objective 'mfu' given without a direction"),
    (lambda ds: __import__("dsx").pareto(ds, ["mfu", "step_time"]), r"^pareto: objectives \['mfu', 'step_time'\] given "
                                                                   r"without directions; say which way each goes"),
    (lambda ds: ds.dsx.pareto("mfu"), r"^pareto: objective 'mfu' given without a direction"),
    (lambda ds: ds.dsx.front(["mfu"]), r"ds\.dsx\.front\(minimize=\[\.\.\.\], maximize=\[\.\.\.\]\)$"),
])
def test_an_objective_without_a_direction_is_refused_not_minimised(call, message):
    # a bare name once filled the first keyword, minimize: best(ds, "tokens_per_s_per_gpu") returned
    # the slowest layout
    with pytest.raises(DsxInputError, match=message):
        call(dataset(range(12), [True] * 12))


def test_ties_within_floating_point_noise_of_the_optimum_count():
    """Four layouts at exactly 30 days and one at 2592000.0000000005 s (arithmetic noise) are five
    ties (exact equality counted 4); the reported layout stays the arg-min."""
    noisy = 2592000.0 + 2592000.0 * 2e-16 * 1
    assert noisy != 2592000.0 and abs(noisy / 2592000.0 - 1) < 1e-12
    ds = xr.Dataset({"time_to_train": (("tp",), [noisy, 2592000.0, 2592000.0, 2592000.0, 2592000.0, 2592001.0],
                                       {"units": "s"})}, coords={"tp": [1, 2, 3, 4, 5, 6]})
    r = best(ds, minimize="time_to_train")
    assert int(r.ties) == 5 and int(r.tp) == 2 and float(r.time_to_train) == 2592000.0
    up = best(ds.assign(time_to_train=-ds.time_to_train), maximize="time_to_train")  # the same on the other side
    assert int(up.ties) == 5 and int(up.tp) == 2
    zero = best(xr.Dataset({"t": (("tp",), [0.0, 1e-300, 0.0])}, coords={"tp": [1, 2, 3]}), minimize="t")
    assert int(zero.ties) == 2  # at an optimum of 0 only exact zeros tie


def test_in_graph_merge_counts_near_ties_across_pieces():
    """Two pieces' optima 5e-10 s apart are one optimum: their ties add up (exact equality gave 3)."""
    from dsx.analysis.ingraph import _merge_best

    def piece(value, ties, tp):
        return xr.Dataset({"time_to_train": ((), value, {"units": "s"}), "tp": ((), tp), "found": ((), True),
                           "ties": ((), np.int64(ties))})

    out = _merge_best([piece(2592000.0, 3, 1), piece(2592000.0000000005, 1, 2)], "time_to_train", 1.0, ["tp"],
                      {"tp": [1, 2]})
    assert int(out.ties) == 4 and int(out.tp) == 1 and float(out.time_to_train) == 2592000.0
    far = _merge_best([piece(2592000.0, 3, 1), piece(2592001.0, 1, 2)], "time_to_train", 1.0, ["tp"], {"tp": [1, 2]})
    assert int(far.ties) == 3
