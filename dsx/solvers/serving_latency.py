"""Serving latency: prefill and decode time of one replica, with the engine's fixed costs.

:func:`serving_latency` is step 3 of the serving stack (``dsx.stacks.SERVING``; see
:mod:`dsx.solvers.serving` for the latency model). It turns the roofline of
:func:`dsx.solvers.compute.inference_compute` into an engine step: GEMMs and attention at the
engine's sustained rates, tensor-, expert- and pipeline-parallel communication per layer, and
the fixed time every engine step costs whatever its size.

References
----------
Physics reference §3, §5.1, §11; Pope et al. 2022 (arXiv:2211.05102) §3 (TP in decode);
Leviathan et al. 2023 (speculative decoding); Zhong et al. 2024 (DistServe).
"""

from __future__ import annotations

import numpy as np

from .base import INPUTS, solver, traced, where
from .quantities import unit
from .compute import kv_share
from .network import group_all_reduce_time, group_bandwidth, p2p_time
from .speculative import (DRAFT_COLUMNS, _compute, _draft, offload_stream_time,
                          spec_tokens_per_step)

__all__ = ["serving_latency", "kv_reads_per_kv_head", "narrow_gemm_efficiency", "ENGINE_COMPUTE_EFFICIENCY", "ENGINE_MEMORY_EFFICIENCY", "ALLREDUCE_LATENCY",
           "STEP_OVERHEAD", "LOW_PRECISION_GEMM_EFFICIENCY"]

ENGINE_COMPUTE_EFFICIENCY = INPUTS["engine_compute_efficiency"]
ENGINE_MEMORY_EFFICIENCY = INPUTS["engine_memory_efficiency"]
ALLREDUCE_LATENCY = INPUTS["allreduce_latency"]
STEP_OVERHEAD = INPUTS["step_overhead"]
LOW_PRECISION_GEMM_EFFICIENCY = INPUTS["low_precision_gemm_efficiency"]



# -- 3. latency and throughput -----------------------------------------------------------------
def narrow_gemm_efficiency(operand_bytes, fp8_efficiency):
    """Fraction of its own peak a GEMM reaches at ``operand_bytes`` wide operands, relative to 16 bit.

    The tensor-core math of a GEMM takes half the time per halving of the operand width; operand
    loads, scaling and the epilogue do not shrink. With a share ``s`` of the 16-bit time that does
    not scale (Amdahl), a GEMM ``k`` halvings narrower reaches ``1 / (1 + s (2^k − 1))`` of the
    16-bit fraction of its ``2^k`` times higher peak. One measurement fixes ``s``: FP8 GEMMs reach
    ``η₈`` = ``low_precision_gemm_efficiency`` of the BF16 fraction (0.85 on H100, six shapes), so
    ``s = 1/η₈ − 1`` = 0.18 and 4-bit GEMMs reach ``1/(1 + 3s)`` = 0.65. Widths are nominal
    (``2^⌊log₂ b⌋``: NVFP4's 0.5625 B with its block scales counts as 4 bit, as in
    :func:`dsx.solvers.compute.attention_peak_fraction`); 16 bit and wider: 1.

    Parameters
    ----------
    operand_bytes : float or array
        B per element of the GEMM operands (the compute precision).
    fp8_efficiency : float or array
        Measured 8-bit fraction relative to 16 bit, in (0, 1].

    Returns
    -------
    float or array
        Dimensionless, in (0, 1].

    References
    ----------
    benchmarks/gpu/h100_measurements.csv (FP8 ``_scaled_mm`` vs BF16 at identical shapes);
    Amdahl 1967 (the share that does not speed up bounds the gain).

    >>> [round(float(narrow_gemm_efficiency(b, 0.85)), 3) for b in (2.0, 1.0, 0.5625, 4.0)]
    [1.0, 0.85, 0.654, 1.0]
    """
    nominal = 2.0 ** np.floor(np.log2(operand_bytes) + 1e-9)
    halvings = np.fmax(2.0 / nominal - 1.0, 0.0)           # 2^k - 1: 0 at 16 bit, 1 at 8 bit, 3 at 4 bit
    return 1.0 / (1.0 + (1.0 / fp8_efficiency - 1.0) * halvings)


def kv_reads_per_kv_head(heads, kv_heads, attention, tp, gqa_kv_sharing):
    """How many times a decode step reads each cached KV head: 1, or its query heads per GPU.

    With ``gqa_kv_sharing`` (every current engine) the query heads of a group read their KV head
    once; without it (a kernel that runs one query head per thread block) each query head reads
    it again: ``(a/t) / (a_kv/t)`` = ``a / a_kv`` query heads per KV head on a GPU while ``t <= a_kv``,
    ``(a/t) / 1`` once the KV heads are replicated (``t > a_kv``). MHA (``a_kv = a``) and MLA (one
    latent shared by construction) read once either way.

    Parameters
    ----------
    heads, kv_heads : float
        Query and KV heads of the model (counts; NaN KV heads: none).
    attention : str
    tp : int
    gqa_kv_sharing : bool

    Returns
    -------
    float
        Dimensionless, >= 1.

    References
    ----------
    Ainslie et al. 2023 (GQA); NVIDIA/TensorRT-LLM ``docs/source/blogs/XQA-kernel.md``.

    >>> float(kv_reads_per_kv_head(64, 8, "gqa", 4, False)), float(kv_reads_per_kv_head(64, 8, "gqa", 16, False))
    (8.0, 4.0)
    >>> float(kv_reads_per_kv_head(64, 8, "gqa", 4, True)), float(kv_reads_per_kv_head(32, 32, "mha", 2, False))
    (1.0, 1.0)
    """
    q_per_gpu = np.fmax(heads, 1.0) / tp
    kv_per_gpu = np.fmax(kv_heads, 1.0) * kv_share(kv_heads, attention, tp)
    own = np.fmax(q_per_gpu / kv_per_gpu, 1.0)
    return where(gqa_kv_sharing | (attention == "mla"), 1.0, own)


@solver(("prefill_flops", "prefill_hbm_bytes", "decode_flops", "decode_hbm_bytes", "prefill_latency",
         "decode_step_latency", "tp_comm_time", "kv_transfer_time", "spec_tokens_per_step", "prefill_bound",
         "decode_bound", "ttft", "tpot", "e2e_latency", "decode_time", "request_capacity", "replica_tokens_per_s",
         "tokens_per_s_per_gpu"))
def serving_latency(arch, params, embedding_params, matmul_params, head_params, expert_params,
                    kv_elements_per_token, attention_flops_per_token_ctx, activation_elements_per_token,
                    replicated_activation_elements_per_token, experts, experts_per_token, kv_heads,
                    attention, tied_embeddings, weight_bytes, kv_bytes, activation_bytes, peak_flops,
                    hbm_bandwidth, context_len, generated_len, gpus_per_replica, offloaded_weights,
                    kv_bytes_per_token_gpu, hidden, layers, heads, scale_up_bandwidth, scale_out_bandwidth,
                    tp, pp, ep, batch, input_len, output_len, matmul_efficiency, hbm_efficiency,
                    link_efficiency, disaggregated, allreduce_latency, step_overhead,
                    low_precision_gemm_efficiency, prefix_cache_hit, engine_compute_efficiency,
                    engine_memory_efficiency, spec_tokens, spec_acceptance, gqa_kv_sharing,
                    scale_up_latency=0.0, scale_up_domain=8.0, scale_out_latency=0.0, host_bandwidth=np.nan,
                    draft_arch=None, draft_layers=None, draft_hidden=None,
                    draft_heads=None, draft_kv_heads=None, draft_head_dim=None, draft_ffn=None,
                    draft_gated=None, draft_vocab=None, draft_tied_embeddings=None,
                    draft_learned_positions=None, draft_bias=None, draft_norm=None, draft_max_context=None,
                    draft_experts=None, draft_experts_per_token=None, draft_shared_experts=None,
                    draft_expert_ffn=None, draft_dense_layers=None, draft_attention=None,
                    draft_q_lora_rank=None, draft_kv_lora_rank=None, draft_rope_dim=None,
                    draft_nope_dim=None, draft_v_head_dim=None, draft_forward_flops_per_sample=None,
                    draft_params_published=None, draft_relative_positions=None):
    """TTFT, TPOT, end-to-end latency and throughput of one replica at full batch.

    Compute: :func:`dsx.solvers.compute.inference_compute` on the effective workload —
    prefill of ``(1 − prefix_cache_hit)·input_len`` new tokens per prompt, decode at the
    mean context ``input_len + generated_len/2`` of ``generated_len = output_len +
    reasoning_tokens`` outputs (the KV read of a decode step grows with the context, so a
    long generation's mean step reads half its outputs' KV on top of the prompt's). GEMMs run
    at ``matmul_efficiency · engine_compute_efficiency`` of the peak, times
    ``low_precision_gemm_efficiency`` at 8 and 4 bit; weights stream at
    ``hbm_efficiency · engine_memory_efficiency`` of the bandwidth.
    Communication through all ``pp`` stages, per step (physics §5, §11): ``2L`` tensor-
    parallel all-reduces of ``T·h·b_a`` bytes (``T`` tokens in the step; latency-bound at
    decode sizes: each pays ``allreduce_latency`` plus the per-hop latencies; with expert
    parallelism every rank of the TP group already holds the step's tokens and the MoE output
    is summed by the layer's all-reduce, so ``ep`` adds no collective [trtllmep]), ``pp − 1`` point-to-point sends of
    ``T·h·b_a``; on the scale-up links when the group fits in the domain. Every engine step
    (each decode step, and the prefill) adds ``step_overhead``: with these two fixed costs a
    batch-1 step is ``W/(t·R_w) + 2L·α + σ``, which stops shrinking with ``t`` once the
    weight term falls below the per-layer all-reduce cost, as engines measure
    (docs/validation-serving.md, small-batch latency). Weight offload streams ``offloaded_weights`` per stage over the host link,
    overlapped with compute (``max``). Speculative decoding (Leviathan et al. 2023): a step
    is ``γ`` draft steps + one verify step of ``γ+1`` tokens per sequence (FLOPs ×(γ+1),
    weight bytes once), and emits ``E = (1−α^{γ+1})/(1−α)`` tokens. Disaggregated: the
    prompts' KV moves to the decode instance over the scale-out link (added to TTFT) and
    the two instances run concurrently.

    Parameters
    ----------
    arch, params, ..., hbm_bandwidth, tp, pp, ep, batch, input_len, output_len, matmul_efficiency, hbm_efficiency
        The variables of :func:`dsx.solvers.compute.inference_compute` (same units).
    context_len, generated_len : float
        token per sequence.
    gpus_per_replica : float
    offloaded_weights : float
        B per GPU streamed from host memory per forward pass.
    kv_bytes_per_token_gpu : float
        B/token per GPU.
    hidden, layers, heads : float
        Counts (``heads``: query heads).
    scale_up_bandwidth, scale_out_bandwidth, host_bandwidth : float
        B/s per GPU per direction. scale_up_latency, scale_out_latency : s per hop.
    scale_up_domain : float
        GPUs per scale-up domain.
    link_efficiency, low_precision_gemm_efficiency, engine_compute_efficiency, engine_memory_efficiency : float
    disaggregated : bool
    allreduce_latency, step_overhead : float
        s per collective and per engine step.
    prefix_cache_hit, spec_acceptance : float
        Fractions. spec_tokens : int (token per step).
    draft_* : optional
        The draft model's catalog columns (``spec_draft_model``; None without one).

    Returns
    -------
    dict
        Times (s), rates (1/s, token/s), bounds (``"compute"``/``"memory"``);
        ``e2e_latency = ttft + decode_time``, ``decode_time = (generated_len − 1)·tpot``.

    References
    ----------
    Physics reference §3, §5.1, §11; Pope et al. 2022 §3 (TP in decode); Leviathan et al.
    2023 Eq. 1; Zhong et al. 2024 (DistServe) §2.

    Llama-3.1-8B on one H100 at batch 1: decode reads the 16 GB of weights each step
    (7.06 ms at 0.85 x 0.80 of 3.35 TB/s), plus the engine's 1 ms step overhead.

    >>> ds = __import__("dsx").Space(model="llama-3.1-8b", hardware="H100", batch=1,
    ...                              input_len=128, output_len=128).to_dataset()
    >>> from dsx.stacks import evaluate
    >>> from dsx.solvers.memory import inference_memory
    >>> from dsx.solvers.model import model_shape
    >>> from dsx.solvers.serving import kv_capacity, serving_layout
    >>> r = evaluate((model_shape, serving_layout, inference_memory, kv_capacity, serving_latency), ds)
    >>> round(float(r.tpot) * 1e3, 2), str(r.dsx.decode().decode_bound.values)
    (8.06, 'memory')
    """
    args = locals()
    B, gen = batch, generated_len
    s_new = np.fmax(input_len * (1.0 - prefix_cache_hit), 1.0 * unit("token"))
    # engine factors: the compute one derates every matmul-class FLOP; the memory one derates the
    # weight-streaming GEMM phase only (the KV stream of attention runs at hbm_efficiency)
    narrow = narrow_gemm_efficiency(activation_bytes / unit("B"), low_precision_gemm_efficiency)
    kw = {**args, "matmul_efficiency": matmul_efficiency * engine_compute_efficiency * narrow,
          "weight_stream_efficiency": engine_memory_efficiency}
    # a decode step reads the KV cache once per KV head, or once per query head (gqa_kv_sharing False)
    reads = kv_reads_per_kv_head(heads, kv_heads, attention, tp, gqa_kv_sharing)
    dec = _compute(kw, output_len=gen, kv_elements_per_token=kv_elements_per_token * reads)
    cached = traced(prefix_cache_hit) or np.any(prefix_cache_hit != 0)
    rereads = traced(reads) or np.any(reads != 1.0)
    pre = _compute(kw, input_len=s_new, output_len=gen) if cached or rereads else dec

    # communication per step through all stages
    up, out = scale_up_bandwidth * link_efficiency, scale_out_bandwidth * link_efficiency
    dom = scale_up_domain
    act = hidden * unit("1/token") * np.fmax(activation_bytes, 2.0 * unit("B"))  # 16-bit reductions
    L = layers
    pp_bw = group_bandwidth(pp, tp, dom, up, out)
    pp_lat = where(tp * pp <= dom, scale_up_latency, scale_out_latency)

    def comm(tokens, width=act, layers=L):
        size = tokens * width
        lat = (scale_up_latency, scale_out_latency, allreduce_latency)
        t_tp = 2.0 * layers * group_all_reduce_time(size, tp, 1, dom, up, out, *lat)
        return t_tp + where(pp > 1, (pp - 1.0) * p2p_time(size, pp_bw, pp_lat), 0.0)  # pp=1: no link

    stream = pp * offload_stream_time(offloaded_weights, host_bandwidth, link_efficiency)
    stream = where(offloaded_weights > 0, stream, 0.0)

    # speculative decoding: gamma draft steps + one verify step of gamma+1 tokens per sequence
    g, one = spec_tokens, unit("token")  # one: the one token per sequence of a decode step
    e_tok = spec_tokens_per_step(spec_acceptance, g)
    t_verify_compute = (g / one + 1.0) * dec["decode_compute_time"]  # (attention at its own rate, as in compute)
    t_verify = np.fmax(dec["decode_step_time"], t_verify_compute)
    draft = _draft({c: args["draft_" + c] for c in DRAFT_COLUMNS})
    t_draft = 0.0
    if draft is not None:
        d = _compute({**kw, **draft}, output_len=gen)
        draft_width = draft_hidden * unit("1/token") * np.fmax(activation_bytes, 2.0 * unit("B"))
        t_draft = d["decode_step_time"] + comm(B * one, draft_width, draft_layers)
    sigma = step_overhead  # once per engine step: the draft passes run inside it
    step = np.fmax(t_verify, stream) + comm(B * (g + one)) + g / one * t_draft + sigma
    tpot = step / (e_tok / one)  # the interval between two output tokens (s)

    t_kv = where(disaggregated, p2p_time(B * input_len * kv_bytes_per_token_gpu, out, scale_out_latency), 0.0)
    t_pre = np.fmax(pre["prefill_time"], stream) + comm(B * s_new) + sigma
    ttft = t_pre + t_kv
    decode_time = (gen / one - 1.0) * tpot
    e2e = ttft + decode_time
    decode_busy = np.fmax(decode_time, 1e-30 * unit("s"))
    req = where(disaggregated, B / np.fmax(t_pre, decode_busy), B / e2e)
    tok = req * gen
    return {
        "prefill_flops": pre["prefill_flops"],
        "prefill_hbm_bytes": pre["prefill_hbm_bytes"],
        "decode_flops": dec["decode_flops"],
        "decode_hbm_bytes": dec["decode_hbm_bytes"],
        "prefill_latency": t_pre + t_kv,
        "decode_step_latency": step,
        "tp_comm_time": comm(B * one),
        "kv_transfer_time": t_kv,
        "spec_tokens_per_step": e_tok,
        "prefill_bound": pre["prefill_bound"],
        "decode_bound": dec["decode_bound"],
        "ttft": ttft,
        "tpot": tpot,
        "e2e_latency": e2e,
        "decode_time": decode_time,
        "request_capacity": req,
        "replica_tokens_per_s": tok,
        "tokens_per_s_per_gpu": tok / gpus_per_replica,
    }
