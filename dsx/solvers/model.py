"""Model shape: parameter counts, KV size and attention cost derived from the architecture.

Every quantity is computed from the catalog's architecture columns (``layers``, ``hidden``,
``heads``, ``kv_heads``, ``head_dim``, ``ffn``, ``gated``, ``vocab``, MoE and MLA columns), not
copied from the published totals, so that a user-defined architecture gets the same
bookkeeping. CNNs (``arch == "cnn"``) have no transformer shape: their parameter count is
``params_published`` and their FLOPs ``forward_flops_per_sample``; one "token" of a CNN is
one image (``layout`` sets ``tokens_per_sample = 1``).

All outputs carry only the ``model`` dimension (or none).

References
----------
Narayanan et al. 2021, arXiv:2104.04473, Eq. 2 (classic GPT count);
NVIDIA/Megatron-LM ``megatron/training/theoretical_memory_usage.py`` (GQA, SwiGLU, MoE, MLA
bookkeeping); DeepSeek-AI 2024, DeepSeek-V2 report §2.1 (MLA); Jiang et al. 2024 (Mixtral §2);
Chowdhery et al. 2022 (PaLM) App. B (attention FLOPs ``4·L·a·d_h`` per key, forward).
"""

from __future__ import annotations

import numpy as np

from .base import solver, where
from .quantities import unit

__all__ = ["model_shape", "clean"]


def clean(x, fill=0.0):
    """``x`` with NaN (a blank catalog cell) replaced by ``fill``.

    >>> float(clean(float("nan"))), float(clean(3.0))
    (0.0, 3.0)
    """
    return where(np.isnan(x), fill, x)


def _is(label, *values):
    """Elementwise ``label in values`` for strings (scalars, object arrays, DataArrays)."""
    out = label == values[0]
    for v in values[1:]:
        out = out | (label == v)
    return out


@solver(("params", "active_params", "embedding_params", "matmul_params", "head_params", "expert_params",
         "kv_elements_per_token", "attention_flops_per_token_ctx", "activation_elements_per_token",
         "replicated_activation_elements_per_token", "attention_heads_total", "elementwise_flops_per_token"))
def model_shape(arch, layers, hidden, heads, kv_heads, head_dim, ffn, gated, vocab, cnn_activation_elements,
                tied_embeddings=False, learned_positions=False, bias=False, norm="rms", max_context=0.0,
                experts=0.0, experts_per_token=0.0, shared_experts=0.0, expert_ffn=0.0, dense_layers=0.0,
                attention="gqa", q_lora_rank=0.0, kv_lora_rank=0.0, rope_dim=0.0, nope_dim=0.0,
                v_head_dim=0.0, forward_flops_per_sample=float("nan"), params_published=float("nan"),
                relative_positions=False):
    """Parameter counts, KV-cache width and attention cost of a transformer (or CNN).

    Parameters
    ----------
    arch : str
        ``"decoder"``, ``"encoder"`` (same formulas) or ``"cnn"``.
    layers, hidden, heads, kv_heads, head_dim, ffn, vocab : float
        Transformer shape (counts): :math:`L, h, a, a_{kv}, d_h, f, V`.
    gated : bool
        Gated MLP (SwiGLU/GeGLU: 3 matrices) or not (2 matrices).
    tied_embeddings, learned_positions, bias : bool
        Output head shares the input embedding; learned position table of ``max_context``
        rows; linear layers and norms carry biases.
    norm : str
        ``"rms"`` (weight only, :math:`h`) or LayerNorm (weight and bias, :math:`2h`).
    max_context : float
        Positions (tokens), for learned position tables.
    experts, experts_per_token, shared_experts, expert_ffn, dense_layers : float
        MoE: routed experts :math:`E`, top-:math:`k`, shared experts :math:`E_s`, expert
        width :math:`f_e` (shared experts have the same width), leading dense layers.
    attention : str
        ``"mla"`` for multi-head latent attention, anything else is MHA/GQA/MQA.
    q_lora_rank, kv_lora_rank, rope_dim, nope_dim, v_head_dim : float
        MLA dimensions :math:`d_c', d_c, d_{rope}, d_{nope}, d_v`.
    forward_flops_per_sample : float
        flop; CNN forward FLOPs per image.
    relative_positions : bool
        Transformer-XL relative position attention (Gopher, Chinchilla): per layer a projection
        of the relative position encodings :math:`W_{k,R}` (:math:`h \times h`) and the two
        global biases :math:`u, v` (:math:`a d_h` each); Dai et al. 2019 (arXiv:1901.02860) §3.3.
        It acts on positions, not tokens, so it adds parameters but no per-token matmul.
    params_published : float
        param; used for CNNs only.
    cnn_activation_elements : float
        Elements per image kept for the backward pass (CNN only).

    Returns
    -------
    dict
        ``params``, ``active_params``, ``embedding_params``, ``matmul_params``,
        ``head_params``, ``expert_params`` (param); ``kv_elements_per_token``,
        ``activation_elements_per_token``, ``replicated_activation_elements_per_token``
        (elements per token, 1/token); ``attention_heads_total`` (count);
        ``attention_flops_per_token_ctx`` (flop per query token per key token, flop/token²);
        ``elementwise_flops_per_token`` (flop/token).

    Notes
    -----
    Per layer (physics reference §1): attention :math:`2hd_h(a+a_{kv})`; MLA
    :math:`d_c'(h+a(d_{nope}+d_{rope})+1) + d_c(h+a(d_{nope}+d_v)+1) + h d_{rope} + a d_v h`
    (a query projection without LoRA when :math:`d_c'=0`); MLP :math:`g h f`, :math:`g=3`
    gated else 2; MoE :math:`E g h f_e + E_s g h f_e + hE`; norms 2 per layer + a final one;
    biases (when ``bias``): QKV outputs, attention output, MLP hidden and output. Whole model
    adds :math:`Vh(2-[\\text{tied}]) + s_{max}h[\\text{learned}]`.

    Stored activations per token and layer (Korthikanti et al. 2022 §4.1 accounting,
    generalised; flash attention keeps no score matrix, no dropout masks): split over TP:
    :math:`q_w + k_w + v_w + o_w + (3f|2f)` (Q, K, V, attention-projection input, MLP
    intermediates); replicated without sequence parallelism: :math:`4h` (two norm inputs,
    QKV and MLP inputs). Llama-3.1-70B: :math:`(12h+4k_w+6f)/2` elements = 33.5 h bytes at
    16 bit.

    Elementwise forward FLOPs per token and layer (order of magnitude, derived): two norms
    at 4h, two residual adds h each, the MLP activation 4 per intermediate element
    (:math:`10h + 4 f_{act}`).

    References
    ----------
    Narayanan et al. 2021 (arXiv:2104.04473) Eq. 2; NVIDIA/Megatron-LM
    ``theoretical_memory_usage.py``; DeepSeek-V2 report §2.1; Korthikanti et al. 2022
    (arXiv:2205.05198) §4.1; PaLM App. B.

    Examples
    --------
    A 2-layer MHA model, h=8, 2 heads of 4, f=16, ungated, V=10, untied, RMSNorm:

    >>> out = model_shape.kernel("decoder", 2, 8, 2, 2, 4, 16, False, 10)
    >>> float(out["params"])   # 2*(4*64 + 2*8*16 + 2*8) + 2*10*8 + 8
    1224.0
    >>> float(out["kv_elements_per_token"]), float(out["attention_flops_per_token_ctx"])
    (32.0, 64.0)
    """
    cnn = _is(arch, "cnn")
    mla = _is(attention, "mla")
    h = clean(hidden)
    L = clean(layers)
    a = clean(heads)
    dh = where(np.isnan(head_dim) | (head_dim <= 0), h / where(a > 0, a, 1.0), head_dim)
    akv = where(np.isnan(kv_heads) | (kv_heads <= 0), a, kv_heads)
    V = clean(vocab)
    f = clean(ffn)
    g = where(gated, 3.0, 2.0)
    nb = 1.0 * bias
    norm_w = h * (2.0 - 1.0 * _is(norm, "rms", "rmsnorm", "RMSNorm"))

    # attention
    rope, nope, dv = clean(rope_dim), clean(nope_dim), clean(v_head_dim)
    qk = nope + rope
    qr, kvr = clean(q_lora_rank), clean(kv_lora_rank)
    q_mla = where(qr > 0, qr * (h + a * qk + 1.0), h * a * qk)
    attn_mla = q_mla + kvr * (h + a * (nope + dv) + 1.0) + h * rope + a * dv * h
    attn_std = 2.0 * h * dh * (a + akv)
    attn = where(mla, attn_mla, attn_std)
    attn_bias = nb * (dh * (a + 2.0 * akv) + h)
    # widths of the stored attention tensors (elements per token): Q, K, V, projection input
    q_w = where(mla, a * qk, a * dh)
    k_w = where(mla, a * qk, akv * dh)
    v_w = where(mla, a * dv, akv * dh)
    o_w = where(mla, a * dv, a * dh)

    # MLP / MoE
    E = clean(experts)
    moe = E > 0
    k = clean(experts_per_token)
    Es = clean(shared_experts)
    fe = clean(expert_ffn)
    fe = where(fe > 0, fe, f)
    n_moe = where(moe, L - clean(dense_layers), 0.0)
    n_dense = L - n_moe
    mlp_dense = g * h * f + nb * (f + h)
    expert = g * h * fe + nb * (fe + h)
    moe_total = E * expert + Es * expert + h * E
    moe_active = k * expert + Es * expert + h * E
    expert_params = n_moe * E * expert

    relative = where(relative_positions, h * h + 2.0 * a * dh, 0.0)
    per_layer_common = attn + attn_bias + 2.0 * norm_w + relative
    layers_total = L * per_layer_common + n_dense * mlp_dense + n_moe * moe_total
    layers_active = L * per_layer_common + n_dense * mlp_dense + n_moe * moe_active
    positions = where(learned_positions, clean(max_context) * unit("1/token"), 0.0)  # one row per position
    embedding = V * h * (2.0 - 1.0 * tied_embeddings) + positions * h
    head = V * h
    final_norm = norm_w
    params = layers_total + embedding + final_norm
    active = layers_active + embedding + final_norm

    # matmul parameters (weights only, no biases, norms or router) + output head
    mm_layers = (L * attn + n_dense * g * h * f + n_moe * (k + Es) * g * h * fe)
    matmul = mm_layers + head

    kv = where(mla, L * (kvr + rope), 2.0 * L * akv * dh)
    attn_ctx = where(mla, 2.0 * L * a * (qk + dv), 4.0 * L * a * dh)

    f_act = (n_dense * f + n_moe * (k + Es) * fe) / where(L > 0, L, 1.0)
    mlp_w = where(gated, 3.0, 2.0) * f_act
    act_split = L * (q_w + k_w + v_w + o_w + mlp_w)
    act_repl = L * 4.0 * h
    eltwise = L * (10.0 * h + 4.0 * f_act)

    pub = params_published
    ffps = clean(forward_flops_per_sample)
    # the counts above are plain numbers from the shape; these give them their units (1.0 in the
    # fast path). A CNN's image counts as one token, its forward pass 2 flop per parameter.
    P, per_tok = unit("param"), unit("1/token")
    cnn_matmul = ffps / (2.0 * unit("flop/param/token") * unit("token"))
    return {
        "params": where(cnn, pub, params * P),
        "active_params": where(cnn, pub, active * P),
        "embedding_params": where(cnn, 0.0, embedding * P),
        "matmul_params": where(cnn, cnn_matmul, matmul * P),
        "head_params": where(cnn, 0.0, head * P),
        "expert_params": where(cnn, 0.0, expert_params * P),
        "kv_elements_per_token": where(cnn, 0.0, kv * per_tok),
        "attention_flops_per_token_ctx": where(cnn, 0.0, attn_ctx * unit("flop/token**2")),
        "activation_elements_per_token": where(cnn, cnn_activation_elements * per_tok, act_split * per_tok),
        "replicated_activation_elements_per_token": where(cnn, 0.0, act_repl * per_tok),
        "attention_heads_total": where(cnn, 0.0, L * a),
        "elementwise_flops_per_token": where(cnn, 0.0, eltwise * unit("flop/token")),
    }
