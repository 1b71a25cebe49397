"""dsx.calibrate: recovers factors it generated, improves held-back predictions, refuses bad input."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import dsx
from dsx import validation
from dsx.calibration import read_toml, to_toml
from dsx.cli import main


def _synthetic(workload: str, truth: dict, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Published rows whose 'published' value is dsx's own prediction at the ``truth`` factors."""
    df = rows if rows is not None else validation.load(workload)
    df = df[df.file.str.fullmatch(f"{workload}(-trtllm)?\\.csv")].reset_index(drop=True)
    out = validation.predict(df, workload, **truth)
    return df.assign(published=out.predicted)[out.feasible.to_numpy()].reset_index(drop=True)


def test_recovers_training_factors_within_2_percent():
    truth = {"kernel_efficiency": 0.74, "attention_efficiency": 0.55, "memory_exposure": 0.9}
    fit = dsx.calibrate(_synthetic("training", truth), "training")
    got = fit.dsx.factors()
    print(got, fit.stderr.values)
    for name, value in truth.items():
        assert got[name] == pytest.approx(value, rel=0.02)
    assert fit.attrs["mae"] < 1e-3 < fit.attrs["mae_default"]


def test_recovers_serving_factors_within_2_percent():
    truth = {"engine_compute_efficiency": 0.5, "engine_memory_efficiency": 0.65}
    fit = dsx.calibrate(_synthetic("serving", truth), "serving")
    for name, value in truth.items():
        assert fit.dsx.factors()[name] == pytest.approx(value, rel=0.02)
    # a perfect fit has (numerically) no residual, hence a vanishing standard error
    assert (fit.stderr.values < 1e-3).all()


def test_fit_on_one_generation_improves_its_held_back_runs():
    """H200 TensorRT-LLM rows: fit on Llama-3.1-8B and 405B, predict the held-back 70B rows."""
    df = validation.load("serving")
    h200 = df[(df.hardware == "H200") & (df.file == "serving-trtllm.csv")]
    fit = dsx.calibrate(h200[h200.model != "llama-3.1-70b"], "serving", strict=False)
    held = h200[h200.model == "llama-3.1-70b"]
    before = validation.predict(held, "serving").error.abs().mean()
    after = validation.predict(held, "serving", **fit.dsx.factors()).error.abs().mean()
    print(f"held-back 70B rows on H200: MAE {before:.1%} with defaults, {after:.1%} calibrated")
    assert after < before - 0.01


def test_fit_on_h100_training_runs_improves_the_others():
    """H100 training runs (llm-foundry, NeMo): fit kernel_efficiency on every other run, predict the rest."""
    df = validation.load("training")
    h100 = df[df.hardware.astype(str).str.startswith("H100") & (df.file == "training.csv")].reset_index(drop=True)
    fit = dsx.calibrate(h100.iloc[::2], factors=["kernel_efficiency"], strict=False)
    held = h100.iloc[1::2]
    before = validation.predict(held, "training").error.abs().mean()
    after = validation.predict(held, "training", **fit.dsx.factors()).error.abs().mean()
    print(f"held-back H100 runs: MAE {before:.1%} with defaults, {after:.1%} calibrated")
    assert after < before


def test_wide_table_with_units_in_headers_and_residual_table():
    truth = {"kernel_efficiency": 0.7}
    space = dict(model="llama-3.1-8b", hardware="H100", gpus=8, zero=3, seq_len=[1024, 2048, 4096])
    ds = dsx.training(**space, **truth)
    measured = pd.DataFrame({"model": "llama-3.1-8b", "hardware": "H100", "gpus": 8, "zero": 3,
                             "seq_len [ktoken]": [1.024, 2.048, 4.096],
                             "step_time [ms]": ds.step_time.values * 1e3})
    fit = dsx.calibrate(measured, factors=["kernel_efficiency"])
    assert fit.dsx.factors()["kernel_efficiency"] == pytest.approx(0.7, rel=0.02)
    table = fit[["measured", "predicted", "error"]].to_pandas()
    assert list(table.columns[:3]) == ["measured", "predicted", "error"] and len(table) == 3
    np.testing.assert_allclose(table.measured, ds.step_time.values, rtol=1e-9)  # ms -> s
    # applying the fit is one call: the space at the fitted factors reproduces the measurements
    again = dsx.training(dsx.Space(**space, **fit.dsx.factors()))
    np.testing.assert_allclose(again.step_time.values, ds.step_time.values, rtol=0.01)


def _rows(**extra):
    base = {"model": ["llama-3.1-8b"] * 3, "hardware": "H100", "gpus": 8, "zero": 3,
            "seq_len": [1024, 2048, 4096], "tokens_per_s_per_gpu": [9000.0, 8800.0, 8400.0]}
    return pd.DataFrame({**base, **extra})


@pytest.mark.parametrize("frame, factors, message", [
    (_rows(colour="red"), None, "colour"),
    (_rows(hardware="H900"), ["kernel_efficiency"], "H900"),
    (_rows(gpus=1, zero=0, seq_len=[1024, 2048, 65536]), ["kernel_efficiency"], "cannot evaluate"),
    (_rows(), None, "cannot identify 3 factor"),
    (_rows(), ["gpus"], "not a calibration factor"),
    (_rows(), ["engine_memory_efficiency"], "change(s) no measured row"),
    (_rows(**{"ttft": 0.1}), ["kernel_efficiency"], "['ttft'] are neither dsx inputs nor training outputs"),
    (_rows(**{"tokens_per_s_per_gpu": [9000.0, -1.0, 8400.0]}), ["kernel_efficiency"], "positive"),
])
def test_refuses_with_a_clear_message(frame, factors, message):
    with pytest.raises(dsx.DsxInputError, match=re.escape(message)):
        dsx.calibrate(frame, factors=factors)


def test_toml_round_trip_cli_audit_and_sweep(tmp_path, capsys):
    measured = _rows()
    csv = tmp_path / "mine.csv"
    measured.to_csv(csv, index=False)
    assert main(["calibrate", str(csv), "--factors", "kernel_efficiency"]) == 0
    printed = capsys.readouterr().out
    fitted = read_toml(tmp_path / "mine.toml")
    assert "kernel_efficiency" in printed and set(fitted) == {"kernel_efficiency"}
    assert fitted == dsx.calibrate(measured, factors=["kernel_efficiency"]).dsx.factors()
    assert main(["audit", "--calibration", str(tmp_path / "mine.toml"), "--json"]) == 0
    assert str(fitted["kernel_efficiency"])[:6] in capsys.readouterr().out
    (tmp_path / "sweep.toml").write_text('calibration = "mine.toml"\n[space]\nmodel = "llama-3.1-8b"\n')
    from dsx import sweep

    assert sweep.load(tmp_path / "sweep.toml").space["kernel_efficiency"] == fitted["kernel_efficiency"]
    (tmp_path / "bad.toml").write_text("[factors]\ngpus = 8\n")
    assert main(["audit", "--calibration", str(tmp_path / "bad.toml")]) == 2
    assert "not a calibration factor" in capsys.readouterr().err


def test_to_toml_states_the_fit():
    fit = dsx.calibrate(_rows(), factors=["kernel_efficiency"])
    text = to_toml(fit, "mine.csv")
    assert text.startswith("# dsx calibration: 3 measured values from mine.csv") and "[stderr]" in text


def test_zipped_rows_equal_one_evaluation_per_row():
    """The one-call ``run`` evaluation gives each row what its own dsx.training call gives."""
    df = validation.load("training")
    df = df[df.file.isin(["training.csv", "training-published-runs.csv"])].reset_index(drop=True)
    picked = df.iloc[[0, 12, 17, 30, 36, 39, 42]]  # Megatron, MPT overrides, NeMo, Llama 3, BLOOM, Megatron-Bridge
    table = validation.predict(picked, "training")
    for (_, row), predicted in zip(picked.iterrows(), table.predicted):
        inputs = {k: v for k, v in row.items() if k not in (*validation.META, "file") and not pd.isna(v) and v != ""}
        ds = dsx.training(**inputs, mask_infeasible=False)  # published runs dsx calls infeasible keep a value
        expected = {"hw_tflops_per_gpu": ds.hfu * ds.peak_flops, "mfu": ds.mfu,
                    "tokens_per_s_per_gpu": ds.tokens_per_s_per_gpu}[row.metric]
        assert predicted == pytest.approx(float(expected), rel=1e-9), row.run
