"""Infeasible never wins, NaN is never feasible (issue 10 item 4, issue 8 item 7)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dsx
from dsx.errors import DsxInputError
from dsx.solvers import outcomes
from dsx.stacks import SERVING, TRAINING, evaluate

LLAMA70 = dict(model="llama-3.1-70b", hardware="H100", region="quebec", global_batch=1024, seq_len=4096)
HARDWARE = dsx.catalog.names("hardware")
MODELS = dsx.catalog.names("models")
PRECISIONS = ["fp32", "bf16", "fp16", "fp8", "fp4"]
# outcomes that must be NaN wherever a configuration is infeasible
TRAIN_OUTCOMES = ["step_time", "tokens_per_s", "mfu", "hfu", "time_to_train", "energy", "carbon", "water",
                  "capex", "tco", "cost_per_mtoken"]
SERVE_OUTCOMES = ["ttft", "tpot", "e2e_latency", "ttft_q", "e2e_q", "replica_tokens_per_s", "energy_per_token",
                  "carbon", "tco", "cost_per_mtoken"]
# outcomes finite wherever a feasible configuration's hardware row has a power figure
POWERED = ["energy", "energy_per_token", "carbon_operational", "water"]


# -- masking -----------------------------------------------------------------------------------
def test_out_of_memory_layout_never_wins_and_shows_its_distance():
    ds = dsx.training(**LLAMA70, gpus=[8, 512], tp=[1, 8])
    assert dsx.decode(ds.reason).sel(gpus=8, tp=1).item() == "oom"
    oom = ds.sel(gpus=8, tp=1)
    for name in TRAIN_OUTCOMES:
        assert np.isnan(oom[name]).all(), name
    assert np.isfinite(oom.memory_per_gpu).all() and float(oom.memory_per_gpu) > 80e9   # how far from fitting
    raw = dsx.training(**LLAMA70, gpus=8, tp=1, mask_infeasible=False)
    assert np.isfinite(float(raw.step_time)) and not bool(raw.feasible)
    # a plain argmin over every configuration lands on a feasible one
    best = ds.time_to_train.stack(c=ds.time_to_train.dims).idxmin("c").item()
    assert bool(ds.feasible.sel(dict(zip(ds.time_to_train.dims, best))))


def test_mask_keeps_units_and_is_the_declared_last_step():
    assert TRAINING[-1] is outcomes.mask_infeasible and SERVING[-1] is outcomes.mask_infeasible
    assert TRAINING[-2] is outcomes.finite_outcomes and SERVING[-2] is outcomes.finite_outcomes
    ds = dsx.training(**LLAMA70, gpus=8, tp=1)
    assert ds.step_time.attrs["units"] == "s" and ds.mfu.attrs["long_name"]
    with pytest.raises(DsxInputError, match="mask_infeasible"):
        dsx.training(**LLAMA70, mask_infeasible="no")


def test_saturated_serving_queue_has_no_latency():
    ds = dsx.serving(model="llama-3.1-8b", hardware="H100", batch=8, arrival_rate=[1.0, 1e4], region="quebec")
    assert dsx.decode(ds.reason).values.tolist() == ["", "unstable_queue"]
    for name in SERVE_OUTCOMES:
        assert np.isnan(ds[name].sel(arrival_rate=1e4)).all() and np.isfinite(ds[name].sel(arrival_rate=1.0)).all()
    assert np.isfinite(ds.utilization.sel(arrival_rate=1e4))                   # the distance stays


# -- reason codes: size vs divisibility ---------------------------------------------------------
@pytest.mark.parametrize("layout, code", [
    (dict(tp=128, gpus=1024), "tp_exceeds_heads"),              # 64 heads
    (dict(tp=3, gpus=768), "tp_not_dividing_heads"),
    (dict(pp=128, gpus=1024), "pp_exceeds_layers"),             # 80 layers
    # uneven stages are a layout (80 on 3: 27 + 27 + 26); not divisible is a split that cannot be run:
    (dict(pp=4, first_stage_layers=10, last_stage_layers=11, gpus=1024), "layers_not_divisible"),  # 10+2x30+11=81
    (dict(pp=4, virtual_stages=3, gpus=1024), "layers_not_divisible"),   # 20 layers a stage: not 3 equal chunks
    (dict(pp=79, gpus=79 * 8), "layers_not_divisible"),   # automatic: 77 middle stages of 2 leave none for the ends
    (dict(tp=8, pp=4, gpus=16), "model_parallel_exceeds_gpus"),
    (dict(tp=8, gpus=100), "gpus_not_divisible"),
    (dict(tp=8, gpus=8192 * 2, global_batch=1024), "dp_exceeds_batch"),
    (dict(tp=8, gpus=8 * 3, global_batch=1024), "batch_not_divisible"),
])
def test_training_reason_codes_say_size_or_divisibility(layout, code):
    ds = dsx.training(**{**LLAMA70, **layout})
    assert dsx.decode(ds.reason).item() == code and not bool(ds.feasible)


def test_uneven_training_stages_are_a_layout():
    ds = dsx.training(**LLAMA70, tp=8, pp=3, gpus=768)
    assert dsx.decode(ds.reason).item() == "" and np.isfinite(float(ds.step_time))
    assert [int(ds[v]) for v in ("first_stage_layers", "layers_per_stage", "last_stage_layers")] == [27, 27, 26]


@pytest.mark.parametrize("ep, code", [(16, "ep_exceeds_experts"), (3, "experts_not_divisible")])
def test_expert_codes(ep, code):
    ds = dsx.training(model="mixtral-8x7b", hardware="H100", gpus=48, tp=1, ep=ep, global_batch=48)
    assert dsx.decode(ds.reason).item() == code


def test_serving_reason_codes_say_size_or_divisibility():
    ds = dsx.serving(model="llama-3.1-8b", hardware="H100", tp=[3, 64], pp=[1, 64], batch=1)
    r = dsx.decode(ds.reason)
    assert r.sel(tp=3, pp=1).item() == "tp_not_dividing_heads"      # 32 heads
    assert r.sel(tp=64, pp=1).item() == "tp_exceeds_heads"
    # 32 layers; serving splits weights and KV cache into equal stages, so pp must divide the layers
    layers = dsx.serving(model="llama-3.1-8b", hardware="H100", pp=[3, 4, 64], batch=1)
    assert dsx.decode(layers.reason).values.tolist() == \
        ["layers_not_divisible", "", "pp_exceeds_layers"]


# -- NaN is never feasible: missing links, zeros ------------------------------------------------
def test_device_without_scale_up_link():
    # L4 has no NVLink (blank scale-up columns): TP over it is infeasible with a reason, alone it computes.
    # A model that fits one 24 GB L4, so the link (not memory) is what fails on two.
    tr = dsx.training(model="bert-large", hardware="L4", gpus=[1, 2], tp=[1, 2], zero=[1, 3], global_batch=64,
                      seq_len=512, precision="bf16")
    alone = tr.sel(gpus=1, tp=1)
    assert dsx.decode(alone.reason).values.tolist() == ["", ""] and np.isfinite(alone.step_time).all()
    assert dsx.decode(tr.reason).sel(gpus=2, tp=2).values.tolist() == ["no_scale_up_link"] * 2
    # data parallel over the missing link too: ZeRO-1's once-per-step collectives and ZeRO-3's
    # per-layer gathers (a NaN per-layer collective is not 0 s of exposed time)
    assert dsx.decode(tr.reason).sel(gpus=2, tp=1).values.tolist() == ["no_scale_up_link"] * 2
    raw = dsx.training(model="bert-large", hardware="L4", gpus=2, tp=1, zero=3, global_batch=64, seq_len=512,
                       precision="bf16", mask_infeasible=False)
    assert np.isnan(float(raw.layer_gather_time)) and np.isnan(float(raw.step_time))
    sv = dsx.serving(model="llama-3.1-8b", hardware="L4", tp=[1, 2], batch=1, precision="fp8")
    assert dsx.decode(sv.reason).values.tolist() == ["", "no_scale_up_link"]
    assert np.isfinite(float(sv.ttft.sel(tp=1)))
    # disaggregated one-GPU instances move the KV cache over scale-out, which L4 lacks as well
    dis = dsx.serving(model="llama-3.1-8b", hardware="L4", tp=1, batch=1, precision="fp8", disaggregated=True)
    assert dsx.decode(dis.reason).item() == "no_scale_out_link" and np.isnan(float(dis.ttft))


def test_pod_without_scale_out_bandwidth_and_zero_rows():
    space = dsx.Space(model="llama-3.1-8b", hardware="H100", gpus=64, tp=8, global_batch=512, region="quebec")
    ds = space.to_dataset()
    no_out = evaluate(TRAINING, ds.assign(scale_out_bandwidth=np.nan))
    assert dsx.decode(no_out.reason).item() == "no_scale_out_link" and np.isnan(float(no_out.step_time))
    zero = evaluate(TRAINING, ds.assign(hbm_bandwidth=0.0))      # a zero in a row: no finite step time
    assert not bool(zero.feasible) and dsx.decode(zero.reason).item() != ""
    assert np.isnan(float(zero.time_to_train))


def test_unknown_power_leaves_energy_unknown_not_the_configuration():
    # AWS publishes no chip TDP for Trainium1 / Inferentia2 (blank tdp and system_power): the job
    # runs and has a time, its energy is unknown (NaN), never a guess and never not_computable
    assert "energy" not in outcomes.CORE and "step_time" in outcomes.CORE
    tr = dsx.training(model="bert-large", hardware=["Trainium1", "H100"], gpus=1, global_batch=64, seq_len=512,
                      region="quebec")
    assert dsx.decode(tr.reason).values.tolist() == ["", ""] and np.isfinite(tr.step_time).all()
    assert np.isnan(tr.energy.values.tolist()).tolist() == [True, False]        # Trainium1, H100
    sv = dsx.serving(model="llama-3.1-8b", hardware="Inferentia2", batch=1, region="quebec")
    assert dsx.decode(sv.reason).item() == "" and np.isfinite(float(sv.ttft)) and np.isnan(float(sv.energy_per_token))


def test_cnn_is_not_served():
    ds = dsx.serving(model="resnet-50", hardware="H100", batch=1)
    assert dsx.decode(ds.reason).item() == "cnn_not_servable" and np.isnan(float(ds.ttft))


# -- the property: across the whole catalog ----------------------------------------------------
def _check(ds, core, outcomes_):
    feasible = ds.feasible
    reason = dsx.decode(ds.reason).broadcast_like(feasible)
    assert bool(((reason == "") == feasible).all()), "reason is empty exactly where feasible"
    for name in core:
        if name in ds:
            bad = feasible & ~np.isfinite(ds[name])
            assert not bool(bad.any()), f"feasible with non-finite {name}: {bad.where(bad, drop=True).coords}"
    for name in outcomes_:
        leaked = ~feasible & np.isfinite(ds[name])
        assert not bool(leaked.any()), f"infeasible with finite {name}"
    # energy (and its carbon, water and cost) needs the node's power, cost a price and total carbon an
    # embodied figure: not core (a row may lack them), but finite wherever the row has them
    powered = feasible & np.isfinite(ds.system_power)     # power_accounting="node" (the default)
    for name in POWERED:
        if name in ds:
            assert bool(np.isfinite(ds[name]).where(powered, True).all()), f"powered with non-finite {name}"
    priced = powered & np.isfinite(ds.price)
    assert bool(np.isfinite(ds.tco).where(priced, True).all())
    assert bool(np.isfinite(ds.carbon).where(powered & np.isfinite(ds.embodied_carbon), True).all())
    assert "not_computable" not in set(np.unique(reason.values)), "the built-in catalog needs no safety net"


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gpus=st.sampled_from([1, 8, 64, 512, 4096]), tp=st.sampled_from([1, 2, 4, 8, 16]),
       pp=st.sampled_from([1, 2, 4, 8]), zero=st.integers(0, 3), precision=st.sampled_from(PRECISIONS),
       recompute=st.sampled_from(["none", "selective", "full"]), global_batch=st.sampled_from([64, 1024]))
def test_training_property_whole_catalog(gpus, tp, pp, zero, precision, recompute, global_batch):
    ds = dsx.training(model=MODELS, hardware=HARDWARE, gpus=gpus, tp=tp, pp=pp, zero=zero, precision=precision,
                      recompute=recompute, global_batch=global_batch, seq_len=2048, region="quebec")
    _check(ds, outcomes.CORE, TRAIN_OUTCOMES)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tp=st.sampled_from([1, 2, 4, 8]), pp=st.sampled_from([1, 2]), batch=st.sampled_from([1, 16, 256]),
       precision=st.sampled_from(PRECISIONS), arrival_rate=st.sampled_from([0.0, 2.0, 50.0]),
       input_len=st.sampled_from([128, 4096]), disaggregated=st.booleans())
def test_serving_property_whole_catalog(tp, pp, batch, precision, arrival_rate, input_len, disaggregated):
    ds = dsx.serving(model=MODELS, hardware=HARDWARE, tp=tp, pp=pp, batch=batch, precision=precision,
                     arrival_rate=arrival_rate, input_len=input_len, output_len=256,
                     disaggregated=disaggregated, region="quebec")
    _check(ds, outcomes.CORE, SERVE_OUTCOMES)


# -- masking in place (outcomes._writable): faster, and never writes what the caller holds -------------
BENCH_LIKE = dict(model=["llama-3.1-8b", "llama-3.1-70b"], hardware=["H100", "A100-80GB", "MI300X"],
                  gpus=[64, 128, 256, 512, 1024, 2048, 4096, 8192], tp=[1, 2, 4, 8], pp=[1, 2, 4, 8], global_batch=[256, 1024, 4096],
                  region=["quebec", "poland", "norway"], seq_len=[2048, 8192], train_tokens=1e12)


def test_masking_in_place_equals_masking_a_copy_and_leaves_the_inputs():
    """Over IN_PLACE_FROM configurations (here 13,824, ~half infeasible) the outcomes are masked in their
    own arrays: the values equal the copying Dataset path exactly, the caller's input Dataset is unchanged,
    and a second evaluation gives the same result (nothing cached was written)."""
    space = dsx.Space(**BENCH_LIKE)
    assert space.size >= outcomes.IN_PLACE_FROM
    given = space.to_dataset()
    before = given.copy(deep=True)
    unmasked = evaluate(TRAINING[:-1], given)
    reference = outcomes.mask_infeasible(unmasked)               # the Dataset path: new arrays
    got = evaluate(TRAINING, given)
    again = evaluate(TRAINING, space.to_dataset())
    feasible = got.feasible.values
    print(f"{space.size:,} configurations, {feasible.mean():.0%} of layouts feasible")
    assert 0.1 < feasible.mean() < 0.9
    for name in outcomes.OUTCOMES:
        if name in got and got[name].dtype.kind == "f":
            ref = reference[name].transpose(*got[name].dims)
            np.testing.assert_array_equal(got[name].values, ref.values, err_msg=name)
            np.testing.assert_array_equal(again[name].values, got[name].values, err_msg=name)
    xr_testing = pytest.importorskip("xarray.testing")
    xr_testing.assert_identical(given, before)


def test_only_arrays_the_evaluation_made_and_nobody_shares_are_written():
    from dsx.solvers.namespace import Namespace

    n = outcomes.IN_PLACE_FROM
    import xarray as xr

    shared = np.ones(n)
    ns = Namespace(xr.Dataset({"tco": ("x", np.ones(n))}, coords={"x": np.arange(n)}))  # the caller's
    ns.update({"step_time": xr.Variable("x", np.ones(n)), "carbon": xr.Variable("x", shared),
               "carbon_alias": xr.Variable("x", shared[::-1]),       # a view of carbon's array
               "energy": xr.Variable("x", np.ones(2 * n)[:n])})      # part of a larger array
    del shared
    cache = [ns.variables["step_time"].data]                         # a kernel's cache holds step_time's array
    assert outcomes._writable(ns) == frozenset()
    del cache
    assert outcomes._writable(ns) == {"step_time"}


def test_an_array_made_later_is_never_taken_for_one_the_caller_gave():
    # an index coordinate's .data is a fresh array each time, freed at once: had the Namespace kept
    # only its id, a later array could take that id and pass for the caller's (never written in
    # place, by chance: CI once failed on it)
    from dsx.solvers.namespace import Namespace
    import xarray as xr

    ns = Namespace(xr.Dataset({"tco": ("x", np.ones(10))}, coords={"x": np.arange(10)}))
    made = [np.ones(3) for _ in range(2000)]  # Python reuses a freed object's slot (and id) at once
    assert [a for a in made if id(a) in ns.given] == []


@pytest.mark.parametrize("returns", ["dataset", "merge"])
def test_what_a_plain_step_returns_is_never_masked_in_place(returns):
    """A plain Dataset -> Dataset step (``uses``) may return arrays it keeps (a cache): masking copies them."""
    import xarray as xr

    n = outcomes.IN_PLACE_FROM * 2
    cached = xr.Dataset({"step_time": ("x", np.ones(n))})

    def plain(ds):
        return cached if returns == "dataset" else ds.merge(cached)

    plain.uses = ("feasible",)
    given = xr.Dataset({"feasible": ("x", np.arange(n) % 2 == 0)}, coords={"x": np.arange(n)})
    out = evaluate((plain, outcomes.mask_infeasible), given)
    assert int(np.isnan(out.step_time.values).sum()) == n // 2      # masked in the result
    assert not np.isnan(cached.step_time.values).any()               # not in the step's own arrays
