"""Parallel layout: data-parallel degree, micro-batches, stage size, tokens, and the layout checks.

The layout inputs (``gpus``, ``tp``, ``pp``, ``cp``, ``ep``, batch sizes, ``seq_len``, ...) are
registered here. ``dp = gpus / (tp·pp·cp)`` (Megatron rank order; expert parallelism is carved
out of ``dp·cp``). A layout that does not divide is *data*: ``ok_*`` flags say which check
fails and the values are still computed (fractional) so users see how far off they are.

:data:`LAYOUT_CHECKS` lists ``(reason code, flag name)`` in priority order for the stack's
``reason`` (``first_reason``).

References
----------
Narayanan et al. 2021 (arXiv:2104.04473) §2–3 (PTD-P layout, micro-batches, interleaving);
Korthikanti et al. 2022 (arXiv:2205.05198) §4.2.2 (sequence parallelism), §5 (selective
recomputation); Rajbhandari et al. 2020 (ZeRO, arXiv:1910.02054) §5; NVIDIA/Megatron-LM
``docs/source/distrib_optimizer.md``.
"""

from __future__ import annotations

import numpy as np

from .base import solver, where
from .quantities import unit

__all__ = ["layout", "LAYOUT_CHECKS"]

#: (reason code, ok-flag variable) in the order ``reason`` reports them.
#: Each size check (``*_exceeds_*``: too many ranks for what there is to split) comes before
#: its divisibility check (``*_not_divisible``, ``tp_not_dividing_heads``), so the code says
#: which of the two is wrong; the divisibility flags include the size condition.
LAYOUT_CHECKS = [
    ("precision_unsupported", "ok_precision"),
    ("model_parallel_exceeds_gpus", "ok_gpus_enough"),
    ("gpus_not_divisible", "ok_gpus_divisible"),
    ("tp_exceeds_heads", "ok_tp_within_heads"),
    ("tp_not_dividing_heads", "ok_tp_heads"),
    ("pp_exceeds_layers", "ok_pp_within_layers"),
    ("layers_not_divisible", "ok_layers_divisible"),
    ("ep_exceeds_experts", "ok_ep_within_experts"),
    ("experts_not_divisible", "ok_experts_divisible"),
    ("dp_exceeds_batch", "ok_dp_within_batch"),
    ("dp_micro_batch_exceeds_batch", "ok_batch_enough"),
    ("batch_not_divisible", "ok_batch_divisible"),
    ("context_exceeds_max", "ok_context"),
    ("seq_not_divisible_by_cp", "ok_seq_cp"),
]


_whole = lambda x: x == np.floor(x)  # noqa: E731  (a count that divides exactly)


@solver(("dp", "micro_batches", "layers_per_stage", "first_stage_layers", "last_stage_layers",
         "tokens_per_sample", "tokens_per_step", "ok_gpus_enough", "ok_gpus_divisible", "ok_tp_within_heads",
         "ok_tp_heads", "ok_pp_within_layers", "ok_layers_divisible", "ok_ep_within_experts",
         "ok_experts_divisible", "ok_dp_within_batch", "ok_batch_enough", "ok_batch_divisible", "ok_context",
         "ok_seq_cp", "ok_precision", "ok_layout"))
def layout(arch, layers, heads, experts, max_context, peak_flops, gpus, tp, pp, cp, ep, global_batch,
           micro_batch, seq_len, virtual_stages, sequence_parallel, zero, recompute, first_stage_layers,
           last_stage_layers):
    """Derive the data-parallel degree, micro-batches, stage size and tokens; check the layout.

    Parameters
    ----------
    arch : str
        Model architecture (``"cnn"`` has one "token" per image).
    layers, heads, experts, max_context : float
        Model shape (counts; ``max_context`` in tokens). NaN = not applicable.
    peak_flops : float
        flop/s at the compute precision; NaN where the hardware lacks the precision.
    gpus, tp, pp, cp, ep, global_batch, micro_batch, virtual_stages : int
        Layout (counts; batches in sequences).
    seq_len : int
        token per sequence.
    sequence_parallel, zero, recompute
        Registered here, used by compute and memory.
    first_stage_layers, last_stage_layers : int
        Layers on the first / last pipeline stage; 0 = automatic (see Notes).

    Returns
    -------
    dict
        ``dp``, ``micro_batches``, ``layers_per_stage`` (the most-loaded stage),
        ``first_stage_layers``, ``last_stage_layers`` (counts), ``tokens_per_sample``,
        ``tokens_per_step`` (token), and the boolean ``ok_*`` flags.

    Notes
    -----
    Pipeline stages as they are run: a layer count that ``pp`` does not divide is a layout,
    not an error. The middle ``p − 2`` stages hold ``c = ⌈L/p⌉`` layers each (``c`` chosen by
    the user through the first/last counts: ``c = ⌈(L − f − l)/(p − 2)⌉``), the first and last
    the remaining ``L − (p−2)c``, the first the larger half: 126 layers on 16 stages give
    7 + 14×8 + 7 (Llama 3 405B: one layer fewer on the first and last stage, Llama Team 2024
    §3.3.2), 70 on 12 give 5 + 10×6 + 5, 61 on 16 give 3 + 14×4 + 2 (DeepSeek-V3's 61 layers
    on 16 stages, DeepSeek-AI 2024 §3.2). The slowest stage sets the pace of the pipeline
    (the compute solver picks it: the most layers, or the last stage with its head).

    Too few sequences per step is two codes: ``dp_exceeds_batch`` when there are fewer
    sequences than data-parallel replicas (``global_batch < dp``), ``dp_micro_batch_exceeds_batch``
    when each replica gets some but less than one micro-batch (``dp <= global_batch < dp·micro_batch``).

    Context parallelism (``cp > 1``) runs Megatron-Core's ring attention with load balancing: the
    sequence is viewed as ``2·cp`` chunks and rank ``r`` takes chunks ``r`` and ``2cp − 1 − r`` so
    that every rank gets the same share of the causal mask (Megatron-LM
    ``get_batch_on_this_cp_rank``, ``val.view(..., 2 * cp_size, seq_len // (2 * cp_size), ...)``;
    ``docs/source/api-guide/context_parallel.rst``). ``seq_len`` must therefore be a multiple of
    ``2·cp`` (``seq_not_divisible_by_cp``; physics.md §5.3).

    References
    ----------
    Narayanan et al. 2021 §2.2 (m = B/(d·b)); Megatron-LM ``arguments.py`` checks (world size
    divisible by tp·pp·cp, heads by tp, layers by pp·vp); Megatron-LM ``get_batch_on_this_cp_rank``
    (``megatron/training/utils.py``) and ``context_parallel.rst`` (sequence in 2·cp chunks).

    Examples
    --------
    >>> out = layout.kernel("decoder", 80, 64, 0, 131072, 989e12, gpus=512, tp=8, pp=1,
    ...                     cp=1, ep=1, global_batch=2048, micro_batch=1, seq_len=2048,
    ...                     virtual_stages=1, sequence_parallel=True, zero=1, recompute="full")
    >>> float(out["dp"]), float(out["micro_batches"]), float(out["tokens_per_step"])
    (64.0, 32.0, 4194304.0)
    >>> bool(out["ok_layout"])
    True
    """
    cnn = arch == "cnn"
    dp = gpus / (tp * pp * cp)
    micro_batches = global_batch / (dp * micro_batch)
    tokens_per_sample = where(cnn, 1.0 * unit("token"), seq_len)  # 1 image per sample for a CNN
    ok_gpus = _whole(dp)
    # a CNN (no heads / no transformer layers) admits only tp = pp = 1
    heads_ = np.fmax(heads, 1.0)  # fmax: NaN -> 1
    layers_ = np.fmax(layers, 1.0)
    ok_tp = (tp <= heads_) & (heads_ % tp == 0)
    # uneven pipeline stages (Megatron first/last-stage layer counts)
    auto = (first_stage_layers <= 0) & (last_stage_layers <= 0)
    middle = np.maximum(pp - 2.0, 0.0)
    c_auto = np.ceil(layers_ / pp)
    c_user = np.ceil((layers_ - first_stage_layers - last_stage_layers) / np.maximum(middle, 1.0))
    c = where(auto, c_auto, c_user)
    rest = layers_ - middle * c                                   # first + last (p >= 2)
    first = where(auto, np.ceil(rest / 2.0), first_stage_layers)
    last = where(auto, rest - np.ceil(rest / 2.0), last_stage_layers)
    first = where(pp <= 1, layers_, first)
    last = where(pp <= 1, layers_, last)
    c = where(pp <= 2, np.maximum(first, last), c)
    most = np.maximum(c, np.maximum(first, last))
    users_add_up = auto | (first_stage_layers + last_stage_layers + middle * c == layers_)
    ok_layers = ((first >= 1) & (last >= 1) & (c >= 1) & users_add_up
                 & (where(pp > 2, c, most) % virtual_stages == 0))
    ex = np.fmax(experts, 0.0)
    ok_experts = (((ex % ep == 0) & (ex > 0)) | (ep == 1)) & ((dp * cp) % ep == 0)
    ok_batch = _whole(micro_batches) & (micro_batches >= 1) & ok_gpus
    ok_context = np.logical_not(seq_len > max_context)  # NaN max_context: no limit
    ok_precision = np.isfinite(peak_flops) & (peak_flops > 0)
    # context parallelism with load balancing cuts each sequence into 2·cp chunks (see Notes)
    ok_seq_cp = (cp == 1) | (seq_len % (2 * cp * unit("token")) == 0)  # whole tokens in each of 2·cp chunks
    ok_all = ok_gpus & ok_tp & ok_layers & ok_experts & ok_batch & ok_context & ok_seq_cp & ok_precision
    return {
        "dp": dp,
        "micro_batches": micro_batches,
        "layers_per_stage": most,
        "first_stage_layers": first,
        "last_stage_layers": last,
        "tokens_per_sample": tokens_per_sample,
        "tokens_per_step": global_batch * tokens_per_sample,
        "ok_gpus_enough": dp >= 1,
        "ok_gpus_divisible": ok_gpus,
        "ok_tp_within_heads": tp <= heads_,
        "ok_tp_heads": ok_tp,
        # interleaved: the first stage's first chunk may hold only the embedding and the last
        # stage's last chunk only the head and loss (Llama Team 2024 §3.3.2; Megatron-LM
        # --account-for-embedding-in-pipeline-split / --account-for-loss-in-pipeline-split)
        "ok_pp_within_layers": pp * virtual_stages <= layers_ + 2.0 * ((virtual_stages > 1) & (pp > 1)),
        "ok_layers_divisible": ok_layers,
        "ok_ep_within_experts": (ep == 1) | (ep <= ex),
        "ok_experts_divisible": ok_experts,
        "ok_dp_within_batch": dp <= global_batch,
        "ok_batch_enough": micro_batches >= 1,
        "ok_batch_divisible": ok_batch,
        "ok_context": ok_context,
        "ok_seq_cp": ok_seq_cp,
        "ok_precision": ok_precision,
        "ok_layout": ok_all,
    }
