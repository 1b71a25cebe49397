"""Generate the layout table of ``docs/layouts-70b.md`` and the figures its prose quotes.

    python benchmarks/layouts_70b.py            # print the table and the figures
    python benchmarks/layouts_70b.py --write    # also replace the table in docs/layouts-70b.md

Llama-3.1-70B on 1,024 H100, bf16, sequence 8,192, global batch 512 (the NeMo Llama 3 70B
pre-training recipe's batch), searched over ``zero`` x ``tp`` x ``pp`` x ``cp`` x ``virtual_stages`` x
``recompute`` x ``micro_batch`` with every other input at its default; the best layout per row by
``dsx.analysis.best(minimize="step_time")``. ``tests/test_layouts_doc.py`` checks that the page
holds the table this script prints.
"""

from __future__ import annotations

import sys
from pathlib import Path

import dsx
from dsx.analysis import best

DOC = Path(__file__).resolve().parents[1] / "docs" / "layouts-70b.md"
OVER = ["zero", "tp", "pp", "cp", "virtual_stages", "recompute", "micro_batch"]
INCLUDE = ["mfu", "step_compute_time", "step_comm_time", "step_bubble_time", "step_dp_exposed_time",
           "memory_per_gpu"]
HEADER = ("| layout | ZeRO | TP | PP | CP | v | recompute | micro-batch | step (s) | MFU | compute (s) | "
          "TP/CP/PP comm (s) | bubble (s) | DP exposed (s) | memory (GB) |")
#: (label, selection) of the table's rows, in order
ROWS = [
    ("best overall", {}),
    ("best with ZeRO-1 = the NeMo recipe", {"zero": 1}),
    ("best with ZeRO-3", {"zero": 3}),
    ("best with ZeRO-0 (plain all-reduce)", {"zero": 0}),
    ("ZeRO-3 + TP 8 (torchtitan's 2D layout)", {"zero": 3, "tp": 8, "pp": 1}),
    ("ZeRO-3 + TP 2 (least model parallelism the batch allows)", {"zero": 3, "tp": 2, "pp": 1}),
]


def space(**overrides):
    """The searched Dataset (2,304 layouts, one evaluation)."""
    kw = dict(model="llama-3.1-70b", hardware="H100", precision="bf16", gpus=1024, seq_len=8192,
              global_batch=512, zero=[0, 1, 2, 3], tp=[1, 2, 4, 8], pp=[1, 2, 4, 8], cp=[1, 2],
              virtual_stages=[1, 5], recompute=["none", "selective", "full"], micro_batch=[1, 2, 4])
    kw.update(overrides)
    return dsx.training(**kw)


def pick(ds, selection):
    """The fastest feasible layout within ``selection`` (a dict of fixed inputs)."""
    sub = ds.sel(selection) if selection else ds
    return best(sub, minimize="step_time", over=[k for k in OVER if k not in selection], include=INCLUDE)


def _value(b, name):
    return b[name].values.item()


def table(ds=None) -> str:
    """The markdown table of docs/layouts-70b.md."""
    ds = space() if ds is None else ds
    lines = [HEADER, "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for label, selection in ROWS:
        b = pick(ds, selection)
        layout = [str(selection.get(k, _value(b, k) if k in b else "")) for k in OVER]
        lines.append(f"| {label} | " + " | ".join(layout) + " | "
                     f"{_value(b, 'step_time'):.2f} | {_value(b, 'mfu'):.1%} | {_value(b, 'step_compute_time'):.2f} | "
                     f"{_value(b, 'step_comm_time'):.2f} | {_value(b, 'step_bubble_time'):.2f} | {_value(b, 'step_dp_exposed_time'):.2f} | "
                     f"{_value(b, 'memory_per_gpu') / 1e9:.0f} |")
    return "\n".join(lines)


def figures(ds=None) -> dict[str, float]:
    """The figures the page's prose quotes, recomputed."""
    ds = space() if ds is None else ds
    out = {}
    z1 = ds.sel(zero=1, tp=4, pp=2, cp=1, virtual_stages=5, recompute="none", micro_batch=1)
    out["zero1_tp4_pp2_weights_GB"] = float(z1.weights_memory) / 1e9
    out["zero1_tp4_pp2_gradients_GB"] = float(z1.gradients_memory) / 1e9
    out["zero1_tp4_pp2_activations_GB"] = float(z1.activation_memory) / 1e9
    out["zero1_tp4_pp2_memory_GB"] = float(z1.memory_per_gpu) / 1e9
    full = ds.sel(zero=1, tp=4, pp=2, cp=1, virtual_stages=5, recompute="full", micro_batch=1)
    out["zero1_tp4_pp2_full_recompute_step_s"] = float(full.step_time)
    z2 = ds.sel(zero=2, tp=4, pp=2, cp=1, virtual_stages=5, recompute="none", micro_batch=1)
    out["zero2_layer_reduce_scatter_ms"] = float(z2.layer_reduce_scatter_time) * 1e3
    z3 = ds.sel(zero=3, tp=4, pp=1, cp=1, virtual_stages=1, recompute="none", micro_batch=1)
    out["zero3_tp4_layer_gather_ms"] = float(z3.layer_gather_time) * 1e3
    out["zero3_tp4_layer_reduce_scatter_ms"] = float(z3.layer_reduce_scatter_time) * 1e3
    kept = space(zero=3, tp=4, pp=2, cp=1, virtual_stages=5, recompute="none", micro_batch=1,
                 zero3_reshard="backward")
    out["zero3_backward_reshard_tp4_pp2_step_s"] = float(kept.step_time)
    return out


def write(text: str) -> None:
    """Replace the table in docs/layouts-70b.md (from its header line to the first blank line)."""
    doc = DOC.read_text()
    start = doc.index(HEADER)
    end = doc.index("\n\n", start)
    DOC.write_text(doc[:start] + text + doc[end:])


if __name__ == "__main__":
    ds = space()
    text = table(ds)
    print(text)
    for name, value in figures(ds).items():
        print(f"{name}: {value:.2f}")
    if "--write" in sys.argv[1:]:
        write(text)
        print(f"wrote {DOC.name}")
