"""Serving stack vs published small-batch latency (validation/serving-latency.csv), out of sample.

The rows are public latency measurements at batch 1-64 over tensor-parallel degrees 1-8 (NeMo /
TensorRT-LLM, gpt-fast, NVIDIA's H100 blog, vLLM's custom all-reduce PR). No dsx factor was fitted
to them: the engine factors are calibrated on the TensorRT-LLM throughput tables
(tests/test_validation_serving.py) and the engine-overhead inputs come from kernel measurements
(docs/validation-serving.md). Run this file directly to print the table kept in that page.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dsx import validation

CSV = Path(__file__).resolve().parents[1] / "validation" / "serving-latency.csv"


def rows() -> pd.DataFrame:
    return pd.read_csv(CSV)


def table(**options) -> pd.DataFrame:
    """Every row with dsx's prediction at its inputs (``dsx.validation.predict``: every input column
    of the CSV, the engine settings a row states included, e.g. gpt-fast's ``step_overhead``)."""
    return validation.predict(rows(), "serving", **options)


@pytest.fixture(scope="module")
def errors():
    t = table()
    with pd.option_context("display.width", 200, "display.max_rows", 100):
        print(t[["run", "metric", "published", "predicted", "error"]].to_string())
    return t


def test_at_least_three_public_sources(errors):
    assert errors.source.nunique() >= 3
    assert (errors.reference.str.len() > 40).all()


def test_tp_latency_stops_scaling_at_batch_1(errors):
    """Published batch-1 latency gains less than 2x from TP1 to TP8 on a 7B model (NeMo: A100
    234 -> 136.5 ms, 1.71x; H100 153.8 -> 97.6 ms, 1.58x). Weight streaming and link latency alone
    gave dsx 4.3x and 3.3x; with the per-step and per-all-reduce engine costs the ratio must come
    within 40 % of the published one."""
    sub = errors[(errors.source == "nemo-llama2-inference") & (errors.batch == 1)]
    assert sub.hardware.nunique() == 2
    for hw, g in sub.groupby("hardware"):
        g = g.set_index("tp")
        pub, pred = g.published[1] / g.published[8], g.predicted[1] / g.predicted[8]
        print(f"{hw}: TP1/TP8 latency ratio published {pub:.2f}, dsx {pred:.2f}")
        assert abs(pred / pub - 1) < 0.4


def test_mean_absolute_error(errors):
    mae = errors.error.abs().mean()
    print(f"rows {len(errors)}, MAE {mae:.1%}, bias {errors.error.mean():+.1%}")
    for name, sub in errors.groupby("source"):
        print(f"  {name}: n={len(sub)}, MAE {sub.error.abs().mean():.1%}, bias {sub.error.mean():+.1%}")
        assert sub.error.abs().mean() <= 0.30, name       # before the engine costs: up to 45 %
    assert mae <= 0.25                                      # before: 36.4 %


def markdown(t: pd.DataFrame) -> str:
    lines = ["| run | metric | published | dsx | error |", "|---|---|---|---|---|"]
    for _, r in t.iterrows():
        lines.append(f"| {r.run} | {r.metric} | {r.published:.4g} | {r.predicted:.4g} | {r.error:+.1%} |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    t = table()
    print(markdown(t))
    for name, sub in t.groupby("source"):
        print(f"| {name} | {len(sub)} | {sub.error.abs().mean():.1%} | {sub.error.mean():+.1%} |")
    print(f"all {len(t)} rows: MAE {np.mean(np.abs(t.error)):.1%}, bias {t.error.mean():+.1%}")


def test_gpt_fast_step_is_a_bare_forward_pass(errors):
    """gpt-fast replays one CUDA graph per decode step (step_overhead 0, the row's setting): Llama-2-7B
    on one A100 streams 13.5 GB of 16-bit weights per token at 0.85 x 0.80 of 2,039 GB/s, 9.7 ms, i.e.
    ~103 tokens/s against the published 104.9; with the 1 ms engine step it would be 11 % slow."""
    row = errors[errors.run == "gpt-fast llama-2-7b A100 TP1 batch 1"].iloc[0]
    assert abs(row.error) < 0.05, row.error
    engine = table(step_overhead=1e-3)
    assert engine[engine.run == row.run].error.iloc[0] < -0.08
