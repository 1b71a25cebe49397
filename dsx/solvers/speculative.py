"""Serving-specific kernels: speculative decoding, paged KV, weight offload, and the plumbing
that runs :func:`dsx.solvers.compute.inference_compute` on a serving workload.

Small formulas used by :mod:`dsx.solvers.serving`, kept apart so that each stays short
and separately tested. All work on floats, numpy arrays and DataArrays.

References
----------
Leviathan, Kalman, Matias 2023, "Fast Inference from Transformers via Speculative
Decoding", ICML, Eq. 1 and Theorem 3.8. Kwon et al. 2023, "Efficient Memory Management
for Large Language Model Serving with PagedAttention" (vLLM), SOSP, §4 (block tables;
``block_size`` 16 and ``gpu_memory_utilization`` 0.9 are vLLM's ``EngineArgs`` defaults).
Sheng et al. 2023, "FlexGen", ICML (weights streamed from host memory, overlapped with
compute).
"""

from __future__ import annotations

import inspect

import numpy as np

from .base import INPUTS, where
from .quantities import unit
from .compute import inference_compute
from .model import model_shape

__all__ = ["DRAFT_COLUMNS", "spec_tokens_per_step", "spec_speedup", "paged_tokens", "offload_stream_time"]




def spec_tokens_per_step(acceptance, draft_tokens):
    """Expected tokens emitted per target (verify) step of speculative decoding.

    ``E = (1 − α^{γ+1}) / (1 − α)`` for i.i.d. acceptance ``α``, ``γ + 1`` at ``α = 1``,
    and exactly 1 when no tokens are drafted (``γ = 0``).

    Parameters
    ----------
    acceptance : float or array
        Per-token acceptance rate ``α`` in [0, 1].
    draft_tokens : float or array
        Draft tokens proposed per step ``γ`` (≥ 0).

    Returns
    -------
    float or array
        Tokens per target step (token), in [1, γ+1].

    References
    ----------
    Leviathan et al. 2023, Eq. 1.

    >>> round(float(spec_tokens_per_step(0.8, 4)), 4)
    3.3616
    >>> float(spec_tokens_per_step(1.0, 4)), float(spec_tokens_per_step(0.7, 0))
    (5.0, 1.0)
    """
    a = np.minimum(np.maximum(acceptance, 0.0), 1.0)
    near_one = a > 1.0 - 1e-12
    a_s = where(near_one, 0.5, a)
    one = unit("token")
    e = (1.0 - a_s ** (draft_tokens / one + 1.0)) / (1.0 - a_s)
    return where(near_one, draft_tokens + one, e * one)


def spec_speedup(acceptance, draft_tokens, cost_ratio):
    """Wall-time improvement factor of speculative decoding (Leviathan Theorem 3.8).

    ``(1 − α^{γ+1}) / ((1 − α)(γ c + 1))`` with ``c`` = draft step / target step time.

    >>> round(float(spec_speedup(0.8, 4, 0.05)), 3)
    2.801
    """
    return spec_tokens_per_step(acceptance, draft_tokens) / (draft_tokens * cost_ratio + 1.0)


def paged_tokens(tokens, page_size):
    """Tokens of KV actually allocated by a paged cache: ``P ⌈s / P⌉`` (token).

    >>> float(paged_tokens(2049, 16)), float(paged_tokens(2048, 16))
    (2064.0, 2048.0)
    """
    return page_size * np.ceil(tokens / page_size)


def offload_stream_time(offloaded_bytes, host_bandwidth, link_efficiency):
    """Time to stream the off-device weight bytes of one forward pass over the host link.

    Parameters
    ----------
    offloaded_bytes : float or array
        Weight bytes per GPU that live in host memory (B).
    host_bandwidth : float or array
        Host link bandwidth per direction per GPU (B/s).
    link_efficiency : float or array
        Achieved fraction of it.

    Returns
    -------
    float or array
        Seconds per forward pass (overlapped with compute, FlexGen-style, by the caller).

    >>> offload_stream_time(64e9, 64e9, 0.8)
    1.25
    """
    return offloaded_bytes / (host_bandwidth * link_efficiency)


# -- the draft model and the compute kernel on a serving workload -------------------------------
#: Catalog columns of the draft model (``spec_draft_model``), joined into a space as ``draft_<column>``:
#: the architecture parameters of :func:`dsx.solvers.model.model_shape`.
DRAFT_COLUMNS = tuple(p for p in inspect.signature(model_shape.kernel).parameters if p not in INPUTS)


def _compute(kw: dict, **override):
    """:func:`inference_compute` on the variables in ``kw`` with some of them replaced."""
    args = {k: kw[k] for k in inspect.signature(inference_compute.kernel).parameters if k != "weight_stream_efficiency" or k in kw}
    args.update(override)
    return inference_compute.kernel(**args)


def _draft(columns: dict):
    """Model shape and compute arguments of the draft model, or None without one.

    ``columns``: the draft's catalog columns by bare name (:data:`DRAFT_COLUMNS`), None where absent.
    """
    if columns.get("layers") is None:
        return None
    cols = {c: v for c, v in columns.items() if v is not None}
    shape = model_shape.kernel(**cols, cnn_activation_elements=0.0)
    return {**shape, "arch": cols["arch"], "experts": cols.get("experts", 0.0),
            "experts_per_token": cols.get("experts_per_token", 0.0), "kv_heads": cols["kv_heads"],
            "attention": cols.get("attention", "gqa"), "tied_embeddings": cols.get("tied_embeddings", False)}
