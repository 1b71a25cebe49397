"""Scalar reference for the model-shape, compute and memory solvers: one configuration at a time.

Plain Python floats and ``if`` statements, written from the formulas (physics reference §1–4,
Korthikanti et al. 2022, Megatron-LM ``theoretical_memory_usage.py``) without using the
vectorised kernels, so that a bug in one is caught by the other. ``cfg`` is a plain dict of
the model's catalog row and the layout / hardware inputs.
"""

from __future__ import annotations

import math


def _num(x, default=0.0):
    return default if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def shape(m: dict) -> dict:
    """Parameter counts and per-token widths of one transformer (dense, MoE, MLA)."""
    L, h, a = _num(m["layers"]), _num(m["hidden"]), _num(m["heads"])
    akv = _num(m["kv_heads"]) or a
    dh = _num(m["head_dim"]) or h / a
    f, V = _num(m["ffn"]), _num(m["vocab"])
    nmat = 3 if m["gated"] else 2
    E, k, Es = _num(m.get("experts")), _num(m.get("experts_per_token")), _num(m.get("shared_experts"))
    fe = _num(m.get("expert_ffn")) or f
    mla = m.get("attention") == "mla"
    rms = m.get("norm") in ("rms", "rmsnorm", "RMSNorm")
    bias = bool(m.get("bias"))
    one_norm = h if rms else 2 * h
    relative = h * h + 2 * a * dh if m.get("relative_positions") else 0.0  # Transformer-XL W_kR, u, v

    if mla:
        qr, kvr = _num(m["q_lora_rank"]), _num(m["kv_lora_rank"])
        rope, nope, dv = _num(m["rope_dim"]), _num(m["nope_dim"]), _num(m["v_head_dim"])
        wq = qr * (h + 1) + qr * a * (nope + rope) if qr > 0 else h * a * (nope + rope)
        attn_w = wq + kvr * (h + 1) + kvr * a * (nope + dv) + h * rope + a * dv * h
        kv_per_layer = kvr + rope
        attn_ctx_per_layer = 2 * a * (nope + rope) + 2 * a * dv
        widths = a * (nope + rope) * 2 + a * dv * 2
    else:
        attn_w = h * a * dh + 2 * h * akv * dh + a * dh * h
        kv_per_layer = 2 * akv * dh
        attn_ctx_per_layer = 4 * a * dh
        widths = a * dh + akv * dh + akv * dh + a * dh
    if bias:
        attn_w += a * dh + 2 * akv * dh + h

    def mlp(width):
        return nmat * h * width + (width + h if bias else 0.0)

    total = active = mm = 0.0
    ffn_act_sum = 0.0
    experts_total = 0.0
    n_dense = _num(m.get("dense_layers")) if E > 0 else L
    for layer in range(int(L)):
        moe_layer = E > 0 and layer >= n_dense
        norms = 2 * one_norm + relative
        if moe_layer:
            routed = E * mlp(fe)
            experts_total += routed
            total += attn_w + norms + routed + Es * mlp(fe) + h * E
            active += attn_w + norms + k * mlp(fe) + Es * mlp(fe) + h * E
            mm += (attn_w - (a * dh + 2 * akv * dh + h if bias else 0.0)) + (k + Es) * nmat * h * fe
            ffn_act_sum += (k + Es) * fe
        else:
            total += attn_w + norms + mlp(f)
            active += attn_w + norms + mlp(f)
            mm += (attn_w - (a * dh + 2 * akv * dh + h if bias else 0.0)) + nmat * h * f
            ffn_act_sum += f
    emb = V * h * (1 if m["tied_embeddings"] else 2)
    if m.get("learned_positions"):
        emb += _num(m["max_context"]) * h
    total += emb + one_norm
    active += emb + one_norm
    return {
        "params": total, "active_params": active, "embedding_params": emb, "head_params": V * h,
        "expert_params": experts_total, "matmul_params": mm + V * h,
        "kv_elements_per_token": L * kv_per_layer, "attention_flops_per_token_ctx": L * attn_ctx_per_layer,
        # stored activation elements per token (all layers): split over TP / replicated
        "split": L * widths + (3 if m["gated"] else 2) * ffn_act_sum, "repl": L * 4 * h,
        "heads_total": L * a, "eltwise": 10 * h * L + 4 * ffn_act_sum,
    }


def _stage_params(s: dict, c: dict) -> float:
    tp, pp, ep = c["tp"], c["pp"], c["ep"]
    if pp <= 1:
        emb = s["embedding_params"]
    else:  # first stage: input embedding (+ positions); last stage: head (or its tied copy)
        first = s["embedding_params"] - (0.0 if c["tied_embeddings"] else s["head_params"])
        emb = max(first, s["head_params"])
    dense = (s["params"] - s["embedding_params"] - s["expert_params"]) / pp + emb
    return dense / tp + s["expert_params"] / (pp * tp * ep)


def _stored_per_token(s: dict, c: dict, materialised: bool) -> float:
    """Activation bytes per token of a micro-batch, L/p layers, on one GPU (no recompute)."""
    b = c["activation_bytes"]
    tp, pp, cp = c["tp"], c["pp"], c["cp"]
    split = b * s["split"] / tp
    repl = b * s["repl"] + (s["repl"] / 2 if c["dropout"] else 0.0)
    repl = repl / tp if c["sequence_parallel"] else repl
    scores = 0.0
    if materialised:
        per_score = b + ((1 + b) if c["dropout"] else 0.0)
        scores = per_score * s["heads_total"] * c["seq_len"] / tp
    return (split + repl + scores) / (pp * cp)


def stage_layers(L: int, p: int) -> tuple[int, int, int]:
    """(first, middle, last) layer counts of the automatic uneven split (as a loop would place them)."""
    if p == 1:
        return L, L, L
    mid = -(-L // p)                                        # ceil: every middle stage full
    rest = L - (p - 2) * mid
    first, last = rest - rest // 2, rest // 2
    return first, (mid if p > 2 else max(first, last)), last


def training(m: dict, c: dict) -> dict:
    """FLOPs, bytes, times and memory of one training configuration (all scalars)."""
    s = shape(m)
    tp, pp, cp, ep = c["tp"], c["pp"], c["cp"], c["ep"]
    dp = c["gpus"] / (tp * pp * cp)
    # uneven stages: the pace is set by the last stage (its layers + the head) or the fullest one
    L_ = max(_num(m["layers"]), 1.0)
    first_l, mid_l, last_l = stage_layers(int(L_), pp) if pp > 1 else (L_, L_, L_)
    most = max(first_l, mid_l, last_l)
    sel = (c["recompute"] == "selective") and not c["flash_attention"]
    per_layer = ((6 + 2 * (c["recompute"] == "full")) * (s["matmul_params"] - s["head_params"])
                 + (3 + 0.5 * c["flash_attention"] + (1 if (sel or c["recompute"] == "full") else 0))
                 * s["attention_flops_per_token_ctx"]
                 * (c["seq_len"] / 2 if c["causal_attention"] else c["seq_len"])) / L_
    use_last = last_l * per_layer + 6 * s["head_params"] >= most * per_layer
    pp_pace = L_ / (last_l if use_last else most)
    pp_mem = L_ / most
    c_mem = c
    c = {**c, "pp": pp_pace}
    pp = pp_pace
    mbs = c["global_batch"] / (dp * c["micro_batch"])
    rec = c["recompute"]
    tokens = c["micro_batch"] * c["seq_len"]
    per_gpu = tokens / (tp * cp)
    s_ctx = c["seq_len"] / 2 if c["causal_attention"] else c["seq_len"]

    layer_mm = s["matmul_params"] - s["head_params"]
    fwd_passes = 2 if rec == "full" else 1                 # forward passes of the layers
    mm = 2 * layer_mm / pp * per_gpu * (fwd_passes + 2)
    E_, k_, ep_ = _num(m.get("experts")), _num(m.get("experts_per_token")), c.get("ep", 1)
    if E_ > 0 and ep_ > 1:   # the busiest EP rank: mean + sqrt(2 mean ln ep) assignments (Raab-Steger)
        mean = tokens * k_ / cp
        mm += 2 * s["expert_params"] * k_ / E_ / pp * per_gpu * (fwd_passes + 2) \
            * math.sqrt(2 * math.log(ep_) / mean)
    # selective recompute re-runs only what flash attention did not already drop
    reruns = rec == "full" or (rec == "selective" and not c["flash_attention"])
    attn_passes = 3 + (0.5 if c["flash_attention"] else 0) + (1 if reruns else 0)
    attn = attn_passes * s["attention_flops_per_token_ctx"] / pp * s_ctx * per_gpu
    logits = 3 * 2 * s["head_params"] * per_gpu if use_last else 0.0
    elt = (fwd_passes + 2) * s["eltwise"] / pp * per_gpu
    mb_flops = mm + attn + logits + elt

    w_gpu = _stage_params(s, {**c, **m})
    E, k = _num(m.get("experts")), _num(m.get("experts_per_token"))
    if E > 0:
        idle = (1 - k / E) ** tokens
        w_gpu -= s["expert_params"] / (pp * tp * ep) * idle
    weight_traffic = w_gpu * (c["weight_bytes"] * (fwd_passes + 1) + 2 * c["gradient_bytes"])
    stored = _stored_per_token(s, c, materialised=not c["flash_attention"])
    act_traffic = (5 + (2 if rec == "full" else 0)) * stored * tokens  # stored is already per cp rank
    logit_traffic = 16 * _num(m["vocab"]) / tp * tokens / cp if use_last else 0.0
    mb_bytes = weight_traffic + act_traffic + logit_traffic
    rate = c["matmul_efficiency"] * c["peak_flops"]
    t_c = (mm + logits) / rate + attn / (rate * min(1.0, c["activation_bytes"] / 2))  # attention at 16 bit
    t_m = mb_bytes / (c["hbm_efficiency"] * c["hbm_bandwidth"])

    # memory: the most-loaded stage's layers; in-flight micro-batches by the real stage count
    c = {**c_mem, "pp": pp_mem}
    pp = pp_mem
    n_gpu = _stage_params(s, {**c, **m})
    n_exp = s["expert_params"] / (pp * tp * ep)
    bw = c["weight_bytes"]
    z = c["zero"]

    def states(n, group):
        w = n * bw / (group if z >= 3 else 1)
        g = n * c["gradient_bytes"] / (group if z >= 2 else 1)
        o = n * c["optimizer_bytes"] / (group if z >= 1 else 1)
        return w + g + o

    st = states(n_gpu - n_exp, dp * cp) + states(n_exp, dp * cp / ep)
    # sharded working set: 1 + prefetch (1) gathered layers (ZeRO 3), one layer's gradients (ZeRO >= 2)
    layer = n_gpu / max(L_ / pp, 1.0)
    st += (2 * layer * bw if z >= 3 else 0.0) + (layer * c["gradient_bytes"] if z >= 2 else 0.0)
    L, h, V = _num(m["layers"]), _num(m["hidden"]), _num(m["vocab"])
    materialised = (rec == "none") and not c["flash_attention"]
    stored_mem = _stored_per_token(s, c, materialised)
    if rec == "full":
        sp = tp if c["sequence_parallel"] else 1
        per_tok = c["activation_bytes"] * h * L / (sp * pp * cp)
        work = stored_mem * pp / L
    else:
        per_tok, work = stored_mem, 0.0
    v = c["virtual_stages"]
    inflight = min(c_mem["pp"], mbs) * (1 + (c_mem["pp"] - 1) / (c_mem["pp"] * v) if v > 1 else 1.0)
    emb = (8 + (h if c["dropout"] else 0)) / (tp * cp)
    first = tokens * ((per_tok + emb) * inflight + work)
    out = (2 * c["activation_bytes"] * h + 4 * V) / (tp * cp)
    last = tokens * (per_tok + work + out)
    acts = first + tokens * out if c_mem["pp"] == 1 else max(first, last)
    tensors = st + acts
    total = tensors * (1 + c["memory_fragmentation"]) + c["memory_reserve"]
    return {
        "dp": dp, "micro_batches": mbs, "mb_flops": mb_flops, "mb_hbm_bytes": mb_bytes,
        "mb_time": max(t_c, t_m), "bound": "compute" if t_c >= t_m else "memory",
        "activation_memory": acts, "memory_per_gpu": total,
    }


def decode(m: dict, c: dict) -> dict:
    """One decode step per GPU (flops, bytes) and the serving memory."""
    s = shape(m)
    tp, pp, ep, B = c["tp"], c["pp"], c["ep"], c["batch"]
    ctx = c["input_len"] + c["output_len"] / 2
    if m.get("attention") == "mla":
        kv_frac = 1.0
    else:
        akv = _num(m["kv_heads"])
        kv_frac = max(1, akv // tp) / akv
    kv_tok = s["kv_elements_per_token"] / pp * kv_frac * c["kv_bytes"]
    w_all = _stage_params(s, {**c, **m})
    E, k = _num(m.get("experts")), _num(m.get("experts_per_token"))
    touched_frac = 1 - (1 - k / E) ** B if E > 0 else 1.0
    w_dec = w_all - s["expert_params"] / (pp * tp * ep) * (1 - touched_frac)
    act = c["activation_bytes"] * (s["split"] / tp + s["repl"]) / pp
    flops = (2 * (s["matmul_params"] - s["head_params"]) * B
             + s["attention_flops_per_token_ctx"] * B * ctx) / (tp * pp) + 2 * s["head_params"] * B / tp
    q = w_dec * c["weight_bytes"] + B * kv_tok * (ctx + 1) + 2 * B * act
    kv_mem = B * (c["input_len"] + c["output_len"]) * kv_tok
    step_tokens = min(B * c["input_len"], c.get("max_num_tokens", 8192))  # a prefill chunk at most
    work = step_tokens * act * pp / _num(m["layers"]) + B * 4 * _num(m["vocab"]) / tp
    tensors = w_all * c["weight_bytes"] + kv_mem + work
    return {"decode_flops": flops, "decode_hbm_bytes": q, "kv_cache_memory": kv_mem,
            "decode_attention_flops": s["attention_flops_per_token_ctx"] * B * ctx / (tp * pp),
            "decode_kv_bytes": B * kv_tok * (ctx + 1),
            "memory_per_gpu": tensors * (1 + c["memory_fragmentation"]) + c["memory_reserve"]}
