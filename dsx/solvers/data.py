"""Data pipeline: token bytes the fleet reads per second versus what storage delivers.

Token ids are stored as ``uint16`` when the vocabulary fits (``V < 65,500``) and as
``int32`` otherwise (NVIDIA/Megatron-LM ``megatron/core/datasets/indexed_dataset.py``,
``DType.optimal_dtype``), so a Llama-3 (128K vocabulary) run reads 4 B per token. Demand is
the whole fleet's: ``B·s`` tokens per step (only the data-parallel replicas read distinct
data), over the step time (physics.md §3).
"""

from __future__ import annotations

from .base import solver, where
from .quantities import unit

__all__ = ["data_pipeline", "token_bytes"]

#: Largest vocabulary Megatron-LM stores as uint16 (``DType.optimal_dtype``: ``< 65500``).
UINT16_VOCAB_LIMIT = 65_500


def token_bytes(vocab):
    """Bytes per stored token id: 2 (uint16) if ``vocab < 65,500`` else 4 (int32).

    Parameters
    ----------
    vocab : int or array
        Vocabulary size.

    Returns
    -------
    float or array
        B per token.

    References
    ----------
    NVIDIA/Megatron-LM ``megatron/core/datasets/indexed_dataset.py`` (``DType.optimal_dtype``).

    Examples
    --------
    >>> float(token_bytes(50_257)), float(token_bytes(128_256))
    (2.0, 4.0)
    """
    return where(vocab < UINT16_VOCAB_LIMIT, 2.0, 4.0)


@solver(("data_demand", "data_supply", "data_utilization", "data_stalled"))
def data_pipeline(vocab, tokens_per_step, step_time, storage_bandwidth):
    """Input-pipeline demand of a training job against its storage bandwidth.

    Parameters
    ----------
    vocab : int or array
        Vocabulary size (sets bytes per token, see :func:`token_bytes`).
    tokens_per_step : float or array
        Tokens per optimizer step over the whole job, ``B·s`` (token).
    step_time : float or array
        Step time (s).
    storage_bandwidth : float
        Fleet-wide storage read bandwidth (B/s).

    Returns
    -------
    dict
        ``data_demand`` = ``bytes/token · B·s / T_step`` (B/s); ``data_supply`` (B/s);
        ``data_utilization`` = demand / supply; ``data_stalled`` = utilization > 1.

    References
    ----------
    physics.md §3 (data loading); Megatron-LM ``indexed_dataset.py``.

    Examples
    --------
    Llama-3 vocabulary, 1,024 × 8,192 tokens per 10 s step:

    >>> out = data_pipeline.kernel(128_256, 1024 * 8192, 10.0, 7e9)
    >>> float(out["data_demand"]), bool(out["data_stalled"])
    (3355443.2, False)
    """
    demand = token_bytes(vocab) * unit("B/token") * tokens_per_step / step_time
    util = demand / storage_bandwidth
    return {"data_demand": demand, "data_supply": storage_bandwidth,
            "data_utilization": util, "data_stalled": util > 1.0}
