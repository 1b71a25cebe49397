"""Published training throughput vs the training stack's prediction (one set of defaults).

Each run is evaluated through ``dsx.training`` with its published configuration and the
library's default efficiency factors; the compared quantity is measured throughput per GPU
(tokens/s/GPU) or, for Narayanan et al. 2021 Table 1, achieved hardware TFLOP/s per GPU
(recompute included, the paper's convention). The table of errors is kept in
``docs/validation-training.md``; regenerate it with ``python tests/test_validation_training.py``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

import dsx

DOC = Path(__file__).resolve().parents[1] / "docs" / "validation-training.md"
TOLERANCE_MAE = 0.10  # mean absolute relative error over all runs

# Model shapes not in the catalog, as overrides of a catalog model of the same family
# (MPT: n_layers, d_model, n_heads, ffn 4·d_model; llm-foundry scripts/train/yamls/pretrain).
MPT = {
    "mpt-1b": dict(model="mpt-7b", layers=24, hidden=2048, heads=16, kv_heads=16, head_dim=128, ffn=8192),
    "mpt-3b": dict(model="mpt-7b", layers=32, hidden=2560, heads=20, kv_heads=20, head_dim=128, ffn=10240),
    "mpt-7b": dict(model="mpt-7b"),
    "mpt-13b": dict(model="mpt-7b", layers=40, hidden=5120, heads=40, kv_heads=40, head_dim=128, ffn=20480),
    "mpt-30b": dict(model="mpt-30b"),
    "mpt-70b": dict(model="mpt-7b", layers=80, hidden=8192, heads=64, kv_heads=64, head_dim=128, ffn=32768),
}

NARAYANAN = "Narayanan et al. 2021 (arXiv:2104.04473) Table 1"
FOUNDRY = "mosaicml/llm-foundry scripts/train/benchmarking/README.md @061f2c7"
NEMO_H100 = "NVIDIA NeMo performance summary 24.09 (DGX-H100)"
NEMO_B200 = "NVIDIA NeMo performance summary 25.02 (DGX-B200)"


def _narayanan(model, gpus, tp, pp, batch, tflops, confirmed=False):
    return dict(
        name=f"Megatron {model}, {gpus} A100", source=NARAYANAN + ("" if confirmed else ", row unconfirmed"),
        space=dict(model=model, hardware="A100-80GB", precision="fp16", gpus=gpus, tp=tp, pp=pp,
                   global_batch=batch, micro_batch=1, seq_len=2048, recompute="full",
                   sequence_parallel=False, zero=0, flash_attention=False),
        metric="hw_tflops_per_gpu", published=tflops * 1e12)


def _foundry(size, hardware, gpus, seq, batch, micro, checkpointing, tokens_per_gpu):
    gpu = hardware.split("-")[0]
    return dict(
        name=f"MPT-{size[4:].upper()} s={seq}, {gpus} {gpu}", source=FOUNDRY,
        space=dict(**MPT[size], hardware=hardware, precision="bf16", gpus=gpus, global_batch=batch,
                   micro_batch=micro, seq_len=seq, recompute="full" if checkpointing else "none",
                   sequence_parallel=False, zero=3),
        metric="tokens_per_s_per_gpu", published=float(tokens_per_gpu))


def _nemo(model, hardware, gpus, batch, micro, seq, tp, pp, cp, vp, tokens_per_gpu, ep=1):
    return dict(
        name=f"NeMo {model} fp8, {gpus} {hardware}", source=NEMO_H100 if hardware == "H100" else NEMO_B200,
        space=dict(model=model, hardware=hardware, precision="fp8", weight_precision="bf16", gpus=gpus,
                   tp=tp, pp=pp, cp=cp, ep=ep, virtual_stages=vp, global_batch=batch, micro_batch=micro,
                   seq_len=seq, recompute="none", sequence_parallel=tp > 1, zero=1),
        metric="tokens_per_s_per_gpu", published=float(tokens_per_gpu))


RUNS = [
    # Megatron-LM weak scaling on Selene (A100-80GB), fp16, seq 2048, full recompute, v = 1.
    _narayanan("gpt-1.7b", 32, 1, 1, 512, 137, confirmed=True),
    _narayanan("gpt-3.6b", 64, 2, 1, 512, 138),
    _narayanan("gpt-7.5b", 128, 4, 1, 512, 142),
    _narayanan("gpt-18b", 256, 8, 1, 1024, 135),
    _narayanan("gpt-39b", 512, 8, 2, 1536, 138),
    _narayanan("gpt-76b", 1024, 8, 4, 1792, 140),
    _narayanan("gpt-145b", 1536, 8, 8, 2304, 148),
    _narayanan("gpt-310b", 1920, 8, 16, 2160, 155),
    _narayanan("gpt-530b", 2520, 8, 35, 2520, 163),
    _narayanan("gpt-1t", 3072, 8, 64, 3072, 163, confirmed=True),
    # llm-foundry MPT: FSDP FULL_SHARD (ZeRO-3), bf16, micro-batch and checkpointing as published.
    _foundry("mpt-70b", "H100", 64, 2048, 2048, 8, True, 1039),
    _foundry("mpt-30b", "H100", 32, 2048, 1344, 14, True, 2308),
    _foundry("mpt-30b", "H100", 8, 2048, 504, 3, True, 2002),
    _foundry("mpt-13b", "H100", 64, 2048, 128, 2, False, 4800),
    _foundry("mpt-7b", "H100", 8, 2048, 48, 6, False, 10643),
    _foundry("mpt-7b", "H100", 8, 8192, 128, 8, True, 6935),
    _foundry("mpt-3b", "H100", 64, 2048, 1152, 6, False, 22525),
    _foundry("mpt-1b", "H100", 64, 2048, 1280, 20, False, 44402),
    _foundry("mpt-70b", "A100-80GB", 64, 2048, 2048, 8, True, 410),
    _foundry("mpt-30b", "A100-80GB", 8, 2048, 504, 3, True, 916),
    _foundry("mpt-13b", "A100-80GB", 8, 2048, 48, 2, False, 2262),
    _foundry("mpt-7b", "A100-80GB", 8, 2048, 96, 6, False, 4641),
    _foundry("mpt-7b", "A100-80GB", 8, 8192, 128, 8, True, 3206),
    _foundry("mpt-1b", "A100-80GB", 8, 2048, 448, 14, False, 20513),
    # NeMo pre-training throughput tables, FP8 (Transformer Engine), no recompute.
    _nemo("gpt3-175b", "H100", 512, 2048, 2, 2048, 4, 8, 1, 6, 825),
    _nemo("gpt3-175b", "H100", 128, 256, 1, 2048, 4, 8, 1, 6, 716),
    _nemo("llama-2-7b", "H100", 8, 128, 1, 4096, 1, 1, 1, 1, 16934),
    _nemo("llama-2-13b", "H100", 16, 128, 1, 4096, 1, 4, 1, 10, 8715),
    _nemo("llama-2-70b", "H100", 64, 128, 1, 4096, 4, 4, 1, 20, 1728),
    _nemo("llama-3.1-8b", "H100", 8, 128, 1, 8192, 1, 1, 2, 1, 12273),
    _nemo("llama-3.1-70b", "H100", 64, 128, 1, 8192, 4, 4, 2, 5, 1524),
    _nemo("gpt3-175b", "B200", 512, 2048, 2, 2048, 4, 4, 1, 6, 1600),
    _nemo("llama-3.1-8b", "B200", 8, 128, 2, 8192, 1, 1, 1, 1, 26006),
    _nemo("llama-3.1-70b", "B200", 64, 128, 1, 8192, 2, 4, 2, 5, 3062),
    _nemo("llama-3.1-405b", "B200", 128, 64, 1, 8192, 4, 8, 2, 8, 625),
    _nemo("mixtral-8x7b", "B200", 64, 256, 2, 4096, 1, 1, 1, 1, 15457, ep=8),
]


def predict(run: dict) -> tuple[float, dict]:
    """Predicted value of the run's metric, and a few diagnostics."""
    ds = dsx.training(**run["space"], mask_infeasible=False)  # raw values, whatever dsx says of feasibility
    if run["metric"] == "hw_tflops_per_gpu":
        value = float(ds.hfu * ds.peak_flops)
    else:
        value = float(ds.tokens_per_s_per_gpu)
    diag = {"mfu": float(ds.mfu), "bottleneck": str(ds.bottleneck.values), "reason": str(ds.reason.values)}
    return value, diag


def evaluate_runs() -> list[dict]:
    rows = []
    for run in RUNS:
        value, diag = predict(run)
        rows.append({**run, "predicted": value, "error": value / run["published"] - 1.0, **diag})
    return rows


def render(rows: list[dict]) -> str:
    """The kept Markdown table of predicted vs published, with the mean absolute error."""
    mae = float(np.mean([abs(r["error"]) for r in rows]))
    unit = {"hw_tflops_per_gpu": ("TFLOP/s/GPU (hw)", 1e12), "tokens_per_s_per_gpu": ("tokens/s/GPU", 1.0)}
    lines = [
        "# Training throughput: predicted vs published",
        "",
        "Generated by `python tests/test_validation_training.py` from the runs listed in that file;",
        "`tests/test_validation_training.py` checks the mean absolute error stays within "
        f"{TOLERANCE_MAE:.0%}. Every run is evaluated with the library's default efficiency factors",
        "(one set for all runs) and its published configuration. The compared quantity is measured",
        "throughput per GPU, or hardware TFLOP/s per GPU (recompute included) where the source",
        "gives only that (Narayanan et al. 2021 Table 1).",
        "",
        f"**Mean absolute error: {mae:.1%}** over {len(rows)} runs.",
        "",
        "| run | metric | published | predicted | error | predicted MFU | bottleneck | source |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        label, scale = unit[r["metric"]]
        lines.append(f"| {r['name']} | {label} | {r['published'] / scale:,.0f} | {r['predicted'] / scale:,.0f} "
                     f"| {r['error']:+.1%} | {r['mfu']:.3f} | {r['bottleneck']} | {r['source']} |")
    lines += ["", "Calibrated defaults (training solver): `kernel_efficiency` 0.82 (was 0.875),",
              "`attention_efficiency` 0.7 (was 0.5), `memory_exposure` 1.0 (was 0.8), on top of each",
              "device's measured `matmul_efficiency` from the hardware catalog (maximum achievable matmul",
              "FLOPS, BF16: A100 0.869, H100 0.803, B200 0.776; the compute solver's 0.8 was used for every",
              "device before) and `hbm_efficiency` 0.85. The attention core runs at the 16-bit rate in FP8",
              "recipes, charged once (compute solver's `attention_peak_fraction`). Communication at",
              "`link_efficiency` 0.8, `collective_latency` 10 us per collective call, `tp_overlap` 0,",
              "`cp_overlap` 0.5, `dp_overlap` 1. The three factors were refitted jointly on a grid; the",
              "optimum is flat (MAE 8.9-9.3 % for kernel 0.78-0.84, attention 0.6-0.8, exposure 0.8-1.1);",
              "attention 0.7 was taken over 0.6 because it also matches FlashAttention-2's measured share",
              "of peak and the 8K-context H100 layer measurement (docs/validation-gpu.md).",
              "",
              "What remains: llm-foundry's H100 runs without activation checkpointing are over-predicted",
              "by 17-33 % (the same models reach MFU 0.60-0.64 on A100 but 0.40-0.46 on H100 in that",
              "table: a software effect of that 2023 H100 stack, not a device ceiling); NeMo's multi-node",
              "FP8 runs on H100 with tensor and pipeline parallelism are under-predicted by 9-14 % while",
              "the single-node ones are within 2 % (NeMo's recipes overlap the TP collectives with the",
              "GEMMs, TransformerEngine userbuffers, where dsx's default `tp_overlap` is 0); MPT-7B at 8K",
              "context on A100 is 18 % low (FlashAttention-2 on A100 beats the common attention factor).",
              "", "Configuration notes: Megatron rows use micro-batch 1, no interleaving, fp16, full",
              "recomputation, no FlashAttention, no sequence parallelism (the paper's 2021 setup);",
              "MPT rows use FSDP FULL_SHARD (ZeRO-3), the published micro-batch and activation",
              "checkpointing (= full recompute); NeMo rows use FP8 compute with bf16 weights, no",
              "recompute, sequence parallelism when tp > 1 and the published tp/pp/cp/vp and batches.", ""]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def rows():
    return evaluate_runs()


def test_published_throughput_mae(rows):
    print()
    for r in rows:
        print(f"{r['name']:<42} published {r['published']:>12.4g} predicted {r['predicted']:>12.4g} "
              f"error {r['error']:+7.1%}  ({r['bottleneck']})")
    mae = float(np.mean([abs(r["error"]) for r in rows]))
    print(f"mean absolute error {mae:.1%} over {len(rows)} runs (tolerance {TOLERANCE_MAE:.0%})")
    assert mae <= TOLERANCE_MAE
    # no single run is wildly off either (worst: MPT-13B on 64 H100, +33 %: llm-foundry's 2023
    # H100 bf16 runs without activation checkpointing reach MFU 0.40-0.46, below A100's 0.60-0.64)
    assert max(abs(r["error"]) for r in rows) < 0.45


def test_kept_table_is_current(rows):
    """docs/validation-training.md holds this table; its MAE matches the current prediction."""
    text = DOC.read_text()
    for r in rows:
        assert r["name"] in text
    kept = float(re.search(r"Mean absolute error: ([0-9.]+)%", text).group(1)) / 100
    mae = float(np.mean([abs(r["error"]) for r in rows]))
    assert abs(kept - mae) < 0.005, "regenerate with: python tests/test_validation_training.py"


if __name__ == "__main__":  # regenerate the kept table
    table = render(evaluate_runs())
    DOC.write_text(table)
    sys.stdout.write(table)
