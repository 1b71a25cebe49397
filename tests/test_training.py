"""Step time, throughput, utilisation, time to train, feasibility (physics.md §2, §6)."""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dsx
from dsx.solvers.training import feasibility, step_time, throughput, time_to_train

from oracles import training as oracle

DAY = 86_400.0


def _step_inputs(**over):
    """Inputs of ``step_time.kernel`` for a compute-only pipeline (1 s micro-batches)."""
    c = {k: v.default for k, v in step_time.inputs.items()}
    c.update(mb_time=1.0, mb_flops_matmul=0.0, mb_flops_attention=0.0, mb_flops_logits=0.0, mb_memory_time=0.0,
             peak_flops=1e15, activation_bytes=2.0, micro_batches=8, bound="compute", mb_tp_comm_time=0.0,
             mb_cp_comm_time=0.0, mb_ep_comm_time=0.0, mb_pp_comm_time=0.0, dp_comm_time=0.0, zero3_comm_time=0.0,
             weights_memory=0.0, gradients_memory=0.0, optimizer_memory=0.0, hbm_bandwidth=3e12, pp=1,
             virtual_stages=1, zero=1, layer_gather_time=0.0, layer_reduce_scatter_time=0.0, layers_per_stage=10)
    c.update(over)
    return c


@pytest.mark.parametrize("m,p", [(1, 4), (8, 4), (32, 8), (64, 1), (3, 2)])
def test_bubble_fraction(m, p):
    out = step_time.kernel(**_step_inputs(micro_batches=m, pp=p))
    frac = float(out["step_bubble_time"] / out["step_time"])
    assert frac == pytest.approx((p - 1) / (m + p - 1))            # Narayanan et al. 2021 §2.2
    assert float(out["step_time"]) == pytest.approx(m + p - 1)       # Eq. 1, communication ignored


def test_interleaving_divides_bubble():
    plain = step_time.kernel(**_step_inputs(micro_batches=16, pp=8))
    inter = step_time.kernel(**_step_inputs(micro_batches=16, pp=8, virtual_stages=4))
    assert float(inter["step_bubble_time"]) == pytest.approx(float(plain["step_bubble_time"]) / 4)


def test_breakdown_sums_and_bottleneck():
    c = _step_inputs(micro_batches=4, pp=2, mb_tp_comm_time=2.0, dp_comm_time=5.0, optimizer_memory=3e12)
    out = step_time.kernel(**c)
    parts = ("step_compute_time", "step_comm_time", "step_bubble_time", "step_dp_exposed_time", "step_optimizer_time")
    assert float(sum(out[k] for k in parts)) == pytest.approx(float(out["step_time"]))
    assert str(out["bottleneck"]) == "tp_comm"                         # 4 × 2 s of exposed TP
    # ZeRO 1: reduce under the last backward + parameter gather under the next first forward
    assert float(out["step_dp_exposed_time"]) == pytest.approx(5.0 - 1.0)
    ddp = step_time.kernel(**{**c, "zero": 0})                          # plain all-reduce: backward only
    assert float(ddp["step_dp_exposed_time"]) == pytest.approx(5.0 - 2 / 3)
    assert float(out["scaling_efficiency"]) == pytest.approx(4.0 / float(out["step_time"]))
    bubble = step_time.kernel(**_step_inputs(micro_batches=2, pp=8))
    assert str(bubble["bottleneck"]) == "bubble"
    mem = step_time.kernel(**_step_inputs(bound="memory"))
    assert str(mem["bottleneck"]) == "memory"
    # TP overlap hides TP collectives
    hidden = step_time.kernel(**{**c, "tp_overlap": 1.0})
    assert float(hidden["step_comm_time"]) == 0.0


def test_attention_runs_at_16_bit_under_fp8():
    c = _step_inputs(mb_time=0.0, mb_flops_attention=1e15, attention_efficiency=1.0, kernel_efficiency=1.0,
                     matmul_efficiency=1.0)
    t16 = float(step_time.kernel(**c)["mb_kernel_time"])
    t8 = float(step_time.kernel(**{**c, "activation_bytes": 1.0})["mb_kernel_time"])
    assert t16 == pytest.approx(1.0) and t8 == pytest.approx(2.0)


@given(m=st.integers(1, 64), p=st.sampled_from([1, 2, 4, 8]), v=st.sampled_from([1, 2, 3]),
       zero=st.sampled_from([0, 1, 2, 3]), tp=st.floats(0, 1), fl=st.floats(1e12, 1e16), att=st.floats(0, 1e15),
       tm=st.floats(0, 2), comm=st.floats(0, 1), dpc=st.floats(0, 10), z3=st.floats(0, 10),
       pb=st.sampled_from([1.0, 2.0, 4.0]), opt=st.floats(0, 1e11), ag=st.floats(0, 0.5), rs=st.floats(0, 0.5),
       lps=st.sampled_from([1, 7, 80]), keep=st.sampled_from(["forward", "backward", "step"]), depth=st.sampled_from([0, 1, 2]),
       rec=st.sampled_from(["none", "selective", "full"]))
@settings(max_examples=200)
def test_step_matches_scalar_oracle(m, p, v, zero, tp, fl, att, tm, comm, dpc, z3, pb, opt, ag, rs, lps, keep,
                                    depth, rec):
    c = _step_inputs(micro_batches=m, pp=p, virtual_stages=v, zero=zero, tp_overlap=tp, mb_flops_matmul=fl,
                     mb_flops_attention=att, mb_memory_time=tm, mb_time=max(fl / 8e14, tm), mb_tp_comm_time=comm,
                     mb_cp_comm_time=comm / 2, mb_ep_comm_time=comm / 3, mb_pp_comm_time=comm / 4,
                     dp_comm_time=dpc, zero3_comm_time=z3, activation_bytes=pb, optimizer_memory=opt,
                     gradients_memory=opt / 3, weights_memory=opt / 6,
                     layer_gather_time=ag if zero >= 3 else 0.0, layer_reduce_scatter_time=rs if zero >= 2 else 0.0,
                     layers_per_stage=lps, zero3_reshard=keep, prefetch_depth=depth, recompute=rec)
    got = step_time.kernel(**c)
    for k, v_ in oracle.step_time(c).items():
        assert float(got[k]) == pytest.approx(v_, rel=1e-9, abs=1e-12), k


def test_throughput_and_utilisation():
    out = throughput.kernel(tokens_per_step=2048 * 4096, step_time=8.0, model_flops_step=5e17,
                            hardware_flops_step=6e17, peak_flops=989e12, gpus=512)
    assert float(out["tokens_per_s"]) == pytest.approx(2048 * 4096 / 8.0)          # not × GPUs
    assert float(out["tokens_per_s_per_gpu"]) == pytest.approx(2048 * 4096 / 8.0 / 512)
    assert float(out["mfu"]) == pytest.approx(5e17 / (8.0 * 512 * 989e12))
    assert float(out["hfu"]) == pytest.approx(6e17 / (8.0 * 512 * 989e12))


def test_time_to_train_rule():
    by_days = time_to_train.kernel(tokens_per_s=1e6, train_tokens=0.0, days=30.0)
    assert float(by_days["train_tokens"]) == pytest.approx(1e6 * 30 * DAY)
    assert float(by_days["time_to_train"]) == pytest.approx(30 * DAY)
    both = time_to_train.kernel(tokens_per_s=1e6, train_tokens=1.5e13, days=30.0)     # tokens win
    assert float(both["time_to_train"]) == pytest.approx(1.5e7)
    assert float(both["wall_time_ideal"]) == float(both["time_to_train"])
    assert float(both["tokens_total"]) == 1.5e13


def test_feasibility_reason_order():
    ok = dict(ok_precision=True, ok_gpus_enough=True, ok_gpus_divisible=True, ok_tp_within_heads=True,
              ok_tp_heads=True, ok_pp_within_layers=True, ok_layers_divisible=True, ok_ep_within_experts=True,
              ok_experts_divisible=True, ok_dp_within_batch=True, ok_batch_enough=True, ok_batch_divisible=True,
              ok_context=True, ok_seq_cp=True, ok_memory=True, micro_batches=8, pp=4, virtual_stages=1, step_time=1.0,
              scale_up_bandwidth=450e9, scale_out_bandwidth=50e9)
    assert str(feasibility.kernel(**ok)["reason"]) == ""
    assert bool(feasibility.kernel(**ok)["feasible"])
    # the size check (tp > heads) comes before divisibility (tests/test_infeasible.py has both)
    assert str(feasibility.kernel(**{**ok, "ok_memory": False, "ok_tp_heads": False})["reason"]) == \
        "tp_not_dividing_heads"
    assert str(feasibility.kernel(**{**ok, "ok_memory": False})["reason"]) == "oom"
    bad_interleave = feasibility.kernel(**{**ok, "micro_batches": 6, "virtual_stages": 2})
    assert str(bad_interleave["reason"]) == "interleave_not_divisible"
    assert not bool(bad_interleave["feasible"])


# -- the whole stack ---------------------------------------------------------------------------
SEED = dict(model="llama-3.1-70b", hardware="H100", precision="bf16", gpus=512, tp=8, pp=1,
            global_batch=2048, seq_len=2048, recompute="full")


def test_seed_job_end_to_end():
    ds = dsx.training(**SEED)
    assert bool(ds.feasible), str(dsx.decode(ds.reason).values)
    assert float(ds.tokens_per_s) == pytest.approx(2048 * 2048 / float(ds.step_time))
    assert 0.25 < float(ds.mfu) < 0.6
    assert float(ds.hfu) > float(ds.mfu)                                  # full recompute
    assert float(ds.time_to_train) == pytest.approx(30 * DAY)            # default: 30 days
    for name in ("step_time", "tokens_per_s", "mfu", "time_to_train", "dp_comm_time", "step_bubble_time"):
        assert ds[name].attrs["units"] in ("s", "token/s", "")
        assert ds[name].attrs["long_name"]
    print({k: float(ds[k]) for k in ("step_time", "mfu", "dp_comm_time", "mb_tp_comm_time")},
          str(dsx.decode(ds.bottleneck).values))


def test_infeasible_still_computes_numbers():
    # the raw values are computed (mask_infeasible=False); by default the outcomes are NaN (issue 10)
    ds = dsx.training(**{**SEED, "gpus": 8, "tp": 1, "recompute": "none"}, mask_infeasible=False)  # 70B, one node
    assert not bool(ds.feasible) and str(dsx.decode(ds.reason).values) == "oom"
    assert np.isfinite(float(ds.step_time)) and float(ds.step_time) > 0


def test_axes_order_and_subspace_consistency():
    axes = dict(gpus=[256, 512], tp=[4, 8], global_batch=[1024, 2048])
    ds = dsx.training(**{**SEED, **axes})
    swapped = dsx.training(**{**SEED, "global_batch": [1024, 2048], "tp": [4, 8], "gpus": [256, 512]})
    for k in ("step_time", "mfu", "dp_comm_time"):
        a, b = ds[k].transpose(*sorted(ds[k].dims)), swapped[k].transpose(*sorted(swapped[k].dims))
        np.testing.assert_allclose(a.values, b.values, rtol=1e-12)
    one = dsx.training(**{**SEED, "gpus": 256, "tp": 4, "global_batch": 1024})
    sel = ds.sel(gpus=256, tp=4, global_batch=1024)
    for k in ("step_time", "tokens_per_s", "mfu", "step_dp_exposed_time"):
        assert float(sel[k]) == pytest.approx(float(one[k]), rel=1e-12, nan_ok=True)  # NaN: infeasible


def test_more_bandwidth_never_slower():
    """Monotonicity over a whole space in one evaluation (bandwidth axes × layouts)."""
    for which, values in (("scale_out_bandwidth", [12.5e9, 25e9, 50e9, 100e9]),
                          ("scale_up_bandwidth", [150e9, 300e9, 450e9, 900e9]),
                          ("hbm_bandwidth", [1.6e12, 3.35e12, 8e12])):
        ds = dsx.training(**{**SEED, "tp": [2, 8], "pp": [1, 4], "zero": [1, 3], "gpus": [256, 512], which: values},
                          mask_infeasible=False)  # physics invariants hold on the raw values too
        step = ds.step_time.transpose(which, ...)
        assert (step.diff(which) <= 1e-12 * step.isel({which: slice(1, None)})).all(), which


def test_more_gpus_never_less_aggregate_throughput():
    base = dict(model="llama-3.1-8b", hardware="H100", precision="bf16", global_batch=1024, seq_len=4096,
                tp=[1, 2, 8], pp=[1, 2, 4], zero=[0, 1, 3], gpus=[64, 128, 256, 512, 1024])
    ds = dsx.training(**base, mask_infeasible=False)  # physics invariant: on the raw values
    tps = ds.tokens_per_s.transpose("gpus", ...)
    agg = (ds.mfu * ds.gpus * ds.peak_flops).transpose("gpus", ...)     # achieved model FLOP/s of the job
    assert (tps.diff("gpus") >= -1e-12 * tps.isel(gpus=slice(1, None))).all()
    assert (agg.diff("gpus") >= -1e-9 * agg.isel(gpus=slice(1, None))).all()


@settings(max_examples=10)
@given(model=st.sampled_from(["llama-3.1-8b", "llama-3.1-70b", "gpt3-175b", "mixtral-8x7b"]),
       hardware=st.sampled_from(["H100", "A100-80GB", "B200"]), tp=st.sampled_from([1, 2, 4, 8]),
       pp=st.sampled_from([1, 2, 4]), zero=st.sampled_from([0, 1, 3]), nodes=st.sampled_from([8, 16, 32]),
       link=st.floats(0.3, 0.6))  # link * 1.5 stays below 1: two distinct axis values
def test_invariants_random_configurations(model, hardware, tp, pp, zero, nodes, link):
    """Hypothesis over configurations: doubling GPUs never lowers the job's achieved FLOP/s, and
    more bandwidth (link efficiency) never slows a step."""
    base = dict(model=model, hardware=hardware, precision="bf16", global_batch=2048, seq_len=4096, tp=tp, pp=pp,
                zero=zero, ep=8 if model.startswith("mixtral") else 1)
    ds = dsx.training(**base, gpus=[8 * nodes, 16 * nodes], link_efficiency=[link, min(1.0, link * 1.5)],
                      mask_infeasible=False)  # physics invariants: on the raw values
    agg = (ds.mfu * ds.gpus * ds.peak_flops).transpose("gpus", ...).values
    assert np.all(agg[1] >= agg[0] * (1 - 1e-9))
    step = ds.step_time.transpose("link_efficiency", ...).values
    assert np.all(step[1] <= step[0] * (1 + 1e-12))


def test_mfu_against_the_16bit_peak_and_fp8_beside_it():
    """Chowdhery et al. 2022 App. B: MFU against the dense 16-bit peak; an FP8 run's MFU against its
    FP8 peak (2x) is reported beside it. Same step, same model FLOPs: bf16 989 vs fp8 1979 TFLOP/s."""
    bf16 = throughput.kernel(4e6, 2.0, 1.2e18, 1.6e18, 989e12, activation_bytes=2.0, gpus=1024)
    fp8 = throughput.kernel(4e6, 2.0, 1.2e18, 1.6e18, 1979e12, activation_bytes=1.0, gpus=1024)
    assert float(fp8["mfu"]) == pytest.approx(1.2e18 / (2.0 * 1024 * 989.5e12))
    assert float(fp8["mfu_compute_peak"]) == pytest.approx(float(fp8["mfu"]) / 2)
    assert float(bf16["mfu"]) == float(bf16["mfu_compute_peak"])
    asked = throughput.kernel(4e6, 2.0, 1.2e18, 1.6e18, 1979e12, activation_bytes=1.0, gpus=1024, mfu_peak="compute")
    assert float(asked["mfu"]) == float(fp8["mfu_compute_peak"])


def test_zero3_loses_throughput_with_dp_at_fixed_batch_ptdp_stays_flat():
    """Published behaviour (ZeRO++, Wang et al. 2023 §1; FSDP, Zhao et al. 2023 §7): at a fixed global
    batch, ZeRO-3 without model parallelism hides the same per-layer gathers under fewer tokens per GPU
    as DP grows and loses most of its per-GPU throughput; PTD-P (TP 8, PP 4, ZeRO-1) stays near flat.
    Hand check at 1,024 GPUs: 1,024 tokens per GPU give a layer 13 ms of compute (3.3 forward), less
    than its 10.4 ms parameter gather plus the gradient reduce-scatter on 50 GB/s rails."""
    z3 = dsx.training(model="llama-3.1-70b", hardware="H100", precision="bf16", gpus=[128, 1024], tp=1,
                      global_batch=1024, seq_len=1024, micro_batch=[8, 1], zero=3, recompute="full")
    small = float(z3.tokens_per_s_per_gpu.sel(gpus=128, micro_batch=8))
    large = float(z3.tokens_per_s_per_gpu.sel(gpus=1024, micro_batch=1))
    ptdp = dsx.training(model="llama-3.1-70b", hardware="H100", precision="bf16", gpus=[128, 1024], tp=8, pp=4,
                        global_batch=1024, seq_len=1024, micro_batch=1, zero=1, recompute="none", virtual_stages=5)
    p_small, p_large = (float(ptdp.tokens_per_s_per_gpu.sel(gpus=g)) for g in (128, 1024))
    print(f"ZeRO-3: {small:.0f} -> {large:.0f} tok/s/GPU ({large / small - 1:+.0%}); "
          f"PTD-P: {p_small:.0f} -> {p_large:.0f} ({p_large / p_small - 1:+.0%})")
    assert large < 0.5 * small
    assert p_large > 0.75 * p_small and p_large > 2 * large


def test_llama70b_1024_layouts():
    """docs/layouts-70b.md: Llama-3.1-70B on 1,024 H100, seq 8192, global batch 512. Among ZeRO <= 1
    (Megatron-LM's distributed optimizer) dsx picks the NeMo recipe (NVIDIA/NeMo llama3_70b.py: TP 4,
    PP 4, CP 2, VP 5); overall it picks sharded gradients with TP x PP (Llama 3, Llama Team 2024
    §3.3.2), never ZeRO-3 (its per-layer gathers are exposed at this batch)."""
    from dsx.analysis import best
    ds = dsx.training(model="llama-3.1-70b", hardware="H100", precision="bf16", gpus=1024, seq_len=8192,
                      global_batch=512, micro_batch=1, zero=[0, 1, 2, 3], tp=[2, 4, 8], pp=[1, 2, 4],
                      cp=[1, 2], virtual_stages=[1, 5], recompute=["none", "full"])
    over = ["tp", "pp", "cp", "virtual_stages", "recompute"]
    z1 = best(ds.sel(zero=[0, 1]), minimize="step_time", over=["zero"] + over)
    assert (int(z1.zero), int(z1.tp), int(z1.pp), int(z1.cp), int(z1.virtual_stages), str(z1.recompute.values)) \
        == (1, 4, 4, 2, 5, "none")
    top = best(ds, minimize="step_time", over=["zero"] + over, include=["step_dp_exposed_time"])
    print({k: top[k].values for k in ["zero"] + over + ["step_time"]})
    assert int(top.zero) == 2 and int(top.tp) * int(top.pp) > 1
    z3 = best(ds.sel(zero=3), minimize="step_time", over=over, include=["step_dp_exposed_time"])
    assert float(z3.step_time) > float(z1.step_time) and float(z3.step_dp_exposed_time) > 0.3


def test_llama3_405b_interleaved_layout_as_run():
    """Llama 3 405B (Llama Team 2024 §3.3.2, Table 4): 126 layers on 16 stages, one layer fewer on
    the first and last stage so that their outer chunk holds only the embedding / the head: one
    layer per chunk, v = 128/16 = 8. That is a layout (pp·v = 128 > 126 layers is allowed when the
    two outer chunks are empty), and the bubble is (p-1)/v micro-batch times, the paper's
    (PP-1)/(V·M) of the m·t_mb compute: hand derivation 15/(8·32) = 5.9 % at 8,192 GPUs."""
    ds = dsx.training(model="llama-3.1-405b", hardware="H100-SXM", precision="bf16", gpus=8192, tp=8, pp=16,
                      virtual_stages=8, global_batch=2048, micro_batch=1, seq_len=8192)
    assert bool(ds.ok_pp_within_layers) and bool(ds.ok_layers_divisible) and bool(ds.ok_interleave)
    assert [int(ds[k]) for k in ("first_stage_layers", "layers_per_stage", "last_stage_layers")] == [7, 8, 7]
    assert float(ds.micro_batches) == 32
    # the bubble of that schedule (communication aside): 15/8 micro-batch times on 32 of compute
    out = step_time.kernel(**_step_inputs(micro_batches=32, pp=16, virtual_stages=8))
    ratio = float(out["step_bubble_time"] / out["step_compute_time"])
    print(f"bubble / compute = {ratio:.4f} (paper (PP-1)/(V M) = {15 / (8 * 32):.4f})")
    assert ratio == pytest.approx(15 / (8 * 32), rel=1e-12)
    # one chunk more than the layers allow beyond the two outer ones is still refused
    bad = dsx.training(model="llama-3.1-405b", hardware="H100-SXM", precision="bf16", gpus=8192, tp=8,
                       pp=16, virtual_stages=9, global_batch=2048, seq_len=8192)
    assert not bool(bad.ok_pp_within_layers)


def test_mfu_attention_convention_and_llama3_128k():
    """MFU under a stated attention convention (mfu_attention): the reported model FLOPs per token
    are 6N + 12·L·h·s ('full', PaLM), half the attention ('causal') or 6N ('none'); the executed
    step is the same. Hand derivation for Llama-3.1-405B at 131,072 tokens: 12·126·16384·131072
    = 3.25e12 flop per token. Llama 3's Table 4 (380 TFLOP/s, MFU 38 % at 128K) matches only the
    full-square count: dsx with 'full' is within 12 % of it, with 'none' more than 40 % below."""
    from dsx import validation
    kw = dict(model="llama-3.1-405b", hardware="H100-SXM", precision="bf16", gpus=16384, tp=8, pp=16, cp=16,
              virtual_stages=8, global_batch=128, seq_len=131072, hbm_capacity=400e9)
    out = {c: dsx.training(mfu_attention=c, **kw) for c in ("full", "causal", "none")}
    assert float(out["full"].step_time) == float(out["none"].step_time)
    per_token = {c: float(o.model_flops_step / o.tokens_per_step) for c, o in out.items()}
    attn = 12 * 126 * 16384 * 131072
    print({c: f"{v:.3e}" for c, v in per_token.items()}, f"attention term {attn:.3e}")
    assert per_token["full"] - per_token["none"] == pytest.approx(attn, rel=1e-9)
    assert per_token["causal"] - per_token["none"] == pytest.approx(attn / 2, rel=1e-9)
    rows = validation.load("training")
    row = rows[rows.run.str.contains("128K")]
    errors = {c: float(validation.predict(row.assign(mfu_attention=c), "training").error.iloc[0])
              for c in ("full", "none")}
    print(f"Llama 3 128K MFU error: full {errors['full']:+.1%}, none {errors['none']:+.1%}")
    assert abs(errors["full"]) < 0.12 and errors["none"] < -0.40


def test_micro_batch_too_large_for_the_batch_is_not_blamed_on_dp():
    """dp = 64 = global_batch with micro_batch 2: dp does not exceed the batch, dp·micro_batch does."""
    ds = dsx.decode(dsx.training(dsx.Space(model="llama-3.1-8b", hardware="H100", gpus=64, tp=1, pp=1,
                                           global_batch=64, micro_batch=[1, 2])))
    assert ds.reason.sel(micro_batch=2).item() == "dp_micro_batch_exceeds_batch"
    assert ds.reason.sel(micro_batch=1).item() == ""
    fewer = dsx.decode(dsx.training(dsx.Space(model="llama-3.1-8b", hardware="H100", gpus=64, global_batch=32)))
    assert fewer.reason.item() == "dp_exceeds_batch"  # fewer sequences than replicas keeps its code


def test_seq_len_must_split_into_2cp_chunks():
    """Megatron-Core CP with load balancing cuts a sequence into 2·cp chunks: 8191 tokens on cp = 2 cannot run."""
    ds = dsx.decode(dsx.training(dsx.Space(model="llama-3.1-8b", hardware="H100", gpus=16, cp=[1, 2, 4],
                                           seq_len=[8190, 8191, 8192])))
    reason = ds.reason.transpose("cp", "seq_len").values.tolist()
    assert [r == "seq_not_divisible_by_cp" for r in reason[1]] == [True, True, False]  # 8190 = 2·4095
    assert [r == "seq_not_divisible_by_cp" for r in reason[2]] == [True, True, False]
    assert "seq_not_divisible_by_cp" not in reason[0]  # cp = 1: any length
    bad = ds.sel(cp=2, seq_len=8191)
    assert not bad.feasible.item() and np.isnan(bad.time_to_train.item()) and np.isnan(bad.step_time.item())
    assert bool(ds.ok_seq_cp.sel(cp=2, seq_len=8192)) and not bool(ds.ok_seq_cp.sel(cp=2, seq_len=8191))
