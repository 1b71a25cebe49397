"""Communication: α–β collectives, group placement, per-group traffic (physics.md §5)."""

from __future__ import annotations


import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

import dsx
from dsx.solvers import network
from dsx.solvers.network import (all_gather_time, all_reduce_time, all_to_all_time, communication, group_all_gather_time,
                                 group_all_reduce_time, group_all_to_all_time, group_bandwidth, group_split,
                                 hierarchical_all_reduce_time, p2p_time, reduce_scatter_time)

from oracles import training as oracle

GB = 1e9


def defaults(solver):
    """The solver's user-input defaults (kernels called directly need every argument)."""
    return {k: v.default for k, v in solver.inputs.items()}


# -- collectives against their closed forms -----------------------------------------------------
def test_ring_collectives_closed_forms():
    m, bw, a = 4 * GB, 100 * GB, 2e-6
    assert all_reduce_time(m, 8, bw, a) == pytest.approx(2 * 7 * a + 2 * 7 / 8 * m / bw)
    assert reduce_scatter_time(m, 8, bw, a) == pytest.approx(7 * a + 7 / 8 * m / bw)
    assert all_gather_time(m, 8, bw, a) == pytest.approx(7 * a + 7 / 8 * m / bw)
    assert all_to_all_time(m, 4, bw, a) == pytest.approx(3 * a + 3 / 4 * m / bw)
    assert p2p_time(m, bw, a) == pytest.approx(a + m / bw)
    # all-reduce = reduce-scatter + all-gather; one rank costs nothing
    assert all_reduce_time(m, 16, bw, a) == pytest.approx(reduce_scatter_time(m, 16, bw, a) + all_gather_time(m, 16, bw, a))
    assert all_reduce_time(m, 1, bw, a) == 0.0


def test_nccl_busbw_reading():
    # busbw = algbw · 2(n-1)/n: a measured busbw of 367.6 GB/s on 8 H200 (NVLS off) means an
    # 8 GiB all-reduce takes 2·7/8·M/busbw (nccl-tests PERFORMANCE.md; interconnect_measured.csv).
    m = 8 * 2**30
    t = all_reduce_time(m, 8, 367.61 * GB)
    algbw = m / t
    assert algbw * 2 * 7 / 8 == pytest.approx(367.61 * GB)
    # the default link efficiency 0.8 is the measured busbw over the per-direction link rate
    assert network.communication.inputs["link_efficiency"].default == pytest.approx(367.61 / 450, abs=0.03)
    assert network.communication.inputs["link_efficiency"].default == pytest.approx(234.89 / 300, abs=0.03)


def test_hierarchical_all_reduce():
    m, g, n, up, out = 16 * GB, 8, 4, 400 * GB, 50 * GB
    expected = 2 * (g - 1) / g * m / up + 2 * (n - 1) / n * (m / g) / out  # physics.md §5.1
    assert hierarchical_all_reduce_time(m, g, n, up, out) == pytest.approx(expected)
    # each intra-node phase is a reduce-scatter / all-gather, not a full all-reduce
    assert hierarchical_all_reduce_time(m, g, n, up, out) < 2 * all_reduce_time(m, g, up) + all_reduce_time(m / g, n, out)
    # degenerate cases are the flat rings
    assert hierarchical_all_reduce_time(m, g, 1, up, out) == pytest.approx(all_reduce_time(m, g, up))
    assert hierarchical_all_reduce_time(m, 1, n, up, out) == pytest.approx(all_reduce_time(m, n, out))


# -- placement (Megatron rank order tp-cp-ep-dp-pp) ----------------------------------------------
def test_placement_tp8_puts_dp_on_scale_out():
    # TP = 8 fills an 8-GPU node: every DP peer is in another node, one per node, on its rail.
    assert [float(x) for x in group_split(64, 8, 8)] == [1.0, 64.0]
    assert float(group_bandwidth(64, 8, 8, 450 * GB, 50 * GB)) == 50 * GB
    # the TP group itself stays on NVLink
    assert [float(x) for x in group_split(8, 1, 8)] == [8.0, 1.0]
    assert float(group_bandwidth(8, 1, 8, 450 * GB, 50 * GB)) == 450 * GB
    # TP = 2: DP has 4 peers per node → hierarchical
    assert [float(x) for x in group_split(64, 2, 8)] == [4.0, 16.0]
    # PP outermost with t·d = 8: stage neighbours are in different nodes
    assert float(group_bandwidth(4, 8, 8, 450 * GB, 50 * GB)) == 50 * GB


def test_seed_dp_term_corrected():
    """Llama-70B fp16, t = 8, d = 64 (one DP peer per node): 2·63/64·17.65 GB / 50 GB/s ≈ 0.695 s."""
    ds = dsx.training(model="llama-3.1-70b", hardware="H100", precision="fp16", gpus=512, tp=8,
                      global_batch=2048, seq_len=2048, link_efficiency=1.0, gradient_bytes=2, zero=0)
    t = float(ds.dp_comm_time)
    print(f"seed DP all-reduce: {t:.4f} s vs physics.md worked example 0.695 s")
    assert t == pytest.approx(0.695, rel=0.005)
    # the anchor's figure (145.9 ms, DP on NVLink, phases as full all-reduces) is far off
    assert t > 4 * 0.1459


def test_scale_up_domain_places_groups_not_gpus_per_node():
    # gpus_per_node counts servers (embodied carbon); the placement domain is scale_up_domain.
    # It was max(gpus_per_node, scale_up_domain): gpus_per_node=1 changed nothing and 16 put
    # half the DP ring on NVLink while the domain stayed 8.
    base = dict(model="llama-3.1-70b", hardware="H100", precision="fp16", gpus=512, tp=8, global_batch=2048,
                seq_len=2048, link_efficiency=1.0, gradient_bytes=2, zero=0, scale_out_latency=0.0,
                scale_up_latency=0.0, collective_latency=0.0)
    nodes = dsx.training(**base, gpus_per_node=[1, 8, 16])
    # physics.md §5.3: t = 8 = D, every DP peer on another domain: 2·63/64·17.65 GB / 50 GB/s
    np.testing.assert_allclose(nodes.dp_comm_time.values, 0.695, rtol=0.005)
    # TP on NVLink: 80 layers · 4 all-reduces · 2·7/8 · (2048·8192·2 B) / 450 GB/s
    act = 2048 * 8192 * 2.0
    np.testing.assert_allclose(nodes.mb_tp_comm_time.values, 80 * 4 * 2 * 7 / 8 * act / 450e9, rtol=1e-9)
    for name in ("dp_comm_time", "mb_tp_comm_time", "step_time"):  # not a dimension of any communication
        assert "gpus_per_node" not in nodes[name].dims, name
    assert nodes.carbon_embodied.dims == ("gpus_per_node",)  # servers: embodied carbon
    # a smaller NVLink island (scale_up_domain=1: every TP peer on its own rail) is set by the domain
    island = dsx.training(**base, scale_up_domain=1)
    assert float(island.mb_tp_comm_time) == pytest.approx(80 * 4 * 2 * 7 / 8 * act / 50e9, rel=1e-9)
    # a rack-scale NVLink domain (GB200 NVL72: 4 GPUs per tray, 72 per domain) is used for placement
    small = dict(model="llama-3.1-8b", hardware="GB200", precision="bf16", gpus=64, tp=8, global_batch=256)
    nvl = dsx.training(**small)
    assert float(nvl.gpus_per_node) == 4
    assert float(nvl.mb_tp_comm_time) < float(dsx.training(**small, scale_up_domain=4).mb_tp_comm_time)


def test_oversubscription_divides_scale_out():
    kw = dict(size=8 * GB, n=64, stride=8, domain=8, bw_up=450 * GB)
    t1 = group_all_reduce_time(bw_out=50 * GB, **kw)
    t2 = group_all_reduce_time(bw_out=25 * GB, **kw)
    assert float(t2) == pytest.approx(2 * float(t1))
    base = dict(model="llama-3.1-70b", hardware="H100", precision="bf16", gpus=512, tp=8, global_batch=1024)
    a = dsx.training(**base)
    b = dsx.training(**base, oversubscription=2.0)
    assert float(b.dp_comm_time) == pytest.approx(2 * float(a.dp_comm_time), rel=1e-3)
    assert float(b.mb_tp_comm_time) == float(a.mb_tp_comm_time)  # TP stays on NVLink


# -- traffic per parallelism type -------------------------------------------------------------
def _inputs(**over):
    c = defaults(communication)
    c.update(tp=8, pp=4, cp=1, ep=1, dp=16, micro_batches=32, seq_len=8192, micro_batch=1, layers=80,
             hidden=8192, kv_heads=8, head_dim=128, layers_per_stage=20, params=70.55e9, embedding_params=2.1e9,
             head_params=1.05e9, expert_params=0.0, tied_embeddings=False, scale_up_bandwidth=450 * GB,
             scale_up_latency=0.5e-6, scale_out_bandwidth=50 * GB, scale_out_latency=5e-6, activation_bytes=2.0,
             weight_bytes=2.0, recompute="selective", sequence_parallel=True, zero=1, virtual_stages=1,
             experts=0, experts_per_token=0, dense_layers=0, scale_up_domain=8)
    c.update(over)
    return c


def test_tp_four_collectives_per_layer():
    c = _inputs(layers_per_stage=1, scale_up_latency=0.0, collective_latency=0.0, link_efficiency=1.0)
    act = 8192 * 8192 * 2.0
    per_ar = 2 * 7 / 8 * act / (450 * GB)
    assert float(communication.kernel(**c)["mb_tp_comm_time"]) == pytest.approx(4 * per_ar)
    # full recompute repeats the two forward collectives
    full = communication.kernel(**{**c, "recompute": "full"})
    assert float(full["mb_tp_comm_time"]) == pytest.approx(6 * per_ar)
    # sequence parallelism (all-gather + reduce-scatter) moves the same volume
    nosp = communication.kernel(**{**c, "sequence_parallel": False})
    assert float(nosp["mb_tp_comm_time"]) == pytest.approx(4 * per_ar)
    # under CP the tensor is s/c long
    cp2 = communication.kernel(**{**c, "cp": 2})
    assert float(cp2["mb_tp_comm_time"]) == pytest.approx(2 * per_ar)


def test_dp_is_per_step_and_zero3_adds_gathers():
    c = _inputs()
    base = communication.kernel(**c)
    more_mb = communication.kernel(**{**c, "micro_batches": 64})
    assert float(more_mb["dp_comm_time"]) == float(base["dp_comm_time"])   # once per step
    assert float(base["zero3_comm_time"]) == 0.0 and float(base["mb_dp_comm_time"]) == 0.0
    # ZeRO §7.2: ZeRO-3 moves 1.5x the DP volume at one micro-batch (equal gradient and weight
    # bytes, no latency: the per-layer split is exact in bandwidth terms)
    bw_only = dict(gradient_bytes=2.0, scale_up_latency=0.0, scale_out_latency=0.0, collective_latency=0.0)
    z1 = communication.kernel(**{**c, **bw_only, "micro_batches": 1})
    z3 = communication.kernel(**{**c, **bw_only, "zero": 3, "micro_batches": 1})
    assert float(z3["dp_comm_time"]) == 0.0
    ratio = float(z3["mb_dp_comm_time"]) / float(z1["dp_comm_time"])
    print(f"ZeRO-3 / ZeRO-1 volume at m=1: {ratio:.4f} (ZeRO §7.2: 1.5)")
    assert float(z3["mb_dp_comm_time"]) == pytest.approx(1.5 * float(z1["dp_comm_time"]), rel=1e-12)
    # per micro-batch: 2m gathers per layer per step, 1 when the gathered weights are kept
    z3m = communication.kernel(**{**c, "zero": 3, "micro_batches": 8})
    assert float(z3m["zero3_gathers"]) == 16.0
    assert float(z3m["zero3_comm_time"]) == pytest.approx(16 * 20 * float(z3m["layer_gather_time"]))
    kept = communication.kernel(**{**c, "zero": 3, "micro_batches": 8, "zero3_reshard": "step"})
    assert float(kept["zero3_comm_time"]) == pytest.approx(float(z3m["zero3_comm_time"]) / 16)
    once = communication.kernel(**{**c, "zero": 3, "micro_batches": 8, "zero3_reshard": "backward"})
    assert float(once["zero3_gathers"]) == 8.0                     # one gather per layer per micro-batch
    # ZeRO-2: the gradients are reduce-scattered every micro-batch, the parameters gathered once
    z2 = communication.kernel(**{**c, "zero": 2})
    assert float(z2["mb_dp_comm_time"]) == pytest.approx(20 * float(z2["layer_reduce_scatter_time"]))
    assert float(z2["layer_gather_time"]) == 0.0


def test_zero3_gather_is_one_collective_per_layer_with_its_latency():
    """Hand derivation: Llama-70B stage shard over d = 16 (one peer per node, t = 8): every layer's
    gather pays the call cost and (n-1) scale-out hops on top of its bytes."""
    c = _inputs(zero=3, micro_batches=1, link_efficiency=1.0, scale_up_latency=0.0)
    out = communication.kernel(**c)
    shard = ((70.55e9 - 2.1e9) / 4 + 2.1e9 - 1.05e9) / 8          # stage_params, most-loaded stage
    per_layer_bytes = 2.0 * shard / 20
    hand = 10e-6 + 15 * 5e-6 + 15 / 16 * per_layer_bytes / (50 * GB)
    print(f"layer gather {float(out['layer_gather_time']) * 1e3:.3f} ms vs hand {hand * 1e3:.3f} ms")
    assert float(out["layer_gather_time"]) == pytest.approx(hand, rel=1e-9)


def test_moe_all_to_all_and_dense_zero():
    dense = communication.kernel(**_inputs(ep=8))
    assert float(dense["mb_ep_comm_time"]) == 0.0
    moe = communication.kernel(**_inputs(ep=8, tp=1, dp=16, experts=8, experts_per_token=2, expert_params=45e9))
    assert float(moe["mb_ep_comm_time"]) > 0


@given(tp=st.sampled_from([1, 2, 4, 8, 16]), pp=st.sampled_from([1, 2, 8]), cp=st.sampled_from([1, 2, 4]),
       dp=st.sampled_from([1, 2, 8, 64]), ep=st.sampled_from([1, 2, 8]), zero=st.sampled_from([0, 1, 2, 3]),
       recompute=st.sampled_from(["none", "selective", "full"]), sp=st.booleans(),
       mb=st.sampled_from([1, 2, 4]), v=st.sampled_from([1, 2]), node=st.sampled_from([4, 8, 72]),
       moe=st.booleans())
def test_kernel_matches_scalar_oracle(tp, pp, cp, dp, ep, zero, recompute, sp, mb, v, node, moe):
    c = _inputs(tp=tp, pp=pp, cp=cp, dp=dp, ep=ep, zero=zero, recompute=recompute, sequence_parallel=sp,
                micro_batch=mb, virtual_stages=v, scale_up_domain=node,
                experts=8 if moe else 0, experts_per_token=2 if moe else 0, expert_params=45e9 if moe else 0.0,
                dense_layers=1 if moe else 0, layers_per_stage=80 / pp)
    got = communication.kernel(**c)
    ref = oracle.communication(c)
    for k, v_ in ref.items():
        assert float(got[k]) == pytest.approx(v_, rel=1e-9, abs=1e-15), k


@given(factor=st.floats(1.01, 10.0), which=st.sampled_from(["scale_up_bandwidth", "scale_out_bandwidth",
                                                            "link_efficiency"]),
       tp=st.sampled_from([1, 2, 8]), cp=st.sampled_from([1, 2]), dp=st.sampled_from([2, 16, 64]),
       zero=st.sampled_from([0, 1, 3]))
def test_more_bandwidth_never_slower(factor, which, tp, cp, dp, zero):
    c = _inputs(tp=tp, cp=cp, dp=dp, zero=zero)
    slow = communication.kernel(**c)
    fast = communication.kernel(**{**c, which: c[which] * factor})
    for k in slow:
        assert float(fast[k]) <= float(slow[k]) * (1 + 1e-12), k


def test_vectorised_over_dataarrays_keeps_compact_dims():
    ds = dsx.training(model="llama-3.1-8b", hardware=["H100", "A100-80GB"], precision="bf16", gpus=[64, 128],
                      tp=[1, 2, 4], global_batch=[256, 512])
    assert set(ds.mb_tp_comm_time.dims) <= {"hardware", "tp"}          # independent of gpus and batch
    assert "global_batch" not in ds.dp_comm_time.dims
    assert ds.dp_comm_time.attrs["units"] == "s"
    # one configuration selected equals the same configuration evaluated alone
    one = dsx.training(model="llama-3.1-8b", hardware="A100-80GB", precision="bf16", gpus=128, tp=2,
                       global_batch=512)
    sel = ds.sel(hardware="A100-80GB", gpus=128, tp=2, global_batch=512)
    for k in ("mb_tp_comm_time", "dp_comm_time", "mb_pp_comm_time", "zero3_comm_time"):
        assert float(sel[k]) == pytest.approx(float(one[k]), rel=1e-12)


def test_all_collective_kernels_take_dataarrays():
    n = xr.DataArray([1, 2, 8], dims="n")
    bw = xr.DataArray([50 * GB, 450 * GB], dims="bw")
    for f in (all_reduce_time, reduce_scatter_time, all_gather_time, all_to_all_time):
        out = f(GB, n, bw, 1e-6)
        assert out.dims == ("n", "bw")
        assert float(out.isel(n=0).max()) == 0.0
    out = group_all_to_all_time(GB, n, 1, 8, bw, 25 * GB)
    assert set(out.dims) == {"n", "bw"}
    assert np.all(np.isfinite(group_all_gather_time(GB, n, 8, 8, bw, 25 * GB)))


def test_groups_of_one_need_no_link():
    # a GPU without a scale-up fabric (L4: blank NVLink columns) still trains alone or data-parallel
    nan = float("nan")
    assert float(all_reduce_time(GB, 1, nan, nan)) == 0.0
    assert float(group_all_to_all_time(GB, 1, 1, 8, nan, nan)) == 0.0
    ds = dsx.training(model="llama-3.1-8b", hardware="L4", precision="bf16", gpus=1, global_batch=8,
                      mask_infeasible=False)  # 8B does not fit one L4: raw values (issue 10)
    assert float(ds.mb_tp_comm_time) == 0.0 and float(ds.dp_comm_time) == 0.0
    assert np.isfinite(float(ds.step_time))


def test_placement_is_an_integer_number_of_peers_per_domain():
    """Largest divisor of the group size that fits the domain, not D/S: on an NVL72 domain a 64-rank
    DP group with t = 8 has 8 peers per domain on 8 domains (72/8 = 9 would give 7.1 domains)."""
    assert [float(x) for x in group_split(64, 8, 72)] == [8.0, 8.0]
    assert [float(x) for x in group_split(12, 1, 8)] == [6.0, 2.0]      # 6 + 6, never 8 + 4
    assert [float(x) for x in group_split(64, 2, 8)] == [4.0, 16.0]     # powers of two: D/S as before
    n_in, n_out = group_split(xr.DataArray([64, 12, 9], dims="n"), 1, 8)
    assert list(n_in.values) == [8.0, 6.0, 3.0] and list(n_out.values) == [8.0, 2.0, 3.0]


def test_interleaving_multiplies_the_pipeline_sends():
    """Interleaved 1F1B with v chunks per GPU crosses v times more stage boundaries per micro-batch
    (Narayanan et al. 2021 §2.2.2): 2v sends of (s/c)·b·h/t (scatter-gather over the t rails)."""
    c = _inputs(pp=4, tp=8, dp=16, link_efficiency=1.0, scale_out_latency=0.0)
    one = communication.kernel(**{**c, "virtual_stages": 1})
    five = communication.kernel(**{**c, "virtual_stages": 5})
    hand = 2 * 8192 * 8192 * 2.0 / 8 / (50 * GB)           # t·d = 128 > 8: stage neighbours across nodes
    assert float(one["mb_pp_comm_time"]) == pytest.approx(hand, rel=1e-12)
    assert float(five["mb_pp_comm_time"]) == pytest.approx(5 * hand, rel=1e-12)


def test_scale_out_bandwidth_axis_overrides_named_fabric():
    # physics.md §5.3 worked example: 2·63/64·17.65 GB / β per all-reduce; β was the fabric's
    # 50 GB/s whatever scale_out_bandwidth said (a 0-d result, the axis dropped)
    base = dict(model="llama-3.1-70b", hardware="H100", precision="fp16", gpus=512, tp=8, global_batch=2048,
                seq_len=2048, link_efficiency=1.0, gradient_bytes=2, zero=0, scale_out_fabric="ib-ndr")
    ds = dsx.training(**base, scale_out_bandwidth=["25 GB/s", "100 GB/s"])
    assert ds.dp_comm_time.dims == ("scale_out_bandwidth",)
    np.testing.assert_allclose(ds.dp_comm_time.values, [2 * 0.695, 0.695 / 2], rtol=0.01)
    plain = dsx.training(**{k: v for k, v in base.items() if k != "scale_out_fabric"}, scale_out_bandwidth="100 GB/s")
    assert float(ds.dp_comm_time.sel(scale_out_bandwidth=100e9)) == pytest.approx(float(plain.dp_comm_time), rel=1e-9)


def test_missing_scale_up_domain_is_one_not_zero_time():
    # a user row without scale_up_domain (NaN) fell back to gpus_per_node (8: NVLink); a NaN domain
    # itself would give group_split NaN peers and a 0 s all-reduce. It means no scale-up reach:
    # every TP peer on its own domain, 4 · 2·7/8 · act / 50 GB/s per layer
    c = _inputs(tp=8, pp=1, dp=1, layers_per_stage=1, scale_up_latency=0.0, scale_out_latency=0.0,
                collective_latency=0.0, link_efficiency=1.0, oversubscription=1.0, scale_up_domain=np.nan)
    act = 8192 * 8192 * 2.0
    assert float(communication.kernel(**c)["mb_tp_comm_time"]) == pytest.approx(4 * 2 * 7 / 8 * act / (50 * GB))
