"""Training step time and feasibility.

Throughput, MFU and the time to train are in :mod:`dsx.solvers.utilisation` (re-exported here).

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
from ..codes import choose
from .base import first_reason, solver, traced, where
from .quantities import unit
from .compute import TRAINING_ATTENTION_BYTES, attention_peak_fraction
from .utilisation import SECONDS_PER_DAY, throughput, time_to_train  # noqa: F401  (the stack's steps)

__all__ = ["step_time", "throughput", "time_to_train", "feasibility"]

#: Labels ``bottleneck`` takes, in tie order (the compute term is "compute" or "memory").
LABELS = ("compute", "memory", "tp_comm", "cp_comm", "ep_comm", "pp_comm", "bubble", "dp_comm", "optimizer")


def _take(labels, code):
    """``labels[code]`` elementwise, keeping the type (and dims) of ``code``.

    >>> _take(("a", "b"), 1)
    'b'
    """
    table = np.asarray(labels)
    if hasattr(code, "dims") and hasattr(code, "values"):    # DataArray or Variable
        return code.copy(data=table[np.asarray(code.values)])
    if traced(code):                                         # a dependency trace: the labels follow the code
        return code
    out = table[code]
    return str(out) if np.ndim(out) == 0 else out


@solver(("mb_kernel_time", "step_time", "step_compute_time", "step_comm_time", "step_bubble_time",
         "step_dp_exposed_time", "step_optimizer_time", "bottleneck", "scaling_efficiency"))
def step_time(mb_time, mb_flops_matmul, mb_flops_attention, mb_flops_logits, mb_memory_time, peak_flops,
              activation_bytes, micro_batches, bound, mb_tp_comm_time, mb_cp_comm_time, mb_ep_comm_time,
              mb_pp_comm_time, dp_comm_time, zero3_comm_time, layer_gather_time, layer_reduce_scatter_time,
              layers_per_stage, weights_memory, gradients_memory, optimizer_memory, hbm_bandwidth, pp,
              virtual_stages, zero, recompute, zero3_reshard, hbm_efficiency, matmul_efficiency,
              kernel_efficiency, attention_efficiency, memory_exposure, tp_overlap, cp_overlap, ep_overlap,
              dp_overlap, prefetch_depth, stage_layers=None, mb_nongemm_memory_time=None):
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
    dp_comm_time : float or array
        Data-parallel traffic run once per step (s; :func:`dsx.solvers.network.communication`).
    zero3_comm_time : float or array
        ZeRO-3 parameter gathers per step (s; reported, the exposure is computed per layer).
    layer_gather_time, layer_reduce_scatter_time : float or array
        One layer's ZeRO-3 parameter all-gather and ZeRO ≥ 2 gradient reduce-scatter (s).
    layers_per_stage, stage_layers : float or array
        Layers on the most-loaded stage and on the stage that sets the pace (default the former).
    mb_nongemm_memory_time : float or array, optional
        HBM time of the memory-bound kernels between the GEMMs (s); default ``mb_memory_time``.
    recompute : str
        Full recompute adds a forward to the backward (the window of the backward collectives).
    zero3_reshard : {"forward", "backward", "step"}
        When ZeRO-3 frees gathered parameters: the backward gathers again ("forward"), only the
        forward gathers ("backward"), or one pass of gathers per step ("step").
    prefetch_depth : int
        Layers gathered ahead (0: gathers fully exposed).
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
        + ε·T_hbm,non-GEMM)`` with ``R = η_k·η_c·F`` and ``φ = min(1, b_a/2)`` the 16-bit fraction (s); ``step_time`` (s) and its additive breakdown
        ``step_compute_time = m·t_mb``, ``step_comm_time = m·(exposed TP + CP + EP + PP)``,
        ``step_bubble_time = (p-1)/v·(t_mb + comm)``, ``step_dp_exposed_time =
        m·E_mb + max(0, T_dp − η·w·t_mb)``: the once-per-step traffic hides under the last
        micro-batch's backward (ZeRO 0, ``w = 2/3``), and the next step's first forward (ZeRO 1,
        ``w = 1``; ZeRO 2, ``w = 1/3``); ``E_mb``, the exposed per-layer ZeRO-2/3 collectives of
        one micro-batch: a pass over ``L`` layers with per-layer collective ``c`` (forward: the
        gather; backward: gather + reduce-scatter) and per-layer compute ``κ`` exposes
        ``c + (L−1)·max(0, c − η·κ)`` (collectives serial on one stream, each hidden at most
        behind one layer's compute; prefetch depth 0: ``L·c_gather``),
``step_optimizer_time = (2·opt + grad +
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
    ...              optimizer_memory=0.0, layer_gather_time=0.0, layer_reduce_scatter_time=0.0,
    ...              layers_per_stage=20)
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
    attn_rate = rate * attention_efficiency * attention_peak_fraction(activation_bytes, TRAINING_ATTENTION_BYTES * unit("B"))
    # only the memory-bound kernels between the GEMMs add their HBM time; the weight and
    # gradient-accumulator streams overlap the compute-bound GEMMs that read them
    hbm_exposed = mb_memory_time if mb_nongemm_memory_time is None else mb_nongemm_memory_time
    kernels = (mb_flops_matmul + mb_flops_logits) / rate + mb_flops_attention / attn_rate \
        + memory_exposure * hbm_exposed
    mb_kernel = np.maximum(kernels, mb_time)
    t_tp = (1.0 - tp_overlap) * mb_tp_comm_time
    t_cp = (1.0 - cp_overlap) * mb_cp_comm_time
    t_ep = (1.0 - ep_overlap) * mb_ep_comm_time
    compute = micro_batches * mb_kernel
    # Sharded data parallelism, per layer (ZeRO >= 2 / FSDP): each collective hides under the
    # compute of the layer it runs behind. The collectives of a pass run one after another on
    # one communication stream, so a pass of L layers costs
    #   first collective + (L-1)·max(collective, compute) + last compute
    # and its exposed part is  c + (L-1)·max(0, c - η·compute)  (prefetch depth >= 1), L·c
    # without prefetch. Forward: the parameter gather (ZeRO 3); backward: gather + gradient
    # reduce-scatter, under 2x (3x with full recompute) the forward compute.
    n_layers = np.fmax(layers_per_stage if stage_layers is None else stage_layers, 1.0)
    fwd_units = 1.0 / where(recompute == "full", 4.0, 3.0)
    c_fwd = dp_overlap * fwd_units * mb_kernel / n_layers
    c_bwd = dp_overlap * (1.0 - fwd_units) * mb_kernel / n_layers
    prefetch = prefetch_depth >= 1

    def exposed_pass(gather, reduce_scatter, compute):
        """Exposed time of one pass over the stage's layers (s)."""
        per = gather + reduce_scatter
        pipelined = per + (n_layers - 1.0) * np.maximum(0.0, per - compute)
        serial = n_layers * gather + reduce_scatter + (n_layers - 1.0) * np.maximum(0.0, reduce_scatter - compute)
        # no collective: nothing exposed; a NaN collective (its link is missing) stays NaN, so the
        # step time is NaN and feasibility reports the link (``per > 0`` would read it as 0 s)
        return where(per <= 0, 0.0, where(prefetch, pipelined, serial))

    g_fwd = where(zero3_reshard == "step", 0.0, layer_gather_time)
    g_bwd = where(zero3_reshard == "forward", layer_gather_time, 0.0)
    t_dp_mb = exposed_pass(g_fwd, 0.0, c_fwd) + exposed_pass(g_bwd, layer_reduce_scatter_time, c_bwd)
    # kept gathers: one pass of gathers in the step's first forward
    once_z3 = where(zero3_reshard == "step", exposed_pass(layer_gather_time, 0.0, c_fwd), 0.0)
    # traffic run once per step: the gradient reduction hides under the last backward (ZeRO 0),
    # the parameter all-gather under the next step's first forward (ZeRO 1, 2)
    window = where(zero <= 0, 2.0 / 3.0, where(zero == 1, 1.0, 1.0 / 3.0))
    own = np.maximum(0.0, dp_comm_time - dp_overlap * window * mb_kernel)
    dp_exposed = micro_batches * t_dp_mb + own + once_z3
    t_mb = mb_kernel + t_tp + t_cp + t_ep + mb_pp_comm_time + t_dp_mb
    bubble = (pp - 1) / virtual_stages * t_mb
    opt = (2.0 * optimizer_memory + gradients_memory + weights_memory) / (hbm_efficiency * hbm_bandwidth)
    comm = micro_batches * (t_tp + t_cp + t_ep + mb_pp_comm_time)
    total = compute + comm + bubble + dp_exposed + opt

    code = where(bound == "memory", 1, 0)                  # index into LABELS; ints are cheap
    best = compute
    for i, term in enumerate((micro_batches * t_tp, micro_batches * t_cp, micro_batches * t_ep,
                              micro_batches * mb_pp_comm_time, bubble, dp_exposed, opt)):
        code = where(term > best, i + 2, code)
        best = np.maximum(best, term)
    label = choose(LABELS, code, _take)                    # int8 codes inside a stack (dsx.codes)
    return {"mb_kernel_time": mb_kernel, "step_time": total, "step_compute_time": compute, "step_comm_time": comm,
            "step_bubble_time": bubble, "step_dp_exposed_time": dp_exposed,
            "step_optimizer_time": opt, "bottleneck": label,
            "scaling_efficiency": compute / total}


#: (reason code, flag) in the order ``reason`` reports them: the layout's checks
#: (:data:`dsx.solvers.layout.LAYOUT_CHECKS`), then the interleaved schedule, memory, and the
#: links the layout's collectives need (a hardware row without a scale-up or scale-out link).
CHECKS = tuple(_layout.LAYOUT_CHECKS) + (("interleave_not_divisible", "ok_interleave"), ("oom", "ok_memory"),
                                         ("no_scale_up_link", "ok_scale_up_link"),
                                         ("no_scale_out_link", "ok_scale_out_link"))
_DERIVED = ("ok_interleave", "ok_scale_up_link", "ok_scale_out_link")  # computed by feasibility itself
_FLAGS = tuple(flag for _, flag in CHECKS if flag not in _DERIVED)


def _feasibility(micro_batches, step_time, scale_up_bandwidth, scale_out_bandwidth, pp, virtual_stages,
                 **flags):
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
feasibility = solver(("ok_interleave", "ok_scale_up_link", "ok_scale_out_link", "feasible", "reason"))(_feasibility)
