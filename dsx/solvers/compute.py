"""Per-GPU compute: shared helpers and inputs; FLOPs, HBM bytes and roofline of an inference step.

Training (:func:`dsx.solvers.compute_training.training_compute`, reachable here too): one
micro-batch on one GPU of the pipeline stage that sets the pace, forward + backward
(+ recomputation). Inference (:func:`inference_compute`): a prefill of ``batch`` prompts and one decode step,
per GPU under ``tp``/``pp``. Every term is derived from the architecture (``model_shape``)
and the layout; nothing is a fraction of the weights.

Roofline (Williams, Waterman & Patterson 2009): ``T = max(C / (η_c F), Q / (η_m W))``.
Matmul-class FLOPs (GEMMs, attention score/PV, logits) are charged to the tensor cores;
elementwise FLOPs (norms, activations, residuals) are reported in ``mb_flops`` but charged
to memory: their cost is the activation traffic already counted in ``mb_hbm_bytes``.

The training micro-batch's HBM accounting is documented in :mod:`dsx.solvers.compute_training`.
"""

from __future__ import annotations

import numpy as np

from .base import solver, where
from .moe import expert_gemm_tokens
from .quantities import unit

__all__ = ["inference_compute", "stage_params", "stored_activation_bytes",
           "attention_peak_fraction", "TRAINING_ATTENTION_BYTES"]


#: Operand width of the training attention core (B): Transformer Engine's DotProductAttention
#: (fused/flash) runs BF16 even in FP8 recipes, so FP8 training keeps attention at the 16-bit rate.
TRAINING_ATTENTION_BYTES = 2.0


def stage_params(params, embedding_params, head_params, expert_params, tied_embeddings, tp, pp, ep):
    """Parameters resident on one GPU of the most-loaded pipeline stage.

    Parameters
    ----------
    params, embedding_params, head_params, expert_params : float
        param (from ``model_shape``).
    tied_embeddings : bool
        Output head shares the input embedding (a copy sits on the last stage when pp > 1).
    tp, pp, ep : int
        Tensor-, pipeline-, expert-parallel degrees.

    Returns
    -------
    float
        param per GPU: ``((N − emb − experts)/pp + emb_stage)/tp + experts/(pp·tp·ep)`` with
        ``emb_stage`` the embedding table (+ position table) on the first stage, the head on the
        last (both when ``pp = 1``).

    References
    ----------
    NVIDIA/Megatron-LM ``theoretical_memory_usage.py`` (most-loaded shard: first stage
    ``N_layers/p + Vh``, plus the untied head when ``p = 1``; experts over ``ep``·expert-tp).

    Examples
    --------
    >>> round(float(stage_params(70.554e9, 2.1013e9, 1.0507e9, 0.0, False, 8, 4, 1)) / 1e9, 2)  # physics §4.4
    2.27
    """
    emb_stage = embedding_params - (pp > 1) * (1.0 - 1.0 * tied_embeddings) * head_params
    dense = (params - embedding_params - expert_params) / pp + emb_stage
    return dense / tp + expert_params / (pp * tp * ep)


def stored_activation_bytes(activation_elements_per_token, replicated_activation_elements_per_token,
                            attention_heads_total, activation_bytes, seq_len, tp, pp, cp,
                            sequence_parallel, flash_attention, dropout):
    """Activation bytes stored for the backward, per token of a micro-batch, on one GPU of one stage.

    Parameters
    ----------
    activation_elements_per_token, replicated_activation_elements_per_token : float
        Elements per token over all layers, split over TP / replicated unless sequence-parallel.
    attention_heads_total : float
        Layers x heads (materialised softmax has ``heads·s`` elements per token per layer).
    activation_bytes : float
        B per activation element.
    seq_len : float
        token (keys per query for a materialised score matrix).
    tp, pp, cp : int
        Parallel degrees; ``cp`` splits the tokens.
    sequence_parallel, flash_attention, dropout : bool

    Returns
    -------
    float
        B per token (of the micro-batch) on one GPU, no recomputation.

    Notes
    -----
    Korthikanti et al. 2022 §4.1 generalised (physics reference §4.2):
    ``b_a(q_w+k_w+v_w+o_w+(3f|2f)) / t + (b_a·4h + δ_do·2h) / (t if SP else 1)
    + δ_mat·(b_a + δ_do(1 + b_a))·a·s / t`` per layer; MHA/GeLU/dropout/materialised at 16 bit
    gives ``34h + 5as`` and with TP ``10h + 24h/t + 5as/t`` (Table 2).

    Examples
    --------
    GPT-3 layer, no parallelism (Korthikanti Eq. 1: ``sbh(34 + 5as/h)``), per token per h:

    >>> h, a, s = 12288, 96, 2048
    >>> b = stored_activation_bytes(12 * h, 4 * h, a, 2.0, s, 1, 1, 1, False, False, True)
    >>> round(float(b) / h, 3)
    114.0
    """
    repl_div = where(sequence_parallel, tp, 1)
    mask = 1.0 * dropout
    split = activation_bytes * activation_elements_per_token
    # replicated part: norm/QKV/MLP inputs (4h elements) + two 1-byte dropout masks (2h bytes)
    mask_byte = mask * unit("B")  # a dropout mask keeps 1 byte per element
    repl = (activation_bytes + mask_byte / 2.0) * replicated_activation_elements_per_token
    # a materialised score matrix: heads elements per (query token, key token) pair
    scores = (1.0 - 1.0 * flash_attention) * (activation_bytes + mask_byte + mask * activation_bytes) \
        * attention_heads_total * unit("1/token**2") * seq_len
    return ((split + scores) / tp + repl / repl_div) / (pp * cp)


def _touched(experts, experts_per_token, tokens):
    """Expected fraction of routed experts hit by ``tokens`` tokens, 1 − (1 − k/E)^T (uniform routing).

    >>> round(float(_touched(8, 2, 8)) * 8, 2)   # Mixtral at batch 8: 7.2 experts (physics §3)
    7.2
    """
    return 1.0 - (1.0 - np.fmax(experts_per_token, 0.0) / np.fmax(experts, 1.0)) ** (tokens / unit("token"))


def attention_peak_fraction(compute_bytes, attention_bytes):
    """Fraction of the compute-precision dense peak available to attention's matmuls.

    Tensor-core peaks scale inversely with operand width (H100 989 TFLOP/s BF16, 1979 FP8;
    B200 2250 / 4500 / 9000 BF16 / FP8 / FP4), so attention whose operands are
    ``attention_bytes`` wide runs at ``peak · min(1, b_compute / b_attention)``: never faster
    than the compute precision, and at the 16-bit (or KV-precision) rate when the GEMMs run
    at FP8 or FP4. The single definition used by the training path
    (:func:`training_compute`, :func:`dsx.solvers.training.step_time`, attention at
    :data:`TRAINING_ATTENTION_BYTES`) and the inference path (:func:`inference_compute`,
    attention at the KV precision, at least 8 bit).

    Parameters
    ----------
    compute_bytes : float or array
        B per element of the compute precision (the precision ``peak_flops`` is quoted at).
    attention_bytes : float or array
        B per element of attention's operands.

    Returns
    -------
    float or array
        Dimensionless, in (0, 1].

    Notes
    -----
    Widths are compared at their nominal element size, ``2^⌊log₂ b⌋``: block-scaled formats
    (NVFP4 0.5625 B, MXFP4 0.53125 B per element with their scales) count as 4-bit, since the
    scales change the bytes moved, not the tensor-core rate.

    >>> float(attention_peak_fraction(1.0, 2.0)), float(attention_peak_fraction(0.5625, 1.0))
    (0.5, 0.5)
    >>> float(attention_peak_fraction(2.0, 1.0))     # 16-bit GEMMs: attention no faster
    1.0
    """
    def nominal(b):
        return 2.0 ** np.floor(np.log2(b / unit("B")) + 1e-9)
    return np.minimum(1.0, nominal(compute_bytes) / nominal(attention_bytes))


def kv_share(kv_heads, attention, tp):
    """Fraction of a layer's KV cache held by one GPU under tensor parallelism.

    GQA/MHA: ``max(1, floor(a_kv/t)) / a_kv`` (heads replicated when ``t > a_kv``; vLLM
    ``ModelConfig.get_num_kv_heads``); MLA: 1 (the latent is not split by TP).

    Parameters
    ----------
    kv_heads : float
        KV heads (NaN = none).
    attention : str
        ``"mla"`` or other.
    tp : int

    Returns
    -------
    float
        Dimensionless fraction.

    >>> float(kv_share(8, "gqa", 16)), float(kv_share(8, "gqa", 4)), float(kv_share(128, "mla", 8))
    (0.125, 0.25, 1.0)
    """
    akv = np.fmax(kv_heads, 1.0)
    return where(attention == "mla", 1.0, np.fmax(1.0, np.floor(akv / tp)) / akv)


@solver(("prefill_flops", "prefill_hbm_bytes", "decode_flops", "decode_hbm_bytes", "prefill_compute_time",
         "prefill_memory_time", "prefill_time", "decode_compute_time", "decode_step_time", "prefill_bound",
         "decode_bound"))
def inference_compute(arch, params, embedding_params, matmul_params, head_params, expert_params,
                      kv_elements_per_token, attention_flops_per_token_ctx, activation_elements_per_token,
                      replicated_activation_elements_per_token, experts, experts_per_token, kv_heads,
                      attention, tied_embeddings, weight_bytes, kv_bytes, activation_bytes, peak_flops,
                      hbm_bandwidth, tp, pp, ep, batch, input_len, output_len, matmul_efficiency,
                      hbm_efficiency, weight_stream_efficiency=1.0):
    """Prefill and decode-step FLOPs, bytes and roofline times per GPU for serving.

    Parameters
    ----------
    arch : str
        ``"cnn"``: one image per request, no KV.
    params, embedding_params, matmul_params, head_params, expert_params : float
        param.
    kv_elements_per_token, activation_elements_per_token, replicated_activation_elements_per_token : float
        Elements per token, all layers.
    attention_flops_per_token_ctx : float
        flop per token per key, forward.
    experts, experts_per_token, kv_heads : float
        Counts.
    attention : str
    tied_embeddings : bool
    weight_bytes, kv_bytes, activation_bytes : float
        B per element.
    peak_flops : float
        flop/s. hbm_bandwidth : B/s.
    tp, pp, ep, batch : int
    input_len, output_len : int
        token.
    matmul_efficiency, hbm_efficiency : float
    weight_stream_efficiency : float
        Further derating of the HBM rate of the GEMM phase (weights and activations) only; the
        serving solver passes its ``engine_memory_efficiency`` (1 when called alone).

    Returns
    -------
    dict
        FLOPs (flop) and bytes (B) per GPU of the last stage; times (s) = pp x stage time
        (a token crosses every stage in turn); bounds.

    Notes
    -----
    Physics reference §3 (Pope et al. 2022 §2–3): prefill
    ``C = 2 N_mm B s_in + C_attn B s_in²/2`` (causal), logits for the last position only;
    ``Q = W b_w + KV writes + 2 x activations``. Decode at mean context
    ``c = s_in + s_out/2``: ``C = 2 N_mm B + C_attn B c``; ``Q = W b_w + B c κ b_kv`` (KV
    reads) + KV write of the new token + activations. MoE reads the experts touched,
    ``E(1 − (1 − k/E)^T)``. Per GPU: layers / pp, heads / tp, KV heads per GPU
    :func:`kv_share`. Communication (TP all-reduces) is added by the serving solver.

    Compute time: the GEMMs and logits at ``η_c F`` (``F`` at the compute precision); the
    attention FLOPs (``C_attn`` terms) at ``η_c F · attention_peak_fraction(b_a, max(b_kv, 1))``
    — the KV cache's precision, at least 8 bit, never FP4: an FP8 KV cache allows FP8
    attention kernels, a BF16 cache keeps attention at 16 bit, and NVFP4 checkpoints quantise
    the linear layers only (their KV cache is FP8 at the narrowest).
    The GEMMs and the attention are separate kernels that run one after the other, so each
    phase is a roofline of its own and the step is their sum (Williams et al. 2009, per
    kernel): ``T = max(C_gemm/R_c, Q_gemm/R_w) + max(C_attn/R_a, Q_kv/R_m)``, ``Q_kv`` the KV
    bytes read and written, ``Q_gemm`` the rest; ``R_m = η_m W`` for the KV stream,
    ``R_w = η_w R_m`` for the GEMM phase (``η_w`` = ``weight_stream_efficiency``). This equals
    the single roofline when both phases are bound by the same resource; at large decode batches on fast low-precision
    tensor cores the GEMMs turn compute-bound while attention stays bound by the KV reads.
    ``prefill_bound``/``decode_bound`` compare the summed compute and memory times.

    Examples
    --------
    Llama-3.1-70B, 1 H100, batch 1: decode reads the weights (141.1 GB) once plus the KV cache
    (2176 tokens x 320 KiB): memory-bound.

    >>> from dsx.solvers.model import model_shape
    >>> m = model_shape.kernel("decoder", 80, 8192, 64, 8, 128, 28672, True, 128256,
    ...                        cnn_activation_elements=0.0)
    >>> out = inference_compute.kernel("decoder", **{k: m[k] for k in inference_compute.requires
    ...     if k in m}, experts=0, experts_per_token=0, kv_heads=8, attention="gqa",
    ...     tied_embeddings=False, weight_bytes=2, kv_bytes=2, activation_bytes=2,
    ...     peak_flops=989e12, hbm_bandwidth=3.35e12, tp=1, pp=1, ep=1, batch=1,
    ...     input_len=2048, output_len=256, matmul_efficiency=0.8, hbm_efficiency=0.85)
    >>> round(float(out["decode_hbm_bytes"]) / 1e9, 1), str(out["decode_bound"])
    (141.9, 'memory')
    """
    cnn = arch == "cnn"
    s_in = where(cnn, 1.0 * unit("token"), input_len)
    ctx = s_in + output_len / 2.0
    mm_layers = matmul_params - head_params
    t_pre = batch * s_in
    kv_gpu = kv_elements_per_token / pp * kv_share(kv_heads, attention, tp) * kv_bytes
    act_gpu = activation_bytes * (activation_elements_per_token / tp
                                  + replicated_activation_elements_per_token) / pp
    # serving's ep regroups the tp GPUs of a stage (serving_layout): E/ep whole experts per GPU, each
    # over tp/ep of them, so a GPU holds 1/tp of the stage's experts whatever ep is
    w_all = stage_params(params, embedding_params, head_params, expert_params, tied_embeddings, tp, pp, 1)
    w_idle = expert_params / (pp * tp)

    F, one = 2.0 * unit("flop/param/token"), unit("token")    # one: the one token of each sequence
    fa_pre = attention_flops_per_token_ctx * batch * s_in * s_in / 2.0 / (tp * pp)
    f_pre = F * mm_layers * t_pre / (tp * pp) + fa_pre + F * head_params * batch * one / tp
    qkv_pre = t_pre * kv_gpu                                  # KV written by the attention phase
    q_pre = (w_all - w_idle * (1.0 - _touched(experts, experts_per_token, t_pre))) * weight_bytes \
        + t_pre * 2.0 * act_gpu + qkv_pre
    fa_dec = attention_flops_per_token_ctx * batch * one * ctx / (tp * pp)
    f_dec = F * mm_layers * batch * one / (tp * pp) + fa_dec + F * head_params * batch * one / tp
    qkv_dec = batch * kv_gpu * (ctx + one)                     # KV read (and the new token written)
    q_dec = (w_all - w_idle * (1.0 - _touched(experts, experts_per_token, batch * one))) * weight_bytes \
        + batch * one * 2.0 * act_gpu + qkv_dec

    rate_c = matmul_efficiency * peak_flops
    rate_m = hbm_efficiency * hbm_bandwidth
    # attention (QK^T, PV) runs at the KV cache's precision, at least 8 bit: never at FP4
    # (NVFP4/FP4 engines quantise the GEMM weights, not the attention math)
    rate_a = rate_c * attention_peak_fraction(activation_bytes, np.fmax(kv_bytes, 1.0 * unit("B")))
    tc_pre = pp * ((f_pre - fa_pre) / rate_c + fa_pre / rate_a)
    tc_dec = pp * ((f_dec - fa_dec) / rate_c + fa_dec / rate_a)
    tm_pre = pp * ((q_pre - qkv_pre) / (rate_m * weight_stream_efficiency) + qkv_pre / rate_m)
    tm_dec = pp * ((q_dec - qkv_dec) / (rate_m * weight_stream_efficiency) + qkv_dec / rate_m)

    rate_w = rate_m * weight_stream_efficiency

    # routed experts: a grouped GEMM whose every expert is a roofline of its own (physics §3,
    # dsx.solvers.moe); the dense GEMMs (attention projections, shared experts) keep theirs
    k_frac = np.fmax(experts_per_token, 0.0) / np.fmax(experts, 1.0)
    ridge = weight_bytes * rate_c / (F * rate_w)                 # tokens per expert at the ridge

    def phases(f, fa, q, qkv, tokens):
        """Per-kernel roofline: dense GEMMs, routed-expert GEMMs, then attention (KV)."""
        f_x = F * expert_params * k_frac / (tp * pp) * tokens   # expert FLOPs counted in f
        q_x = w_idle * _touched(experts, experts_per_token, tokens) * weight_bytes
        t_x = w_idle * F * expert_gemm_tokens(tokens, experts, experts_per_token, ridge, ep) / rate_c
        t_dense = np.maximum((f - fa - f_x) / rate_c, (q - qkv - q_x) / rate_w)
        return pp * (t_dense + t_x + np.maximum(fa / rate_a, qkv / rate_m))
    return {
        "prefill_flops": f_pre,
        "prefill_hbm_bytes": q_pre,
        "decode_flops": f_dec,
        "decode_hbm_bytes": q_dec,
        "prefill_compute_time": tc_pre,
        "prefill_memory_time": tm_pre,
        "prefill_time": phases(f_pre, fa_pre, q_pre, qkv_pre, t_pre),
        "decode_compute_time": tc_dec,
        "decode_step_time": phases(f_dec, fa_dec, q_dec, qkv_dec, batch * one),
        "prefill_bound": where(tc_pre >= tm_pre, "compute", "memory"),
        "decode_bound": where(tc_dec >= tm_dec, "compute", "memory"),
    }


def __getattr__(name):
    """``training_compute`` lives in :mod:`dsx.solvers.compute_training`; kept reachable here."""
    if name == "training_compute":
        from .compute_training import training_compute
        return training_compute
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
