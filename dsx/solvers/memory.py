"""Memory per GPU: model states, activations and reserve for training; weights, KV cache and workspace for serving.

Training (:func:`training_memory`) sizes the most-loaded GPU (the first pipeline stage for
activations, the most-loaded shard for parameters) as Megatron-LM's
``theoretical_memory_usage.py`` does, with the activation accounting generalised to GQA,
gated MLPs and flash attention (:func:`dsx.solvers.compute.stored_activation_bytes`).
Serving (:func:`inference_memory`) sizes weights + KV cache + a one-layer workspace.

Both produce ``memory_per_gpu``, ``memory_headroom`` (``hbm_capacity − memory_per_gpu``; negative
= how far from fitting) and ``ok_memory`` (the two stacks never run both solvers).

References
----------
Rajbhandari et al. 2020 (ZeRO, arXiv:1910.02054) §3.1, §5.1, Fig. 1; NVIDIA/Megatron-LM
``docs/source/distrib_optimizer.md`` and ``megatron/training/theoretical_memory_usage.py``;
Korthikanti et al. 2022 (arXiv:2205.05198) §4, Table 2, Eq. 5; Narayanan et al. 2021 §2.2.2;
NVIDIA/Megatron-LM ``megatron/core/pipeline_parallel/schedules.py`` (interleaved warm-up).
"""

from __future__ import annotations

import numpy as np

from .base import solver, where
from .quantities import unit
from .compute import kv_share, stage_params, stored_activation_bytes
from .compute_training import op_checkpoint_widths

__all__ = ["training_memory", "inference_memory", "model_state_bytes"]


def model_state_bytes(weights, weight_bytes, gradient_bytes, optimizer_bytes, zero, shard):
    """Weights, gradient and optimizer bytes for ``weights`` parameters under ZeRO stage ``zero``.

    Parameters
    ----------
    weights : float
        param resident on the GPU before ZeRO sharding.
    weight_bytes, gradient_bytes, optimizer_bytes : float
        B per parameter.
    zero : int
        0 none, 1 optimizer states (Megatron distributed optimizer), 2 + gradients, 3 + weights.
    shard : float
        Ranks sharing the states (data-parallel x context-parallel).

    Returns
    -------
    tuple of float
        (weights, gradients, optimizer) in B.

    References
    ----------
    Rajbhandari et al. 2020 §5.1 and Fig. 1 (Ψ = 7.5 B, N_d = 64: 120 / 31.4 / 16.6 / 1.9 GB).

    Examples
    --------
    >>> [round(sum(model_state_bytes(7.5e9, 2, 2, 12, z, 64)) / 1e9, 1) for z in range(4)]
    [120.0, 31.4, 16.6, 1.9]
    """
    def div(stage):
        return 1.0 + (zero >= stage) * (shard - 1.0)
    return (weights * weight_bytes / div(3), weights * gradient_bytes / div(2),
            weights * optimizer_bytes / div(1))


@solver(("weights_memory", "gradients_memory", "optimizer_memory", "activation_memory", "reserve_memory",
         "memory_per_gpu", "memory_headroom", "ok_memory"))
def training_memory(params, embedding_params, head_params, expert_params, tied_embeddings,
                    activation_elements_per_token, replicated_activation_elements_per_token,
                    attention_heads_total, layers, hidden, vocab, dp, micro_batches, tokens_per_sample,
                    weight_bytes, activation_bytes, hbm_capacity, tp, pp, cp, ep, micro_batch, seq_len,
                    virtual_stages, recompute, sequence_parallel, zero, gradient_bytes, optimizer_bytes,
                    flash_attention, dropout, memory_reserve, memory_fragmentation, zero3_reshard,
                    prefetch_depth, fsdp_mixed_precision, layers_per_stage=None,
                    first_stage_layers=None, kv_heads=None, head_dim=None, ffn=None):
    """Training memory per GPU: model states (ZeRO), activations (pipeline-aware) and reserve.

    Parameters
    ----------
    params, embedding_params, head_params, expert_params : float
        param (``model_shape``).
    tied_embeddings : bool
    activation_elements_per_token, replicated_activation_elements_per_token, attention_heads_total : float
        Stored-activation widths, all layers (``model_shape``).
    layers, hidden, vocab : float
        Counts (NaN for a CNN).
    dp, micro_batches : float
        From ``layout``.
    tokens_per_sample, seq_len : float
        token.
    weight_bytes, activation_bytes, gradient_bytes, optimizer_bytes : float
        B per element / parameter. Weights are held at ``weight_bytes``, the one size they have
        in memory, on the wire (DP/ZeRO gathers) and in checkpoints: FP8 weights
        (``weight_precision="fp8"``; Transformer Engine ``fp8_model_init``, Megatron-LM
        ``--fp8-param-gather``) are 1 B everywhere; the common FP8 recipe that keeps 16-bit
        weights and casts per GEMM is ``precision="fp8", weight_precision="bf16"``.
    hbm_capacity : float
        B.
    tp, pp, cp, ep, micro_batch, virtual_stages, zero : int
    recompute : str
        ``op``: torchtitan's op-level selective checkpointing keeps ``2h + q_w + v_w + o_w + f``
        elements per token per layer (:func:`dsx.solvers.compute_training.op_checkpoint_widths`).
    sequence_parallel, flash_attention, dropout : bool
    kv_heads, head_dim, ffn : float, optional
        Model shape, for ``recompute="op"``.
    memory_reserve : float
        B.
    layers_per_stage, first_stage_layers : float, optional
        Layers on the most-loaded pipeline stage (``layout``; uneven stages); default ``L/pp``.
    zero3_reshard, prefetch_depth
        ZeRO-3 working set: the whole stage's gathered weights unless they are freed after every
        forward (``zero3_reshard="forward"``), else ``1 + prefetch_depth`` gathered layers; ZeRO ≥ 2 also holds one
        layer's unreduced gradients before its reduce-scatter (Zhao et al. 2023 §3.2, §3.3.2).
    memory_fragmentation : float
        Fraction.
    fsdp_mixed_precision : bool
        ZeRO-3 as PyTorch FSDP runs it: no 16-bit parameter shard beside the fp32 master (per
        parameter ``b_g + K`` bytes sharded instead of ``b_w + b_g + K``), plus the gathered layers.

    Returns
    -------
    dict
        ``weights_memory``, ``gradients_memory``, ``optimizer_memory``, ``activation_memory``,
        ``reserve_memory``, ``memory_per_gpu``, ``memory_headroom`` (B); ``ok_memory`` (bool).

    Notes
    -----
    States: parameters on the most-loaded shard (:func:`~dsx.solvers.compute.stage_params`);
    dense states shard over ``dp·cp``, expert states over the expert-data-parallel group
    ``dp·cp/ep`` (:func:`model_state_bytes`). ``zero = 1`` with fp32 gradients is Megatron's
    distributed optimizer, ``6 + 12/d`` bytes per parameter.

    Activations of the first stage (Korthikanti Eq. 5, Megatron ``compute_activation_memory``):
    ``A_stage · min(p, m)``, interleaved ``A_stage · min(p + (p − 1)/v, m)`` (Megatron's warm-up
    ``2(p−1) + (v−1)p`` chunks plus one, never more than the step's ``m·v``: with ``m = p`` every
    forward runs first, ``schedules.py``) + input ids ``8 b s`` and embedding
    dropout, or the second stage's ``A_stage`` x one micro-batch fewer (``2/v`` fewer interleaved)
    when the first holds fewer layers (uneven stages; Llama Team 2024 §3.3.2 removes a layer from
    the first stage for this imbalance); ``A_stage`` is the micro-batch's stored activations of ``L/p`` layers
    (:func:`~dsx.solvers.compute.stored_activation_bytes`); selective recompute drops the
    score matrix; full recompute keeps only each layer's input (``b_a h`` per token, sequence
    sharded with SP) plus one layer's full set while it is recomputed. The last stage holds
    one micro-batch and the output layer (final-norm and head inputs ``2 b_a h``, fp32 logits
    ``4V`` per token, /tp); with ``p = 1`` both are on the same GPU.

    References
    ----------
    Rajbhandari et al. 2020 §5.1; Megatron-LM ``theoretical_memory_usage.py``;
    Korthikanti et al. 2022 Table 2, Eq. 5, §4.3; physics reference §4.4 worked example.

    Examples
    --------
    The physics-reference worked example (Llama-3.1-70B, s = 8192, t = 8, p = 4, v = 5, d = 8):

    >>> from dsx.solvers.model import model_shape
    >>> m = model_shape.kernel("decoder", 80, 8192, 64, 8, 128, 28672, True, 128256,
    ...                        cnn_activation_elements=0.0)
    >>> out = training_memory.kernel(**{k: m[k] for k in training_memory.requires if k in m},
    ...     tied_embeddings=False, layers=80, hidden=8192, vocab=128256, dp=8, micro_batches=8,
    ...     tokens_per_sample=8192, weight_bytes=2, activation_bytes=2, hbm_capacity=80e9, tp=8,
    ...     pp=4, cp=1, ep=1, micro_batch=1, seq_len=8192, virtual_stages=5, recompute="selective",
    ...     sequence_parallel=True, zero=1, gradient_bytes=4, optimizer_bytes=12,
    ...     flash_attention=True, dropout=False, memory_reserve=2e9, memory_fragmentation=0.05)
    >>> states = out["weights_memory"] + out["gradients_memory"] + out["optimizer_memory"]
    >>> round(float(states) / 1e9, 1), round(float(out["activation_memory"]) / 1e9, 1)
    (17.0, 25.9)
    """
    full = 1.0 * (recompute == "full")
    op = 1.0 * (recompute == "op")
    recompute_scores = (recompute != "none") | flash_attention
    L = np.fmax(layers, 1.0)
    h = np.fmax(hidden, 0.0)
    V = np.fmax(vocab, 0.0)
    # uneven stages: the most-loaded stage holds layers_per_stage of the L layers (1/pp_s of them)
    pp_s = pp if layers_per_stage is None else L / np.fmax(layers_per_stage, 1.0)

    # model states
    n_gpu = stage_params(params, embedding_params, head_params, expert_params, tied_embeddings, tp, pp_s, ep)
    n_exp = expert_params / (pp_s * tp * ep)
    b_w = weight_bytes                          # one size: memory, wire, checkpoint
    shard = dp * cp
    wd, gd, od = model_state_bytes(n_gpu - n_exp, b_w, gradient_bytes, optimizer_bytes, zero, shard)
    we, ge, oe = model_state_bytes(n_exp, b_w, gradient_bytes, optimizer_bytes, zero, shard / ep)
    weights, grads, opt = wd + we, gd + ge, od + oe
    # PyTorch FSDP: the fp32 master shard (in optimizer_bytes) is the sharded parameter itself
    weights = weights * where((zero >= 3) & fsdp_mixed_precision, 0.0, 1.0)
    # sharded working set: gathered parameters (ZeRO 3) and one layer's unreduced gradients (ZeRO >= 2)
    layer = n_gpu / np.fmax(L / pp_s, 1.0)
    gathered = where(zero3_reshard == "forward", (1.0 + prefetch_depth) * layer, n_gpu)
    weights = weights + (zero >= 3) * np.minimum(gathered, n_gpu) * b_w
    grads = grads + (zero >= 2) * layer * gradient_bytes

    # activations, per token of one micro-batch, L/p layers on one GPU
    stored = stored_activation_bytes(activation_elements_per_token, replicated_activation_elements_per_token,
                                     attention_heads_total, activation_bytes, seq_len, tp, pp_s, cp,
                                     sequence_parallel, recompute_scores, dropout)
    sp_div = tp ** (1.0 * sequence_parallel)
    per_tok = unit("1/token")
    checkpoint = activation_bytes * h * per_tok * L / (sp_div * pp_s * cp)  # full recompute: layer inputs
    # op-level selective checkpointing (torchtitan): the block input and the kept Q, V, attention,
    # w1 and w2 outputs; the block input and w2 output are sequence-sharded like the layer inputs
    if ffn is None:
        kept = 0.0 * h
    else:
        kept = op_checkpoint_widths(h, attention_heads_total, L, kv_heads, head_dim, ffn)[1]
    kept_tok = activation_bytes * per_tok * L * ((kept - 2.0 * h) / tp + 2.0 * h / sp_div) / (pp_s * cp)
    per_token = stored + full * (checkpoint - stored) + op * (kept_tok - stored)
    one_layer = (full + op) * stored * pp_s / L                        # recomputed layer's working set
    tokens_mb = micro_batch * tokens_per_sample
    # micro-batches in flight on pipeline rank r, in stage units: 1F1B min(p - r, m); interleaved,
    # Megatron's warm-up (p-r-1)·2 + (v-1)·p chunks plus the steady state's one, never more than
    # all m·v chunks of the step (schedules.py: min(warm-up, total); m = p runs all forwards first)
    v = np.fmax(virtual_stages, 1.0)
    inter = virtual_stages > 1

    def chunks_in_flight(r):
        return where(inter, np.fmin(2.0 * (pp - r - 1.0) + (v - 1.0) * pp + 1.0, micro_batches * v) / v,
                     np.fmin(pp - r, micro_batches))
    in_flight = chunks_in_flight(0.0)
    # uneven stages: a first stage with fewer layers (Llama 3: one fewer, for this memory
    # imbalance) can leave the second stage (rank 1) the fullest
    share = 1.0 if first_stage_layers is None or layers_per_stage is None else np.fmin(first_stage_layers / np.fmax(layers_per_stage, 1.0), 1.0)
    in_flight_2nd = chunks_in_flight(1.0)
    second = where(pp > 2, tokens_mb * (per_token * in_flight_2nd + one_layer), 0.0)
    embed = (8.0 + 1.0 * dropout * h) * unit("B/token") / (tp * cp)  # input ids (int64) + embedding dropout
    first = tokens_mb * ((per_token * share + embed) * in_flight + one_layer)
    output = (2.0 * activation_bytes * h + 4.0 * unit("B") * V) * per_tok / (tp * cp)  # norm/head inputs, fp32 logits
    last = tokens_mb * (per_token + one_layer + output)
    activations = np.fmax(np.fmax(first + (pp == 1) * tokens_mb * output, last), second)

    tensors = weights + grads + opt + activations
    reserve = memory_reserve + memory_fragmentation * tensors
    total = tensors + reserve
    return {
        "weights_memory": weights,
        "gradients_memory": grads,
        "optimizer_memory": opt,
        "activation_memory": activations,
        "reserve_memory": reserve,
        "memory_per_gpu": total,
        "memory_headroom": hbm_capacity - total,
        "ok_memory": total <= hbm_capacity,
    }


@solver(("weights_memory", "kv_cache_memory", "activation_memory", "reserve_memory", "memory_per_gpu",
         "memory_headroom", "ok_memory"))
def inference_memory(arch, params, embedding_params, head_params, expert_params, tied_embeddings,
                     kv_elements_per_token, activation_elements_per_token,
                     replicated_activation_elements_per_token, layers, vocab, kv_heads, attention,
                     weight_bytes, kv_bytes, activation_bytes, hbm_capacity, tp, pp, batch, input_len,
                     output_len, max_num_tokens, memory_reserve, memory_fragmentation):
    """Serving memory per GPU: weights, KV cache for the whole batch, one-layer workspace, reserve.

    Parameters
    ----------
    arch : str
    params, embedding_params, head_params, expert_params : float
        param.
    tied_embeddings : bool
    kv_elements_per_token, activation_elements_per_token, replicated_activation_elements_per_token : float
        Elements per token, all layers.
    layers, vocab, kv_heads : float
        Counts.
    attention : str
    weight_bytes, kv_bytes, activation_bytes : float
        B per element.
    hbm_capacity : float
        B.
    tp, pp, batch : int
    input_len, output_len : int
        token.
    max_num_tokens : float
        token per engine step: a batch's prefill runs in chunks of at most this many tokens.
    memory_reserve : float
        B. memory_fragmentation : fraction.

    Returns
    -------
    dict
        ``weights_memory``, ``kv_cache_memory``, ``activation_memory``, ``reserve_memory``,
        ``memory_per_gpu``, ``memory_headroom`` (B); ``ok_memory`` (bool).

    Notes
    -----
    Weights: every parameter resident (all experts), :func:`~dsx.solvers.compute.stage_params`
    x ``weight_bytes``. KV: ``batch (s_in + s_out) κ`` with ``κ`` per GPU from
    :func:`~dsx.solvers.compute.kv_share` (physics reference §11). Workspace: one layer's
    intermediates for the largest engine step, ``min(batch·s_in, max_num_tokens)`` tokens (an
    engine splits a longer batched prefill into chunks of ``max_num_tokens``: TensorRT-LLM
    ``max_num_tokens``, vLLM ``max_num_batched_tokens``; the whole-batch prefill counted here
    before put a batch that the KV budget admits tens of GB over the HBM), plus fp32 logits
    of the last positions.

    References
    ----------
    Pope et al. 2022 §2; Kwon et al. 2023 (vLLM); vllm-project/vllm ``get_num_kv_heads``.

    Examples
    --------
    Llama-3.1-70B in bf16 does not fit one 80 GB GPU:

    >>> from dsx.solvers.model import model_shape
    >>> m = model_shape.kernel("decoder", 80, 8192, 64, 8, 128, 28672, True, 128256,
    ...                        cnn_activation_elements=0.0)
    >>> out = inference_memory.kernel("decoder", **{k: m[k] for k in inference_memory.requires
    ...     if k in m}, tied_embeddings=False, layers=80, vocab=128256, kv_heads=8,
    ...     attention="gqa", weight_bytes=2, kv_bytes=2, activation_bytes=2, hbm_capacity=80e9,
    ...     tp=1, pp=1, batch=1, input_len=2048, output_len=256, max_num_tokens=8192, memory_reserve=2e9,
    ...     memory_fragmentation=0.05)
    >>> round(float(out["weights_memory"]) / 1e9, 1), bool(out["ok_memory"])
    (141.1, False)
    """
    cnn = arch == "cnn"
    s_in = where(cnn, 1.0 * unit("token"), input_len)
    # ep regroups the tp GPUs of a stage (serving_layout): a GPU holds 1/tp of its experts whatever ep is
    weights = stage_params(params, embedding_params, head_params, expert_params, tied_embeddings,
                           tp, pp, 1) * weight_bytes
    kv = batch * (s_in + output_len) * kv_elements_per_token / pp * kv_share(kv_heads, attention, tp) * kv_bytes
    per_layer = activation_bytes * (activation_elements_per_token / tp
                                    + replicated_activation_elements_per_token) / np.fmax(layers, 1.0)
    step_tokens = np.fmin(batch * s_in, max_num_tokens)  # the largest step: a prefill chunk
    workspace = step_tokens * per_layer + batch * 4.0 * unit("B") * np.fmax(vocab, 0.0) / tp  # + fp32 logits
    tensors = weights + kv + workspace
    reserve = memory_reserve + memory_fragmentation * tensors
    total = tensors + reserve
    return {
        "weights_memory": weights,
        "kv_cache_memory": kv,
        "activation_memory": workspace,
        "reserve_memory": reserve,
        "memory_per_gpu": total,
        "memory_headroom": hbm_capacity - total,
        "ok_memory": total <= hbm_capacity,
    }
