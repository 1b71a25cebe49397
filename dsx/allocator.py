"""Keep freed memory for the next evaluation instead of handing it back to the OS (glibc only).

An evaluation allocates and frees tens of MB of temporaries. glibc's default returns the top
of its heap to the OS once more than ~2x the (adaptive) mmap threshold is free, and serves
blocks above that threshold with fresh ``mmap`` pages, so every call page-faults (and the
kernel zeroes) most of its working memory again: measured on the training benchmark space of
``benchmarks/bench_stacks.py`` (153,600 configurations, 2-core machine), 31.6 ms per call with
glibc's defaults, 24.3 ms with the settings below — a quarter of the time was page faults.

dsx therefore asks glibc, once, at its first evaluation, to serve blocks under
:data:`MMAP_BYTES` from its heap (``M_MMAP_THRESHOLD``) and to keep up to :data:`TRIM_BYTES`
of freed memory (``M_TRIM_THRESHOLD``). The cost: a process that used dsx may keep up to
128 MiB more resident after an evaluation, per malloc arena (threads that evaluate pieces, such
as dask's, can each have one), and glibc's adaptive mmap threshold is off for the whole
process. Set ``DSX_MALLOC=default`` to leave the allocator as it is; glibc's own
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` variables or ``glibc.malloc`` tunables
(``GLIBC_TUNABLES``), when set, are left to rule. Elsewhere (macOS, musl, Windows) nothing is
changed.
"""

from __future__ import annotations

import ctypes
import os
import platform

__all__ = ["retain_freed_memory", "MMAP_BYTES", "TRIM_BYTES"]

#: Blocks below this size come from glibc's heap, so they can be reused without page faults.
MMAP_BYTES = 32 * 2**20
#: Freed memory glibc keeps at the top of its heap before returning it to the OS.
TRIM_BYTES = 128 * 2**20

_M_TRIM_THRESHOLD = -1  # mallopt parameters, <malloc.h>
_M_MMAP_THRESHOLD = -3
_state: dict[str, bool] = {}


def retain_freed_memory() -> bool:
    """Apply the settings above once per process; True if glibc took them (also on later calls)."""
    if "applied" not in _state:
        _state["applied"] = _apply()
    return _state["applied"]


def _apply() -> bool:
    if os.environ.get("DSX_MALLOC", "").strip().lower() == "default":
        return False
    if any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")) \
            or "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return False  # the user tuned glibc already
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES))
