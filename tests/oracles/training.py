"""Scalar reference of the training-stack formulas (communication, step time, data, scaling).

One configuration at a time, plain Python floats and ``math``, written from the physics
reference (§5 collectives and placement, §6 step composition, §3 data, §8 scaling laws)
with explicit ``if`` branches, independently of the vectorised kernels. Tests compare the
kernels with these functions at random points.
"""

from __future__ import annotations

import math


# -- collectives (physics.md §5.1) --------------------------------------------------------------
def ring_all_reduce(m, n, bw, lat=0.0):
    if n <= 1:
        return 0.0
    return 2 * (n - 1) * lat + 2 * (n - 1) / n * m / bw


def ring_gather(m, n, bw, lat=0.0):
    """All-gather / reduce-scatter / all-to-all of an ``m``-byte (full) buffer."""
    if n <= 1:
        return 0.0
    return (n - 1) * lat + (n - 1) / n * m / bw


def placement(n, stride, domain):
    """Peers of one GPU's group inside its node, and nodes the group spans (physics §5.2)."""
    if stride * n <= domain:          # whole group in one node
        return n, 1
    if stride >= domain:              # every peer in another node
        return 1, n
    cap = max(1, int(domain // stride))  # a node has room for domain/stride peers ...
    if n != int(n):
        return min(n, cap), n / min(n, cap)
    inside = max(k for k in range(1, cap + 1) if int(n) % k == 0)   # ... an integer share of the group
    return inside, n / inside


def all_reduce_on(m, n, stride, domain, bw_up, bw_out, lat_up=0.0, lat_out=0.0, call=0.0):
    if call and n > 1:   # one collective call: fixed cost once, then the ring / hierarchical phases
        return call + all_reduce_on(m, n, stride, domain, bw_up, bw_out, lat_up, lat_out)
    n_in, n_out = placement(n, stride, domain)
    if n_out == 1:
        return ring_all_reduce(m, n_in, bw_up, lat_up)
    if n_in == 1:
        return ring_all_reduce(m, n_out, bw_out, lat_out)
    # hierarchical: reduce-scatter in node, all-reduce of m/n_in across, all-gather in node
    return (ring_gather(m, n_in, bw_up, lat_up) + ring_all_reduce(m / n_in, n_out, bw_out, lat_out)
            + ring_gather(m, n_in, bw_up, lat_up))


def gather_on(m, n, stride, domain, bw_up, bw_out, lat_up=0.0, lat_out=0.0, call=0.0):
    n_in, n_out = placement(n, stride, domain)
    return ((call if n > 1 else 0.0) + ring_gather(m / n_in, n_out, bw_out, lat_out)
            + ring_gather(m, n_in, bw_up, lat_up))


def all_to_all_on(m, n, stride, domain, bw_up, bw_out, lat_up=0.0, lat_out=0.0, call=0.0):
    n_in, _ = placement(n, stride, domain)
    share = m / n
    inside = share * (n_in - 1) / bw_up + (n_in - 1) * lat_up if n_in > 1 else 0.0
    across = share * (n - n_in) / bw_out + (n - n_in) * lat_out if n > n_in else 0.0
    return (call if n > 1 else 0.0) + max(inside, across)


# -- the communication solver, one configuration -----------------------------------------------
def communication(c):
    """``c``: dict of the solver's inputs (floats/strings/bools). Returns the six outputs."""
    domain = c["scale_up_domain"]                     # the NVLink reach; gpus_per_node plays no part
    up = c["link_efficiency"] * c["scale_up_bandwidth"]
    out = c["link_efficiency"] * c["scale_out_bandwidth"] / c["oversubscription"]
    lat = (c["scale_up_latency"], c["scale_out_latency"], c["collective_latency"])
    t, p, cp, e, d = c["tp"], c["pp"], c["cp"], c["ep"], c["dp"]
    full = c["recompute"] == "full"
    wire = max(c["activation_bytes"], 2.0)
    act = c["seq_len"] / cp * c["micro_batch"] * c["hidden"] * wire
    lps = c["layers_per_stage"]

    # sequence parallelism: all-gather + reduce-scatter, two calls per all-reduce's worth
    sp_call = c["collective_latency"] if (c["sequence_parallel"] and t > 1) else 0.0
    tp = lps * (6 if full else 4) * (all_reduce_on(act, t, 1, domain, up, out, *lat) + sp_call)
    kv = 2 * c["seq_len"] * c["micro_batch"] * max(1.0, c["kv_heads"] / t) * c["head_dim"] * wire
    cpt = lps * (4 if full else 3) * gather_on(kv, cp, t, domain, up, out, *lat)
    ept = 0.0
    if c["experts"] > 0:
        moe_layers = lps * (c["layers"] - c["dense_layers"]) / c["layers"]
        routed = act / (t if c["sequence_parallel"] else 1) * c["experts_per_token"]
        ept = moe_layers * (6 if full else 4) * all_to_all_on(routed, e, t * cp, domain, up, out, *lat)
    ppt = 0.0
    if p > 1:
        inside = t * cp * d * p <= domain
        ppt = 2 * c["virtual_stages"] * ((lat[0] if inside else lat[1]) + act / t / (up if inside else out))

    # most-loaded stage's shard (first stage holds the embedding; pp = 1 holds the head too)
    emb_stage = c["embedding_params"] - (c["head_params"] * (1 - c["tied_embeddings"]) if p > 1 else 0.0)
    experts_gpu = c["expert_params"] / (p * t * e)
    dense_gpu = ((c["params"] - c["embedding_params"] - c["expert_params"]) / p + emb_stage) / t
    dpc = d * cp

    def over_dp(nbytes):
        experts = gather_on(nbytes * experts_gpu, dpc / e, t * e, domain, up, out, *lat) if experts_gpu > 0 else 0.0
        return gather_on(nbytes * dense_gpu, dpc, t, domain, up, out, *lat) + experts

    reduce = over_dp(c["gradient_bytes"])
    gather = over_dp(c["weight_bytes"])
    z = c["zero"]
    dpt = {0: 2 * reduce, 1: reduce + gather, 2: gather}.get(z, 0.0)   # once per step
    # ZeRO >= 2: per layer, reduce-scatter each micro-batch; ZeRO 3: gather before fwd and bwd
    layer_rs = over_dp(c["gradient_bytes"] / lps) if z >= 2 else 0.0
    layer_ag = over_dp(c["weight_bytes"] / lps) if z >= 3 else 0.0
    per_mb = {"forward": 2.0, "backward": 1.0, "step": 0.0}[c.get("zero3_reshard", "forward")]
    gathers = (1.0 if per_mb == 0 else per_mb * c["micro_batches"]) if z >= 3 else 0.0
    return {"mb_tp_comm_time": tp, "mb_cp_comm_time": cpt, "mb_ep_comm_time": ept, "mb_pp_comm_time": ppt,
            "dp_comm_time": dpt, "layer_gather_time": layer_ag, "layer_reduce_scatter_time": layer_rs,
            "zero3_gathers": gathers, "zero3_comm_time": gathers * lps * layer_ag,
            "mb_dp_comm_time": lps * (layer_rs + per_mb * layer_ag)}


# -- step time (physics.md §6) ----------------------------------------------------------------
def step_time(c):
    rate = c["kernel_efficiency"] * c["matmul_efficiency"] * c["peak_flops"]
    attn_rate = rate * c["attention_efficiency"] * min(1.0, c["activation_bytes"] / 2)
    kernels = ((c["mb_flops_matmul"] + c["mb_flops_logits"]) / rate + c["mb_flops_attention"] / attn_rate
               + c["memory_exposure"] * c.get("mb_nongemm_memory_time", c["mb_memory_time"]))
    mb = max(kernels, c["mb_time"])
    comm = ((1 - c["tp_overlap"]) * c["mb_tp_comm_time"] + (1 - c["cp_overlap"]) * c["mb_cp_comm_time"]
            + (1 - c["ep_overlap"]) * c["mb_ep_comm_time"] + c["mb_pp_comm_time"])
    m, p, v = c["micro_batches"], c["pp"], c["virtual_stages"]
    # sharded DP per layer: a pass of L layers exposes c + (L-1)·max(0, c - compute) of its
    # per-layer collectives c (prefetch >= 1), L·gather (+ the reduce-scatters' share) without
    n = max(c["layers_per_stage"], 1.0)
    fwd = 1 / (4 if c["recompute"] == "full" else 3)
    c_f, c_b = c["dp_overlap"] * fwd * mb / n, c["dp_overlap"] * (1 - fwd) * mb / n

    def exposed(g, r, comp):
        if g + r <= 0:
            return 0.0
        if c["prefetch_depth"] >= 1:
            return g + r + (n - 1) * max(0.0, g + r - comp)
        return n * g + r + (n - 1) * max(0.0, r - comp)

    reshard = c.get("zero3_reshard", "forward")
    g = c["layer_gather_time"]
    dp_mb = (exposed(0.0 if reshard == "step" else g, 0.0, c_f)
             + exposed(g if reshard == "forward" else 0.0, c["layer_reduce_scatter_time"], c_b))
    once = exposed(g, 0.0, c_f) if reshard == "step" else 0.0
    window = {0: 2 / 3, 1: 1.0}.get(c["zero"], 1 / 3) * mb   # last backward / next first forward
    dp = m * dp_mb + max(0.0, c["dp_comm_time"] - c["dp_overlap"] * window) + once
    pipeline = (m + (p - 1) / v) * (mb + comm) + (p - 1) / v * dp_mb
    opt = (2 * c["optimizer_memory"] + c["gradients_memory"] + c["weights_memory"]) / (
        c["hbm_efficiency"] * c["hbm_bandwidth"])
    return {"mb_kernel_time": mb, "step_time": pipeline + dp + opt, "step_bubble_time": (p - 1) / v * (mb + comm + dp_mb),
            "step_dp_exposed_time": dp, "step_optimizer_time": opt}


def bubble_fraction(m, p, v=1):
    """Share of a communication-free step spent in the pipeline bubble (Narayanan §2.2)."""
    return (p - 1) / v / (m + (p - 1) / v)


# -- data and scaling (physics.md §3, §8) -----------------------------------------------------
def data_demand(vocab, tokens_per_step, step):
    return (2.0 if vocab < 65_500 else 4.0) * tokens_per_step / step


def chinchilla_optimum(compute, e=1.69, a=406.4, b=410.7, alpha=0.34, beta=0.28):
    g = (alpha * a / (beta * b)) ** (1 / (alpha + beta))
    n = g * (compute / 6) ** (beta / (alpha + beta))
    d = (compute / 6) ** (alpha / (alpha + beta)) / g
    return n, d, e + a / n ** alpha + b / d ** beta
