"""Scalar reference for the serving and queueing solvers: one configuration at a time.

Plain Python floats, ``math`` and loops, written from the formulas (physics reference §3, §5,
§11; Allen 1990 for Erlang C; Leviathan et al. 2023) without the vectorised kernels. The
per-GPU decode FLOPs/bytes come from the compute oracle (``compute_memory.decode``).
"""

from __future__ import annotations

import math

from . import compute_memory as cm


def erlang_c(c: int, a: float) -> float:
    """Erlang C by the textbook sum (log space, so c in the thousands is fine)."""
    if a >= c:
        return 1.0
    if a == 0:
        return 0.0
    logs = [k * math.log(a) - math.lgamma(k + 1) for k in range(c)]
    top = c * math.log(a) - math.lgamma(c + 1) - math.log(1 - a / c)
    m = max(logs + [top])
    head = sum(math.exp(x - m) for x in logs)
    tail = math.exp(top - m)
    return tail / (head + tail)


def wait(c: int, lam: float, mu: float, q: float, factor: float = 1.0) -> tuple[float, float]:
    """(mean, q-quantile) of the M/M/c wait, scaled by the Allen–Cunneen factor."""
    if lam >= c * mu:
        return math.inf, math.inf
    cw = erlang_c(c, lam / mu)
    mean = factor * cw / (c * mu - lam)
    if cw <= 1 - q:
        return mean, 0.0
    return mean, math.log(cw / (1 - q)) * factor / (c * mu - lam)


def replicas_needed(batch, lam, hold, ttft, tpot, q, ttft_slo, tpot_slo, factor=1.0, limit=100_000):
    """Fewest replicas meeting the objectives, by trying 1, 2, 3, ..."""
    if tpot > tpot_slo or ttft > ttft_slo:
        return math.nan
    for r in range(1, limit):
        c = r * batch
        if lam >= c / hold:
            continue
        _, wq = wait(c, lam, 1 / hold, q, factor)
        if wq + ttft <= ttft_slo:
            return float(r)
    return math.nan


def kv_bytes_per_token(m: dict, kv_bytes: float) -> float:
    """Whole-model KV bytes per token: 2·L·a_kv·d_h·b (MLA: L·(d_c + d_rope)·b)."""
    if m.get("attention") == "mla":
        return m["layers"] * (m["kv_lora_rank"] + m["rope_dim"]) * kv_bytes
    akv = m["kv_heads"] or m["heads"]
    dh = m["head_dim"] or m["hidden"] / m["heads"]
    return 2 * m["layers"] * akv * dh * kv_bytes


def max_batch(m: dict, c: dict) -> float:
    """floor((u·C − W_gpu) / (κ_gpu · P⌈s/P⌉)) for a dense model without a draft."""
    s = cm.shape(m)
    w = cm._stage_params(s, {**c, **m}) * c["weight_bytes"]
    if m.get("attention") == "mla":
        frac = 1.0
    else:
        akv = m["kv_heads"]
        frac = max(1, akv // c["tp"]) / akv
    kv_gpu = s["kv_elements_per_token"] / c["pp"] * frac * c["kv_bytes"]
    ctx = c["input_len"] + c["output_len"]
    paged = c["page_size"] * math.ceil(ctx / c["page_size"])
    budget = c["memory_utilization"] * c["hbm_capacity"] - w
    return max(0.0, math.floor(max(budget, 0.0) / (kv_gpu * paged)))


def ring_all_reduce(size, n, bw, lat, call=0.0):
    return 0.0 if n == 1 else call + 2 * (n - 1) * lat + 2 * (n - 1) / n * size / bw


def decode_step(m: dict, c: dict) -> float:
    """TPOT of a dense model inside one scale-up domain, no speculation: per-kernel roofline
    (GEMM phase, then attention over the KV cache) + TP all-reduces + the engine's step time."""
    d = cm.decode(m, c)
    narrow = c["low_precision_gemm_efficiency"] if c["activation_bytes"] < 2 else 1.0   # 8/4-bit GEMMs
    rate_c = c["matmul_efficiency"] * c["engine_compute_efficiency"] * narrow * c["peak_flops"]
    rate_a = rate_c * min(1.0, c["activation_bytes"] / max(c["kv_bytes"], 1.0))   # attention at KV width
    rate_m = c["hbm_efficiency"] * c["hbm_bandwidth"]                 # KV stream
    rate_w = rate_m * c["engine_memory_efficiency"]                   # weight-streaming GEMMs
    fa, qkv = d["decode_attention_flops"], d["decode_kv_bytes"]
    roof = c["pp"] * (max((d["decode_flops"] - fa) / rate_c, (d["decode_hbm_bytes"] - qkv) / rate_w)
                      + max(fa / rate_a, qkv / rate_m))
    size = c["batch"] * m["hidden"] * max(c["activation_bytes"], 2.0)
    bw = c["scale_up_bandwidth"] * c["link_efficiency"]
    comm = 2 * m["layers"] * ring_all_reduce(size, c["tp"], bw, c["scale_up_latency"], c["allreduce_latency"])
    comm += (c["pp"] - 1) * (c["scale_up_latency"] + size / bw)
    return roof + comm + c["step_overhead"]


def spec_tokens(alpha: float, gamma: int) -> float:
    """Expected accepted tokens per target step, by summing the geometric series."""
    return sum(alpha ** i for i in range(gamma + 1))
