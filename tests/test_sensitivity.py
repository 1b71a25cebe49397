"""Elasticities against analytic derivatives of simple synthetic stacks."""

import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

import dsx
from dsx.analysis import sensitivity
from dsx.errors import DsxInputError


def roofline_stack(ds):
    """t = max(W / flops, B / bw), infeasible when mem > cap."""
    t = np.maximum(ds.work / ds.flops, ds.traffic / ds.bw)
    return ds.assign(step_time=t.assign_attrs(units="s", long_name="step time"),
                     feasible=ds.mem <= ds.cap,
                     reason=xr.where(ds.mem <= ds.cap, "", "oom"))


def inputs(work=(1.0, 4.0, 2.0)):
    return xr.Dataset({"work": ("cfg", list(work)), "traffic": 2.0, "flops": 1.0, "bw": 1.0,
                       "mem": ("cfg", [1.0, 1.0, 5.0]), "cap": 2.0},
                      coords={"cfg": ["bw-bound", "compute-bound", "oom"]})


def test_power_law_is_exact():
    ds = xr.Dataset({"a": 3.0, "x": ("n", [1.0, 10.0, 100.0])})
    s = sensitivity(lambda d: d.assign(t=d.a / d.x**2), ds, output="t", inputs=["x", "a"])
    np.testing.assert_allclose(s.elasticity.sel(input="x"), -2.0, rtol=1e-12)
    np.testing.assert_allclose(s.elasticity.sel(input="a"), 1.0, rtol=1e-12)
    assert s.binding.values.tolist() == ["x"] * 3
    assert s.ranking.isel(rank=0).values.tolist() == ["x"] * 3


def test_max_of_two_terms_binding_and_infeasible():
    s = sensitivity(roofline_stack, inputs(), inputs=["flops", "bw", "cap"])
    e = s.elasticity
    assert e.sel(cfg="bw-bound").values.tolist() == pytest.approx([0.0, -1.0, 0.0], abs=1e-12)
    assert e.sel(cfg="compute-bound").values.tolist() == pytest.approx([-1.0, 0.0, 0.0], abs=1e-12)
    assert np.isnan(e.sel(cfg="oom")).all()  # reported, not zeros
    assert s.binding.values.tolist() == ["bw", "flops", "infeasible:oom"]
    assert s.baseline_feasible.values.tolist() == [True, True, False]
    assert s.baseline.attrs["units"] == "s"


def test_ties_are_explicit_and_none_when_nothing_moves():
    s = sensitivity(roofline_stack, inputs(work=(2.0, 2.0, 2.0)), inputs=["flops", "bw"])
    assert s.binding.sel(cfg="bw-bound").item() == "flops=bw"  # exactly at the kink
    flat = sensitivity(roofline_stack, inputs(), inputs=["cap"])
    assert flat.binding.values.tolist()[:2] == ["none", "none"]


def test_feasibility_flip_is_flagged():
    ds = inputs().assign(cap=1.005)  # +-1% of cap crosses mem=1
    s = sensitivity(roofline_stack, ds, inputs=["cap", "flops"])
    assert s.feasibility_changes.sel(input="cap", cfg="bw-bound").item()
    assert not s.feasibility_changes.sel(input="flops").any()


@given(st.floats(0.1, 10), st.floats(0.1, 10), st.floats(0.001, 0.05))
def test_batched_equals_one_by_one(a, b, h):
    ds = xr.Dataset({"a": a, "b": ("n", [b, 2 * b])})
    stack = lambda d: d.assign(t=d.a**1.5 * np.sqrt(d.b) + d.b)  # noqa: E731
    s1 = sensitivity(stack, ds, output="t", inputs=["a", "b"], rel_step=h, batch=True)
    s2 = sensitivity(stack, ds, output="t", inputs=["a", "b"], rel_step=h, batch=False)
    np.testing.assert_allclose(s1.elasticity.transpose(*s2.elasticity.dims), s2.elasticity, rtol=1e-12)
    # analytic: d ln t / d ln a = 1.5 a^1.5 sqrt(b) / t
    t = a**1.5 * np.sqrt(ds.b) + ds.b
    np.testing.assert_allclose(s1.elasticity.sel(input="a"), 1.5 * a**1.5 * np.sqrt(ds.b) / t,
                               rtol=2 * h**2 + 1e-9)  # central differences: O(h^2)


def test_space_catalog_columns_and_tuple_stack():
    def step(ds):
        t = xr.DataArray(1e12) / ds.hbm_bandwidth * ds.gpus / ds.gpus
        return ds.assign(step_time=t.assign_attrs(units="s"))

    space = dsx.Space(hardware=["H100", "A100-80GB"], gpus=[8, 16])
    s = sensitivity((step,), space, inputs=["hbm_bandwidth", "hbm_capacity"])
    assert set(s.elasticity.dims) == {"input", "hardware", "gpus"}
    np.testing.assert_allclose(s.elasticity.sel(input="hbm_bandwidth"), -1.0, rtol=1e-12)
    assert (s.binding == "hbm_bandwidth").all()


def test_errors():
    ds = xr.Dataset({"x": 1.0}, coords={"gpus": [8, 16]})
    stack = lambda d: d.assign(t=d.x * d.gpus)  # noqa: E731
    with pytest.raises(DsxInputError, match="swept axis"):
        sensitivity(stack, ds, output="t", inputs=["gpus"])
    with pytest.raises(DsxInputError, match="did you mean"):
        sensitivity(stack, ds, output="t", inputs=["xx"])
    with pytest.raises(DsxInputError, match="no 'nope'"):
        sensitivity(stack, ds, output="nope", inputs=["x"])


def test_on_the_training_stack():
    from dsx import stacks

    if not stacks.TRAINING:
        pytest.skip("training stack not assembled")
    space = dsx.Space(model="llama-3.1-70b", hardware=["H100", "H200"], gpus=[256, 1024], tp=[1, 8], pp=8,
                      precision="bf16", global_batch=1024, seq_len=4096, micro_batch=1)
    ins = ["peak_flops", "hbm_bandwidth", "scale_out_bandwidth", "hbm_capacity"]
    s = sensitivity(stacks.TRAINING, space, output="step_time", inputs=ins)
    res = dsx.training(space)
    ok = res.feasible.transpose(*s.binding.dims)
    assert s.elasticity.where(ok).notnull().sum() > 0
    e = s.elasticity.sel(input="peak_flops").where(ok)
    assert bool(((e >= -1 - 1e-6) & (e <= 1e-6)).where(ok, True).all())  # more FLOP/s never slower
    assert bool(s.binding.where(~ok, "infeasible").str.startswith("infeasible").where(~ok, True).all())
    assert bool((s.binding.where(ok, "x") != "none").all())


def test_defaulted_solver_input_ties_with_its_twin():
    from dsx import stacks

    if not stacks.TRAINING:
        pytest.skip("training stack not assembled")
    space = dsx.Space(model="llama-3.1-70b", hardware="H100", gpus=1024, tp=8, pp=8, precision="bf16",
                      global_batch=1024, seq_len=4096, micro_batch=1)
    s = sensitivity(stacks.TRAINING, space, inputs=["peak_flops", "matmul_efficiency"])
    e = s.elasticity.values.ravel()
    assert e[0] == pytest.approx(e[1], abs=1e-9) and e[0] < 0  # peak x efficiency enter as a product
    assert s.binding.item() == "peak_flops=matmul_efficiency"


# -- kinks (issue 10 item 7) -------------------------------------------------------------------
def test_discrete_switch_uses_the_continuous_side():
    """y = x · (2 if x < 2 else 1) + 10: at x = 2 one step down doubles the first term (a jump)."""
    ds = xr.Dataset({"x": 2.0, "c": 10.0})

    def stack(d):
        return d.assign(y=d.x * xr.where(d.x < 2.0, 2.0, 1.0) + d.c)

    s = sensitivity(stack, ds, output="y", inputs=["x", "c"])
    e_x = float(s.elasticity.sel(input="x"))
    # hand derivation of the continuous (upper) side: d ln y / d ln x = x/y = 2/12
    assert e_x == pytest.approx(2.0 / 12.0, rel=1e-2)
    assert bool(s.discontinuous.sel(input="x")) and bool(s.kink.sel(input="x"))
    assert not bool(s.discontinuous.sel(input="c"))
    assert s.binding.item() == "c"                      # 10/12 > 2/12: the jump no longer wins
    central = (np.log(12.02) - np.log(13.96)) / (np.log1p(0.01) - np.log1p(-0.01))
    print(f"x: kink-aware {e_x:.4f}, naive central {central:.2f}")
    assert abs(central) > 5                             # what the naive estimate would have said


def test_continuous_corner_is_flagged_and_stays_a_tie():
    s = sensitivity(roofline_stack, inputs(work=(2.0, 2.0, 2.0)), inputs=["flops", "bw"])
    at = s.sel(cfg="bw-bound")
    assert at.kink.values.tolist() == [True, True] and not bool(at.discontinuous.any())
    assert at.elasticity_up.values.tolist() == pytest.approx([0.0, 0.0], abs=1e-12)
    assert at.elasticity_down.values.tolist() == pytest.approx([-1.0, -1.0], abs=1e-9)


def test_readme_example_does_not_name_a_kink_artefact():
    s = dsx.sensitivity(dsx.training, dsx.Space(model="llama-3.1-70b", hardware="H100", gpus=512, tp=8))
    e = s.elasticity.squeeze()
    print(s.binding.item(), e.sel(input="activation_bytes").item())
    assert bool(s.discontinuous.squeeze().sel(input="activation_bytes"))   # 1 % below 2 B is 8-bit nominal
    assert s.binding.item() != "activation_bytes"
    # the continuous side of activation_bytes is the one reported, and it is modest
    assert abs(float(e.sel(input="activation_bytes"))) < 0.5
    assert float(e.sel(input="activation_bytes")) == pytest.approx(
        float(s.elasticity_up.squeeze().sel(input="activation_bytes")))
