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
   (:mod:`dsx.solvers.network` collectives), the engine's fixed costs (``step_overhead``
   per step, ``allreduce_latency`` per collective), disaggregated KV transfer and weight
   streaming; ``ttft``, ``tpot``, ``e2e_latency``, ``tokens_per_s`` per replica and per GPU
   (in :mod:`dsx.solvers.serving_latency`).
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

from .base import solver, traced, where
from .compute import kv_share, stage_params
from .layout import layout
from .speculative import DRAFT_COLUMNS, _draft, paged_tokens

__all__ = ["serving_layout", "kv_capacity", "serving_latency", "SERVING_CHECKS"]

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
    ("oom", "ok_memory"),  # weights + the batch's KV + a prefill chunk's workspace + reserve over the HBM
    ("unstable_queue", "ok_queue"),
]


# -- 1. layout ---------------------------------------------------------------------------------
@solver(("gpus_per_replica", "context_len", "generated_len", "ok_precision", "ok_tp_heads",
         "ok_layers_divisible", "ok_experts_divisible", "ok_context"))
def serving_layout(arch, layers, heads, experts, max_context, peak_flops, tp, pp, ep, input_len, output_len,
                   reasoning_tokens, disaggregated):
    """Replica size, sequence lengths and layout checks of a serving configuration.

    The layout checks are :func:`dsx.solvers.layout.layout`'s, evaluated on one replica
    (``gpus = tp·pp``) at sequence length ``context_len``, with equal pipeline stages
    (``pp | L``: serving holds ``1/pp`` of the weights and KV cache per stage). Expert
    parallelism regroups each stage's ``tp`` GPUs for the expert layers: ``ep`` of them hold
    ``E/ep`` whole experts each, every expert tensor-parallel over ``tp/ep`` (TensorRT-LLM's
    ``moe_tp_size · moe_ep_size = tp_size`` [trtllmep]; vLLM's expert parallelism remaps the TP
    group): ``ep | E`` and ``ep | tp``.

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
    ok_experts = (((ex % ep) == 0) & (ex > 0) & ((tp % ep) == 0)) | (ep == 1)
    return {
        "gpus_per_replica": per * (1.0 + 1.0 * disaggregated),
        "context_len": ctx,
        "generated_len": output_len + reasoning_tokens,
        "ok_precision": chk["ok_precision"],
        "ok_tp_heads": chk["ok_tp_heads"],
        # serving splits the weights and the KV cache into pp equal stages (stage_params, kv / pp):
        # pp must divide the layers (training's uneven first/last stages are not modelled here)
        "ok_layers_divisible": chk["ok_layers_divisible"] & (np.fmax(layers, 1.0) % pp == 0),
        "ok_experts_divisible": ok_experts,
        "ok_context": chk["ok_context"],
    }


# -- 2. KV capacity ----------------------------------------------------------------------------
@solver(("kv_bytes_per_token", "kv_bytes_per_token_gpu", "kv_bytes_per_sequence", "weights_per_gpu",
         "offloaded_weights", "kv_budget", "max_batch", "ok_weights", "ok_kv", "ok_batch"))
def kv_capacity(kv_elements_per_token, kv_heads, attention, kv_bytes, weight_bytes, context_len,
                hbm_capacity, weights_memory, tp, pp, batch, page_size, memory_utilization, weight_offload,
                spec_tokens, draft_arch=None, draft_layers=None, draft_hidden=None, draft_heads=None,
                draft_kv_heads=None, draft_head_dim=None, draft_ffn=None, draft_gated=None, draft_vocab=None,
                draft_tied_embeddings=None, draft_learned_positions=None, draft_bias=None, draft_norm=None,
                draft_max_context=None, draft_experts=None, draft_experts_per_token=None,
                draft_shared_experts=None, draft_expert_ffn=None, draft_dense_layers=None,
                draft_attention=None, draft_q_lora_rank=None, draft_kv_lora_rank=None, draft_rope_dim=None,
                draft_nope_dim=None, draft_v_head_dim=None, draft_forward_flops_per_sample=None,
                draft_params_published=None, draft_relative_positions=None):
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
    kv_elements_per_token : float
        KV elements per token, all layers (from ``model_shape``).
    kv_heads : float
        KV heads (NaN: none). attention : str (``"mla"`` is not split by TP).
    kv_bytes, weight_bytes : float
        B per KV element and per weight.
    context_len : float
        token cached per sequence at the end.
    hbm_capacity, weights_memory : float
        B per GPU (``weights_memory`` from :func:`dsx.solvers.memory.inference_memory`).
    tp, pp, batch : int
    page_size : int
        token per KV block.
    memory_utilization : float
    weight_offload : bool
    spec_tokens : int
        Draft tokens per step; the draft model's weights and KV count only when > 0.
    draft_* : optional
        The draft model's catalog columns (``spec_draft_model``; None without one).

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
    >>> out = kv_capacity.kernel(m["kv_elements_per_token"], kv_heads=8, attention="gqa", kv_bytes=2,
    ...     weight_bytes=2, context_len=2304, hbm_capacity=80e9, weights_memory=16.06e9, tp=1, pp=1, batch=64,
    ...     page_size=16, memory_utilization=0.9, weight_offload=False)
    >>> float(out["kv_bytes_per_token"]) / 1024, int(out["max_batch"])
    (128.0, 185)
    """
    share = kv_share(kv_heads, attention, tp)
    kv_tok = kv_elements_per_token * kv_bytes
    kv_gpu = kv_tok / pp * share
    w_gpu = weights_memory
    args = locals()
    draft = _draft({c: args["draft_" + c] for c in DRAFT_COLUMNS})
    if draft is not None:  # the draft model's weights and KV live beside the target's
        spec = spec_tokens > 0
        kv_gpu = kv_gpu + spec * draft["kv_elements_per_token"] * kv_bytes / pp \
            * kv_share(draft["kv_heads"], draft["attention"], tp)
        w_gpu = w_gpu + spec * weight_bytes * stage_params(
            draft["params"], draft["embedding_params"], draft["head_params"], draft["expert_params"],
            draft["tied_embeddings"], tp, pp, 1)
    per_seq = kv_gpu * paged_tokens(context_len, page_size)
    usable = memory_utilization * hbm_capacity
    offload = weight_offload
    budget = usable - w_gpu
    if traced(offload) or np.any(offload):  # (shortcut: without offload nothing below depends on the batch)
        resident = where(offload, np.minimum(w_gpu, np.maximum(usable - batch * per_seq, 0.0)), w_gpu)
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
        "ok_batch": batch <= max_batch,
    }


from .serving_latency import (  # noqa: E402,F401  (stack order: layout, KV capacity, latency)
    ALLREDUCE_LATENCY, ENGINE_COMPUTE_EFFICIENCY, ENGINE_MEMORY_EFFICIENCY, LOW_PRECISION_GEMM_EFFICIENCY,
    STEP_OVERHEAD, serving_latency)
