"""Training compute: FLOPs, HBM bytes and roofline time of one micro-batch on one GPU.

The training half of the per-GPU compute (:mod:`dsx.solvers.compute` holds the shared helpers,
the efficiency inputs and the inference half); ``dsx.solvers.compute.training_compute`` still
resolves to this solver.

HBM accounting per training micro-batch (derived; documented in :func:`training_compute`):
weights read ``2 + [full recompute]`` times (forward, data-gradient GEMM, recomputed
forward) at ``weight_bytes``; the gradient accumulator read and written once
(``2·gradient_bytes`` per parameter); each stored activation written and read in the
forward, read back, and its gradient written and read in the backward (5 passes, +2 with
full recompute); fp32 logits written/read in forward and backward (16 B per vocabulary
entry per token). Only the activation and logits traffic belongs to kernels of its own
(``mb_nongemm_memory_time``); the weight and gradient streams run inside the GEMMs.
"""

from __future__ import annotations

import numpy as np

from .base import solver, where
from .compute import (TRAINING_ATTENTION_BYTES, _touched, attention_peak_fraction, stage_params,
                      stored_activation_bytes)
from .moe import expert_gemm_tokens
from .quantities import unit

__all__ = ["training_compute", "op_checkpoint_widths"]



def op_checkpoint_widths(hidden, attention_heads_total, layers, kv_heads, head_dim, ffn):
    """Per-layer widths of torchtitan's op-level selective checkpointing (``recompute="op"``).

    torchtitan's policy saves the output of every compute op on its save list (matmuls,
    flash attention) *except every second matmul* of a transformer block, and recomputes every
    other op (pytorch/torchtitan ``torchtitan/models/llama/parallelize_llama.py``,
    ``_apply_ac_to_transformer_block``, Dec. 2024). A Llama block runs its matmuls in the order
    Q, K, V, O, w1 (gate), w3 (up), w2 (down): K, O and w3 are recomputed in the backward.

    Parameters
    ----------
    hidden, attention_heads_total, layers, kv_heads, head_dim, ffn : float
        Model shape (dense decoder; ``kv_heads``/``head_dim`` NaN or 0: MHA / ``h/a``).

    Returns
    -------
    tuple of float
        (recomputed matmul parameters per layer ``h(k_w + o_w + f)``, param; stored elements per
        token per layer ``2h + q_w + v_w + o_w + f``: the block input, the kept Q, V, attention
        output, w1 and w2 outputs).

    Examples
    --------
    Llama-3.1-8B (h 4096, 32 heads, 8 KV heads, f 14336): 79.7 M of the block's 218.1 M matmul
    parameters are recomputed (+12.2 % linear-layer FLOPs on 6N), 7.75 h elements kept per token:

    >>> mm, kept = op_checkpoint_widths(4096.0, 32 * 32.0, 32.0, 8.0, 128.0, 14336.0)
    >>> round(float(mm) / 1e6, 1), float(kept) / 4096
    (79.7, 7.75)
    """
    a = attention_heads_total / np.fmax(layers, 1.0)
    dh = where(np.isfinite(head_dim) & (head_dim > 0), head_dim, hidden / np.fmax(a, 1.0))
    akv = where(np.isfinite(kv_heads) & (kv_heads > 0), kv_heads, a)
    recomputed = hidden * (akv * dh + a * dh + ffn)
    kept = 2.0 * hidden + 2.0 * a * dh + akv * dh + ffn
    return np.fmax(recomputed, 0.0), np.fmax(kept, 0.0)


@solver(("model_flops_step", "hardware_flops_step", "mb_flops", "mb_flops_matmul", "mb_flops_attention",
         "mb_flops_elementwise", "mb_flops_logits", "mb_hbm_bytes", "stage_layers", "mb_compute_time",
         "mb_memory_time", "mb_nongemm_memory_time", "mb_time", "arithmetic_intensity", "ridge_intensity",
         "bound"))
def training_compute(params, embedding_params, matmul_params, head_params, expert_params,
                     attention_flops_per_token_ctx, elementwise_flops_per_token,
                     activation_elements_per_token, replicated_activation_elements_per_token,
                     attention_heads_total, vocab, experts, experts_per_token, tied_embeddings,
                     tokens_per_sample, tokens_per_step, weight_bytes, activation_bytes, peak_flops,
                     hbm_bandwidth, tp, pp, cp, ep, micro_batch, seq_len, recompute, sequence_parallel,
                     matmul_efficiency, hbm_efficiency, gradient_bytes, flash_attention, dropout,
                     causal_attention, mfu_attention, layers=None, layers_per_stage=None,
                     last_stage_layers=None, hidden=None, kv_heads=None, head_dim=None, ffn=None):
    """FLOPs, HBM bytes and roofline time of one training micro-batch on one GPU.

    Parameters
    ----------
    params, embedding_params, matmul_params, head_params, expert_params : float
        param (``model_shape``).
    attention_flops_per_token_ctx, elementwise_flops_per_token : float
        flop per token (per key for attention), forward, all layers.
    activation_elements_per_token, replicated_activation_elements_per_token, attention_heads_total : float
        Stored-activation widths (elements per token, all layers).
    vocab, experts, experts_per_token : float
        Counts (NaN = none).
    tied_embeddings : bool
    tp, pp, cp, ep, micro_batch : int
        Layout (micro_batch in sequences).
    seq_len, tokens_per_sample, tokens_per_step : float
        token.
    recompute : str
        ``none`` | ``selective`` | ``full`` | ``op`` (torchtitan's op-level selective
        checkpointing, :func:`op_checkpoint_widths`: the K, O and MLP-up GEMMs run again).
    sequence_parallel : bool
    weight_bytes, activation_bytes, gradient_bytes : float
        B per element.
    peak_flops : float
        flop/s, dense, at the compute precision.
    hbm_bandwidth : float
        B/s.
    matmul_efficiency, hbm_efficiency : float
        Achieved fractions (dimensionless).
    flash_attention, dropout, causal_attention : bool
    mfu_attention : {"full", "causal", "none"}
        Attention share counted in ``model_flops_step`` (the MFU convention; see the input).
    layers, layers_per_stage, last_stage_layers : float, optional
        Transformer layers in the model, on the most-loaded stage and on the last stage (from
        ``layout``; uneven pipeline stages). Omitted: ``pp`` equal stages.

    Returns
    -------
    dict
        ``model_flops_step``, ``hardware_flops_step`` (flop, whole job); ``mb_flops`` and its
        split (flop, per GPU); ``mb_hbm_bytes`` (B); ``mb_compute_time``, ``mb_memory_time``,
        ``mb_time`` (s); ``arithmetic_intensity``, ``ridge_intensity`` (flop/B); ``bound``;
        ``stage_layers``: layers on the stage modelled, the one that sets the pipeline's pace
        (uneven stages: the last stage, ``l`` layers plus the head, or a stage of ``c`` layers,
        whichever has more FLOPs).

    Notes
    -----
    FLOPs per token (physics reference §2): forward ``2 N_mm + C_attn``; backward 2x; full
    recompute +1 forward of the layers (not of the logits: Narayanan Eq. 3, layers x4, logits
    x3); attention core ``4·L·a·d_h·s_ctx`` forward, x3 for fwd+bwd, +0.5 for the
    FlashAttention backward's QK^T recompute, +1 for selective or full recompute (Korthikanti
    App. A Eq. 8). Per GPU: layer FLOPs / (tp·cp·pp); logits (the head, ``2Vh`` per token) on
    the last stage / (tp·cp). ``model_flops_step = 3(2 N_mm + C_attn(s))·B·s`` (PaLM App. B,
    full-square attention); ``hardware_flops_step`` adds recomputation and excludes the
    elementwise FLOPs (as Korthikanti App. A does). Compute time: GEMMs and logits at
    ``η_c F``, the attention core at ``η_c F · attention_peak_fraction(b_a, 2)``: the 16-bit
    rate (Transformer Engine keeps attention in BF16 in FP8 recipes), ``b_a`` the compute
    precision's bytes (``activation_bytes``).

    HBM bytes per micro-batch and GPU (derived): stage weights ``W`` (``stage_params``; MoE
    experts hit by the micro-batch) x ``(b_w (2 + [full]) + 2 b_g)``; stored activations
    (:func:`stored_activation_bytes`) x ``(5 + 2[full])`` x tokens; fp32 logits 16·V/(tp·cp)
    per token. Per-step optimizer traffic is not here (per step, not per micro-batch).

    References
    ----------
    Chowdhery et al. 2022 (PaLM) App. B; Narayanan et al. 2021 Eq. 3; Korthikanti et al. 2022
    App. A Eqs. 7–9; Dao et al. 2022 §3.1; Williams et al. 2009 (roofline).

    Examples
    --------
    Llama-3.1-70B on one H100 (bf16) at micro-batch 1 x 2048 tokens, no recompute:

    >>> from dsx.solvers.model import model_shape
    >>> m = model_shape.kernel("decoder", 80, 8192, 64, 8, 128, 28672, True, 128256,
    ...                        cnn_activation_elements=0.0)
    >>> out = training_compute.kernel(**{k: m[k] for k in training_compute.requires if k in m},
    ...     vocab=128256, experts=0, experts_per_token=0, tied_embeddings=False, tp=1, pp=1, cp=1,
    ...     ep=1, micro_batch=1, seq_len=2048, tokens_per_sample=2048, tokens_per_step=4 * 2048,
    ...     recompute="none", sequence_parallel=True, weight_bytes=2, activation_bytes=2,
    ...     peak_flops=989e12, hbm_bandwidth=3.35e12, matmul_efficiency=0.8, hbm_efficiency=0.85,
    ...     gradient_bytes=4, flash_attention=True, dropout=False, causal_attention=False)
    >>> round(float(out["mb_flops_matmul"]) / (6 * 68.451e9 * 2048), 4), str(out["bound"])
    (1.0, 'compute')
    """
    full = 1.0 * (recompute == "full")
    sel = 1.0 * (recompute == "selective")
    op = 1.0 * (recompute == "op")
    fl = 1.0 * flash_attention
    V = np.fmax(vocab, 0.0)
    tokens_mb = micro_batch * tokens_per_sample                 # tokens of one micro-batch
    tok_gpu = tokens_mb / (tp * cp)                             # per GPU (tp, cp share the work)
    mm_layers = matmul_params - head_params
    if hidden is None:                                          # shape not given: no op-level recompute
        op_mm = 0.0 * mm_layers
    else:                                                       # recomputed K, O, MLP-up GEMMs, all layers
        op_mm = op * np.fmax(layers, 1.0) * op_checkpoint_widths(hidden, attention_heads_total, layers,
                                                                  kv_heads, head_dim, ffn)[0] * unit("param")
    s_ctx = seq_len * (1.0 - 0.5 * causal_attention)
    # selective recompute re-runs the attention core only where it was not stored: with
    # FlashAttention nothing of it is stored, so it re-runs nothing (Korthikanti et al. 2022
    # §5 recomputes the softmax/dropout/score tensors, which flash attention never keeps)
    attn_mult = 3.0 + 0.5 * fl + np.fmin(sel * (1.0 - fl) + full, 1.0)

    # the pipeline stage that sets the pace: the last (its layers + the head) or the fullest
    F = unit("flop/param/token")                                # 2 flop per parameter per token, per pass
    f_layers = ((6.0 + 2.0 * full) * mm_layers + 2.0 * op_mm) * F + attn_mult * attention_flops_per_token_ctx * s_ctx
    if layers is None:
        pp_eff, use_last, n_stage = pp, True, np.nan
    else:
        L = np.fmax(layers, 1.0)
        use_last = (last_stage_layers / L * f_layers + 6.0 * F * head_params) >= layers_per_stage / L * f_layers
        n_stage = np.fmax(where(use_last, last_stage_layers, layers_per_stage), 1.0)  # >= 1 (infeasible splits)
        pp_eff = L / n_stage                                    # stage share of the layers = 1/pp_eff

    f_mm = ((6.0 + 2.0 * full) * mm_layers + 2.0 * op_mm) * F / pp_eff * tok_gpu
    # routed experts (physics §3, dsx.solvers.moe): the expert-parallel rank with the busiest
    # experts sets the pace; its extra matmul work is r - 1 of the expert FLOPs. A training
    # micro-batch gives each expert thousands of tokens, far above the ridge, so the small-M
    # floor is left out (ridge 0) and the FLOPs stay independent of the hardware
    k_frac = np.fmax(experts_per_token, 0.0) / np.fmax(experts, 1.0)
    t_x = tokens_mb * ep / cp                                   # tokens the EP group routes
    r_x = expert_gemm_tokens(t_x, experts, experts_per_token, 0.0 * unit("token"), ep) \
        / np.fmax(t_x * k_frac, 1e-30 * unit("token"))
    f_x = (6.0 + 2.0 * full) * F * expert_params * k_frac / pp_eff * tok_gpu
    f_mm = f_mm + where(experts > 0, f_x * (r_x - 1.0), 0.0)
    f_attn = (attn_mult * attention_flops_per_token_ctx / pp_eff) * s_ctx * tok_gpu
    f_logits = where(use_last, 6.0 * F * head_params * tok_gpu, 0.0)
    f_elt = ((3.0 + full + op) * elementwise_flops_per_token / pp_eff) * tok_gpu
    f_matmul_class = f_mm + f_attn + f_logits
    mb_flops = f_matmul_class + f_elt

    counted = where(mfu_attention == "none", 0.0, where(mfu_attention == "causal", 0.5, 1.0))
    model_flops = 3.0 * (2.0 * F * matmul_params + counted * attention_flops_per_token_ctx * seq_len) * tokens_per_step
    hw_per_token = (((6.0 + 2.0 * full) * mm_layers + 2.0 * op_mm + 6.0 * head_params) * F
                    + attn_mult * attention_flops_per_token_ctx * s_ctx)
    hardware_flops = hw_per_token * tokens_per_step

    # HBM bytes
    touched = _touched(experts, experts_per_token, tokens_mb)
    w_all = stage_params(params, embedding_params, head_params, expert_params, tied_embeddings, tp, pp_eff, ep)
    w_stage = w_all - expert_params / (pp_eff * tp * ep) * (1.0 - touched)
    op_share = op_mm / np.fmax(mm_layers, 1.0 * unit("param"))                  # recomputed GEMMs read their weights again
    weight_traffic = w_stage * (weight_bytes * (2.0 + full + op_share) + 2.0 * gradient_bytes)
    stored = stored_activation_bytes(activation_elements_per_token, replicated_activation_elements_per_token,
                                     attention_heads_total, activation_bytes, seq_len, tp, pp_eff, 1,
                                     sequence_parallel, flash_attention, dropout)
    # a recomputing forward (full, or op-level: every elementwise op) touches the activations again
    act_traffic = (5.0 + 2.0 * np.fmax(full, op)) * stored * (tokens_mb / cp)
    logits_traffic = where(use_last, 16.0 * unit("B/token") * V / tp * (tokens_mb / cp), 0.0)
    mb_bytes = weight_traffic + act_traffic + logits_traffic

    rate_c = matmul_efficiency * peak_flops
    rate_m = hbm_efficiency * hbm_bandwidth
    # attention core at the 16-bit rate even when the GEMMs run at FP8/FP4 (charged once here;
    # step_time's executed-time estimate applies the same fraction to its own rate, not on top)
    attn_frac = attention_peak_fraction(activation_bytes, TRAINING_ATTENTION_BYTES * unit("B"))
    t_c = (f_mm + f_logits) / rate_c + f_attn / (rate_c * attn_frac)
    t_m = mb_bytes / rate_m
    # the weights and the gradient accumulator stream through the GEMMs that use them (read as
    # operands, accumulated in the epilogue): only the activation and logits traffic belongs to
    # separate memory-bound kernels (norms, activations, residuals, casts, softmax/loss)
    t_nongemm = (act_traffic + logits_traffic) / rate_m
    return {
        "model_flops_step": model_flops,
        "hardware_flops_step": hardware_flops,
        "mb_flops": mb_flops,
        "mb_flops_matmul": f_mm,
        "mb_flops_attention": f_attn,
        "mb_flops_elementwise": f_elt,
        "mb_flops_logits": f_logits,
        "mb_hbm_bytes": mb_bytes,
        "stage_layers": n_stage,
        "mb_compute_time": t_c,
        "mb_memory_time": t_m,
        "mb_nongemm_memory_time": t_nongemm,
        "mb_time": np.maximum(t_c, t_m),  # NaN (unsupported precision) propagates
        "arithmetic_intensity": mb_flops / mb_bytes,
        "ridge_intensity": rate_c / rate_m,
        "bound": where(t_c >= t_m, "compute", "memory"),
    }
