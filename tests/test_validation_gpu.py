"""dsx's predictions vs a real H100 (benchmarks/gpu/measure.py, results committed as CSV).

The measurements are eager PyTorch 2.11 (cuBLAS GEMMs, flash SDPA, CUDA-graph replay for
decode) on one H100 SXM 80GB with random Llama-3.1-8B-shaped weights; dsx runs with its
default factors (calibrated on published TensorRT-LLM and Megatron runs, not on these).
Tolerance: each prediction within 35 %, mean absolute error within 20 %. Run this file
directly to print the table kept in docs/validation-gpu.md.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dsx

CSV = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu" / "h100_measurements.csv"
TOL_EACH, TOL_MEAN = 0.35, 0.20
#: the harness times bare forward passes: no engine scheduler or sampler, so no step_overhead
BARE = 0.0


def measured() -> pd.DataFrame:
    return pd.read_csv(CSV)


def predictions() -> pd.DataFrame:
    m = measured()
    rows = []
    for _, r in m[m.kind == "decode"].iterrows():  # the step that reads a context of r.ctx tokens
        d = dsx.serving(dsx.Space(model="llama-3.1-8b", hardware="H100", tp=1, batch=int(r.batch),
                                  input_len=int(r.ctx) - 1, output_len=2, step_overhead=BARE))
        rows.append(("decode step (TPOT)", int(r.batch), int(r.ctx), float(d.tpot), r.seconds))
    for _, r in m[m.kind == "prefill"].iterrows():
        d = dsx.serving(dsx.Space(model="llama-3.1-8b", hardware="H100", tp=1, batch=int(r.batch),
                                  input_len=int(r.ctx), output_len=1, step_overhead=BARE))
        rows.append(("prefill (TTFT)", int(r.batch), int(r.ctx), float(d.ttft), r.seconds))
    for _, r in m[m.kind == "train_layer"].iterrows():
        # one transformer layer, no embedding or logits: layers=1, vocab=1
        d = dsx.training(dsx.Space(model="llama-3.1-8b", hardware="H100", gpus=1, global_batch=int(r.batch),
                                   micro_batch=int(r.batch), seq_len=int(r.ctx), layers=1, vocab=1,
                                   recompute="none"))
        rows.append(("layer fwd+bwd", int(r.batch), int(r.ctx), float(d.mb_kernel_time), r.seconds))
    df = pd.DataFrame(rows, columns=["what", "batch", "context", "dsx [s]", "H100 [s]"])
    df["error"] = df["dsx [s]"] / df["H100 [s]"] - 1
    return df


def test_measured_ceilings_support_default_efficiencies():
    m = measured()
    gemm = m[(m.kind == "gemm") & (m.name == "square_bf16") & (m.m == 8192)].value.item()
    copy = m[m.kind == "hbm"].value.item()
    hw = dsx.catalog.hardware().sel(hardware="H100-SXM")
    gemm_frac = gemm / float(hw.peak_flops.sel(precision="bf16"))
    copy_frac = copy / float(hw.hbm_bandwidth)
    print(f"H100 bf16 8192^3 GEMM: {gemm_frac:.3f} of peak; device copy: {copy_frac:.3f} of HBM bandwidth")
    inputs = dsx.inputs()
    # the H100 row of the hardware catalog's matmul_efficiency (MAMF, 0.803) is what dsx uses here
    assert abs(gemm_frac - float(hw.matmul_efficiency)) < 0.05
    assert abs(copy_frac - inputs.loc["hbm_efficiency", "default"]) < 0.06


def test_predictions_against_h100():
    df = predictions()
    print("\n" + df.to_string(float_format=lambda v: f"{v:.4g}"))
    mae = float(np.mean(np.abs(df.error)))
    print(f"mean absolute error {mae:.1%} over {len(df)} measurements")
    assert (np.abs(df.error) < TOL_EACH).all(), df[np.abs(df.error) >= TOL_EACH]
    assert mae < TOL_MEAN


@pytest.mark.parametrize("kind", ["decode", "prefill"])
def test_trend_with_batch_matches(kind):
    df = predictions()
    sub = df[df.what.str.startswith(kind)].sort_values("batch")
    sub = sub[sub.context == sub.context.iloc[0]]
    assert np.all(np.diff(sub["dsx [s]"]) > 0) and np.all(np.diff(sub["H100 [s]"]) > 0)


def markdown(df: pd.DataFrame) -> str:
    """The 'Whole-model steps' table kept in docs/validation-gpu.md."""
    def ms(v):
        return f"{v * 1e3:.3g} ms"
    lines = ["| what | batch | context | dsx | H100 | error |", "|---|---|---|---|---|---|"]
    for _, r in df.iterrows():
        what = "one layer fwd+bwd" if r.what == "layer fwd+bwd" else r.what
        lines.append(f"| {what} | {r.batch} | {r.context} | {ms(r['dsx [s]'])} | {ms(r['H100 [s]'])} "
                     f"| {100 * r.error:+.1f} % |")
    mae = float(np.mean(np.abs(df.error)))
    lines += ["", f"Mean absolute error {100 * mae:.1f} % over {len(df)} measurements."]
    return "\n".join(lines)


def test_the_kept_table_is_current():
    """docs/validation-gpu.md shows what dsx predicts today (regenerate: python tests/test_validation_gpu.py)."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "validation-gpu.md").read_text()
    table = markdown(predictions())
    assert table.split("\n\n")[0] in doc, "stale: paste the output of python tests/test_validation_gpu.py"
    assert table.split("\n\n")[1].rstrip(".") in doc


if __name__ == "__main__":
    print(markdown(predictions()))
