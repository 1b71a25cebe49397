"""Communication: the traffic of each parallel group, placed on the network it spans.

The α–β collective costs are in :mod:`dsx.solvers.collectives`.

Placement follows Megatron's default rank order ``tp-cp-ep-dp-pp`` (leftmost varies
fastest; NVIDIA/Megatron-LM ``megatron/training/initialize.py``): a group of size ``n``
whose faster-varying groups multiply to a *stride* ``S`` keeps ``n_in = min(n, D/S)``
peers in each scale-up domain of ``D`` GPUs and spreads the rest over
``n_out = n/n_in`` domains. Every collective is evaluated hierarchically (the intra-domain
phase on the scale-up links, the inter-domain phase on each GPU's own scale-out rail),
which reduces exactly to the flat ring when the group fits in one domain (``n_out = 1``)
or has one peer per domain (``n_in = 1``).
"""

from __future__ import annotations

import numpy as np

from .compute import stage_params
from .base import solver, where
from .quantities import unit
from .collectives import (all_gather_time, all_reduce_time, all_to_all_time, group_all_gather_time,  # noqa: F401
                          group_all_reduce_time, group_all_to_all_time, group_bandwidth, group_split,
                          hierarchical_all_reduce_time, p2p_time, reduce_scatter_time)  # re-exported

__all__ = [
    "all_reduce_time", "reduce_scatter_time", "all_gather_time", "all_to_all_time", "p2p_time",
    "hierarchical_all_reduce_time", "group_split", "group_bandwidth",
    "group_all_reduce_time", "group_all_gather_time", "group_all_to_all_time", "communication",
]


@solver(("mb_tp_comm_time", "mb_cp_comm_time", "mb_ep_comm_time", "mb_pp_comm_time", "dp_comm_time",
         "layer_gather_time", "layer_reduce_scatter_time", "zero3_gathers", "zero3_comm_time",
         "mb_dp_comm_time"))
def communication(dp, micro_batches, layers, hidden, kv_heads, head_dim, layers_per_stage, params,
                  embedding_params, head_params, expert_params, tied_embeddings, scale_up_bandwidth,
                  scale_up_latency, scale_out_bandwidth, scale_out_latency, activation_bytes, weight_bytes,
                  tp, pp, cp, ep, seq_len, micro_batch, virtual_stages, sequence_parallel, zero, recompute,
                  scale_up_domain, link_efficiency, oversubscription, gradient_bytes, collective_latency,
                  zero3_reshard, experts=0, experts_per_token=0, dense_layers=0, stage_layers=None):
    """Per-micro-batch and per-step communication time of each parallel group.

    Parameters
    ----------
    tp, pp, cp, ep, dp : int
        Tensor-, pipeline-, context-, expert- and data-parallel degrees.
    seq_len : int
        Tokens per sequence ``s``.
    micro_batch : int
        Sequences per micro-batch ``b``.
    layers, hidden, kv_heads, head_dim : int
        Model shape ``L, h, a_kv, d_h``.
    params, embedding_params, head_params, expert_params : float
        Parameter counts (param; ``model_shape``); the DP volume is the most-loaded stage's
        shard (:func:`dsx.solvers.compute.stage_params`).
    tied_embeddings : bool
        Output head shares the input embedding.
    scale_up_bandwidth, scale_out_bandwidth : float
        Per-direction link rate per GPU (B/s); scale-out is the GPU's rail (NICs × port rate).
    scale_up_latency, scale_out_latency : float
        Per-message latency (s).
    activation_bytes, weight_bytes : float
        Bytes per activation and weight element (B). Activations on the wire are at least
        2 B (FP8 recipes communicate in BF16).
    recompute : {"none", "selective", "full"}
        Full recompute repeats the forward TP/CP/EP collectives.
    sequence_parallel : bool
        Megatron sequence parallelism (all-gather + reduce-scatter instead of all-reduce:
        same volume; tokens per GPU for the MoE all-to-all divided by ``t``).
    zero : int
        ZeRO stage 0–3: 0 all-reduces gradients; ≥ 1 reduce-scatters gradients and
        all-gathers parameters; 3 also gathers parameters for every micro-batch.
    virtual_stages : int
        Interleaved pipeline chunks ``v`` (pipeline sends × ``v``).
    layers_per_stage : int
        Layers on the most-loaded pipeline stage.
    stage_layers : int, optional
        Layers on the stage that sets the pipeline's pace (``training_compute``; uneven
        stages); default ``layers_per_stage``.
    micro_batches : float
        Micro-batches per pipeline per step ``m`` (ZeRO-3 gathers parameters for each).
    zero3_reshard : {"forward", "backward", "step"}
        When ZeRO-3 frees gathered parameters: gathers per layer 2 per micro-batch, 1 per
        micro-batch, 1 per step.
    experts, experts_per_token, dense_layers : int
        MoE shape ``E, k`` and leading dense layers (0 / NaN for dense models).
    scale_up_domain : int
        GPUs that reach one another over scale-up links (8 for an HGX H100 node, 72 for an
        NVL72 rack, 2 for NVLink-bridged PCIe pairs): the placement domain of every group
        (physics.md §5.2). ``gpus_per_node`` (servers, for embodied carbon) plays no part:
        a domain may span nodes (NVL72) or be smaller than one (PCIe cards). Empty (NaN) in a
        user catalog row: 1, every peer reached over scale-out.
    link_efficiency : float
        Achieved fraction of the per-direction link rate (both networks).
    oversubscription : float
        Divides the scale-out bandwidth.
    gradient_bytes : float
        Bytes per gradient element reduced (the compute solver's input: 4, Megatron's fp32
        main gradients; 2 for a bf16 reduce).
    collective_latency : float
        Fixed cost of each collective call (s), on top of the per-hop latencies (pipeline
        point-to-point sends pay the per-hop latency only).

    Returns
    -------
    dict
        ``mb_tp_comm_time`` (s): ``n_c`` collectives per layer on ``(s/c)·b·h`` activations over
        the ``t`` group, ``n_c`` = 4 (2 forward + 2 backward), 6 with full recompute; with
        sequence parallelism each all-reduce is an all-gather + reduce-scatter of the same
        volume (two calls, so twice the fixed ``collective_latency``). ``mb_cp_comm_time`` (s): per layer 3 all-gather-sized exchanges of the
        full-sequence K,V (forward all-gather; backward all-gather + reduce-scatter of dK,dV),
        4 with full recompute. ``mb_ep_comm_time`` (s): per MoE layer dispatch + combine
        all-to-all forward and backward (4; 6 with full recompute) of ``T_loc·k·h`` elements.
        ``mb_pp_comm_time`` (s): ``2v`` sends of ``(s/c)·b·h/t`` per micro-batch (activation
        forward, gradient backward; scatter-gather over the ``t`` rails). ``dp_comm_time`` (s):
        the data-parallel traffic run once per step over the DP×CP group: ZeRO 0 all-reduces
        the gradients (``gradient_bytes``), ZeRO 1 reduce-scatters them and all-gathers the
        updated parameters (``weight_bytes``), ZeRO 2 only all-gathers the parameters, ZeRO 3
        nothing; MoE expert gradients reduce over the expert-data-parallel group ``d·c/e``.
        ``layer_reduce_scatter_time`` (s): ZeRO ≥ 2 reduce-scatters one layer's gradients in the
        backward of every micro-batch. ``layer_gather_time`` (s): ZeRO 3 all-gathers one
        layer's parameters (one collective, with its own call and hop latencies) before the
        layer's forward and again before its backward. ``zero3_gathers``: gathers of each
        layer per step, ``2m`` (``m`` with ``zero3_reshard="backward"``, 1 with ``"step"``); ``zero3_comm_time =
        zero3_gathers · L_stage · layer_gather_time`` (s). ``mb_dp_comm_time`` (s): one
        micro-batch's sharded-DP traffic, ``L_stage (t_rs + 2 t_ag)`` (``t_ag`` once with
        ``"backward"``, not at all with ``"step"``) (ZeRO §7.2: 1.5x the
        DP volume at ``m = 1``). How much of it hides under compute is the step solver's.

    References
    ----------
    Shoeybi et al. 2019 §3 (TP: 2 all-reduces fwd + 2 bwd per layer); Korthikanti et al.
    2022 §4.2.2 (sequence parallelism); Narayanan et al. 2021 §3.2, §4.1 (PP scatter/gather,
    DP all-reduce); Rajbhandari et al. 2020 §5.3, §7.2 (ZeRO-3 per-layer gathers, 1.5× volume); Zhao et al. 2023
    (PyTorch FSDP, VLDB 16(12)) §3.2 (one all-gather per FSDP unit in forward and backward,
    reduce-scatter per backward); Lepikhin et al. 2021
    (GShard dispatch/combine); NVIDIA/Megatron-LM ``context_parallel.rst``; physics.md §5.

    Examples
    --------
    Llama-3.1-70B, t = 8 on 8-GPU nodes, d = 64 (physics.md §5.3 worked example):

    >>> out = communication.kernel(
    ...     tp=8, pp=1, cp=1, ep=1, dp=64, micro_batches=32, seq_len=8192, micro_batch=1, layers=80,
    ...     hidden=8192, kv_heads=8, head_dim=128, layers_per_stage=80, params=70.6e9,
    ...     embedding_params=0.0, head_params=0.0, expert_params=0.0, tied_embeddings=False,
    ...     scale_up_bandwidth=450e9, scale_up_latency=0.0, scale_out_bandwidth=50e9,
    ...     scale_out_latency=0.0, activation_bytes=2, weight_bytes=2, recompute="none",
    ...     sequence_parallel=True, zero=1, virtual_stages=1, scale_up_domain=8,
    ...     link_efficiency=1.0, oversubscription=1.0, gradient_bytes=2, collective_latency=0.0)
    >>> round(float(out["dp_comm_time"]), 3)
    0.695
    >>> round(float(out["mb_tp_comm_time"]), 3)        # 80 · 4 · 2·7/8 · 134 MB / 450 GB/s
    0.167
    """
    if stage_layers is not None:
        layers_per_stage = stage_layers
    pp_eff = np.fmax(layers, 1.0) / np.fmax(layers_per_stage, 1.0)     # 1 / the stage's share of the layers
    pp_eff = where(np.isfinite(pp_eff), pp_eff, pp)
    domain = np.fmax(scale_up_domain, 1.0)  # a row without a domain (NaN): no GPU shares scale-up links
    bw_up = link_efficiency * scale_up_bandwidth
    bw_out = link_efficiency * scale_out_bandwidth / oversubscription
    lat = (scale_up_latency, scale_out_latency, collective_latency)
    full = recompute == "full"
    wire = np.maximum(activation_bytes, 2.0 * unit("B"))
    h = np.fmax(hidden, 0.0)                               # NaN (CNN) -> no activations on the wire
    tok = seq_len / cp * micro_batch                       # tokens of one micro-batch on a CP rank
    act = tok * h * unit("1/token") * wire                 # one (s/c)·b·h activation tensor (B)

    # TP: per layer 4 all-reduces (6 with full recompute) of the activation. SP's
    # all-gather + reduce-scatter pair has the same α–β cost as one all-reduce, but is two
    # calls: one more fixed call cost each.
    sp_call = where(sequence_parallel & (tp > 1), collective_latency, 0.0)
    mb_tp = (layers_per_stage * where(full, 6.0, 4.0)
             * (group_all_reduce_time(act, tp, 1, domain, bw_up, bw_out, *lat) + sp_call))

    # CP: K,V of the full sequence (heads split by t, replicated when t > a_kv).
    kv = 2.0 * seq_len * micro_batch * np.maximum(1.0, np.fmax(kv_heads, 0.0) / tp) \
        * np.fmax(head_dim, 0.0) * unit("1/token") * wire
    mb_cp = (layers_per_stage * where(full, 4.0, 3.0)
             * group_all_gather_time(kv, cp, tp, domain, bw_up, bw_out, *lat))

    # EP: dispatch + combine, forward and backward, per MoE layer on this stage.
    moe = np.fmax(experts, 0.0) > 0
    moe_share = where(moe, (layers - np.fmax(dense_layers, 0.0)) / layers, 0.0)
    routed = act / where(sequence_parallel, tp, 1) * np.fmax(experts_per_token, 0.0)
    mb_ep = (layers_per_stage * moe_share * where(full, 6.0, 4.0)
             * group_all_to_all_time(routed, ep, tp * cp, domain, bw_up, bw_out, *lat))

    # PP: one activation send forward and one gradient send backward per chunk boundary,
    # scattered over the t rails (Narayanan §4.1).
    pp_stride = tp * cp * dp
    inside = pp_stride * pp <= domain
    mb_pp = where(pp > 1, 2.0 * virtual_stages * p2p_time(act / tp, where(inside, bw_up, bw_out),
                                                          where(inside, *lat[:2])), 0.0)

    # DP: this GPU's shard of the most-loaded stage over the DP×CP group; routed experts over
    # the expert-data-parallel group (d·c/e ranks, stride t·e). Traffic run once per step:
    # ZeRO 0 all-reduces the accumulated gradients; ZeRO 1 (distributed optimizer)
    # reduce-scatters them and all-gathers the updated 16-bit parameters; ZeRO 2 only
    # all-gathers the parameters (its gradients were reduce-scattered per micro-batch);
    # ZeRO 3 gathers parameters as it computes, nothing after the step.
    shard = stage_params(params, embedding_params, head_params, expert_params, tied_embeddings, tp, pp_eff, ep)
    expert_gpu = np.fmax(expert_params, 0.0) / (tp * pp_eff * ep)
    dense_gpu = shard - expert_gpu
    dpc = dp * cp

    def over_dp(nbytes):
        """A gather-sized collective of ``nbytes`` per parameter of this GPU's stage shard."""
        return (group_all_gather_time(nbytes * dense_gpu, dpc, tp, domain, bw_up, bw_out, *lat)
                + where(expert_gpu > 0, group_all_gather_time(nbytes * expert_gpu, dpc / ep, tp * ep, domain,
                                                              bw_up, bw_out, *lat), 0.0))  # dense: no call

    gather = over_dp(weight_bytes)                                 # = reduce-scatter time
    reduce = over_dp(gradient_bytes)
    dp_time = where(zero <= 0, 2.0 * reduce, where(zero == 1, reduce + gather, where(zero == 2, gather, 0.0)))

    # ZeRO >= 2 / FSDP: every micro-batch's backward reduce-scatters each layer's gradients as
    # they are produced (the shards cannot accumulate unreduced gradients); ZeRO-3 also
    # all-gathers each layer's parameters before its forward and again before its backward,
    # one collective per layer, each with its own call and hop latencies (ZeRO §5.3, §7.2:
    # 1.5x the DP volume at one micro-batch; FSDP, Zhao et al. 2023 §3.2). The stage's
    # embedding and head are spread over its layers (one collective per layer).
    per_layer = np.fmax(layers_per_stage, 1.0)
    layer_gather = where(zero >= 3, over_dp(weight_bytes / per_layer), 0.0)
    layer_rs = where(zero >= 2, over_dp(gradient_bytes / per_layer), 0.0)
    per_mb = where(zero3_reshard == "forward", 2.0, where(zero3_reshard == "backward", 1.0, 0.0))
    gathers = where(zero >= 3, where(zero3_reshard == "step", 1.0, per_mb * micro_batches), 0.0)
    z3 = gathers * per_layer * layer_gather
    mb_dp = per_layer * (layer_rs + per_mb * layer_gather)
    return {"mb_tp_comm_time": mb_tp, "mb_cp_comm_time": mb_cp, "mb_ep_comm_time": mb_ep,
            "mb_pp_comm_time": mb_pp, "dp_comm_time": dp_time, "layer_gather_time": layer_gather,
            "layer_reduce_scatter_time": layer_rs, "zero3_gathers": gathers, "zero3_comm_time": z3,
            "mb_dp_comm_time": mb_dp}
