"""Serving stack vs published throughput (TensorRT-LLM tables), with each error printed.

The figures are data (``validation/serving*.csv``, one row per published figure with its
source); the predictions use one set of default factors. ``python tests/test_validation_serving.py`` prints the table
kept in ``docs/validation-serving.md``.
"""

from __future__ import annotations

import pandas as pd
import pytest

from dsx import validation

#: Table label of each TensorRT-LLM source key (validation/serving-trtllm.csv).
TABLES = {"trtllm-perf-overview": "perf-overview", "trtllm-0.6.1": "TRT-LLM v0.6.1", "trtllm-0.5": "TRT-LLM v0.5"}


def table(**options) -> pd.DataFrame:
    """Every published serving row (all ``validation/serving*.csv``), predicted in one call.

    Max-load rows (``max_output_tokens_per_s``, the perf-overview) run the largest batch whose
    paged KV fits, at most the row's ``batch`` (1,024: TensorRT-LLM's serving examples use
    max_batch_size 1024, docs "Run benchmarking with trtllm-serve"); the other rows run at the
    published batch.
    """
    out = validation.predict(validation.load("serving"), "serving", **options)
    out["table"] = out.source.map(TABLES).fillna(out.source)
    return out


def trtllm(t: pd.DataFrame) -> pd.DataFrame:
    return t[t.file == "serving-trtllm.csv"]


def no_gqa_sharing(t: pd.DataFrame) -> pd.Series:
    """Rows of TensorRT-LLM v0.5-v0.7 on a grouped-query-attention model (Llama-2-70B): the masked
    multi-head attention kernel of that generation read each KV head once per query head
    (``gqa_kv_sharing`` False in the CSV; XQA shares it from v0.8, NVIDIA/TensorRT-LLM
    docs/source/blogs/XQA-kernel.md)."""
    return (t.gqa_kv_sharing.astype(str) == "False") & t.model.str.contains("70b")


@pytest.fixture(scope="module")
def errors():
    t = table()
    cols = ["run", "metric", "batch", "published", "predicted", "error", "reason"]
    with pd.option_context("display.width", 200, "display.max_rows", 300):
        print(t[cols].to_string())
    return t


def test_mean_absolute_error_within_20_percent(errors):
    """Every published row counts: no gate."""
    t = trtllm(errors)
    mae = t.error.abs().mean()
    print(f"TensorRT-LLM rows: {len(t)}, MAE {mae:.1%}, bias {t.error.mean():+.1%}; "
          f"all {len(errors)} rows: MAE {errors.error.abs().mean():.1%}")
    for name, sub in errors.groupby(["table", "precision"]):
        print(name, f"MAE {sub.error.abs().mean():.1%}")
    assert len(t) == 127
    assert mae <= 0.20
    assert errors.predicted.notna().all()


def test_current_hopper_fp8_within_10_percent(errors):
    """The current TensorRT-LLM generation on Hopper FP8 (60 rows) is the best-characterised set."""
    sub = errors[(errors.table == "perf-overview") & (errors.precision == "fp8")]
    assert len(sub) == 60
    assert sub.error.abs().mean() <= 0.10


def test_every_row_within_a_factor_of_two(errors):
    t = trtllm(errors)
    assert (t.error.abs() < 1.0).all(), t[t.error.abs() >= 1.0]


def test_rows_without_gqa_kv_sharing_are_explained_by_it(errors):
    """The 2023 Llama-2-70B rows (11 of 127, up to +102 % before) fall within 35 % once the KV cache
    is read once per query head; read once per KV head they are over-predicted by over 50 % where
    decode at a long context dominates (128 or 2,048 in / 2,048 out)."""
    out = trtllm(errors)[no_gqa_sharing(trtllm(errors))]
    assert len(out) == 11
    print(out[["run", "published", "predicted", "error"]].to_string())
    assert (out.error.abs() < 0.35).all()
    shared = table(gqa_kv_sharing=True)
    long = shared[no_gqa_sharing(trtllm(errors)).reindex(shared.index, fill_value=False)
                  & (shared.output_len == 2048)]
    assert len(long) == 5 and (long.error > 0.5).all(), long[["run", "error"]]


def test_mixtral_2024_streams_8_bit_weights_through_16_bit_gemms(errors):
    """TensorRT-LLM 0.9's Mixtral rows: the batch-1 TTFT at 128 tokens (13.4 ms, H100 TP2) is shorter
    than streaming 16-bit weights takes (46.7 GB per GPU at 3.35 TB/s = 13.9 ms), so the weights were
    8-bit; FP8 Mixtral GEMMs arrived in v0.10.0. Run as FP8 GEMMs the compute-bound rows (128/128 at
    batch 512-1,024) came out 2-2.5x too fast; with 16-bit GEMMs on 8-bit weights within 65 %."""
    mix = errors[(errors.source == "trtllm-0.9") & errors.run.str.contains("Mixtral")
                 & (errors.weight_precision == "fp8")]
    assert len(mix) == 12
    ttft = mix[mix.run.str.contains("H100 TTFT 128")].iloc[0]
    assert 46.0e9 / 3.35e12 > ttft.published                 # 16-bit weights could not stream in time
    assert abs(ttft.error) < 0.1
    heavy = mix[mix.run.str.contains("128/128")]
    assert (heavy.error < 0.65).all(), heavy[["run", "error"]]
    df = validation.load("serving").loc[heavy.index].assign(precision="fp8")
    assert (validation.predict(df, "serving").error > 1.0).all()


def test_blackwell_nvfp4_gemms_lose_the_fixed_share_twice(errors):
    """FP8 GEMMs reach 0.85 of the BF16 fraction of peak (H100, six shapes); read as Amdahl's law (the
    share of the 16-bit time that does not halve with the width: s = 1/0.85 - 1), 4-bit GEMMs reach
    1/(1 + 3 s) = 0.654. The 40 Blackwell NVFP4 rows: MAE 13.4 %, bias +5 %; with 0.85 applied to
    4 bit as to 8 bit (the former model: eta_8 = 0.944 gives eta_4 = 0.85) every one was
    over-predicted, MAE 23.1 %."""
    fp4 = errors[errors.precision == "fp4"]
    assert len(fp4) == 40
    assert fp4.error.abs().mean() < 0.15 and abs(fp4.error.mean()) < 0.08
    former = table(low_precision_gemm_efficiency=1 / (1 + (1 / 0.85 - 1) / 3))
    former = former[former.precision == "fp4"]
    assert (former.error > 0).all() and former.error.abs().mean() > 0.2


def markdown(t: pd.DataFrame) -> str:
    """The table kept in docs/validation-serving.md."""
    lines = ["| table | hardware | TP | precision | model | in | out | batch | metric | published | predicted | error | KV read per query head |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in t.iterrows():
        lines.append(f"| {r.table} | {r.hardware} | {r.tp} | {r.precision} | {r.model} | {r.input_len} | "
                     f"{r.output_len} | {r.batch:g} | {r.metric} | {r.published:,.0f} | {r.predicted:,.0f} | "
                     f"{r.error:+.1%} | {'yes' if r.no_sharing else ''} |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    t = trtllm(table())
    t["no_sharing"] = no_gqa_sharing(t)
    print(markdown(t))
    print()
    for name, sub in t.groupby(["table", "precision", "tp"]):
        print(f"| {' | '.join(map(str, name))} | {len(sub)} | {sub.error.abs().mean():.1%} | {sub.error.mean():+.1%} |")
    print(f"all rows MAE {t.error.abs().mean():.1%} bias {t.error.mean():+.1%} n={len(t)}; "
          f"without the rows that read KV per query head {t[~t.no_sharing].error.abs().mean():.1%}")
