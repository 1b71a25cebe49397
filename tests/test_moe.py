"""Routed-expert GEMMs (dsx.solvers.moe, physics §3): hand derivations, invariants, a published figure."""

import math

import pytest
from hypothesis import given, strategies as st

from dsx.solvers.compute import _touched, inference_compute
from dsx.solvers.moe import expected_max_load, expert_gemm_tokens


def _toy(batch, ep=1):
    """8 experts of 1e9 params (top-2) + 1e9 dense params, FP8 weights, no KV/attention/activations.

    F = 1e15 flop/s, W = 1e12 B/s, both efficiencies 1: ridge m* = 1 B · 1e15 / (2 · 1e12) = 500 tokens.
    """
    return inference_compute.kernel(
        "decoder", params=9e9, embedding_params=0.0, matmul_params=3e9, head_params=0.0, expert_params=8e9,
        kv_elements_per_token=0.0, attention_flops_per_token_ctx=0.0, activation_elements_per_token=0.0,
        replicated_activation_elements_per_token=0.0, experts=8, experts_per_token=2, kv_heads=8,
        attention="gqa", tied_embeddings=False, weight_bytes=1.0, kv_bytes=1.0, activation_bytes=1.0,
        peak_flops=1e15, hbm_bandwidth=1e12, tp=1, pp=1, ep=ep, batch=batch, input_len=1, output_len=2,
        matmul_efficiency=1.0, hbm_efficiency=1.0)


def test_decode_step_by_hand():
    # batch 1: dense 1e9 B read (1 ms) + 2 of 8 experts expected touched: 8e9 · (1 - 0.75) B (2 ms)
    t1 = float(_toy(1)["decode_step_time"])
    assert t1 == pytest.approx(3.0e-3, rel=1e-9)
    # batch 8192: μ = 2048 tokens per expert >> m* = 500: the aggregate FLOPs, 2 · 3e9 · 8192 / 1e15
    t_big = float(_toy(8192)["decode_step_time"])
    assert t_big == pytest.approx(2 * 3e9 * 8192 / 1e15, rel=1e-6)
    # batch 2000: μ = m* = 500, σ = sqrt(500 · 0.75): E[max(m, m*)] = m* + σ/sqrt(2π) = 507.72
    # experts 8e9 · 2 · 507.72 / 1e15 = 8.1236 ms; dense 2e9 · 2000 / 1e15 = 4 ms (its 1 ms read hides)
    e_max = 500.0 + math.sqrt(500 * 0.75) / math.sqrt(2 * math.pi)
    hand = 8e9 * 2 * e_max / 1e15 + 2e9 * 2000 / 1e15
    t_mid = float(_toy(2000)["decode_step_time"])
    print(f"ridge batch: {t_mid * 1e3:.4f} ms, hand {hand * 1e3:.4f} ms, aggregate roofline 12.0000 ms")
    assert t_mid == pytest.approx(hand, rel=1e-6)
    assert t_mid > 12.0e-3          # above the single roofline of the whole GEMM phase


def test_expected_max_load_by_hand():
    # Raab & Steger: m/n + sqrt(2 (m/n) ln n); 8 ranks, 1024 tokens each: 1024 + sqrt(2048 ln 8)
    assert float(expected_max_load(1024.0, 8)) == pytest.approx(1024 + math.sqrt(2048 * math.log(8)))
    assert float(expected_max_load(1024.0, 1)) == 1024.0


def test_busiest_rank_sets_the_pace():
    # far above the ridge, ep = 4 ranks of 2 experts: μ = 2048 scaled by the busiest rank's load
    # (T k / ep = 4096 assignments per rank): 1 + sqrt(2 ln 4 / 4096)
    g = float(expert_gemm_tokens(8192.0, 8, 2, 500.0, ep=4))
    assert g == pytest.approx(2048 * (1 + math.sqrt(2 * math.log(4) / 4096)), rel=1e-4)


def test_dense_model_has_no_expert_phase():
    assert float(expert_gemm_tokens(100.0, 0, 0, 500.0)) == 0.0


@given(st.floats(1.0, 1e5), st.sampled_from([8, 16, 64, 128, 256]), st.integers(1, 8),
       st.floats(1.0, 2000.0), st.sampled_from([1, 2, 4, 8]))
def test_between_the_two_limits(tokens, experts, k, ridge, ep):
    """E[max(m, m*)·1{m>0}] is at least each limit (FLOPs, touched weights) and at most their sum."""
    g = float(expert_gemm_tokens(tokens, experts, k, ridge, ep))
    mu = tokens * k / experts
    touched = float(_touched(experts, k, tokens))
    assert g >= mu * (1 - 1e-9) and g >= ridge * touched * (1 - 1e-9)
    busy = float(expected_max_load(tokens * k / ep, ep)) / (tokens * k / ep)
    assert g <= (mu * busy + ridge) * (1 + 1e-9)


def test_published_fused_moe_latency_vs_tokens():
    """vLLM PR #32930 (fused-MoE configs, RTX PRO 6000 Blackwell Max-Q): one Mixtral MoE layer
    (E = 8, top-2, N = 14336) takes 0.49 ms at M = 1 token and 2.04 ms at M = 64. Both sit far
    below the ridge (m* > 100 tokens per expert on that card at any precision; μ = 16 at M = 64),
    so the time is the touched experts' weight stream: 8 (1 - 0.75^64) / 2 = 4.0x."""
    published = 2.04 / 0.49
    ridge = 140.0   # ~250 TFLOP/s over 1.79 TB/s, 16-bit weights; the ratio does not depend on it here
    model = float(expert_gemm_tokens(64.0, 8, 2, ridge)) / float(expert_gemm_tokens(1.0, 8, 2, ridge))
    err = model / published - 1
    print(f"M=64 / M=1: model {model:.2f}, published {published:.2f}, error {err:+.1%}")
    assert abs(err) < 0.10


def test_serving_expert_parallelism_regroups_the_tp_gpus():
    """Serving EP splits each stage's tp GPUs by expert (TensorRT-LLM: moe_tp_size x moe_ep_size = tp_size):
    a GPU holds 1/tp of the weights whatever ep is (Mixtral-8x7B, 46.7e9 params in bf16 on 8 GPUs:
    11.7 GB each), and ep must divide tp (ep = 8 over tp 2 x pp 4 spans stages: not a layout)."""
    import dsx

    ds = dsx.serving(dsx.Space(model="mixtral-8x7b", hardware="H100", tp=8, ep=[1, 2, 4, 8], batch=[1, 256],
                               input_len=1024, output_len=256))
    params = float(ds.params)
    per_gpu = ds.weights_memory.broadcast_like(ds.tpot).values
    print(f"weights per GPU {per_gpu.min() / 1e9:.2f}-{per_gpu.max() / 1e9:.2f} GB; all params / 8 x 2 B = "
          f"{params * 2 / 8 / 1e9:.2f} GB")
    assert per_gpu == pytest.approx(params * 2 / 8, rel=0.01)
    # batch 1: the busiest EP rank streams whole experts where TP streams 1/8 of the two touched ones
    tpot = ds.tpot.sel(batch=1)
    assert float(tpot.sel(ep=8)) > float(tpot.sel(ep=1))
    bad = dsx.serving(dsx.Space(model="mixtral-8x7b", hardware="H100", tp=2, pp=4, ep=8))
    assert not bool(bad.feasible) and str(dsx.decode(bad.reason).values) == "experts_not_divisible"


def test_busiest_rank_streams_its_touched_experts():
    # batch 1, top-2 of 8, far below the ridge m* = 100: tensor parallelism streams 2/8 of every GPU's
    # expert weights on average (25 tokens' worth); with one expert per rank (ep = 8) the two touched
    # experts sit on two ranks, and the busiest reads its whole expert: m* x 1 = 100
    assert float(expert_gemm_tokens(1.0, 8, 2, 100.0)) == pytest.approx(25.0, rel=1e-6)
    assert float(expert_gemm_tokens(1.0, 8, 2, 100.0, ep=8)) == pytest.approx(100.0, rel=1e-6)
    # every expert touched (T = 4096): each rank streams all of its experts whatever ep is
    many = [float(expert_gemm_tokens(4096.0, 8, 2, 1e4, ep=e)) for e in (1, 2, 8)]
    assert many == pytest.approx([many[0]] * 3, rel=1e-6)
