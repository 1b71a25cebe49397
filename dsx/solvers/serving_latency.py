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

from .base import Input, solver, where
from .compute import inference_compute
from .network import communication, group_all_reduce_time, group_all_to_all_time, group_bandwidth, p2p_time
from .speculative import SPEC_TOKENS, _compute, _draft, _p, _with_params, offload_stream_time, spec_tokens_per_step

__all__ = ["serving_latency", "ENGINE_COMPUTE_EFFICIENCY", "ENGINE_MEMORY_EFFICIENCY", "ALLREDUCE_LATENCY",
           "STEP_OVERHEAD", "LOW_PRECISION_GEMM_EFFICIENCY"]

_LINK_EFFICIENCY = communication.inputs["link_efficiency"]  # one definition, network's
ENGINE_COMPUTE_EFFICIENCY = Input(
    0.64, "", "Fraction of the kernel-level matmul rate (matmul_efficiency x peak) that a serving "
    "engine step sustains end to end (GEMMs at serving shapes, attention on paged KV). The fixed "
    "costs of a step (step_overhead, allreduce_latency) and the lower efficiency of 8- and 4-bit "
    "GEMMs (low_precision_gemm_efficiency) are counted apart. Calibrated with "
    "engine_memory_efficiency, step_overhead and allreduce_latency on the 127 TensorRT-LLM "
    "throughput rows (docs/validation-serving.md).", minimum=0.0, exclusive_minimum=True, maximum=1.0)
ENGINE_MEMORY_EFFICIENCY = Input(
    0.80, "", "Fraction of the kernel-level HBM rate (hbm_efficiency x bandwidth) that the "
    "weight-streaming GEMMs of a serving step sustain end to end (skinny GEMMs at decode batch "
    "sizes). The KV-cache stream of the attention kernels is not derated: flash-decoding reads "
    "the cache at copy bandwidth (docs/validation-gpu.md). Calibrated on the TensorRT-LLM "
    "throughput tables (docs/validation-serving.md).", minimum=0.0, exclusive_minimum=True, maximum=1.0)
ALLREDUCE_LATENCY = Input(
    30e-6, "s", "Fixed cost of one tensor- or expert-parallel collective inside a serving step "
    "(kernel launch, the flag exchange of the one-shot/two-shot all-reduce, and the wait for the "
    "slowest rank: every all-reduce is a barrier), paid 2x per layer on top of the per-hop link "
    "latency. Isolated kernels take 6-12 us on 8x H100 (TensorRT-LLM's and vLLM's custom "
    "all-reduce, sgl-project/sglang PR #2904) and 17 us for PyTorch's one-shot kernel "
    "(pytorch/pytorch issue #131739); 30 us, twice the isolated cost, is the upper end of that "
    "range, where the in-sample calibration on the TensorRT-LLM tables lands "
    "(docs/validation-serving.md). Engines of 2023 without CUDA graphs pay more.", minimum=0.0)
STEP_OVERHEAD = Input(
    1e-3, "s", "Fixed time of every engine step (each decode step and the prefill) that does not "
    "shrink with the model or the parallelism: host-side scheduling, input preparation, sampling "
    "and returning tokens. vLLM 0.5 spent 29 % of its time scheduling and only 38 % on the GPU "
    "for Llama-3-8B on one H100 (vLLM blog 2024-09-05, 'vLLM v0.6.0: 2.7x throughput'), i.e. "
    "host time of the order of a step. Default 1 ms: the upper end of the range [0, 1 ms] "
    "searched in the in-sample calibration (docs/validation-serving.md); 0 for a bare forward "
    "pass without an engine.", minimum=0.0)
LOW_PRECISION_GEMM_EFFICIENCY = Input(
    0.85, "", "Fraction of its own data-sheet peak that an 8- or 4-bit GEMM reaches, relative to "
    "the 16-bit matmul_efficiency: narrow tensor-core peaks double per halving of the width, "
    "operand loads, scaling and epilogue do not. 0.85 is the mean of six GEMM shapes measured "
    "with cuBLAS on one H100 (FP8 _scaled_mm vs BF16 at identical shapes: 0.79-0.92, "
    "benchmarks/gpu/h100_measurements.csv).", minimum=0.0, exclusive_minimum=True, maximum=1.0)

# -- 3. latency and throughput -----------------------------------------------------------------
@solver({
    **{k: inference_compute.outputs[k] for k in ("prefill_flops", "prefill_hbm_bytes", "decode_flops",
                                                 "decode_hbm_bytes")},
    "prefill_latency": ("s", "prefill of the batch's prompts incl. communication, offload and KV transfer"),
    "decode_step_latency": ("s", "one decode (or verify) step incl. communication and offload"),
    "tp_comm_time": ("s", "tensor/expert/pipeline-parallel communication per decode step"),
    "kv_transfer_time": ("s", "prefill-to-decode KV transfer of the batch (disaggregated only)"),
    "spec_tokens_per_step": ("token", "tokens emitted per target step (speculative decoding; 1 without)"),
    "prefill_bound": ("", "roofline bound of the prefill"),
    "decode_bound": ("", "roofline bound of a decode step"),
    "ttft": ("s", "time to first token without queueing (prefill of the batch)"),
    "tpot": ("s", "time per output token (decode step / tokens per step)"),
    "e2e_latency": ("s", "request latency without queueing: ttft + (generated - 1)·tpot"),
    "request_capacity": ("1/s", "requests per second one replica completes at full batch"),
    "tokens_per_s": ("token/s", "generated tokens per second of one replica at full batch"),
    "tokens_per_s_per_gpu": ("token/s", "generated tokens per second per GPU"),
})
@_with_params([_p("context_len"), _p("generated_len"), _p("gpus_per_replica"), _p("offloaded_weights"),
               _p("kv_bytes_per_token_gpu"), _p("hidden"), _p("layers"), _p("dense_layers", 0.0),
               _p("scale_up_bandwidth"), _p("scale_up_latency", 0.0), _p("scale_up_domain", 8.0),
               _p("scale_out_bandwidth"), _p("scale_out_latency", 0.0), _p("host_bandwidth", np.nan),
               _p("link_efficiency", _LINK_EFFICIENCY), _p("disaggregated", False),
               _p("allreduce_latency", ALLREDUCE_LATENCY), _p("step_overhead", STEP_OVERHEAD),
               _p("low_precision_gemm_efficiency", LOW_PRECISION_GEMM_EFFICIENCY),
               _p("prefix_cache_hit", Input(0.0, "", "Fraction of each prompt's tokens found in the "
                                            "prefix cache; their prefill FLOPs and KV writes are skipped.",
                                            minimum=0.0, maximum=1.0)),
               _p("engine_compute_efficiency", ENGINE_COMPUTE_EFFICIENCY),
               _p("engine_memory_efficiency", ENGINE_MEMORY_EFFICIENCY),
               _p("spec_tokens", SPEC_TOKENS),
               _p("spec_acceptance", Input(0.7, "", "Probability that a draft token is accepted "
                                           "(i.i.d., Leviathan et al. 2023 alpha). Default 0.7, the "
                                           "value mlsysim uses; the paper measures 0.5-0.9 by task "
                                           "and draft model.", minimum=0.0, maximum=1.0))])
def serving_latency(**kw):
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
    decode sizes: each pays ``allreduce_latency`` plus the per-hop latencies), 2 all-to-alls
    of ``T·k·h·b_a`` per MoE layer over ``ep``, ``pp − 1`` point-to-point sends of
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
    **kw
        The variables of :func:`inference_compute` and of the decorator list: lengths
        (token), bandwidths (B/s), latencies (s), ``hidden``/``layers`` (counts),
        ``offloaded_weights`` (B), ``kv_bytes_per_token_gpu`` (B/token), flags and
        fractions.

    Returns
    -------
    dict
        Times (s), rates (1/s, token/s), bounds (``"compute"``/``"memory"``).

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
    tp, pp, ep, B = kw["tp"], kw["pp"], kw["ep"], kw["batch"]
    gen = kw["generated_len"]
    s_new = np.fmax(kw["input_len"] * (1.0 - kw["prefix_cache_hit"]), 1.0)
    # engine factors: the compute one derates every matmul-class FLOP; the memory one derates the
    # weight-streaming GEMM phase only (the KV stream of attention runs at hbm_efficiency)
    narrow = where(kw["activation_bytes"] < 2.0, kw["low_precision_gemm_efficiency"], 1.0)
    kw = {**kw, "matmul_efficiency": kw["matmul_efficiency"] * kw["engine_compute_efficiency"] * narrow,
          "weight_stream_efficiency": kw["engine_memory_efficiency"]}
    dec = _compute(kw, output_len=gen)
    pre = _compute(kw, input_len=s_new, output_len=gen) if np.any(kw["prefix_cache_hit"] != 0) else dec

    # communication per step through all stages
    eff = kw["link_efficiency"]
    up, out = kw["scale_up_bandwidth"] * eff, kw["scale_out_bandwidth"] * eff
    dom = kw["scale_up_domain"]
    act = kw["hidden"] * np.fmax(kw["activation_bytes"], 2.0)  # reductions run in 16 bit
    L = kw["layers"]
    moe_layers = where(kw["experts"] > 0, L - kw["dense_layers"], 0.0)
    pp_bw = group_bandwidth(pp, tp, dom, up, out)
    pp_lat = where(tp * pp <= dom, kw["scale_up_latency"], kw["scale_out_latency"])

    def comm(tokens, width=act, layers=L, moe=moe_layers, k=kw["experts_per_token"]):
        size = tokens * width
        lat = (kw["scale_up_latency"], kw["scale_out_latency"], kw["allreduce_latency"])
        t_tp = 2.0 * layers * group_all_reduce_time(size, tp, 1, dom, up, out, *lat)
        t_ep = 2.0 * moe * group_all_to_all_time(size * k, ep, 1, dom, up, out, *lat)
        return t_tp + t_ep + where(pp > 1, (pp - 1.0) * p2p_time(size, pp_bw, pp_lat), 0.0)  # pp=1: no link

    stream = pp * offload_stream_time(kw["offloaded_weights"], kw["host_bandwidth"], eff)
    stream = where(kw["offloaded_weights"] > 0, stream, 0.0)

    # speculative decoding: gamma draft steps + one verify step of gamma+1 tokens per sequence
    g = kw["spec_tokens"]
    e_tok = spec_tokens_per_step(kw["spec_acceptance"], g)
    t_verify_compute = (g + 1.0) * dec["decode_compute_time"]  # (attention at its own rate, as in compute)
    t_verify = np.fmax(dec["decode_step_time"], t_verify_compute)
    draft = _draft(kw)
    t_draft = 0.0
    if draft is not None:
        d = _compute({**kw, **draft}, output_len=gen)
        draft_width = kw["draft_hidden"] * np.fmax(kw["activation_bytes"], 2.0)
        t_draft = d["decode_step_time"] + comm(B, draft_width, kw["draft_layers"], 0.0, 0.0)  # dense draft
    sigma = kw["step_overhead"]  # once per engine step: the draft passes run inside it
    step = np.fmax(t_verify, stream) + comm(B * (g + 1.0)) + g * t_draft + sigma
    tpot = step / e_tok

    t_kv = where(kw["disaggregated"],
                 p2p_time(B * kw["input_len"] * kw["kv_bytes_per_token_gpu"], out, kw["scale_out_latency"]), 0.0)
    t_pre = np.fmax(pre["prefill_time"], stream) + comm(B * s_new) + sigma
    ttft = t_pre + t_kv
    e2e = ttft + (gen - 1.0) * tpot
    decode_busy = np.fmax((gen - 1.0) * tpot, 1e-30)
    req = where(kw["disaggregated"], B / np.fmax(t_pre, decode_busy), B / e2e)
    tok = req * gen
    return {
        "prefill_flops": pre["prefill_flops"],
        "prefill_hbm_bytes": pre["prefill_hbm_bytes"],
        "decode_flops": dec["decode_flops"],
        "decode_hbm_bytes": dec["decode_hbm_bytes"],
        "prefill_latency": t_pre + t_kv,
        "decode_step_latency": step,
        "tp_comm_time": comm(B),
        "kv_transfer_time": t_kv,
        "spec_tokens_per_step": e_tok,
        "prefill_bound": pre["prefill_bound"],
        "decode_bound": dec["decode_bound"],
        "ttft": ttft,
        "tpot": tpot,
        "e2e_latency": e2e,
        "request_capacity": req,
        "tokens_per_s": tok,
        "tokens_per_s_per_gpu": tok / kw["gpus_per_replica"],
    }
