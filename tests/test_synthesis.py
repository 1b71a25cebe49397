"""Inverse design: round trips (the answer meets the target, 1% less does not)."""

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from dsx.analysis import synthesize
from dsx.errors import DsxInputError

DAY = 86400.0


def stack(ds):
    """time_to_train = work / (gpus * flops); needs mem / gpus <= cap; latency grows with batch."""
    ttt = ds.work / (ds.gpus * ds.peak_flops)
    fits = ds.mem / ds.gpus <= ds.hbm_capacity
    latency = 0.01 + 0.002 * ds.batch * 1e15 / ds.peak_flops
    return ds.assign(time_to_train=ttt.assign_attrs(units="s"), feasible=fits,
                     latency=latency.assign_attrs(units="s"))


def inputs(**kw):
    base = xr.Dataset({"work": ("model", [1e24, 5e24]), "mem": ("model", [1e12, 8e12]),
                       "peak_flops": ("hardware", [1e15, 2e15], {"units": "flop/s"}),
                       "hbm_capacity": ("hardware", [80e9, 141e9], {"units": "B"}),
                       "gpus": 1024, "batch": 8},
                      coords={"model": ["small", "big"], "hardware": ["h100", "h200"]})
    return base.assign(kw)


def meets(ds, **kw):
    r = stack(ds.assign(kw))
    return (r.time_to_train <= 30 * DAY) & r.feasible


@settings(max_examples=10)
@given(st.floats(1e23, 1e25), st.floats(5, 60))
def test_min_flops_round_trip(work, days):
    ds = inputs().assign(work=("model", [work, 2 * work]))
    r = synthesize(stack, ds, target="time_to_train", value=f"{days} day", vary="peak_flops", lo=1e12, hi=1e20)
    assert r.peak_flops.attrs["units"] == "flop/s"
    need = r.peak_flops
    ok_at = stack(ds.assign(peak_flops=need))
    assert bool((ok_at.time_to_train <= days * DAY).all())
    below = stack(ds.assign(peak_flops=need * 0.99))
    assert not bool((below.time_to_train <= days * DAY).any())
    # closed form: work / (gpus * T)
    np.testing.assert_allclose(need, ds.work / (1024 * days * DAY) + 0 * ds.hbm_capacity, rtol=2e-4)


def test_min_gpus_integer_and_multiple():
    ds = inputs()
    r = synthesize(stack, ds, target="time_to_train", value=30 * DAY, vary="gpus", lo=1, hi=1_000_000,
                   multiple_of=8)
    g = r.gpus
    assert set(g.dims) == {"model", "hardware"}
    assert bool((g % 8 == 0).all())
    assert bool(meets(ds, gpus=g).all())
    assert not bool(meets(ds, gpus=g - 8).any())


def test_max_batch_under_latency_and_unreachable():
    ds = inputs()
    r = synthesize(stack, ds, target="latency", value=0.2, vary="batch", direction="max", lo=1, hi=10_000,
                   integer=True)
    lat = lambda b: stack(ds.assign(batch=b)).latency  # noqa: E731
    assert bool((lat(r.batch) <= 0.2).all()) and not bool((lat(r.batch + 1) <= 0.2).any())
    b = r.batch.sel(model="small")
    assert b.sel(hardware="h100").item() in (94, 95)  # 0.01 + 0.002 * b <= 0.2, up to rounding
    assert b.sel(hardware="h200").item() in (189, 190)
    none = synthesize(stack, ds, target="latency", value=0.001, vary="batch", direction="max", lo=1, hi=100,
                      integer=True)
    assert np.isnan(none.batch).all() and not none.reachable.any()


def test_capacity_for_feasibility_only():
    ds = inputs()
    r = synthesize(stack, ds, target=None, vary="hbm_capacity", lo=1e8, hi=1e12)
    want = (ds.mem / 1024).broadcast_like(ds.hbm_capacity)
    np.testing.assert_allclose(r.hbm_capacity.transpose(*want.dims), want, rtol=2e-4)
    assert bool(stack(ds.assign(hbm_capacity=r.hbm_capacity)).feasible.all())
    assert not bool(stack(ds.assign(hbm_capacity=r.hbm_capacity * 0.99)).feasible.any())


def test_axis_is_searched_among_its_values():
    ds = inputs().drop_vars("gpus").assign_coords(gpus=[256, 512, 1024, 2048, 4096])
    r = synthesize(stack, ds, target="time_to_train", value=30 * DAY, vary="gpus")
    full = stack(ds)
    ok = (full.time_to_train <= 30 * DAY) & full.feasible
    want = ds.gpus.where(ok).min("gpus")
    np.testing.assert_array_equal(r.gpus.transpose(*want.dims).values, want.values)
    assert "gpus" not in r.dims


def test_closed_form_inverse_is_verified():
    ds = inputs()
    exact = synthesize(stack, ds, value=30 * DAY, vary="peak_flops", lo=1e12, hi=1e20,
                       inverse=lambda d, v: d.work / (d.gpus * v))
    np.testing.assert_allclose(exact.peak_flops, (ds.work / (1024 * 30 * DAY)).broadcast_like(exact.peak_flops))
    wrong = synthesize(stack, ds, value=30 * DAY, vary="peak_flops", lo=1e12, hi=1e20,
                       inverse=lambda d, v: 0.5 * d.work / (d.gpus * v))
    assert not wrong.reachable.any()


def test_errors():
    with pytest.raises(DsxInputError, match="direction"):
        synthesize(stack, inputs(), value=1.0, direction="up")
    with pytest.raises(DsxInputError, match="value"):
        synthesize(stack, inputs(), target="time_to_train")
    with pytest.raises(DsxInputError, match="dimension|expected"):
        synthesize(stack, inputs(), value="3 GB", lo=1e12, hi=1e20)


def test_round_trip_on_the_training_stack():
    import dsx
    from dsx import stacks

    if not stacks.TRAINING:
        pytest.skip("training stack not assembled")
    space = dsx.Space(model="llama-3.1-70b", hardware="H100", gpus=[1024, 2048], tp=8, pp=8, precision="bf16",
                      global_batch=1024, seq_len=4096, micro_batch=1, train_tokens=2e12)
    r = synthesize(stacks.TRAINING, space, target="time_to_train", value="30 day", vary="peak_flops",
                   lo=1e14, hi=1e16, rtol=5e-3)
    assert r.reachable.all()
    ds = space.to_dataset()
    at = lambda f: dsx.training(ds.assign(peak_flops=f.assign_attrs(ds.peak_flops.attrs))).time_to_train  # noqa: E731
    assert bool((at(r.peak_flops) <= 30 * DAY).all())
    assert not bool((at(r.peak_flops * 0.99) <= 30 * DAY).any())


# -- the far end of the range is infeasible (issue 10 item 6) -----------------------------------
def capped(ds):
    """The toy stack, plus: more than `cap` GPUs (or fewer than `floor` sequences) do not run."""
    out = stack(ds)
    return out.assign(feasible=out.feasible & (ds.gpus <= ds.cap) & (ds.batch >= 4))


def test_min_found_when_the_top_of_the_range_is_infeasible():
    ds = inputs(cap=("model", [2000, 10_000]))
    r = synthesize(capped, ds, target="time_to_train", value=30 * DAY, vary="gpus", lo=1, hi=1_000_000)
    # hand derivation: gpus >= work / (flops · 30 d), rounded up; e.g. 1e24 / (1e15 · 2.592e6) = 385.8 -> 386
    need = np.ceil(ds.work / (ds.peak_flops * 30 * DAY))
    print(r.gpus.values, need.values)
    assert bool(r.reachable.all())
    np.testing.assert_array_equal(r.gpus.transpose(*need.dims).values, need.values)
    # beyond the feasible part: unreachable, not a wrong answer
    none = synthesize(capped, inputs(cap=100), target="time_to_train", value=30 * DAY, vary="gpus",
                      lo=1, hi=1_000_000)
    assert not bool(none.reachable.any()) and bool(np.isnan(none.gpus).all())


def test_max_found_when_the_bottom_of_the_range_is_infeasible():
    ds = inputs(cap=1e9)
    r = synthesize(capped, ds, target="latency", value=0.2, vary="batch", direction="max", lo=1, hi=10_000)
    # latency = 0.01 + 0.002 · batch · 1e15 / flops <= 0.2 -> batch <= 95 (h100), 190 (h200)
    assert r.batch.sel(model="small").values.tolist() == [95, 190]


def test_min_gpus_on_the_training_stack_with_an_infeasible_top():
    """gpus up to 131,072 for global_batch 2048: the top has dp > batch; the answer is still found."""
    import dsx

    space = dsx.Space(model="llama-3.1-70b", hardware=["H100", "B200"], tp=8, global_batch=2048, seq_len=4096,
                      train_tokens="15e12 token", region="quebec")
    r = synthesize(dsx.training, space, target="time_to_train", value="60 day", vary="gpus", lo=8,
                   hi=1 << 17, multiple_of=64)
    assert bool(r.reachable.all())
    # check against the exact search among the feasible values (dp must divide the batch: 8·2^k GPUs)
    grid = dsx.training(space, gpus=[8 * 2**k for k in range(3, 15)])
    meets = grid.feasible & (grid.time_to_train <= 60 * DAY)
    smallest = grid.gpus.where(meets).min("gpus")
    print(r.gpus.values, smallest.values)
    np.testing.assert_array_equal(r.gpus.values, smallest.values)
