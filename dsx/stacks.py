"""The stacks: every solver composed, in order, in one visible place.

Reading this file shows the whole flow of data: inputs -> layout -> compute and memory ->
communication -> step time -> time to train (or serve) -> reliability -> energy, carbon,
water -> cost. Each step is a pure ``Dataset -> Dataset`` solver (``dsx.solvers``).
"""

from __future__ import annotations

import functools
import os
import warnings
from typing import Any, Callable

import numpy as np
import xarray as xr

from . import allocator
from .errors import DsxInputError, did_you_mean
from .fastds import build
from .prune import prune
from .lazy import evaluate_lazy
from .store import write_store
from .progress import Progress

from .solvers import compute, data, economics, layout, memory, model, network, outcomes, queueing, reliability
from .solvers import scaling, serving as serving_, serving_ops, sustainability, training
from .solvers.base import INPUTS, Namespace
from .space import Space
from . import uncertainty

__all__ = ["training", "serving", "evaluate", "chunked", "split_axes", "TRAINING", "SERVING"]

#: Training: one optimizer step per GPU -> the job -> failures -> energy, carbon, water -> cost.
TRAINING: tuple = (
    model.model_shape,            # parameter counts, KV width, attention cost from the architecture
    layout.layout,                # dp, micro-batches, tokens per step, layout checks
    compute.training_compute,     # per-GPU FLOPs/bytes of a micro-batch, roofline
    memory.training_memory,       # per-GPU weights, gradients, optimizer, activations
    network.communication,        # TP/CP/EP/PP per micro-batch, DP/ZeRO-3 per step, on the placed network
    training.step_time,           # (m + (p-1)/v)(t_f + t_b) + exposed DP + optimizer; breakdown, bottleneck
    training.throughput,          # tokens/s, MFU, HFU
    training.time_to_train,       # train_tokens (or days) -> failure-free time to train
    training.feasibility,         # ok_* flags -> feasible, reason
    data.data_pipeline,           # token bytes demanded vs storage bandwidth
    scaling.scaling_law,          # 6ND budget, Chinchilla-optimal N and D, predicted loss
    reliability.reliability,      # fleet MTBF from the all-cause interruption rate
    reliability.checkpointing,    # checkpoint size, write time, Daly interval
    reliability.job_goodput,      # goodput (checkpoints, restarts, lost work) -> wall time
    sustainability.power,         # whole-node power -> IT and facility energy
    sustainability.carbon_footprint,  # operational (grid) + embodied carbon
    sustainability.water_footprint,   # on-site (WUE) + off-site (generation) water
    economics.capital,            # all-in capex, this job's amortised share
    economics.rental_price,       # listed rental price of the hardware at the chosen cloud and tier
    economics.operating_cost,     # energy at the region's price, maintenance, TCO, cloud alternative
    outcomes.finite_outcomes,     # a feasible configuration with a NaN core outcome -> not_computable
    outcomes.mask_infeasible,     # outcomes (time, throughput, energy, carbon, cost) NaN where infeasible
)
#: Serving: prefill and decode per GPU -> capacity -> queueing -> energy, carbon, water -> cost.
SERVING: tuple = (
    model.model_shape,                 # parameter counts, KV width, attention cost
    serving_.serving_layout,           # GPUs per replica, context and generated lengths, layout checks
    memory.inference_memory,           # weights per GPU (+ unpaged KV, workspace, for information)
    serving_.kv_capacity,              # KV bytes per token, paged allocation, max_batch, offload
    serving_.serving_latency,          # prefill/decode roofline + TP/EP/PP comm, spec decoding -> TTFT, TPOT
    serving_ops.deployment,            # gpus (the deployment size) -> replicas = gpus/(tp·pp), or replicas -> gpus
    queueing.queueing,                 # Erlang C / Allen-Cunneen: utilization, tail latency, replicas_needed
    serving_ops.serving_operations,    # wall time, tokens_total, power_fraction for operations
    reliability.reliability,           # fleet MTBF
    sustainability.power,              # energy, energy_per_token
    sustainability.carbon_footprint,   # operational + embodied carbon
    sustainability.water_footprint,    # on-site + off-site water
    economics.capital,                 # capex, amortised share
    economics.rental_price,            # listed rental price at the chosen cloud and tier
    economics.operating_cost,          # opex, TCO, cost per million tokens
    serving_ops.serving_feasibility,   # ok_* flags -> feasible, reason
    outcomes.finite_outcomes,          # a feasible configuration with a NaN core outcome -> not_computable
    outcomes.mask_infeasible,          # outcomes (latency, throughput, energy, carbon, cost) NaN where infeasible
)


#: Below this many bytes per configuration-draw at half the free memory, a space runs at once
#: unmeasured (the whole training stack peaks at ~330 B, serving ~370 B: dsx.footprint).
CHEAP_BOUND = 2048
#: Spaces bounded by this many bytes (CHEAP_BOUND each) run without reading the free memory.
UNCHECKED = 2**26


def _available_memory() -> float:
    """Memory a new allocation can use: MemAvailable (free + reclaimable page cache) on Linux.

    Free pages alone (``SC_AVPHYS_PAGES``) undercount on any machine that has read files
    recently, and refused spaces that fit.
    """
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8e9


def _outputs(steps: tuple, outputs: Any) -> set[str]:
    """The requested output names, each one a variable some step of the stack provides."""
    names = [outputs] if isinstance(outputs, str) else list(outputs)
    from .space import KEYS, _catalog_columns

    known = ({n for step in steps for n in getattr(step, "outputs", {})} | set(INPUTS) | set(KEYS)
             | set(_catalog_columns()))
    bad = [n for n in names if not isinstance(n, str) or n not in known]
    if bad:
        raise DsxInputError(f"outputs: {bad[0]!r} is not a variable this stack computes"
                            f"{did_you_mean(str(bad[0]), known)}")
    return set(names)


def _guard(steps: tuple, space: Space, keep: set[str] | None, draws: int) -> int:
    """The configuration-draws to evaluate ``space`` with at once: all, or a refusal with advice that fits.

    (A ``store=`` or ``chunks=`` run never gets here: :mod:`dsx.lazy` sizes its own pieces.)
    """
    from . import footprint

    if space.size * draws * CHEAP_BOUND <= UNCHECKED:  # no need to read the free memory
        return space.size * draws
    budget = 0.5 * _available_memory()
    if space.size * draws * CHEAP_BOUND <= budget:
        return space.size * draws
    fp = footprint.measure(lambda sp: evaluate(steps, sp.to_dataset()), space, keep, draws)
    return footprint.plan(fp, space, keep, budget, split_axes)


def _space(space: Space | None, options: dict[str, Any]) -> Space:
    if space is None:
        return Space(**options)
    if not isinstance(space, Space):
        raise DsxInputError(f"the first argument must be a dsx.Space (or an input Dataset), got "
                            f"{type(space).__name__} {space!r:.60}; e.g. dsx.training(dsx.Space(gpus=[8, 16]))")
    return space.replace(**options) if options else space


def evaluate(steps: tuple, ds: xr.Dataset) -> xr.Dataset:
    """Run ``steps`` (solvers) over ``ds`` in order; the result Dataset is built once.

    Solvers (``@solver``) add their variables to one :class:`~dsx.solvers.base.Namespace`;
    a plain ``Dataset -> Dataset`` step is also allowed: it sees only the variables it names in
    ``step.uses`` (cheap), or else the whole Dataset so far.
    """
    allocator.retain_freed_memory()  # once per process: temporaries reused, not page-faulted again
    ns = Namespace(ds)
    for step in steps:
        # a solver's compute, or a plain step's own version on the Namespace (serving_ops.deployment)
        compute = getattr(step, "compute", None) or getattr(step, "on_namespace", None)
        if compute is not None:
            ns.update(compute(ns))
        elif getattr(step, "uses", None) is not None:  # a plain step on the few variables it names
            names = [n for n in step.uses if n in ns.variables]
            coords = {d: ns.variables[d] for d in ns.dims if d in ns.variables}  # keeps the dims' order
            small = build(coords, {n: ns.variables[n] for n in names if n not in coords})
            out = step(small)
            new = {n: out.variables[n] for n in out.variables if n in out.data_vars or n in names}
            ns.give(new.values())
            ns.update(new)  # (what a plain step returns may be held elsewhere: never written in place)
        else:
            ns = Namespace(step(ns.to_dataset()))
    return ns.to_dataset()


def split_axes(axes: dict[str, Any], chunk_size: int) -> dict[str, int]:
    """How to cut a space into pieces of at most ``chunk_size`` configurations.

    The longest axes are cut first, each only as finely as needed: ``{axis: step}`` (values
    per piece along ``axis``), as many axes as it takes — one axis when a slice of it fits,
    more when even one value of the longest axis holds more than ``chunk_size``.

    >>> split_axes({"gpus": range(100), "tp": range(4), "model": range(3)}, 60)
    {'gpus': 5}
    >>> split_axes({"gpus": range(4), "tp": range(4), "model": range(3)}, 2)
    {'gpus': 1, 'tp': 1, 'model': 2}
    """
    size = int(np.prod([len(v) for v in axes.values()])) if axes else 1
    steps: dict[str, int] = {}
    for name in sorted(axes, key=lambda k: len(axes[k]), reverse=True):
        if size <= chunk_size:
            break
        n = len(axes[name])
        rest = size // n                      # configurations per value of this axis
        steps[name] = min(max(chunk_size // rest, 1), n)
        size = rest * steps[name]
    return steps


def chunked(run: Callable[[Space], xr.Dataset], space: Space, chunk_size: int,
            finish: Callable[[xr.Dataset], xr.Dataset] | None = None, progress: bool = False,
            label: str = "dsx") -> xr.Dataset:
    """Evaluate ``space`` in pieces of at most ``chunk_size`` configurations and concatenate them.

    The in-memory path (no dask needed) of ``dsx run`` and of the deprecated ``chunk_size=``:
    the pieces are cut along as many axes as needed (:func:`split_axes`), so memory stays
    bounded by one piece plus what ``finish`` keeps of each (e.g. a few outputs). Results
    larger than memory go through ``chunks=`` and ``store=`` (:mod:`dsx.lazy`, :mod:`dsx.store`).
    """
    finish = finish or (lambda ds: ds)
    axes = space.axes
    steps = split_axes(axes, chunk_size) if space.size > chunk_size else {}
    cuts = [(name, [axes[name][i:i + step] for i in range(0, len(axes[name]), step)]) for name, step in steps.items()]
    bar = Progress(int(np.prod([len(c) for _, c in cuts])) if cuts else 1, label, progress)

    def evaluate_piece(sub: Space, level: int) -> xr.Dataset:
        if level == len(cuts):
            ds = finish(run(sub))
            bar.update()
            return ds
        name, values = cuts[level]
        parts = [evaluate_piece(sub.replace(**{name: v}), level + 1) for v in values]  # a handful per axis
        if len(parts) == 1:
            return parts[0]
        return xr.concat(parts, dim=name, data_vars="minimal", coords="minimal", compat="override",
                         combine_attrs="override")

    ds = evaluate_piece(space, 0)
    return ds.transpose(*[d for d in axes if d in ds.dims], ...) if cuts else ds  # the space's axis order


def evaluate_space(steps: tuple, sample: Callable[[xr.Dataset], xr.Dataset], space: Space) -> xr.Dataset:
    """Run ``steps`` over the (drawn) input Dataset of ``space``: one piece of a lazy evaluation."""
    return evaluate(steps, sample(space.to_dataset()))


def _run(steps: tuple, space: Space | xr.Dataset | None, options: dict[str, Any], outputs: list[str] | None,
         chunk_size: int | None, progress: bool, label: str, store: Any = None,
         chunks: Any = None, draws: int | None = None, seed: int | None = None,
         calibration: Any = None, mask_infeasible: bool = True) -> xr.Dataset:
    if not isinstance(mask_infeasible, (bool, np.bool_)):
        raise DsxInputError(f"mask_infeasible={mask_infeasible!r}: expected True or False")
    if not mask_infeasible:  # the raw values of infeasible configurations, for those who want them
        steps = tuple(step for step in steps if step is not outcomes.mask_infeasible)
    if isinstance(space, xr.Dataset):  # an input dataset built elsewhere (sensitivity, synthesis)
        ds = space.assign(Space(**options).to_dataset().data_vars) if options else space
        return evaluate(steps, uncertainty.sampler(steps, None, draws, seed, calibration)(ds))
    space = _space(space, options)
    sample = uncertainty.sampler(steps, space, draws, seed, calibration)  # identity without draws
    keep = None if outputs is None else _outputs(steps, outputs) | {"feasible", "reason"}
    if keep is not None:  # only the solvers the outputs need (the draws above still see the whole stack)
        steps = prune(steps, keep)
    if chunk_size is not None:
        chunks = _deprecated_chunk_size(chunk_size, chunks, space, sample.draws, store)

    def finish(ds: xr.Dataset) -> xr.Dataset:
        return ds if keep is None else ds.drop_vars([v for v in ds.data_vars if v not in keep])

    if chunks is not None or store is not None:  # lazy; a store is written by the tasks (one writer)
        lazy = finish(evaluate_lazy(functools.partial(evaluate_space, steps, sample), space,
                                    "auto" if chunks is None else chunks))
        return lazy if store is None else write_store(lazy, store, progress=progress, label=label)

    if chunk_size is None:  # the memory guard: bytes measured for these outputs (dsx.footprint)
        chunk_size = _guard(steps, space, keep, sample.draws)
    # with draws, a chunk holds chunk_size configuration-draws (memory is what it bounds)
    return chunked(lambda sp: evaluate(steps, sample(sp.to_dataset())), space, max(chunk_size // sample.draws, 1),
                   finish, progress, label)


def _deprecated_chunk_size(chunk_size: Any, chunks: Any, space: Space, draws: int, store: Any) -> Any:
    """``chunk_size=`` (deprecated): checked, warned about, and mapped onto ``chunks=`` for a store.

    Without ``store`` the in-memory pieces stay (:func:`chunked`: the same result, no dask
    needed); with ``store`` the same cut becomes ``chunks=`` and the one writer, :mod:`dsx.store`.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise DsxInputError(f"chunk_size={chunk_size!r}: expected a whole number of configurations >= 1 "
                            "(chunk_size= is deprecated: use chunks='auto' or chunks={axis: n})")
    if chunks is not None:
        raise DsxInputError("chunks=: give chunks= or chunk_size=, not both (chunks= replaces chunk_size=)")
    per = max(int(chunk_size) // draws, 1)  # chunk_size counted configuration-draws
    cut = split_axes(space.axes, per) if space.size > per else {}
    warnings.warn(f"chunk_size= is deprecated and will be removed; use chunks={cut!r} (the same pieces, "
                  "a lazy result: .compute() gives it in memory) or chunks='auto'", FutureWarning, stacklevel=4)
    return cut if store is not None else None


def training(space: Space | xr.Dataset | None = None, *, outputs: list[str] | None = None,
             chunk_size: int | None = None, progress: bool = False, store: Any = None,
             chunks: Any = None, draws: int | None = None, seed: int | None = None,
             calibration: Any = None, mask_infeasible: bool = True, **options: Any) -> xr.Dataset:
    """Evaluate the training stack over every configuration of ``space`` at once.

    Parameters
    ----------
    space : Space or xr.Dataset, optional
        The design space (or an input Dataset from ``Space.to_dataset()``).
    outputs : list of str, optional
        Keep only these result variables (plus ``feasible`` and ``reason``).
    chunk_size : int, optional
        Deprecated (a ``FutureWarning`` names the replacement): use ``chunks=``. Still
        evaluates in pieces of at most this many configurations (:func:`split_axes`) and
        returns them concatenated in memory; with ``store=`` it is mapped onto the same
        ``chunks=`` cut. Without ``chunks=``, a space too large for memory is refused with an
        estimate and a ``chunks=`` example that runs as written.
    progress : bool
        Show a progress bar on stderr while pieces run (chunk_size=, store=).
    store : path, optional
        Write the result into this zarr store from the tasks (:mod:`dsx.store`: one task per
        piece of ``chunks=``, default ``"auto"``; resumable, atomic) and return it opened
        lazily (dask-backed) — for spaces larger than memory. Needs ``pip install 'dsx[dask]'``.
    chunks : "auto" or mapping, optional
        Return at once a lazy, dask-backed result: one task per piece of the space, run by
        whatever dask scheduler is active (threads, processes, a ``dask.distributed``
        cluster). ``"auto"`` picks pieces that fit a task's memory, split along the axes the
        heavy variables carry; a mapping sets piece lengths (``{"gpus": 1}``). ``dsx.best``
        and ``dsx.pareto`` on such a result reduce each piece where it is computed. With
        ``store=``, each task writes its piece into the zarr store (resumable: a killed run
        leaves only dsx's marked ``.partial``, and the same call again finishes it).
    draws : int, optional
        Monte Carlo draws of the uncertain inputs (:mod:`dsx.uncertainty`): results gain a
        ``draw`` dimension where they depend on one. Default: none, or 200 when the space
        holds a distribution (``dsx.normal(...)``) or a calibration is given.
    seed : int, optional
        Seed of the draws (default 0; equal seeds give equal draws).
    calibration : mapping or Dataset, optional
        Fitted factors ``{factor: (value, stderr)}`` (or ``dsx.calibrate``'s result): drawn as
        ``normal(value, stderr)`` instead of the registry's spread.
    mask_infeasible : bool
        True (default): the outcomes of an infeasible configuration (time, throughput, MFU,
        energy, carbon, water, cost: :data:`dsx.solvers.outcomes.OUTCOMES`) are NaN, so no
        ``min``/``argmin`` can pick it; distances such as ``memory_per_gpu`` stay finite.
        False: the raw values everywhere (``feasible`` and ``reason`` still say which run).
    **options
        Further inputs (scalars or lists), merged into the space.
    """
    return _run(TRAINING, space, options, outputs, chunk_size, progress, "dsx.training", store,
                chunks, draws, seed, calibration, mask_infeasible)


def serving(space: Space | xr.Dataset | None = None, *, outputs: list[str] | None = None,
            chunk_size: int | None = None, progress: bool = False, store: Any = None,
            chunks: Any = None, draws: int | None = None, seed: int | None = None,
            calibration: Any = None, mask_infeasible: bool = True, **options: Any) -> xr.Dataset:
    """Evaluate the serving stack over every configuration of ``space`` at once (see :func:`training`).

    ``gpus`` in a serving space is the size of the whole deployment: it sets
    ``replicas = gpus / gpus_per_replica`` (``gpus_not_divisible`` where it does not divide),
    and the queueing and SLA checks use those replicas. Give ``gpus`` or ``replicas``, not both.
    """
    return _run(SERVING, space, options, outputs, chunk_size, progress, "dsx.serving", store,
                chunks, draws, seed, calibration, mask_infeasible)
