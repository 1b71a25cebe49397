"""The stacks: every solver composed, in order, in one visible place.

Reading this file shows the whole flow of data: inputs -> layout -> compute and memory ->
communication -> step time -> time to train (or serve) -> reliability -> energy, carbon,
water -> cost. Each step is a pure ``Dataset -> Dataset`` solver (``dsx.solvers``).
"""

from __future__ import annotations

from typing import Any

import xarray as xr

from .solvers import compute, data, economics, layout, memory, model, network, queueing, reliability
from .solvers import scaling, serving as serving_, serving_ops, sustainability, training
from .space import Space

__all__ = ["training", "serving", "evaluate", "TRAINING", "SERVING"]

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
    economics.operating_cost,     # energy at the region's price, maintenance, TCO, cloud alternative
)
#: Serving: prefill and decode per GPU -> capacity -> queueing -> energy, carbon, water -> cost.
SERVING: tuple = (
    model.model_shape,                 # parameter counts, KV width, attention cost
    serving_.serving_layout,           # GPUs per replica, context and generated lengths, layout checks
    memory.inference_memory,           # weights per GPU (+ unpaged KV, workspace, for information)
    serving_.kv_capacity,              # KV bytes per token, paged allocation, max_batch, offload
    serving_.serving_latency,          # prefill/decode roofline + TP/EP/PP comm, spec decoding -> TTFT, TPOT
    queueing.queueing,                 # Erlang C / Allen-Cunneen: utilization, tail latency, replicas_needed
    serving_ops.serving_operations,    # gpus, wall time, tokens_total, power_fraction for operations
    reliability.reliability,           # fleet MTBF
    sustainability.power,              # energy, energy_per_token
    sustainability.carbon_footprint,   # operational + embodied carbon
    sustainability.water_footprint,    # on-site + off-site water
    economics.capital,                 # capex, amortised share
    economics.operating_cost,          # opex, TCO, cost per million tokens
    serving_ops.serving_feasibility,   # ok_* flags -> feasible, reason
)


def _dataset(space: Space | xr.Dataset | None, options: dict[str, Any]) -> xr.Dataset:
    if isinstance(space, xr.Dataset):
        if options:
            return space.assign(Space(**options).to_dataset().data_vars)
        return space
    if space is None:
        space = Space(**options)
    elif options:
        space = space.replace(**options)
    return space.to_dataset()


def evaluate(steps: tuple, ds: xr.Dataset) -> xr.Dataset:
    """Run ``steps`` (solvers) over ``ds`` in order."""
    for step in steps:
        ds = step(ds)
    return ds


def training(space: Space | xr.Dataset | None = None, **options: Any) -> xr.Dataset:
    """Evaluate the training stack over every configuration of ``space`` at once.

    ``options`` are further inputs (scalars or lists), merged into the space.
    """
    return evaluate(TRAINING, _dataset(space, options))


def serving(space: Space | xr.Dataset | None = None, **options: Any) -> xr.Dataset:
    """Evaluate the serving stack over every configuration of ``space`` at once."""
    return evaluate(SERVING, _dataset(space, options))
