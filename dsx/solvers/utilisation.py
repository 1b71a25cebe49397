"""Training utilisation and duration: tokens per second, MFU/HFU and the time to train.

Split from :mod:`dsx.solvers.training` (step time, feasibility), which re-exports both solvers.
MFU follows one stated convention: model FLOPs (PaLM, Chowdhery et al. 2022 App. B) against the
dense 16-bit peak, the compute-precision (FP8) figure reported beside it.
"""

from __future__ import annotations

from .base import solver, where
from .quantities import unit
from .compute import TRAINING_ATTENTION_BYTES, attention_peak_fraction

__all__ = ["throughput", "time_to_train", "SECONDS_PER_DAY"]

SECONDS_PER_DAY = 86_400.0


@solver(("tokens_per_s", "tokens_per_s_per_gpu", "peak_flops_16bit", "mfu", "mfu_compute_peak", "hfu",
         "tflops_per_gpu"))
def throughput(tokens_per_step, step_time, model_flops_step, hardware_flops_step, peak_flops, gpus, mfu_peak,
               activation_bytes=2.0):
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
    activation_bytes : float or array
        Bytes of the compute precision (B); the 16-bit peak is ``peak · min(1, b/2)``
        (:func:`dsx.solvers.compute.attention_peak_fraction`: tensor-core peaks scale
        inversely with operand width). At 16 bit and wider it is the compute peak.
    mfu_peak : {"16bit", "compute"}
        Reference peak of ``mfu`` and ``hfu``.

    Returns
    -------
    dict
        ``tokens_per_s = B·s / T_step`` (not × GPUs), ``tokens_per_s_per_gpu``,
        ``mfu = C_model / (T_step · n · F_ref)``, ``hfu = C_hw / (T_step · n · F_ref)`` with
        ``F_ref`` the 16-bit peak (or the compute peak with ``mfu_peak="compute"``),
        ``mfu_compute_peak`` against the compute-precision peak ``F``, ``peak_flops_16bit``,
        ``tflops_per_gpu = C_model / (T_step · n)`` (flop/s, as the NeMo tables print it).

    References
    ----------
    Chowdhery et al. 2022 (PaLM) App. B; Korthikanti et al. 2022 §6.3; physics.md §2, §6.

    Examples
    --------
    >>> out = throughput.kernel(4e6, 2.0, 1.2e18, 1.6e18, 989e12, activation_bytes=2.0, gpus=1024)
    >>> float(out["tokens_per_s"]), round(float(out["mfu"]), 3), round(float(out["hfu"]), 3)
    (2000000.0, 0.592, 0.79)

    The same step in FP8 (1979 TFLOP/s peak): MFU against the 16-bit peak, the FP8 figure beside it

    >>> out = throughput.kernel(4e6, 2.0, 1.2e18, 1.6e18, 1979e12, activation_bytes=1.0, gpus=1024)
    >>> round(float(out["mfu"]), 3), round(float(out["mfu_compute_peak"]), 3)
    (0.592, 0.296)
    """
    tps = tokens_per_step / step_time
    per_gpu = step_time * gpus
    peak16 = peak_flops * attention_peak_fraction(activation_bytes, TRAINING_ATTENTION_BYTES * unit("B"))
    ref = where(mfu_peak == "compute", peak_flops, peak16)
    return {"tokens_per_s": tps, "tokens_per_s_per_gpu": tps / gpus, "peak_flops_16bit": peak16,
            "mfu": model_flops_step / (per_gpu * ref),
            "mfu_compute_peak": model_flops_step / (per_gpu * peak_flops),
            "hfu": hardware_flops_step / (per_gpu * ref),
            "tflops_per_gpu": model_flops_step / per_gpu}


@solver(("train_tokens", "time_to_train", "wall_time_ideal", "tokens_total"))
def time_to_train(tokens_per_s, train_tokens, days):
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
