"""Serving: KV capacity, latency, throughput and operations of LLM inference.

Solvers, in stack order (``dsx.stacks.SERVING``):

1. :func:`serving_layout` — GPUs per replica and in the fleet, sequence lengths, and the
   layout checks (reusing :func:`dsx.solvers.layout.layout`'s kernel).
2. :func:`kv_capacity` — KV bytes per token (GQA/MQA/MLA aware, at ``kv_precision``), paged
   allocation, the largest batch that fits beside the weights (``max_batch``), weight
   offload, and the memory checks.
3. :func:`serving_latency` — prefill and decode per GPU from
   :func:`dsx.solvers.compute.inference_compute` (called on the effective workload: cached
   prompt tokens skipped, reasoning tokens generated, the draft model for speculative
   decoding), plus tensor-, expert- and pipeline-parallel communication per step
   (:mod:`dsx.solvers.network` collectives), disaggregated KV transfer and weight streaming;
   ``ttft``, ``tpot``, ``e2e_latency``, ``tokens_per_s`` per replica and per GPU.
4. :func:`dsx.solvers.queueing.queueing` — utilization, saturation, tail latency,
   ``replicas_needed``.
5. :func:`serving_operations` — ``gpus``, ``wall_time_ideal``, ``wall_time``,
   ``tokens_total`` and ``power_fraction`` for the shared sustainability and economics
   solvers.
6. :func:`serving_feasibility` — ``feasible`` and ``reason``.

:func:`best_batch` picks, over the ``batch`` axis, the batch with the highest throughput
per GPU that meets latency objectives (mlsysim's ``BatchingOptimizer``, as a masked
arg-max).

Latency model. ``batch`` is the number of sequences a replica runs at once. The prompts
of a batch are prefilled together (``ttft`` is that prefill: the TTFT of a request that
arrives with a full batch, the worst case of continuous batching), then each decode step
emits one token per sequence (``tpot``); a request holds its slot for
``e2e_latency = ttft + (n_gen − 1)·tpot`` and a replica completes ``batch`` requests per
``e2e_latency``, i.e. ``tokens_per_s = batch · n_gen / e2e_latency``. With
``disaggregated`` the prefill and decode instances (one each, ``tp·pp`` GPUs apiece) run
concurrently and the slower of the two sets the rate.

References
----------
Physics reference §3, §11; Pope et al. 2022 (arXiv:2211.05102) §2–3; Kwon et al. 2023
(vLLM, SOSP) §4; Yu et al. 2022 (Orca, OSDI); Zhong et al. 2024 (DistServe, OSDI)
for disaggregated prefill/decode; Leviathan et al. 2023 (speculative decoding).
"""

from __future__ import annotations

import numpy as np

from .base import Input, solver, where
from .compute import INPUT_LEN, OUTPUT_LEN, inference_compute, kv_share, stage_params
from .layout import EP, PP, TP, layout
from .network import COLLECTIVE_LATENCY, communication, group_all_reduce_time, group_all_to_all_time, group_bandwidth, p2p_time
from .speculative import _compute, _draft, _p, _with_params, offload_stream_time, paged_tokens, spec_tokens_per_step

__all__ = ["serving_layout", "kv_capacity", "serving_latency", "SERVING_CHECKS", "MEMORY_UTILIZATION",
           "SPEC_TOKENS"]

#: (reason code, ok flag) in the order ``reason`` reports them.
SERVING_CHECKS = [
    ("precision_unsupported", "ok_precision"),
    ("tp_exceeds_heads", "ok_tp_heads"),
    ("layers_not_divisible", "ok_layers_divisible"),
    ("experts_not_divisible", "ok_experts_divisible"),
    ("context_exceeds_max", "ok_context"),
    ("oom", "ok_weights"),
    ("kv_does_not_fit", "ok_kv"),
    ("batch_exceeds_kv_capacity", "ok_batch"),
    ("unstable_queue", "ok_queue"),
]

_LINK_EFFICIENCY = communication.inputs["link_efficiency"]  # one definition, network's
MEMORY_UTILIZATION = Input(
    0.9, "", "Fraction of HBM the serving engine may use for weights, workspace and KV cache. "
    "Default 0.9: vLLM's gpu_memory_utilization default (vllm-project/vllm EngineArgs); "
    "TensorRT-LLM gives the KV cache 0.9-0.95 of what is left after the weights", minimum=0.0)

SPEC_TOKENS = Input(0, "token", "Draft tokens proposed per speculative-decoding step (gamma). "
                    "Default 0: off. Set with spec_draft_model (e.g. 4, Leviathan et al. 2023); "
                    "without a draft model the drafts are free (n-gram / prompt lookup).",
                    integer=True, minimum=0)
ENGINE_COMPUTE_EFFICIENCY = Input(
    0.56, "", "Fraction of the kernel-level matmul rate (matmul_efficiency x peak) that a serving "
    "engine step sustains end to end (GEMMs at serving shapes, attention on paged KV, sampling, "
    "scheduling, launch gaps). Calibrated with engine_memory_efficiency on all 127 TensorRT-LLM "
    "throughput rows (docs/validation-serving.md).", minimum=0.0)
ENGINE_MEMORY_EFFICIENCY = Input(
    0.75, "", "Fraction of the kernel-level HBM rate (hbm_efficiency x bandwidth) that the "
    "weight-streaming GEMMs of a serving step sustain end to end (skinny GEMMs at decode batch "
    "sizes, launch gaps). The KV-cache stream of the attention kernels is not derated: "
    "flash-decoding reads the cache at copy bandwidth (docs/validation-gpu.md). Calibrated on "
    "TensorRT-LLM throughput tables (docs/validation-serving.md).", minimum=0.0)
# -- 1. layout ---------------------------------------------------------------------------------
@solver({
    "gpus_per_replica": ("", "GPUs of one serving replica: tp·pp (x2 when disaggregated)"),
    "context_len": ("token", "tokens cached per sequence at the end: input + output + reasoning"),
    "generated_len": ("token", "tokens generated per request: output + reasoning"),
    "ok_precision": ("", "hardware supports the compute precision"),
    "ok_tp_heads": ("", "tp divides the attention heads"),
    "ok_layers_divisible": ("", "pp divides the layers"),
    "ok_experts_divisible": ("", "ep divides the experts and the replica's GPUs (ep = 1 for dense)"),
    "ok_context": ("", "context within the model's max_context"),
})
def serving_layout(arch, layers, heads, experts, max_context, peak_flops,
                   tp=TP, pp=PP, ep=EP, input_len=INPUT_LEN, output_len=OUTPUT_LEN,
                   reasoning_tokens=Input(0, "token", "Hidden reasoning tokens generated per request "
                                          "before the answer (inference-time scaling); they add to "
                                          "the generated length, the KV cache and the cost.", minimum=0),
                   disaggregated=Input(False, "", "Separate prefill and decode instances (tp·pp GPUs "
                                       "each); the KV cache moves over the scale-out link "
                                       "(DistServe, Zhong et al. 2024).")):
    """Replica size, sequence lengths and layout checks of a serving configuration.

    The layout checks are :func:`dsx.solvers.layout.layout`'s, evaluated on one replica
    (``gpus = tp·pp``) at sequence length ``context_len``; experts must split evenly over
    ``ep`` GPUs of the replica (``ep | E`` and ``ep | tp·pp``).

    Parameters
    ----------
    arch : str
    layers, heads, experts, max_context : float
        Model shape (counts; ``max_context`` in tokens).
    peak_flops : float
        flop/s at the compute precision (NaN: unsupported).
    tp, pp, ep : int
    input_len, output_len, reasoning_tokens : int
        token per request.
    disaggregated : bool

    Returns
    -------
    dict
        ``gpus_per_replica``, ``context_len``, ``generated_len`` and ``ok_*`` flags.

    >>> out = serving_layout.kernel("decoder", 80, 64, 0, 131072, 989e12, tp=16, pp=1, ep=1,
    ...                             input_len=1000, output_len=200, reasoning_tokens=0,
    ...                             disaggregated=True)
    >>> float(out["gpus_per_replica"]), bool(out["ok_tp_heads"]), float(out["context_len"])
    (32.0, True, 1200.0)
    """
    ctx = input_len + output_len + reasoning_tokens
    per = tp * pp
    chk = layout.kernel(arch, layers, heads, experts, max_context, peak_flops, gpus=per, tp=tp, pp=pp,
                        cp=1, ep=1, global_batch=1, micro_batch=1, seq_len=ctx, virtual_stages=1,
                        sequence_parallel=False, zero=0, recompute="none")
    ex = np.fmax(experts, 0.0)
    ok_experts = (((ex % ep) == 0) & (ex > 0) & ((per % ep) == 0)) | (ep == 1)
    return {
        "gpus_per_replica": per * (1.0 + 1.0 * disaggregated),
        "context_len": ctx,
        "generated_len": output_len + reasoning_tokens,
        "ok_precision": chk["ok_precision"],
        "ok_tp_heads": chk["ok_tp_heads"],
        "ok_layers_divisible": chk["ok_layers_divisible"],
        "ok_experts_divisible": ok_experts,
        "ok_context": chk["ok_context"],
    }


# -- 2. KV capacity ----------------------------------------------------------------------------
@solver({
    "kv_bytes_per_token": ("B/token", "KV-cache bytes per token, whole model, at kv_precision"),
    "kv_bytes_per_token_gpu": ("B/token", "KV-cache bytes per token held by one GPU (target + draft)"),
    "kv_bytes_per_sequence": ("B", "paged KV bytes per sequence per GPU at context_len"),
    "weights_per_gpu": ("B", "weight bytes per GPU (target + draft), before offload"),
    "offloaded_weights": ("B", "weight bytes per GPU streamed from host memory each forward pass"),
    "kv_budget": ("B", "HBM per GPU for the KV cache: utilization x capacity - weights (all of it "
                  "when weights may be offloaded)"),
    "max_batch": ("", "most concurrent sequences whose paged KV fits (paged, at context_len)"),
    "ok_weights": ("", "weights fit in HBM (or are offloaded)"),
    "ok_kv": ("", "the KV cache of at least one sequence fits"),
    "ok_batch": ("", "batch <= max_batch"),
})
@_with_params([_p("context_len"), _p("hbm_capacity"), _p("weights_memory"),
               _p("page_size", Input(16, "token", "Tokens per KV-cache block (vLLM block_size default 16).",
                                     integer=True)),
               _p("memory_utilization", MEMORY_UTILIZATION),
               _p("weight_offload", Input(False, "", "Keep weights that do not fit in host memory and "
                                          "stream them over host_bandwidth every forward pass "
                                          "(FlexGen-style) instead of reporting oom.")),
               _p("spec_tokens", SPEC_TOKENS)])
def kv_capacity(**kw):
    """KV bytes per token, paged allocation and the largest batch that fits beside the weights.

    Per GPU: ``κ = kv_elements_per_token/pp · kv_share(a_kv, t) · b_kv`` (KV heads per GPU
    ``max(1, ⌊a_kv/t⌋)``; MLA latents not split by TP) plus the draft model's; a sequence
    holds ``κ · P⌈s/P⌉`` bytes (``s = context_len``, ``P = page_size``).
    ``budget = u·C − W_gpu``; ``max_batch = ⌊budget / (κ P⌈s/P⌉)⌋``: the ``1 − u`` share
    left over stands for the CUDA context, communication buffers and the activation
    workspace of a chunked prefill, as in vLLM (``W_gpu`` = ``weights_memory`` of
    :func:`dsx.solvers.memory.inference_memory`, + the draft model's). With
    ``weight_offload`` the weights that do not fit beside the batch's KV are streamed from
    host memory instead (``offloaded_weights``), so ``ok_weights`` holds.

    Parameters
    ----------
    **kw
        Model shape and layout (see :func:`dsx.solvers.compute.inference_compute`),
        ``context_len`` (token), ``hbm_capacity`` (B), ``weights_memory`` (B),
        ``page_size`` (token), ``memory_utilization``, ``weight_offload`` (bool), draft model
        columns (``draft_*``).

    Returns
    -------
    dict
        See the decorator: bytes (B), bytes per token (B/token), counts, flags.

    References
    ----------
    Physics reference §3 and §11 (KV capacity); Kwon et al. 2023 (vLLM) §4;
    vllm-project/vllm ``EngineArgs`` (``block_size`` 16, ``gpu_memory_utilization`` 0.9).

    Llama-3.1-8B at bf16 caches 128 KiB per token (physics §3):

    >>> from dsx.solvers.model import model_shape
    >>> m = model_shape.kernel("decoder", 32, 4096, 32, 8, 128, 14336, True, 128256,
    ...                        cnn_activation_elements=0.0)
    >>> out = kv_capacity.kernel(**{k: m[k] for k in kv_capacity.requires if k in m}, arch="decoder", experts=0, experts_per_token=0, kv_heads=8,
    ...     attention="gqa", tied_embeddings=False, weight_bytes=2, kv_bytes=2, activation_bytes=2,
    ...     peak_flops=989e12, hbm_bandwidth=3.35e12, tp=1, pp=1, ep=1, batch=64, input_len=2048,
    ...     output_len=256, matmul_efficiency=0.8, hbm_efficiency=0.85, context_len=2304,
    ...     hbm_capacity=80e9, weights_memory=16.06e9, page_size=16, memory_utilization=0.9,
    ...     weight_offload=False)
    >>> float(out["kv_bytes_per_token"]) / 1024, int(out["max_batch"])
    (128.0, 185)
    """
    tp, pp = kw["tp"], kw["pp"]
    share = kv_share(kw["kv_heads"], kw["attention"], tp)
    kv_tok = kw["kv_elements_per_token"] * kw["kv_bytes"]
    kv_gpu = kv_tok / pp * share
    w_gpu = kw["weights_memory"]
    draft = _draft(kw)
    if draft is not None:  # the draft model's weights and KV live beside the target's
        spec = kw.get("spec_tokens", 0.0) > 0
        kv_gpu = kv_gpu + spec * draft["kv_elements_per_token"] * kw["kv_bytes"] / pp \
            * kv_share(draft["kv_heads"], draft["attention"], tp)
        w_gpu = w_gpu + spec * kw["weight_bytes"] * stage_params(
            draft["params"], draft["embedding_params"], draft["head_params"], draft["expert_params"],
            draft["tied_embeddings"], tp, pp, 1)
    per_seq = kv_gpu * paged_tokens(kw["context_len"], kw["page_size"])
    usable = kw["memory_utilization"] * kw["hbm_capacity"]
    offload = kw["weight_offload"]
    budget = usable - w_gpu
    if np.any(offload):  # (shortcut: without offload nothing below depends on the batch)
        resident = where(offload, np.minimum(w_gpu, np.maximum(usable - kw["batch"] * per_seq, 0.0)), w_gpu)
        budget = where(offload, usable, budget)  # at the limit every weight is streamed
    else:
        resident = w_gpu
    with np.errstate(divide="ignore", invalid="ignore"):
        max_batch = np.maximum(np.floor(np.maximum(budget, 0.0) / per_seq), 0.0)
    return {
        "kv_bytes_per_token": kv_tok,
        "kv_bytes_per_token_gpu": kv_gpu,
        "kv_bytes_per_sequence": per_seq,
        "weights_per_gpu": w_gpu,
        "offloaded_weights": w_gpu - resident,
        "kv_budget": budget,
        "max_batch": max_batch,
        "ok_weights": offload | (w_gpu <= usable),
        "ok_kv": max_batch >= 1,
        "ok_batch": kw["batch"] <= max_batch,
    }


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
               _p("collective_latency", COLLECTIVE_LATENCY),
               _p("prefix_cache_hit", Input(0.0, "", "Fraction of each prompt's tokens found in the "
                                            "prefix cache; their prefill FLOPs and KV writes are skipped.",
                                            minimum=0.0)),
               _p("engine_compute_efficiency", ENGINE_COMPUTE_EFFICIENCY),
               _p("engine_memory_efficiency", ENGINE_MEMORY_EFFICIENCY),
               _p("spec_tokens", SPEC_TOKENS),
               _p("spec_acceptance", Input(0.7, "", "Probability that a draft token is accepted "
                                           "(i.i.d., Leviathan et al. 2023 alpha). Default 0.7, the "
                                           "value mlsysim uses; the paper measures 0.5-0.9 by task "
                                           "and draft model.", minimum=0.0))])
def serving_latency(**kw):
    """TTFT, TPOT, end-to-end latency and throughput of one replica at full batch.

    Compute: :func:`dsx.solvers.compute.inference_compute` on the effective workload —
    prefill of ``(1 − prefix_cache_hit)·input_len`` new tokens per prompt, decode at the
    mean context of ``generated_len = output_len + reasoning_tokens`` outputs.
    Communication through all ``pp`` stages, per step (physics §5, §11): ``2L`` tensor-
    parallel all-reduces of ``T·h·b_a`` bytes (``T`` tokens in the step; latency-bound at
    decode sizes: each pays ``collective_latency`` plus the per-hop latencies), 2 all-to-alls of ``T·k·h·b_a`` per MoE layer over ``ep``, ``pp − 1``
    point-to-point sends of ``T·h·b_a``; on the scale-up links when the group fits in the
    domain. Weight offload streams ``offloaded_weights`` per stage over the host link,
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

    Llama-3.1-8B on one H100 at batch 1: decode reads the 16 GB of weights each step.

    >>> ds = __import__("dsx").Space(model="llama-3.1-8b", hardware="H100", batch=1,
    ...                              input_len=128, output_len=128).to_dataset()
    >>> from dsx.stacks import evaluate
    >>> from dsx.solvers.memory import inference_memory
    >>> from dsx.solvers.model import model_shape
    >>> r = evaluate((model_shape, serving_layout, inference_memory, kv_capacity, serving_latency), ds)
    >>> round(float(r.tpot) * 1e3, 2), str(r.decode_bound.values)
    (7.53, 'memory')
    """
    tp, pp, ep, B = kw["tp"], kw["pp"], kw["ep"], kw["batch"]
    gen = kw["generated_len"]
    s_new = np.fmax(kw["input_len"] * (1.0 - kw["prefix_cache_hit"]), 1.0)
    # engine factors: the compute one derates every matmul-class FLOP; the memory one derates the
    # weight-streaming GEMM phase only (the KV stream of attention runs at hbm_efficiency)
    kw = {**kw, "matmul_efficiency": kw["matmul_efficiency"] * kw["engine_compute_efficiency"],
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
        lat = (kw["scale_up_latency"], kw["scale_out_latency"], kw["collective_latency"])
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
    step = np.fmax(t_verify, stream) + comm(B * (g + 1.0)) + g * t_draft
    tpot = step / e_tok

    t_kv = where(kw["disaggregated"],
                 p2p_time(B * kw["input_len"] * kw["kv_bytes_per_token_gpu"], out, kw["scale_out_latency"]), 0.0)
    t_pre = np.fmax(pre["prefill_time"], stream) + comm(B * s_new)
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
