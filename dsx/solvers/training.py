"""Training step time, throughput, utilisation and time to train.

One optimizer step of a pipeline of ``p`` stages with ``m`` micro-batches per pipeline and
``v`` interleaved chunks per GPU takes (Narayanan et al. 2021 §2.2, Eq. 1; physics.md §6)::

    T_step = (m + (p-1)/v) · (t_f + t_b) + T_dp,exposed + T_opt

where ``t_f + t_b`` is one micro-batch's forward and backward on the most-loaded stage:
its roofline time (``mb_time``, from :mod:`dsx.solvers.compute`) plus the exposed
tensor-, context- and expert-parallel collectives and the pipeline sends of that
micro-batch (:mod:`dsx.solvers.network`).
"""

from __future__ import annotations

import inspect

import numpy as np

from . import layout as _layout  # noqa: F401  (registers the layout inputs shared below)
from .base import INPUTS, Input, first_reason, solver, where
from .compute import HBM_EFFICIENCY, MATMUL_EFFICIENCY, TRAINING_ATTENTION_BYTES, attention_peak_fraction

__all__ = ["step_time", "throughput", "time_to_train", "feasibility"]

SECONDS_PER_DAY = 86_400.0

#: Labels ``bottleneck`` takes, in tie order (the compute term is "compute" or "memory").
LABELS = ("compute", "memory", "tp_comm", "cp_comm", "ep_comm", "pp_comm", "bubble", "dp_comm", "optimizer")


def _take(labels, code):
    """``labels[code]`` elementwise, keeping the type (and dims) of ``code``.

    >>> _take(("a", "b"), 1)
    'b'
    """
    table = np.asarray(labels)
    if hasattr(code, "dims"):                                # DataArray or Variable
        return code.copy(data=table[np.asarray(code.values)])
    out = table[code]
    return str(out) if np.ndim(out) == 0 else out


@solver({
    "mb_kernel_time": ("s", "micro-batch compute time as executed: GEMMs, attention, exposed memory-bound kernels"),
    "step_time": ("s", "optimizer step wall time"),
    "step_compute_time": ("s", "roofline compute of all micro-batches on the most-loaded stage"),
    "step_comm_time": ("s", "exposed TP/CP/EP collectives and pipeline sends of all micro-batches"),
    "step_bubble_time": ("s", "pipeline fill and drain (bubble)"),
    "step_dp_exposed_time": ("s", "data-parallel (and ZeRO-3) communication not hidden under compute"),
    "step_optimizer_time": ("s", "optimizer update (memory-bound read/write of optimizer state)"),
    "bottleneck": ("", "largest term of the step time"),
    "scaling_efficiency": ("", "compute-only step time over step time"),
})
def step_time(mb_time, mb_flops_matmul, mb_flops_attention, mb_flops_logits, mb_memory_time,
              peak_flops, activation_bytes, micro_batches, bound,
              mb_tp_comm_time, mb_cp_comm_time, mb_ep_comm_time, mb_pp_comm_time,
              dp_comm_time, zero3_comm_time,
              weights_memory, gradients_memory, optimizer_memory, hbm_bandwidth,
              pp=INPUTS["pp"], virtual_stages=INPUTS["virtual_stages"], zero=INPUTS["zero"],
              hbm_efficiency=HBM_EFFICIENCY, matmul_efficiency=MATMUL_EFFICIENCY,
              kernel_efficiency=Input(0.82, "", "End-to-end fraction of the kernel-level GEMM rate "
                                      "(matmul_efficiency x peak) a training step achieves: launch gaps, "
                                      "framework and optimizer-hook overhead, odd GEMM shapes, FP8 casts. "
                                      "Calibrated with attention_efficiency and memory_exposure on 36 "
                                      "published runs (Megatron-LM, llm-foundry MPT, NeMo; "
                                      "docs/validation-training.md), on top of each device's measured "
                                      "matmul_efficiency (hardware catalog)", minimum=0.0),
              attention_efficiency=Input(0.7, "", "Attention-core (fused flash attention, forward + "
                                         "backward) throughput relative to the GEMMs'; it runs at 16-bit "
                                         "even in FP8 recipes (Transformer Engine's default "
                                         "DotProductAttention). FlashAttention-2 reaches 50-73 % of A100 "
                                         "peak forward and less backward (Dao 2023), GEMMs ~87 % "
                                         "(MAMF): 0.6-0.8 of the GEMM rate; calibrated with "
                                         "kernel_efficiency (0.7 also keeps the 8K-context H100 layer "
                                         "measurement within 27 %, docs/validation-gpu.md)", minimum=0.0),
              memory_exposure=Input(1.0, "", "Fraction of the micro-batch's HBM time (mb_memory_time) "
                                    "not hidden under the GEMMs: norms, activations, residual adds and "
                                    "casts are separate memory-bound kernels between the GEMMs, so a "
                                    "step is closer to a sum of per-kernel rooflines than to one max "
                                    "(Williams et al. 2009 applied per kernel); calibrated with "
                                    "kernel_efficiency: 1, no overlap at all", minimum=0.0),
              tp_overlap=Input(0.0, "", "Fraction of tensor-parallel collectives hidden under compute. "
                               "Default 0: Megatron-LM's TP all-reduces / all-gathers sit on the critical "
                               "path between dependent GEMMs (Shoeybi et al. 2019 §3; Korthikanti et al. "
                               "2022 §4.2.2); comm-GEMM overlap (TransformerEngine userbuffers) raises it",
                               minimum=0.0),
              cp_overlap=Input(0.5, "", "Fraction of context-parallel K/V exchange hidden under the "
                               "attention it feeds. Default 0.5: Megatron-LM runs CP as ring P2P "
                               "overlapped with blockwise attention (docs context_parallel.rst); the "
                               "attention share of a layer rarely covers all of it (derived)",
                               minimum=0.0),
              ep_overlap=Input(0.0, "", "Fraction of the MoE all-to-all hidden under compute. Default 0: "
                               "dispatch and combine sit between the router and the experts (GShard, "
                               "Lepikhin et al. 2021)", minimum=0.0),
              dp_overlap=Input(
                  1.0, "", "Fraction of the compute that can hide data-parallel traffic: the gradient "
                  "reduction hides under the last micro-batch's backward (2/3 of its compute), the "
                  "distributed optimizer's parameter all-gather under the next step's first forward "
                  "(ZeRO >= 1), ZeRO-3/FSDP gathers under the whole step (prefetch). Default 1: "
                  "Megatron-LM --overlap-grad-reduce / --overlap-param-gather and FSDP prefetch start "
                  "each bucket as soon as it is ready; gradients accumulated over micro-batches can "
                  "only be reduced after the last one", minimum=0.0)):
    """Step time of a pipelined, data-parallel training job and its breakdown.

    Parameters
    ----------
    mb_time : float or array
        Roofline time of one micro-batch, forward + backward (incl. recompute), on one GPU of
        the most-loaded stage, without communication (s); a lower bound of ``t_mb``.
    mb_flops_matmul, mb_flops_attention, mb_flops_logits : float or array
        That micro-batch's linear-layer, attention-core and logits FLOPs (flop).
    mb_memory_time : float or array
        Its HBM time at ``hbm_efficiency`` (s).
    peak_flops : float or array
        Dense peak at the compute precision (flop/s).
    activation_bytes : float or array
        Bytes of the compute precision (the one ``peak_flops`` is quoted at; < 2: the attention
        core still runs at 16 bit, :func:`dsx.solvers.compute.attention_peak_fraction`).
    micro_batches : int or array
        Micro-batches per pipeline per step ``m = B/(d·b)``.
    bound : str or array
        ``"compute"`` or ``"memory"``: which roofline term limits ``mb_time``.
    mb_tp_comm_time, mb_cp_comm_time, mb_ep_comm_time, mb_pp_comm_time : float or array
        Communication of one micro-batch on one stage (s).
    dp_comm_time, zero3_comm_time : float or array
        Gradient reduction and ZeRO-3 extra parameter all-gathers per step (s).
    weights_memory, gradients_memory, optimizer_memory : float or array
        Per-GPU bytes of weights, gradients and optimizer state (B).
    hbm_bandwidth : float or array
        HBM bandwidth (B/s).
    pp, virtual_stages : int or array
        Pipeline stages ``p`` and interleaved chunks per GPU ``v``.
    zero : int or array
        ZeRO stage (3 adds the parameter all-gathers).
    hbm_efficiency, matmul_efficiency : float
        The compute solver's achieved fractions of HBM bandwidth and of peak FLOP/s.
    kernel_efficiency, attention_efficiency, memory_exposure : float
        End-to-end calibration (see each input's documentation).
    tp_overlap, cp_overlap, ep_overlap, dp_overlap : float
        Overlap fractions (see each input's documentation).

    Returns
    -------
    dict
        ``mb_kernel_time`` ``t_mb = max(mb_time, (F_mm + F_logits)/R + F_attn/(R·η_a·φ)
        + ε·T_hbm)`` with ``R = η_k·η_c·F`` and ``φ = min(1, b_a/2)`` the 16-bit fraction (s); ``step_time`` (s) and its additive breakdown
        ``step_compute_time = m·t_mb``, ``step_comm_time = m·(exposed TP + CP + EP + PP)``,
        ``step_bubble_time = (p-1)/v·(t_mb + comm)``, ``step_dp_exposed_time =
        max(0, T_dp − η·w·t_mb, T_dp + T_z3 − η·m·t_mb)`` (the reduction hides under the last
        micro-batch's backward, ``w = 2/3``; with ZeRO ≥ 1 the parameter all-gather also under the
        next step's first forward, ``w = 1``; ZeRO-3 gathers anywhere in the step), ``step_optimizer_time = (2·opt + grad +
        weights)/(η_m·W_hbm)`` (Adam reads and writes its state, reads the gradients, writes the
        weights); ``bottleneck``: the largest term (ties to the first of compute, tp_comm,
        cp_comm, ep_comm, pp_comm, bubble, dp_comm, optimizer), the compute term labelled
        ``"memory"`` where ``bound`` says so; ``scaling_efficiency = m·t_mb / step_time``.

    References
    ----------
    Narayanan et al. 2021 (arXiv:2104.04473) §2.2 and Eq. 1 (bubble ``(p-1)/v``);
    Korthikanti et al. 2022 §6.3 (exposed data-parallel time); Williams et al. 2009
    (roofline, applied per kernel); Dao 2023 (FlashAttention-2 efficiency); physics.md §6.

    Examples
    --------
    Four stages, eight micro-batches of 1 s each, no communication:

    >>> zero_ = dict(mb_flops_matmul=0.0, mb_flops_attention=0.0, mb_flops_logits=0.0,
    ...              mb_memory_time=0.0, mb_tp_comm_time=0.0, mb_cp_comm_time=0.0,
    ...              mb_ep_comm_time=0.0, mb_pp_comm_time=0.0, dp_comm_time=0.0,
    ...              zero3_comm_time=0.0, weights_memory=0.0, gradients_memory=0.0,
    ...              optimizer_memory=0.0)
    >>> opts = {k: v.default for k, v in step_time.inputs.items()}
    >>> out = step_time.kernel(**{**opts, **zero_, "pp": 4}, mb_time=1.0, peak_flops=1e15,
    ...     activation_bytes=2, micro_batches=8, bound="compute", hbm_bandwidth=3e12)
    >>> float(out["step_time"]), float(out["step_bubble_time"]), str(out["bottleneck"])
    (11.0, 3.0, 'compute')
    """
    # executed micro-batch time: GEMMs at the derated kernel rate, attention at 16-bit and
    # attention_efficiency of that rate, plus the memory-bound kernels' exposed HBM time. The
    # 16-bit fraction is the compute solver's (one definition); it is applied to this rate
    # only: mb_time (its own roofline, with the same fraction) enters through max(), not a product.
    rate = kernel_efficiency * matmul_efficiency * peak_flops
    attn_rate = rate * attention_efficiency * attention_peak_fraction(activation_bytes, TRAINING_ATTENTION_BYTES)
    kernels = (mb_flops_matmul + mb_flops_logits) / rate + mb_flops_attention / attn_rate \
        + memory_exposure * mb_memory_time
    mb_kernel = np.maximum(kernels, mb_time)
    t_tp = (1.0 - tp_overlap) * mb_tp_comm_time
    t_cp = (1.0 - cp_overlap) * mb_cp_comm_time
    t_ep = (1.0 - ep_overlap) * mb_ep_comm_time
    t_mb = mb_kernel + t_tp + t_cp + t_ep + mb_pp_comm_time
    compute = micro_batches * mb_kernel
    bubble = (pp - 1) / virtual_stages * t_mb
    # the gradient reduction hides under the last backward only; ZeRO-3 gathers anywhere in
    # the step, so together they hide under at most the step's compute
    # (ZeRO >= 1 also gathers the updated parameters under the next step's first forward)
    own = dp_comm_time - dp_overlap * where(zero >= 1, 1.0, 2.0 / 3.0) * mb_kernel
    together = dp_comm_time + where(zero >= 3, zero3_comm_time, 0.0) - dp_overlap * compute
    dp_exposed = np.maximum(0.0, np.maximum(own, together))
    opt = (2.0 * optimizer_memory + gradients_memory + weights_memory) / (hbm_efficiency * hbm_bandwidth)
    comm = micro_batches * (t_tp + t_cp + t_ep + mb_pp_comm_time)
    total = compute + comm + bubble + dp_exposed + opt

    code = where(bound == "memory", 1, 0)                  # index into LABELS; ints are cheap
    best = compute
    for i, term in enumerate((micro_batches * t_tp, micro_batches * t_cp, micro_batches * t_ep,
                              micro_batches * mb_pp_comm_time, bubble, dp_exposed, opt)):
        code = where(term > best, i + 2, code)
        best = np.maximum(best, term)
    label = _take(LABELS, code)
    return {"mb_kernel_time": mb_kernel, "step_time": total, "step_compute_time": compute, "step_comm_time": comm,
            "step_bubble_time": bubble, "step_dp_exposed_time": dp_exposed,
            "step_optimizer_time": opt, "bottleneck": label,
            "scaling_efficiency": compute / total}


@solver({
    "tokens_per_s": ("token/s", "training throughput (global batch tokens per second)"),
    "tokens_per_s_per_gpu": ("token/s", "training throughput per GPU"),
    "mfu": ("", "model FLOPs utilisation (PaLM; attention included, recompute excluded)"),
    "hfu": ("", "hardware FLOPs utilisation (recompute included)"),
    "tflops_per_gpu": ("flop/s", "achieved model FLOP/s per GPU"),
})
def throughput(tokens_per_step, step_time, model_flops_step, hardware_flops_step, peak_flops,
               gpus=INPUTS["gpus"]):
    """Tokens per second, MFU and HFU of one optimizer step.

    Parameters
    ----------
    tokens_per_step : float or array
        Tokens consumed per step ``B·s`` over all replicas (token).
    step_time : float or array
        Step time (s).
    gpus : int or array
        GPUs of the job.
    model_flops_step, hardware_flops_step : float or array
        Model FLOPs (no recompute) and hardware FLOPs (with recompute) of one step over the
        whole job (flop).
    peak_flops : float or array
        Dense peak FLOP/s of one GPU at the compute precision (flop/s).

    Returns
    -------
    dict
        ``tokens_per_s = B·s / T_step`` (not × GPUs), ``tokens_per_s_per_gpu``,
        ``mfu = C_model / (T_step · n · F)``, ``hfu = C_hw / (T_step · n · F)``,
        ``tflops_per_gpu = C_model / (T_step · n)`` (flop/s, as the NeMo tables print it).

    References
    ----------
    Chowdhery et al. 2022 (PaLM) App. B; Korthikanti et al. 2022 §6.3; physics.md §2, §6.

    Examples
    --------
    >>> out = throughput.kernel(4e6, 2.0, 1.2e18, 1.6e18, 989e12, 1024)
    >>> float(out["tokens_per_s"]), round(float(out["mfu"]), 3), round(float(out["hfu"]), 3)
    (2000000.0, 0.592, 0.79)
    """
    tps = tokens_per_step / step_time
    per_gpu = step_time * gpus
    return {"tokens_per_s": tps, "tokens_per_s_per_gpu": tps / gpus,
            "mfu": model_flops_step / (per_gpu * peak_flops),
            "hfu": hardware_flops_step / (per_gpu * peak_flops),
            "tflops_per_gpu": model_flops_step / per_gpu}


@solver({
    "train_tokens": ("token", "tokens trained"),
    "time_to_train": ("s", "failure-free time to train train_tokens"),
    "wall_time_ideal": ("s", "failure-free busy time of the job"),
    "tokens_total": ("token", "tokens processed by the job"),
})
def time_to_train(tokens_per_s,
                  train_tokens=Input(0.0, "token", "Tokens to train on. 0 (default) = not set: "
                                            "the job runs for `days` instead. When both are set, this "
                                            "wins", minimum=0.0),
                  days=Input(30.0, "day", "Length of the job when train_tokens is not set "
                             "(default 30 days, the seed audit's job)", minimum=0.0)):
    """Training tokens and the failure-free time to train them.

    Rule: ``train_tokens > 0`` fixes the tokens and the time follows; otherwise the
    job runs ``days`` and the tokens follow (``tokens_per_s · days``).

    Parameters
    ----------
    tokens_per_s : float or array
        Training throughput (token/s).
    train_tokens : float
        Tokens to train (token); 0 = not set.
    days : float
        Job length (day) used when no token target is set.

    Returns
    -------
    dict
        ``train_tokens`` (token), ``time_to_train`` = ``train_tokens / tokens_per_s`` (s),
        ``wall_time_ideal`` (= ``time_to_train``; the operations solvers add failures),
        ``tokens_total`` (= ``train_tokens``).

    Examples
    --------
    >>> out = time_to_train.kernel(1e6, 0.0, 30.0)
    >>> float(out["train_tokens"]), float(out["time_to_train"]) / 86400
    (2592000000000.0, 30.0)
    >>> float(time_to_train.kernel(1e6, 15e12, 30.0)["time_to_train"]) / 86400
    173.6111111111111
    """
    tokens = where(train_tokens > 0, train_tokens, tokens_per_s * days * SECONDS_PER_DAY)
    t = tokens / tokens_per_s
    return {"train_tokens": tokens, "time_to_train": t, "wall_time_ideal": t, "tokens_total": tokens}


#: (reason code, flag) in the order ``reason`` reports them: the layout's checks
#: (:data:`dsx.solvers.layout.LAYOUT_CHECKS`), then the interleaved schedule, memory, and the
#: links the layout's collectives need (a hardware row without a scale-up or scale-out link).
CHECKS = tuple(_layout.LAYOUT_CHECKS) + (("interleave_not_divisible", "ok_interleave"), ("oom", "ok_memory"),
                                         ("no_scale_up_link", "ok_scale_up_link"),
                                         ("no_scale_out_link", "ok_scale_out_link"))
_DERIVED = ("ok_interleave", "ok_scale_up_link", "ok_scale_out_link")  # computed by feasibility itself
_FLAGS = tuple(flag for _, flag in CHECKS if flag not in _DERIVED)


def _feasibility(micro_batches, step_time, scale_up_bandwidth, scale_out_bandwidth,
                pp=INPUTS["pp"], virtual_stages=INPUTS["virtual_stages"], **flags):
    """Combine the layout, schedule, memory and link checks into ``feasible`` and ``reason``.

    Numbers are still computed where a configuration is infeasible (infeasible is data); the
    stack's last step (:func:`dsx.solvers.outcomes.mask_infeasible`) then hides its outcomes.

    Parameters
    ----------
    micro_batches : float or array
        Micro-batches per pipeline per step.
    step_time : float or array
        Step time (s); NaN where a collective runs on a link the catalog row lacks.
    scale_up_bandwidth, scale_out_bandwidth : float or array
        Link bandwidths per GPU (B/s); NaN = the hardware has no such link.
    pp, virtual_stages : int or array
        Pipeline stages and interleaved chunks.
    **flags : bool or array
        The ``ok_*`` flags of :data:`CHECKS` computed upstream (layout, memory).

    Returns
    -------
    dict
        ``ok_interleave``: ``v = 1`` or ``m`` a multiple of ``p`` (Megatron-LM's interleaved
        1F1B requirement, Narayanan et al. 2021 §2.2.2); ``ok_scale_up_link`` /
        ``ok_scale_out_link``: the step time is finite or the row has that link;
        ``feasible``: all checks; ``reason``: the code of the first failing check of
        :data:`CHECKS` (size before divisibility: ``tp_exceeds_heads`` before
        ``tp_not_dividing_heads``), ``""`` where feasible.

    Examples
    --------
    >>> ok = {flag: True for flag in _FLAGS}
    >>> out = feasibility.kernel(8, 1.0, 450e9, 50e9, 4, 2, **{**ok, "ok_memory": False})
    >>> bool(out["feasible"]), str(out["reason"])
    (False, 'oom')
    >>> str(feasibility.kernel(8, float("nan"), float("nan"), 50e9, 4, 1, **ok)["reason"])
    'no_scale_up_link'
    """
    computed = np.isfinite(step_time)
    flags = {**flags, "ok_interleave": (virtual_stages == 1) | (micro_batches % pp == 0),
             "ok_scale_up_link": computed | np.isfinite(scale_up_bandwidth),
             "ok_scale_out_link": computed | np.isfinite(scale_out_bandwidth)}
    checks = [(code, flags[flag]) for code, flag in CHECKS]
    feasible = checks[0][1]
    for _, ok in checks[1:]:
        feasible = feasible & ok
    return {"ok_interleave": flags["ok_interleave"], "ok_scale_up_link": flags["ok_scale_up_link"],
            "ok_scale_out_link": flags["ok_scale_out_link"], "feasible": feasible, "reason": first_reason(checks)}


# the solver reads one variable per upstream flag: name each in the signature it is wrapped by
_feasibility.__signature__ = inspect.Signature(
    [p for p in inspect.signature(_feasibility).parameters.values() if p.kind != p.VAR_KEYWORD]
    + [inspect.Parameter(flag, inspect.Parameter.KEYWORD_ONLY) for flag in _FLAGS])
_feasibility.__name__ = "feasibility"
feasibility = solver({
    "ok_interleave": ("", "interleaved schedule: micro-batches a multiple of pp (or virtual_stages = 1)"),
    "ok_scale_up_link": ("", "the step time does not need a scale-up link the hardware lacks"),
    "ok_scale_out_link": ("", "the step time does not need a scale-out link the hardware lacks"),
    "feasible": ("", "every check passes"),
    "reason": ("", "code of the first failing check, empty where feasible"),
})(_feasibility)
