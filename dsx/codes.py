"""Categorical outputs (``reason``, ``bottleneck``, ``bound``, ...) as small integer codes.

A text output costs 4 bytes per character per configuration (``reason`` is ``<U27``: 108 B,
more than half of a training result) and a text ``where`` over a full-size array costs ~10x
an integer one. So every categorical output is stored as ``int8`` codes, labelled the CF way
(NetCDF Climate and Forecast conventions, section 3.5 "Flags"): ``flag_values`` (1, 2, ...) and
``flag_meanings`` (the labels, blank-separated); code 0 is the empty label (``""``: no
failing check). :func:`decode` turns them back into text wherever a result is shown (report,
JSON, tables, CSV, plots) and is what a user calls to compare with text::

    ds = dsx.decode(dsx.training(space))      # or ds.dsx.decode()
    ds.reason.sel(gpus=8) == "oom"

The labels of each categorical output are declared in :func:`tables`, derived from the
declared check lists (``training.CHECKS``, ``serving_ops.CHECKS``) and label tuples; a
kernel that emits a label not declared there fails with an error naming the output, the
label and where to declare it (``tests/test_codes.py`` runs every check).
"""

from __future__ import annotations

import contextvars
import functools
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["tables", "labels", "encode", "decode", "attrs", "is_coded", "Coded", "coded_mode"]

#: Inside a solver of a stack (``solver.compute``): helpers return :class:`Coded` codes instead of text.
coded_mode: contextvars.ContextVar[bool] = contextvars.ContextVar("dsx_coded_mode", default=False)

#: Labels of categorical outputs a kernel may emit beyond the declared check lists.
EXTRA: dict[str, tuple[str, ...]] = {}

_BOUNDS = ("compute", "memory")

#: The ``reason`` labels in code order (code = position + 1): a new check's code is appended
#: here, never inserted, so a stored result's codes keep their meaning. The order in which the
#: checks are *reported* is the stacks' own (``training.CHECKS``, ``serving_ops.CHECKS``) and
#: may put a new check anywhere. ``tests/test_codes.py`` pins this list.
REASONS = (
    "precision_unsupported", "model_parallel_exceeds_gpus", "gpus_not_divisible", "tp_exceeds_heads",
    "tp_not_dividing_heads", "pp_exceeds_layers", "layers_not_divisible", "ep_exceeds_experts",
    "experts_not_divisible", "dp_exceeds_batch", "batch_not_divisible", "context_exceeds_max",
    "interleave_not_divisible", "oom", "no_scale_up_link", "no_scale_out_link", "cnn_not_servable",
    "kv_does_not_fit", "batch_exceeds_kv_capacity", "unstable_queue", "not_computable",
    # appended (codes 22-): dp·micro_batch > global_batch split from dp_exceeds_batch; CP chunks
    "dp_micro_batch_exceeds_batch", "seq_not_divisible_by_cp",
)


@functools.lru_cache(maxsize=None)
def tables() -> dict[str, tuple[str, ...]]:
    """Every categorical output and its labels, code = position (code 0 is ``""``)."""
    from .solvers import outcomes, serving_ops, training

    def table(*groups: Any) -> tuple[str, ...]:
        out = [""]
        for group in groups:
            for label in group:
                if label not in out:
                    out.append(label)
        if len(out) > 127:
            raise RuntimeError(f"dsx.codes: {len(out)} labels do not fit in int8 codes")
        return tuple(out)

    reasons = [code for code, _ in training.CHECKS] + [code for code, _ in serving_ops.CHECKS]
    found = {
        "reason": table(REASONS, reasons, [outcomes.NOT_COMPUTABLE], EXTRA.get("reason", ())),
        "bottleneck": table(training.LABELS, EXTRA.get("bottleneck", ())),
        "bound": table(_BOUNDS), "prefill_bound": table(_BOUNDS), "decode_bound": table(_BOUNDS),
    }
    for name, extra in EXTRA.items():
        found.setdefault(name, table(extra))
    return found


def labels(name: str) -> tuple[str, ...] | None:
    """The labels of categorical output ``name`` (None: not categorical)."""
    return tables().get(name)


def attrs(name: str) -> dict[str, Any]:
    """CF flag attributes of ``name``: ``flag_values`` 1..k and ``flag_meanings`` (0 is ``""``)."""
    table = tables()[name]
    return {"flag_values": np.arange(1, len(table), dtype=np.int8), "flag_meanings": " ".join(table[1:])}


class Coded:
    """Codes into a label table, as a kernel helper returns them inside a stack (never text).

    Only the solver wrapper reads it: any arithmetic or ``where`` on it fails loudly, so a
    kernel cannot mix codes with text by accident.
    """

    __slots__ = ("codes", "table")

    def __init__(self, codes: Any, table: tuple[str, ...]) -> None:
        self.codes, self.table = codes, table

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a categorical code (first_reason/label) must be returned by the kernel as is; "
                        "combine checks inside first_reason instead of operating on its result")


def choose(table: tuple[str, ...], code: Any, text: Any = None) -> Any:
    """``table[code]`` elementwise: :class:`Coded` inside a stack, else text (``text(table, code)`` if given).

    ``code`` counts from 0 into ``table``; a ``table`` that does not start with ``""`` is
    stored with ``""`` in front (code 0 stays "no label").
    """
    if coded_mode.get():
        table = tuple(table)
        if table and table[0] == "":
            return Coded(np.asarray(code, dtype=np.int8), table)
        return Coded(np.asarray(code, dtype=np.int8) + np.int8(1), ("",) + table)
    if text is not None:
        return text(table, code)
    out = np.asarray(table)[np.asarray(code)]
    return out[()] if isinstance(out, np.ndarray) and out.ndim == 0 else out


def encode(name: str, value: Any, owner: str = "") -> np.ndarray:
    """``int8`` codes of ``value`` (text or :class:`Coded`) in the table of output ``name``."""
    table = tables()[name]
    if isinstance(value, Coded):
        if value.table == table:
            return np.asarray(value.codes, dtype=np.int8)
        remap = np.array([_position(table, label, name, owner) for label in value.table], dtype=np.int8)
        return remap[value.codes]
    arr = np.asarray(value)
    if arr.dtype.kind in "OS":
        arr = arr.astype(str)
    if arr.dtype.kind != "U":
        raise RuntimeError(f"{owner or 'dsx'}: output {name!r} is categorical; expected text or codes, "
                           f"got {arr.dtype}")
    if arr.size <= 64:
        flat = [_position(table, str(v), name, owner) for v in arr.ravel()]
        return np.array(flat, dtype=np.int8).reshape(arr.shape)
    order = np.argsort(np.asarray(table))
    ranked = np.asarray(table)[order]
    at = np.minimum(np.searchsorted(ranked, arr), len(table) - 1)
    found = ranked[at] == arr
    if not found.all():
        _position(table, str(arr[~found].ravel()[0]), name, owner)  # raises with the label
    return order.astype(np.int8)[at]


def _position(table: tuple[str, ...], label: str, name: str, owner: str) -> int:
    try:
        return table.index(label)
    except ValueError:
        raise RuntimeError(
            f"{owner or 'dsx'}: output {name!r} has label {label!r}, which is not declared; declare it in the "
            f"check list that emits it (training.CHECKS, serving_ops.CHECKS) or in dsx.codes.EXTRA[{name!r}]"
        ) from None


def is_coded(var: Any) -> bool:
    """Whether ``var`` (Variable or DataArray) holds codes with CF flag labels."""
    return "flag_meanings" in var.attrs and var.dtype.kind in "iu"


def decode_variable(var: xr.Variable) -> xr.Variable:
    """The text of a coded Variable (``""`` for code 0 or any code its attrs do not list)."""
    values = np.asarray(var.attrs.get("flag_values", []), dtype=np.int64).ravel()
    meanings = str(var.attrs.get("flag_meanings", "")).split()
    top = int(max(values.max(initial=0), 0))
    lookup = np.full(top + 2, "", dtype=f"<U{max([len(m) for m in meanings] + [1])}")
    lookup[values] = meanings
    codes = np.asarray(var.values).astype(np.int64)
    text = lookup[np.where((codes >= 0) & (codes <= top), codes, top + 1)]
    return xr.Variable(var.dims, text, _plain(var.attrs))


def _plain(attrs: dict) -> dict:
    return {k: v for k, v in attrs.items() if k not in ("flag_values", "flag_meanings")}


def decode(obj: Any) -> Any:
    """``obj`` (Dataset or DataArray) with every coded categorical variable as text; others unchanged."""
    if isinstance(obj, xr.DataArray):
        if not is_coded(obj):
            return obj
        return xr.DataArray(decode_variable(obj.variable), coords=obj.coords, name=obj.name)
    if not isinstance(obj, xr.Dataset):
        return obj
    coded = [n for n, v in obj.variables.items() if is_coded(v)]
    if not coded:
        return obj
    if any(getattr(obj.variables[n], "chunks", None) for n in coded):  # lazy: decode piece by piece
        return obj.assign({n: xr.apply_ufunc(_decode_block, obj[n], dask="parallelized",
                                             kwargs={"attrs": dict(obj[n].attrs)},
                                             output_dtypes=[f"<U{_width(obj[n].attrs)}"],
                                             keep_attrs=False).assign_attrs(_plain(obj[n].attrs))
                           for n in coded})
    return obj.assign({n: decode_variable(obj.variables[n]) for n in coded})


def _width(attrs: dict) -> int:
    return max([len(m) for m in str(attrs.get("flag_meanings", "")).split()] + [1])


def _decode_block(codes: np.ndarray, attrs: dict) -> np.ndarray:
    return decode_variable(xr.Variable(tuple(f"d{i}" for i in range(np.ndim(codes))), codes, attrs)).values
