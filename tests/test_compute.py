"""Compute roofline: hand calculations, published closed forms, bounds, scalar oracle, invariants."""


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dsx
from dsx.solvers import base
from dsx.solvers.compute import inference_compute
from dsx.solvers.compute_training import training_compute
from dsx.solvers.layout import layout
from dsx.solvers.memory import inference_memory, training_memory
from dsx.solvers.model import model_shape
from dsx.stacks import evaluate

from oracles import compute_memory as oracle

TRAIN = (model_shape, layout, training_compute, training_memory)
SERVE = (model_shape, inference_compute, inference_memory)


def train(**axes):
    return dsx.decode(evaluate(TRAIN, dsx.Space(**axes).to_dataset()))  # bound as text


def serve(**axes):
    return dsx.decode(evaluate(SERVE, dsx.Space(**axes).to_dataset()))  # bounds as text


def one(ds, name):
    return float(ds[name].squeeze())


# -- hand calculations -----------------------------------------------------------------------------

def test_dense_training_flops_hand_calculation():
    """6·N_mm·B·s + 12·L·a·d_h·s·B·s, written out for Llama-3.1-8B (physics reference §2)."""
    L, h, a, akv, dh, f, V = 32, 4096, 32, 8, 128, 14336, 128256
    n_mm = L * (2 * h * dh * (a + akv) + 3 * h * f) + V * h
    B, s = 64, 2048
    ds = train(model=["llama-3.1-8b"], hardware=["H100"], precision=["bf16"], gpus=8, global_batch=B,
               seq_len=s, recompute="none", flash_attention=False)
    expected = (6 * n_mm + 12 * L * a * dh * s) * B * s
    assert one(ds, "model_flops_step") == pytest.approx(expected, rel=1e-12)
    # no recompute, no flash: hardware = model FLOPs; one micro-batch on one of 8 data-parallel GPUs
    assert one(ds, "hardware_flops_step") == pytest.approx(expected, rel=1e-12)
    mb = one(ds, "mb_flops_matmul") + one(ds, "mb_flops_attention") + one(ds, "mb_flops_logits")
    assert mb == pytest.approx(expected / B, rel=1e-12)


def test_korthikanti_eq7_and_narayanan_eq3_gpt3():
    """GPT-3 (MHA, f = 4h): model 72BLsh²(1 + s/6h + V/12hL); full recompute 96BLsh²(1 + s/6h + V/16Lh)."""
    B, L, s, h, V = 1536, 96, 2048, 12288, 50257
    ds = train(model=["gpt3-175b"], hardware=["A100-80GB"], precision=["bf16"], gpus=1024, tp=8, pp=8,
               global_batch=B, seq_len=s, recompute=["none", "full"], flash_attention=False)
    eq7 = 72 * B * L * s * h**2 * (1 + s / (6 * h) + V / (12 * h * L))
    eq3 = 96 * B * L * s * h**2 * (1 + s / (6 * h) + V / (16 * L * h))
    assert one(ds, "model_flops_step") == pytest.approx(eq7)
    assert float(ds.hardware_flops_step.sel(recompute="full").squeeze()) == pytest.approx(eq3)
    assert float(ds.hardware_flops_step.sel(recompute="none").squeeze()) == pytest.approx(eq7)


def test_seed_training_step_is_compute_bound_on_one_h100():
    """Seed error #1: a training step of Llama-3.1-70B at 4 x 2048 tokens is ~3.5e15 FLOP, compute-bound."""
    ds = train(model=["llama-3.1-70b"], hardware=["H100"], precision=["bf16"], gpus=1, global_batch=4,
               micro_batch=4, seq_len=2048)
    print("model FLOPs", one(ds, "model_flops_step"), "intensity", one(ds, "arithmetic_intensity"),
          "ridge", one(ds, "ridge_intensity"))
    assert one(ds, "model_flops_step") == pytest.approx(6 * 7.06e10 * 4 * 2048, rel=0.05)
    assert str(ds.bound.squeeze().item()) == "compute"
    assert one(ds, "arithmetic_intensity") > 3 * one(ds, "ridge_intensity")
    eta = float(dsx.catalog.hardware().matmul_efficiency.sel(hardware="H100-SXM"))   # measured, 0.803
    assert one(ds, "ridge_intensity") == pytest.approx(eta * 989e12 / (0.85 * 3.35e12))
    # and it does not fit (seed error #3): infeasible is data
    assert not bool(ds.ok_memory.squeeze())


def test_decode_batch1_memory_bound_bytes_are_weights_plus_kv():
    ds = serve(model=["llama-3.1-70b"], hardware=["H100"], precision=["bf16"], batch=1, input_len=2048,
               output_len=256)
    weights = 70.554e9 * 2
    kv = (2048 + 128 + 1) * 2 * 80 * 8 * 128 * 2
    assert str(ds.decode_bound.squeeze().item()) == "memory"
    assert one(ds, "decode_hbm_bytes") == pytest.approx(weights + kv, rel=0.005)
    assert one(ds, "decode_step_time") == pytest.approx(one(ds, "decode_hbm_bytes") / (0.85 * 3.35e12))
    # prefill of 2048 tokens is compute-bound (I ≈ 2·B·s/b_w ≫ ridge)
    assert str(ds.prefill_bound.squeeze().item()) == "compute"


def test_decode_becomes_compute_bound_at_large_batch():
    ds = serve(model=["llama-3.1-8b"], hardware=["H100"], precision=["bf16"], batch=[1, 4096], input_len=128,
               output_len=16)
    assert list(ds.decode_bound.squeeze().values) == ["memory", "compute"]


def test_moe_decode_reads_touched_experts():
    """Mixtral batch 1 reads 2 of 8 experts per layer; by batch 64 effectively all (physics §3)."""
    ds = serve(model=["mixtral-8x7b"], hardware=["H100"], precision=["bf16"], batch=[1, 64], tp=4,
               input_len=16, output_len=2)
    shape = model_shape(dsx.Space(model="mixtral-8x7b").to_dataset())
    experts = float(shape.expert_params)
    dense = float(shape.params) - experts
    q = ds.decode_hbm_bytes.squeeze()
    assert float(q.sel(batch=1)) == pytest.approx((dense + experts * 2 / 8) * 2 / 4, rel=0.01)
    # batch 64: every expert read once (1 - (6/8)^64 ≈ 1), plus KV and 64 tokens' activations (< 2 %)
    assert float(shape.params) * 2 / 4 < float(q.sel(batch=64)) < 1.02 * float(shape.params) * 2 / 4


def test_kv_heads_per_gpu_replicated_beyond_kv_heads():
    ds = serve(model=["llama-3.1-70b"], hardware=["H100"], precision=["bf16"], tp=[8, 16], batch=64,
               input_len=4094, output_len=2)
    kv = ds.kv_cache_memory.squeeze()
    assert float(kv.sel(tp=8)) == pytest.approx(float(kv.sel(tp=16)))      # 1 KV head per GPU either way
    assert float(kv.sel(tp=8)) == pytest.approx(64 * 4096 * 2 * 80 * 1 * 128 * 2)


def test_resnet50_training_flops():
    ds = train(model=["resnet-50"], hardware=["H100"], precision=["bf16"], gpus=8, global_batch=256,
               micro_batch=32)
    ffps = float(dsx.catalog.models().forward_flops_per_sample.sel(model="resnet-50"))
    assert one(ds, "tokens_per_step") == 256
    assert one(ds, "model_flops_step") == pytest.approx(3 * ffps * 256)
    assert one(ds, "mb_flops_matmul") == pytest.approx(3 * ffps * 32)
    assert bool(ds.ok_layout.squeeze())


def test_layout_flags():
    ds = train(model=["llama-3.1-70b", "mixtral-8x7b"], hardware=["H100"], precision=["bf16", "fp4"],
               gpus=[64, 96], tp=[8, 3], pp=[1, 3], ep=[1, 4], seq_len=[4096, 262144], global_batch=512)
    ok = ds.ok_layout
    assert bool(ok.sel(model="llama-3.1-70b", precision="bf16", gpus=64, tp=8, pp=1, ep=1, seq_len=4096).item())
    assert not ds.ok_tp_heads.sel(tp=3).any()
    # 80 layers on 3 stages is a layout (uneven stages: 27 + 27 + 26), not an error
    assert ds.ok_layers_divisible.sel(model="llama-3.1-70b", pp=3).all()
    three = ds.sel(model="llama-3.1-70b", pp=3, precision="bf16", gpus=96, tp=8, ep=1, seq_len=4096)
    assert [float(three[k]) for k in ("first_stage_layers", "layers_per_stage", "last_stage_layers")] == [27, 27, 26]
    assert not ds.ok_precision.sel(precision="fp4").any()              # H100 has no FP4
    assert not ds.ok_context.sel(seq_len=262144).any()
    assert not ds.ok_experts_divisible.sel(model="llama-3.1-70b", ep=4).any()
    assert ds.ok_experts_divisible.sel(model="mixtral-8x7b", ep=4, gpus=64, tp=8, pp=1).all()
    assert not ds.ok_gpus_divisible.sel(gpus=64, tp=8, pp=3).any() and ds.ok_gpus_divisible.sel(gpus=96, tp=8, pp=3)
    assert float(ds.dp.sel(gpus=96, tp=8, pp=1)) == 12


def test_36_config_example_compact_dims():
    ds = train(model=["llama-3.1-8b", "llama-3.1-70b"], hardware=["H100", "B200", "MI300X"],
               global_batch=[256, 512, 1024], precision=["bf16", "fp8"], gpus=64, tp=8)
    assert ds.params.dims == ("model",)
    assert set(ds.ridge_intensity.dims) == {"hardware", "precision"}
    assert set(ds.mb_time.dims) == {"model", "hardware", "precision"}
    assert set(ds.model_flops_step.dims) == {"model", "global_batch"}
    assert "global_batch" not in ds.mb_hbm_bytes.dims and "hardware" not in ds.mb_flops.dims
    assert set(ds.ok_layout.dims) == {"model", "global_batch", "hardware", "precision"}
    assert ds.mb_time.notnull().all()
    sv = serve(model=["llama-3.1-8b", "llama-3.1-70b"], hardware=["H100", "B200", "MI300X"],
               batch=[1, 8, 64], precision=["bf16", "fp8"], tp=8)
    assert set(sv.decode_step_time.dims) == {"model", "hardware", "precision", "batch"}


def test_units_and_long_names():
    ds = train(model=["llama-3.1-8b"], hardware=["H100"], precision=["bf16"])
    for step in TRAIN:
        for name, (units, _) in step.outputs.items():
            assert ds[name].attrs["units"] == units and ds[name].attrs["long_name"]
    assert ds.mb_time.attrs["units"] == "s" and ds.mb_hbm_bytes.attrs["units"] == "B"


def test_more_bandwidth_or_flops_is_never_slower():
    ds = train(model=["llama-3.1-8b", "mixtral-8x7b"], hardware="H100", precision=["bf16"],
               hbm_bandwidth=[1e12, 3.35e12, 8e12], peak_flops=[1e14, 1e15, 1e16], micro_batch=[1, 8])
    t = ds.mb_time
    assert (t.diff("hbm_bandwidth") <= 0).all() and (t.diff("peak_flops") <= 0).all()


# -- scalar oracle at random points -------------------------------------------------------------

MODEL_CHOICES = ["llama-3.1-8b", "llama-2-7b", "gpt-1.7b", "mixtral-8x7b", "deepseek-v3"]
CATALOG = dsx.catalog.models()


def _row(name):
    return {k: CATALOG[k].sel(model=name).item() for k in CATALOG.data_vars if CATALOG[k].ndim == 1}


def _points(axes, most=8):
    """Up to ``most`` points of the grid spanned by ``axes`` (first, last and evenly between)."""
    keys = list(axes)
    grid = np.array(np.meshgrid(*[np.array(axes[k], dtype=object) for k in keys], indexing="ij"),
                    dtype=object).reshape(len(keys), -1).T
    idx = np.unique(np.linspace(0, len(grid) - 1, most).round().astype(int))
    return [dict(zip(keys, grid[i])) for i in idx]


def _at(da, point):
    return da.sel({k: v for k, v in point.items() if k in da.dims}).item()


def _subset(values):
    return st.lists(st.sampled_from(values), min_size=1, max_size=2, unique=True)


@settings(max_examples=12)
@given(model=st.sampled_from(MODEL_CHOICES), hardware=st.sampled_from(["H100", "B200"]),
       tp=_subset([1, 2, 4, 8]), pp=_subset([1, 2, 4]), cp=_subset([1, 2]), micro_batch=_subset([1, 2]),
       seq_len=_subset([1024, 4096]), recompute=_subset(["none", "selective", "full"]),
       zero=_subset([0, 1, 2, 3]), vs=st.sampled_from([1, 2]), ep=st.sampled_from([1, 2]),
       sp=st.booleans(), flash=st.booleans(), dropout=st.booleans(), causal=st.booleans(),
       precision=st.sampled_from(["bf16", "fp8"]))
def test_training_matches_scalar_oracle(model, hardware, tp, pp, cp, micro_batch, seq_len, recompute, zero,
                                        vs, ep, sp, flash, dropout, causal, precision):
    axes = dict(tp=tp, pp=pp, cp=cp, micro_batch=micro_batch, seq_len=seq_len, recompute=recompute, zero=zero)
    ds = train(model=model, hardware=hardware, precision=precision, gpus=128, global_batch=512,
               virtual_stages=vs, ep=ep, sequence_parallel=sp, flash_attention=flash, dropout=dropout,
               causal_attention=causal, **axes)
    hw = dsx.catalog.hardware().sel(hardware=dsx.catalog.resolve("hardware", hardware))
    nbytes = float(dsx.catalog.precisions().bytes.sel(precision=precision))
    m = _row(model)
    for point in _points(axes):
        c = dict(point, gpus=128, global_batch=512, ep=ep, virtual_stages=vs, sequence_parallel=sp,
                 flash_attention=flash, dropout=dropout, causal_attention=causal, weight_bytes=nbytes,
                 activation_bytes=nbytes, gradient_bytes=4.0, optimizer_bytes=12.0,
                 peak_flops=float(hw.peak_flops.sel(precision=precision)),
                 hbm_bandwidth=float(hw.hbm_bandwidth), matmul_efficiency=float(hw.matmul_efficiency),
                 hbm_efficiency=0.85,
                 memory_reserve=2e9, memory_fragmentation=0.05, tied_embeddings=m["tied_embeddings"])
        ref = oracle.training(m, c)
        for name in ("dp", "micro_batches", "mb_flops", "mb_hbm_bytes", "mb_time", "activation_memory",
                     "memory_per_gpu"):
            assert _at(ds[name], point) == pytest.approx(ref[name], rel=1e-9), (name, point)
        assert str(_at(ds.bound, point)) == ref["bound"]


@settings(max_examples=12)
@given(model=st.sampled_from(MODEL_CHOICES), tp=_subset([1, 2, 8, 16]), pp=_subset([1, 2]),
       batch=_subset([1, 7, 256]), input_len=_subset([128, 4096]), output_len=_subset([1, 512]),
       precision=st.sampled_from(["bf16", "fp8"]))
def test_decode_matches_scalar_oracle(model, tp, pp, batch, input_len, output_len, precision):
    axes = dict(tp=tp, pp=pp, batch=batch, input_len=input_len, output_len=output_len)
    ds = serve(model=model, hardware="H100", precision=[precision], **axes)
    nbytes = float(dsx.catalog.precisions().bytes.sel(precision=precision))
    m = _row(model)
    for point in _points(axes):
        c = dict(point, ep=1, weight_bytes=nbytes, kv_bytes=nbytes, activation_bytes=nbytes,
                 memory_reserve=2e9, memory_fragmentation=0.05, tied_embeddings=m["tied_embeddings"])
        ref = oracle.decode(m, c)
        for name in ("decode_flops", "decode_hbm_bytes", "kv_cache_memory", "memory_per_gpu"):
            assert _at(ds[name], point) == pytest.approx(ref[name], rel=1e-9), (name, point)


# -- invariants --------------------------------------------------------------------------------------

def test_subspace_and_axis_order_invariance():
    big = dict(model=["llama-3.1-8b", "mixtral-8x7b", "gpt-1.7b"], hardware=["H100", "MI300X"],
               precision=["bf16", "fp8"], tp=[1, 2, 8], pp=[1, 2], recompute=["none", "full"],
               global_batch=[256, 1024], gpus=64)
    full = train(**big)
    sub = train(**dict(big, model=["mixtral-8x7b"], tp=[2], recompute=["full"], hardware=["MI300X"]))
    rev = train(**dict(reversed(list(big.items()))))
    pick = dict(model=["mixtral-8x7b"], tp=[2], recompute=["full"], hardware=["MI300X"])
    for name in ("mb_time", "mb_hbm_bytes", "memory_per_gpu", "model_flops_step", "ok_layout", "bound"):
        a = full[name].sel({k: v for k, v in pick.items() if k in full[name].dims})
        b = sub[name]
        assert set(a.dims) == set(b.dims), name
        np.testing.assert_array_equal(a.transpose(*b.dims).values, b.values)
        r = rev[name]
        assert set(r.dims) == set(full[name].dims)
        np.testing.assert_array_equal(r.transpose(*full[name].dims).values, full[name].values)


def test_inputs_registered_with_units():
    for name, unit in (("tp", ""), ("seq_len", "token"), ("matmul_efficiency", ""), ("hbm_efficiency", ""),
                       ("gradient_bytes", "B/param"), ("memory_reserve", "B"), ("recompute", None),
                       ("batch", ""), ("input_len", "token")):
        assert base.INPUTS[name].unit == unit
    assert base.INPUTS["recompute"].choices == ("none", "selective", "full", "op")


# -- per-device matmul ceiling and attention precision ------------------------------------------------

def test_matmul_efficiency_is_per_device_and_a_user_value_wins():
    hw = ["H100", "A100-80GB", "MI300X", "L4"]
    ds = dsx.Space(model="llama-3.1-8b", hardware=hw).to_dataset()
    # MAMF over the catalog peak; L4 has no measurement: the compute solver's default (fallback)
    assert ds.matmul_efficiency.dims == ("hardware",)
    np.testing.assert_allclose(ds.matmul_efficiency.values, [0.803, 0.869, 0.511, 0.8])
    per_device = train(model="llama-3.1-8b", hardware=hw, gpus=1, global_batch=1, seq_len=1024)
    mine = train(model="llama-3.1-8b", hardware=hw, gpus=1, global_batch=1, seq_len=1024, matmul_efficiency=0.5)
    assert float(mine.matmul_efficiency) == 0.5                              # the user's value, not joined
    ratio = (mine.mb_compute_time / per_device.mb_compute_time).values
    np.testing.assert_allclose(ratio, np.array([0.803, 0.869, 0.511, 0.8]) / 0.5)


def test_attention_never_runs_at_fp4():
    """NVFP4 GEMMs at the FP4 peak; attention at the FP8 KV rate (half of it), in prefill and decode."""
    kw = dict(model="llama-3.1-70b", hardware="B200", precision="fp4", kv_precision="fp8", batch=8,
              input_len=8192, output_len=256)
    fp4 = serve(**kw)
    m = fp4  # model shape is in the result
    s_in, B, eta, peak = 8192.0, 8, float(fp4.matmul_efficiency), float(fp4.peak_flops)
    f_attn = float(m.attention_flops_per_token_ctx) * B * s_in * s_in / 2
    f_rest = float(fp4.prefill_flops) - f_attn
    expected = f_rest / (eta * peak) + f_attn / (eta * peak / 2)
    assert float(fp4.prefill_compute_time) == pytest.approx(expected, rel=1e-9)
    # NVFP4 weights carry their block scales: 0.5625 B per element
    assert float(fp4.weight_bytes) == 0.5625
    # 16-bit KV: attention at the 16-bit rate, a quarter of the FP4 peak
    bf = serve(**{**kw, "kv_precision": "bf16"})
    expected16 = f_rest / (eta * peak) + f_attn / (eta * peak / 4)
    assert float(bf.prefill_compute_time) == pytest.approx(expected16, rel=1e-9)


@pytest.mark.parametrize("layers,pp,split", [(126, 16, (7, 8, 7)), (70, 12, (5, 6, 5)), (61, 16, (3, 4, 2)),
                                             (80, 4, (20, 20, 20))])
def test_uneven_pipeline_stages_as_published(layers, pp, split):
    """Llama 3 405B: 126 layers on 16 stages, one layer fewer on the first and last (Llama Team 2024
    §3.3.2); 70 on 12; DeepSeek-V3's 61 on 16 (3 + 14x4 + 2): layouts, not errors."""
    from dsx.solvers.layout import layout
    out = layout.kernel("decoder", layers, 64, 0, 131072, 989e12, gpus=pp * 8, tp=8, pp=pp, cp=1, ep=1,
                        global_batch=64, micro_batch=1, seq_len=2048, virtual_stages=1, sequence_parallel=True,
                        zero=1, recompute="none", first_stage_layers=0, last_stage_layers=0)
    got = tuple(int(out[k]) for k in ("first_stage_layers", "layers_per_stage", "last_stage_layers"))
    assert got == split and bool(out["ok_layers_divisible"])
    assert split[0] + split[2] + (pp - 2) * split[1] == layers


def test_slowest_uneven_stage_sets_the_pace():
    """Llama-3.1-405B on 16 stages: a middle stage (8 layers, 8 x 3.2 B params) outweighs the last
    (7 layers + the 2.1 B-param head), so the micro-batch is 8/126 of the layers' FLOPs, no logits."""
    ds = dsx.training(model="llama-3.1-405b", hardware="H100", precision="bf16", gpus=1024, tp=8, pp=16,
                      global_batch=512, seq_len=8192, recompute="none")
    assert bool(ds.ok_layers_divisible) and float(ds.stage_layers) == 8
    mm_layers = float(ds.matmul_params - ds.head_params)
    hand = 6 * mm_layers * 8 / 126 * 8192 / 8
    print(f"mb GEMM FLOPs {float(ds.mb_flops_matmul):.4e} vs hand {hand:.4e}")
    assert float(ds.mb_flops_matmul) == pytest.approx(hand, rel=1e-12)
    assert float(ds.mb_flops_logits) == 0.0
    # 80 layers on 4 stages: equal stages, the last one (with the head) is the slowest
    even = dsx.training(model="llama-3.1-70b", hardware="H100", precision="bf16", gpus=64, tp=8, pp=4,
                        global_batch=64, seq_len=8192)
    assert float(even.stage_layers) == 20 and float(even.mb_flops_logits) > 0


def test_no_double_counting_of_memory_traffic_or_recompute():
    """Only the memory-bound kernels' HBM traffic (activations, logits) is exposed on top of the
    GEMMs; selective recompute with flash attention re-runs nothing (it stores no scores)."""
    kw = dict(model="llama-3.1-70b", hardware="H100", precision="bf16", gpus=64, tp=8, pp=1,
              global_batch=64, seq_len=8192, sequence_parallel=True)
    ds = dsx.training(**kw, recompute="none")
    nongemm = float(ds.mb_nongemm_memory_time)
    assert 0 < nongemm < float(ds.mb_memory_time)
    # the difference is exactly the weight reads (2 passes) + gradient accumulator (read + write)
    shard = float(ds.params) / 8                                    # pp = 1: every parameter on the stage
    rate = 0.85 * float(ds.hbm_bandwidth)
    hand = shard * (2 * 2 + 2 * 4) / rate
    print(f"weight + accumulator streams {float(ds.mb_memory_time) - nongemm:.4f} s vs hand {hand:.4f} s")
    assert float(ds.mb_memory_time) - nongemm == pytest.approx(hand, rel=1e-9)
    sel = dsx.training(**kw, recompute="selective", flash_attention=True)
    assert float(sel.mb_flops) == float(ds.mb_flops)                # flash: nothing to recompute
    nofl = dsx.training(**kw, recompute="selective", flash_attention=False)
    base = dsx.training(**kw, recompute="none", flash_attention=False)
    assert float(nofl.mb_flops_attention) > float(base.mb_flops_attention)   # Korthikanti §5: re-run
