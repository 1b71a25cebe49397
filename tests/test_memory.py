"""Memory per GPU against published figures: ZeRO Fig. 1, Korthikanti Table 2, Megatron worked example."""

import numpy as np
import pytest

import dsx
from dsx.solvers.compute import inference_compute, stored_activation_bytes
from dsx.solvers.layout import layout
from dsx.solvers.memory import inference_memory, model_state_bytes, training_memory
from dsx.solvers.model import model_shape
from dsx.stacks import evaluate

TRAIN = (model_shape, layout, training_memory)
GB = 1e9


def train(**axes):
    return evaluate(TRAIN, dsx.Space(**axes).to_dataset())


def one(ds, name):
    return float(ds[name].squeeze())


@pytest.mark.parametrize("zero, published", [(0, 120.0), (1, 31.4), (2, 16.6), (3, 1.9)])
def test_zero_paper_figure_1(zero, published):
    """Rajbhandari et al. 2020 Fig. 1: Ψ = 7.5 B, N_d = 64, K = 12, 16-bit weights and gradients."""
    pred = sum(model_state_bytes(7.5e9, 2.0, 2.0, 12.0, zero, 64)) / GB
    print(f"ZeRO-{zero}: {pred:.2f} GB vs published {published} GB")
    assert pred == pytest.approx(published, abs=0.05)


def test_zero_stages_through_the_solver():
    """The same through training_memory: states shrink with the ZeRO stage; Megatron 6 + 12/d B/param."""
    ds = train(model=["llama-3.1-8b"], hardware=["H100"], precision=["bf16"], gpus=64, zero=[0, 1, 2, 3],
               gradient_bytes=[2, 4], global_batch=64)
    states = (ds.weights_memory + ds.gradients_memory + ds.optimizer_memory).squeeze()
    n = float(ds.params.squeeze())
    assert float(states.sel(zero=0, gradient_bytes=2)) == pytest.approx(16 * n)
    assert float(states.sel(zero=1, gradient_bytes=4)) == pytest.approx((6 + 12 / 64) * n)
    # ZeRO-3 at rest: 16/64 B/param; working set (FSDP, Zhao et al. 2023 §3.3.2): the layer being
    # computed and the one prefetched, gathered at 2 B, and one layer's unreduced 2-B gradients
    # (the stage's 32 layers share its parameters, embeddings included)
    layer = n / 32
    assert float(states.sel(zero=3, gradient_bytes=2)) == pytest.approx(16 * n / 64 + 2 * layer * 2 + layer * 2)
    assert float(states.sel(zero=2, gradient_bytes=2)) == pytest.approx((2 + 14 / 64) * n + layer * 2)
    assert (states.diff("zero") < 0).all()
    kept = train(model=["llama-3.1-8b"], hardware=["H100"], precision=["bf16"], gpus=64, zero=3, gradient_bytes=2,
                 global_batch=64, zero3_reshard="step")
    kept_states = float((kept.weights_memory + kept.gradients_memory + kept.optimizer_memory).squeeze())
    assert kept_states == pytest.approx(16 * n / 64 + n * 2 + layer * 2)   # the whole stage stays gathered


@pytest.mark.parametrize("t, sp, recompute, coefficient", [
    (1, False, "none", 34 + 80),            # Eq. 1: 34 + 5as/h
    (8, False, "none", 10 + 24 / 8 + 80 / 8),  # Eq. 2
    (8, True, "none", (34 + 80) / 8),       # Eq. 4
    (8, False, "selective", 10 + 24 / 8),   # TP + selective
    (8, True, "selective", 34 / 8),         # Eq. 6
])
def test_korthikanti_table2_gpt3(t, sp, recompute, coefficient):
    """Korthikanti et al. 2022 Table 2 for GPT-3 175B (a = 96, s = 2048, h = 12288: 5as/h = 80 vs 34)."""
    shape = model_shape(dsx.Space(model="gpt3-175b").to_dataset())
    h, L, s = 12288, 96, 2048
    per_token = stored_activation_bytes(
        float(shape.activation_elements_per_token), float(shape.replicated_activation_elements_per_token),
        float(shape.attention_heads_total), 2.0, s, t, 1, 1, sp, recompute != "none", True)
    pred = float(per_token) / L / h
    print(f"t={t} sp={sp} {recompute}: {pred:.3f} sbh per layer vs Table 2 {coefficient:.3f}")
    assert pred == pytest.approx(coefficient, rel=1e-12)


def test_megatron_worked_example_llama70b():
    """Physics reference §4.4: Llama-3.1-70B, s = 8192, t = 8, p = 4, v = 5, d = 8 → ≈ 43 GB (+ buffers)."""
    ds = train(model=["llama-3.1-70b"], hardware=["H100"], precision=["bf16"], gpus=256, tp=8, pp=4,
               virtual_stages=5, seq_len=8192, global_batch=64, micro_batch=1, recompute="selective")
    states = one(ds, "weights_memory") + one(ds, "gradients_memory") + one(ds, "optimizer_memory")
    acts = one(ds, "activation_memory")
    print(f"states {states / GB:.2f} GB (17.0), activations {acts / GB:.2f} GB (25.9), "
          f"total {(states + acts) / GB:.2f} GB (43), with reserve {one(ds, 'memory_per_gpu') / GB:.1f} GB")
    assert states / GB == pytest.approx(17.0, abs=0.1)
    assert acts / GB == pytest.approx(25.9, rel=0.01)
    assert (states + acts) / GB == pytest.approx(43, rel=0.02)
    assert bool(ds.ok_memory.squeeze())


def test_seed_layout_fits_80gb():
    """The seed's job: 512 H100, tp 8, pp 1, dp 64, 2048 x 2048 tokens, selective, SP, distributed optimizer."""
    ds = train(model=["llama-3.1-70b"], hardware=["H100"], precision=["bf16"], gpus=512, tp=8, pp=1,
               global_batch=2048, seq_len=2048, micro_batch=1, recompute="selective", sequence_parallel=True,
               zero=1)
    total = one(ds, "memory_per_gpu")
    print(f"seed layout: {total / GB:.1f} GB per GPU; weights {one(ds, 'weights_memory') / GB:.1f}, "
          f"activations {one(ds, 'activation_memory') / GB:.1f}")
    # (68.45 B + 2 x 1.05 B)/8 = 8.82 B params per GPU x (2 + 4 + 12/64) B = 54.6 GB of states
    states = one(ds, "weights_memory") + one(ds, "gradients_memory") + one(ds, "optimizer_memory")
    assert states / GB == pytest.approx(8.819e9 * (6 + 12 / 64) / GB, rel=1e-3)
    assert bool(ds.ok_memory.squeeze()) and 55 * GB < total < 80 * GB
    assert one(ds, "memory_headroom") == pytest.approx(80e9 - total)


def test_unsharded_70b_training_does_not_fit():
    ds = train(model=["llama-3.1-70b"], hardware=["H100"], precision=["bf16"], gpus=1, global_batch=4)
    assert one(ds, "memory_per_gpu") > 16 * 70e9 and not bool(ds.ok_memory.squeeze())


def test_recompute_sequence_parallel_and_pipeline_factors():
    ds = train(model=["llama-3.1-70b"], hardware=["H100"], precision=["bf16"], gpus=256, tp=8, pp=4,
               seq_len=4096, recompute=["none", "selective", "full"], sequence_parallel=[False, True],
               virtual_stages=[1, 2, 5], global_batch=[16, 256], flash_attention=False)
    a = ds.activation_memory.squeeze()
    base = dict(sequence_parallel=True, virtual_stages=1, global_batch=256)
    assert float(a.sel(recompute="full", **base)) < float(a.sel(recompute="selective", **base)) \
        < float(a.sel(recompute="none", **base))
    assert (a.sel(sequence_parallel=True) < a.sel(sequence_parallel=False)).all()
    full = a.sel(global_batch=256)                                     # m = 8 >= p
    assert (full.sel(virtual_stages=5) < full.sel(virtual_stages=2)).all()  # p + (p-1)/v falls with v > 1
    assert (full.sel(virtual_stages=2) > full.sel(virtual_stages=1)).all()
    # m = 2 < p: no schedule holds more than the step's m·v chunks (Megatron schedules.py)
    few = a.sel(global_batch=16)
    assert np.allclose(few.sel(virtual_stages=5), few.sel(virtual_stages=2), rtol=1e-12)
    # m = 256/(8·1) = 32 ≥ p = 4: L layers in flight; m = 16/8 = 2 < p: half of it
    sel = dict(recompute="selective", sequence_parallel=True, virtual_stages=1)
    ratio = float(a.sel(global_batch=16, **sel)) / float(a.sel(global_batch=256, **sel))
    assert ratio == pytest.approx(0.5, rel=0.02)


def test_inference_70b_bf16_on_one_gpu_does_not_fit():
    sv = evaluate((model_shape, inference_compute, inference_memory),
                  dsx.Space(model=["llama-3.1-70b"], hardware=["H100"], precision=["bf16", "fp8"],
                            tp=[1, 2, 4], batch=8, input_len=2048, output_len=256).to_dataset())
    ok = sv.ok_memory.squeeze()
    assert not bool(ok.sel(tp=1, precision="bf16"))          # 141 GB of weights
    assert not bool(ok.sel(tp=1, precision="fp8"))           # 70.6 GB + KV + reserve > 80 GB
    assert bool(ok.sel(tp=4, precision="bf16"))
    w = sv.weights_memory.squeeze()
    assert float(w.sel(tp=1, precision="bf16")) == pytest.approx(70.554e9 * 2, rel=1e-4)
    kv = float(sv.kv_cache_memory.squeeze().sel(tp=4, precision="bf16"))
    assert kv == pytest.approx(8 * 2304 * 2 * 80 * 2 * 128 * 2)   # 2 of 8 KV heads per GPU


def test_fp8_weights_have_one_size_in_memory_on_the_wire_and_in_checkpoints():
    """weight_precision='fp8' (Transformer Engine fp8_model_init, Megatron --fp8-param-gather): 1 B
    per weight held, gathered and checkpointed; bf16 weights: 2 B everywhere."""
    kw = dict(model="llama-3.1-8b", hardware="H100", precision="fp8", gpus=64, tp=1, global_batch=256,
              seq_len=4096, zero=3)
    f8 = dsx.training(**kw, weight_precision="fp8")
    b16 = dsx.training(**kw, weight_precision="bf16")
    assert float(b16.weights_memory) == pytest.approx(2 * float(f8.weights_memory))
    # gathers on the wire (bandwidth part: latency terms equal) and the checkpoint's weight copy
    lat_free = dict(scale_up_latency="0 s", scale_out_latency="0 s", collective_latency="0 s")
    f8w = dsx.training(**kw, **lat_free, weight_precision="fp8")
    b16w = dsx.training(**kw, **lat_free, weight_precision="bf16")
    assert float(b16w.layer_gather_time) == pytest.approx(2 * float(f8w.layer_gather_time))
    assert float(b16.checkpoint_size - f8.checkpoint_size) == pytest.approx(float(f8.params) * 1.0)


def test_torchtitan_op_checkpointing_memory_and_flops():
    """torchtitan's op-level selective checkpointing (recompute="op"; pytorch/torchtitan
    parallelize_llama.py: save every compute op's output except every second matmul) on
    Llama-3.1-8B, FSDP, local batch 2 x 8192, on the 500 W 96 GB HBM2e H100 of its benchmark.

    Hand derivation: the K, O and w3 GEMMs (79.7 M of 218.1 M matmul params per layer) run again,
    so the layers' GEMM FLOPs grow by 2·79.7/(6·218.1) = 12.2 %; 7.75 h elements per token per
    layer are kept (17 h without recompute). Published (torchtitan benchmarks Tables 1, 3): the run
    fits (82.4 GiB on 8 GPUs, 67.0 GiB on 128), and going from 8 to 128 GPUs frees 15.4 GiB of
    sharded model states, 17.6 B per parameter. FSDP2 holds 16 (fp32 parameter shard, fp32
    gradient shard, Adam moments: fsdp_mixed_precision) and 5 % allocator reserve, 16.8: within
    10 % (foreach-AdamW's step temporaries, not modelled, are the likely rest)."""
    kw = dict(model="llama-3.1-8b", hardware="H100-HBM2e-500W", precision="bf16", zero=3, tp=1, pp=1,
              micro_batch=2, seq_len=8192, sequence_parallel=False, fsdp_mixed_precision=True)
    op8 = dsx.training(gpus=8, global_batch=16, recompute="op", **kw)
    op128 = dsx.training(gpus=128, global_batch=256, recompute="op", **kw)
    none8 = dsx.training(gpus=8, global_batch=16, recompute="none", **kw)
    ratio = float(op8.mb_flops_matmul / none8.mb_flops_matmul)
    print(f"GEMM FLOPs op/none {ratio:.4f} (hand 1 + 2*79.7/(6*218.1) = {1 + 2 * 79.69 / (6 * 218.10):.4f})")
    assert ratio == pytest.approx(1 + 2 * 79.69 / (6 * 218.10), rel=2e-3)
    assert bool(op8.ok_memory) and bool(op128.ok_memory)
    freed = float(op8.memory_per_gpu - op128.memory_per_gpu) / 2**30
    print(f"memory 8 GPUs {float(op8.memory_per_gpu) / 2**30:.1f} GiB (published 82.4), 128 GPUs "
          f"{float(op128.memory_per_gpu) / 2**30:.1f} GiB (67.0); freed {freed:.1f} GiB vs published 15.4 "
          f"({freed / 15.4 - 1:+.1%})")
    assert freed == pytest.approx(82.4 - 67.0, rel=0.10)
    hand = 8.03e9 * 16 * (1 / 8 - 1 / 128) * 1.05 / 2**30       # + the 5 % fragmentation reserve
    assert freed == pytest.approx(hand, rel=0.01)
    kept = float(op8.activation_memory) < 0.6 * float(none8.activation_memory)
    assert kept


def test_fsdp_mixed_precision_holds_no_16bit_shard():
    """MPT-30B on 8 A100-80GB, FSDP FULL_SHARD with mixed precision PURE, activation checkpointing,
    micro-batch 3 x 2048 (llm-foundry benchmarking table, the published run exists): PyTorch FSDP
    keeps the fp32 shard as the parameter the optimizer steps, so the sharded states are
    (4 + 12)·N/8 B, not (2 + 4 + 12)·N/8 (hand derivation), and the run fits 80 GB."""
    kw = dict(model="mpt-30b", hardware="A100-80GB", precision="bf16", gpus=8, zero=3, global_batch=504,
              micro_batch=3, seq_len=2048, recompute="full", sequence_parallel=False)
    fsdp = dsx.training(fsdp_mixed_precision=True, **kw)
    ds3 = dsx.training(fsdp_mixed_precision=False, **kw)
    n = float(fsdp.params)
    sharded = float(fsdp.gradients_memory + fsdp.optimizer_memory + fsdp.weights_memory
                    - (ds3.weights_memory - n * 2 / 8))          # less the gathered working set
    print(f"sharded states {sharded / 1e9:.2f} GB vs hand 16 N/8 = {16 * n / 8 / 1e9:.2f} GB (plus one layer's "
          f"unreduced gradients); memory {float(fsdp.memory_per_gpu) / 1e9:.1f} GB of 80")
    layer_grads = float(fsdp.gradients_memory) - 4 * n / 8
    assert sharded - layer_grads == pytest.approx(16 * n / 8, rel=1e-9)
    assert float(ds3.weights_memory - fsdp.weights_memory) == pytest.approx(2 * n / 8, rel=1e-9)
    assert bool(fsdp.ok_memory) and not bool(ds3.ok_memory)


@pytest.mark.parametrize("v,layer_mbs", [(1, 8 * 15), (8, 8 * (16 + 15 / 8 - 2 / 8))])
def test_uneven_first_stage_moves_the_activation_peak(v, layer_mbs):
    """Llama 3 405B on 16 stages (7 + 14x8 + 7 layers, Llama Team 2024 §3.3.2: a layer fewer on the
    first stage for its memory imbalance). Under 1F1B stage r holds p - r micro-batches, so the
    peak moves to the second stage: max(7·16, 8·15) = 120 layer-micro-batches, not 8·16 = 128
    (hand derivation). Interleaved with v = 8: Megatron's warm-up (p-r-1)·2 + (v-1)·p + 1 chunks
    of one layer: 143 on the first stage (7 of its 8 chunks hold a layer), 141 on the second."""
    ds = dsx.training(model="llama-3.1-405b", hardware="H100-SXM", precision="bf16", gpus=2048, tp=8, pp=16,
                      virtual_stages=v, global_batch=512, micro_batch=1, seq_len=8192, recompute="none",
                      hbm_capacity=400e9)
    one = stored_activation_bytes(float(ds.activation_elements_per_token),
                                  float(ds.replicated_activation_elements_per_token),
                                  float(ds.attention_heads_total), 2.0, 8192, 8, 126, 1, True, True, False) * 8192
    got = float(ds.activation_memory) / one
    print(f"v={v}: activation peak {got:.3f} layer-micro-batches (hand {layer_mbs:.3f})")
    assert got == pytest.approx(layer_mbs, rel=1e-9)


@pytest.mark.parametrize("gpus,micro_batches,layer_mbs", [(8192, 32, 141), (16384, 16, 128), (32768, 8, 64)])
def test_interleaved_in_flight_capped_at_the_steps_chunks(gpus, micro_batches, layer_mbs):
    """Llama 3 405B as Table 4 runs it (TP 8, PP 16, v = 8 one-layer chunks, 8,192 tokens per
    micro-batch; Llama Team 2024 §3.3.2). Megatron-LM's interleaved schedule warms up
    min((p-r-1)·2 + (v-1)·p, m·v) chunks and runs all m·v forwards first when m = p
    (core/pipeline_parallel/schedules.py): the second stage (rank 1, eight one-layer chunks) then
    holds min(28 + 112 + 1, 8m) layer-micro-batches: 141 at m = 32 (8,192 GPUs), 128 at m = 16
    (16,384 GPUs, every chunk of the step), 64 at m = 8 (hand derivation). Each is
    8,192 · 2 B · (6h + 2·n_kv·d + 3f)/t = 532.7 MB for h = 16384, f = 53248, n_kv·d = 1024, t = 8."""
    ds = dsx.training(model="llama-3.1-405b", hardware="H100-SXM", precision="bf16", gpus=gpus, tp=8, pp=16,
                      virtual_stages=8, global_batch=2048, micro_batch=1, seq_len=8192, recompute="none")
    assert float(ds.micro_batches) == micro_batches
    h, f, kv = 16384, 53248, 8 * 128
    one = 8192 * 2 * (6 * h + 2 * kv + 3 * f) / 8
    got = float(ds.activation_memory) / one
    print(f"m={micro_batches}: {got:.3f} layer-micro-batches (hand {layer_mbs}), "
          f"{float(ds.activation_memory) / 1e9:.1f} GB")
    assert got == pytest.approx(layer_mbs, rel=1e-9)
