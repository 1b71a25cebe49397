"""The ``dsx`` command, through subprocess: audit (text, JSON, comparison, serving), errors,
catalog, and ``python -m dsx``.

Tests marked ``fake`` run against tiny stand-in stacks (installed in the child process by
:func:`install_fake_stacks`), so they check the command line independently of the physics;
the others run the real stacks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


# -- tiny stand-in stacks (plain Dataset -> Dataset functions, no registry side effects) -----
def _v(value, units, long_name=""):
    da = value if isinstance(value, xr.DataArray) else xr.DataArray(value)
    return da.assign_attrs(units=units, long_name=long_name)


def fake_training(ds: xr.Dataset) -> xr.Dataset:
    gpus, tp, pp = ds["gpus"], ds["tp"], ds["pp"] if "pp" in ds else 1
    dp = gpus // (tp * pp)
    tokens = ds["global_batch"] * ds["seq_len"]
    flops = 6 * 70.6e9 * tokens / gpus
    tc = flops / (0.5 * ds["peak_flops"])
    tm = 3 * 2 * 70.6e9 / (tp * pp) / ds["hbm_bandwidth"]
    comm, dp_exp, bubble, opt = 0.12 * tc * tp / 8, 0.02 * tc, (pp - 1) / 8 * tc, 0.01 * tc
    step = tc + comm + dp_exp + bubble + opt
    mem = 16 * 70.6e9 / (tp * pp) / np.minimum(dp, 8) + 10e9
    days = 30 * 86400.0
    energy = gpus * 1275.0 * days * 1.06
    out = {
        "dp": _v(dp, ""), "mb_compute_time": _v(tc, "s"), "mb_memory_time": _v(tm, "s"),
        "bound": _v(xr.where(tc > tm, "compute", "memory"), ""),
        "arithmetic_intensity": _v(flops / (tm * ds["hbm_bandwidth"]), "flop/B"),
        "ridge_intensity": _v(ds["peak_flops"] / ds["hbm_bandwidth"], "flop/B"),
        "memory_per_gpu": _v(mem, "B"), "ok_memory": _v(mem < ds["hbm_capacity"], ""),
        "data_demand": _v(4.0 * tokens / step, "B/s"), "data_supply": _v(xr.DataArray(7e9), "B/s"),
        "data_utilization": _v(4.0 * tokens / step / 7e9, ""), "data_stalled": _v(4.0 * tokens / step > 7e9, ""),
        "tokens_per_param": _v(tokens * days / step / 70.6e9, ""),
        "chinchilla_params": _v(xr.DataArray(66e9), "param"), "chinchilla_tokens": _v(xr.DataArray(1.32e12), "token"),
        "optimal_tokens_per_param": _v(xr.DataArray(1.32e12 / 66e9), "token/param"),
        "step_time": _v(step, "s"), "step_compute_time": _v(tc, "s"), "step_comm_time": _v(comm, "s"),
        "step_bubble_time": _v(bubble, "s"), "step_dp_exposed_time": _v(dp_exp, "s"),
        "step_optimizer_time": _v(opt, "s"), "scaling_efficiency": _v(tc / step, ""),
        "mfu": _v(0.5 * tc / step, ""), "tokens_per_s": _v(tokens / step, "token/s"),
        "fleet_mtbf": _v(50700 * 3600 / gpus, "s"), "expected_failures": _v(days * gpus / (50700 * 3600), ""),
        "checkpoint_time": _v(xr.DataArray(60.0), "s"), "checkpoint_interval": _v(np.sqrt(2 * 60 * 50700 * 3600 / gpus), "s"),
        "goodput": _v(1 - 2 * 60 / np.sqrt(2 * 60 * 50700 * 3600 / gpus), ""),
        "checkpoint_overhead": _v(60 / np.sqrt(2 * 60 * 50700 * 3600 / gpus), ""),
        "failure_overhead": _v(60 / np.sqrt(2 * 60 * 50700 * 3600 / gpus), ""),
        "time_to_train": _v(xr.DataArray(days), "s"), "wall_time": _v(xr.DataArray(days * 1.03), "s"),
        "energy": _v(energy, "J"), "carbon_operational": _v(energy / 3.6e6 * ds["carbon_intensity"], "gCO2e"),
        "carbon_embodied": _v(gpus * 150e3 * 30 / 1460, "gCO2e"), "water_onsite": _v(xr.DataArray(0.0), "L"),
        "water_offsite": _v(energy / 3.6e6 * 2.0, "L"),
        "capex_amortized": _v(gpus * 60000.0 * 30 / 1460, "USD"), "opex_energy": _v(energy / 3.6e6 * 0.05, "USD"),
        "opex_maintenance": _v(gpus * 60000.0 * 0.05 * 30 / 365, "USD"),
    }
    out["carbon"] = _v(out["carbon_operational"] + out["carbon_embodied"], "gCO2e")
    out["water"] = _v(out["water_onsite"] + out["water_offsite"], "L")
    out["opex"] = _v(out["opex_energy"] + out["opex_maintenance"], "USD")
    out["tco"] = _v(out["opex"] + out["capex_amortized"], "USD")
    out["feasible"] = _v(out["ok_memory"], "")
    out["reason"] = _v(xr.where(out["ok_memory"], "", "oom"), "")
    return ds.assign(out)


def fake_serving(ds: xr.Dataset) -> xr.Dataset:
    tp = ds["tp"]
    gpus = ds["gpus"] if "gpus" in ds else tp  # serving: gpus is the deployment (one replica of tp by default)
    prefill = 2 * 70.6e9 * ds["input_len"] / (0.5 * ds["peak_flops"] * tp)
    tpot = 2 * 70.6e9 / tp / ds["hbm_bandwidth"] / 0.8
    out = {"ttft": _v(prefill, "s"), "tpot": _v(tpot, "s"), "e2e_latency": _v(prefill + ds["output_len"] * tpot, "s"),
           "decode_time": _v(ds["output_len"] * tpot, "s"),
           "replica_tokens_per_s": _v(16 / tpot, "token/s"), "tokens_per_s_per_gpu": _v(16 / tpot / gpus, "token/s"),
           "max_batch": _v(xr.DataArray(40.0), ""), "batch": _v(xr.DataArray(16.0), ""),
           "kv_bytes_per_token": _v(xr.DataArray(327680.0), "B"), "prefill_bound": _v(xr.DataArray("compute"), ""),
           "decode_bound": _v(xr.DataArray("memory"), ""), "cost_per_mtoken": _v(2.0 * tpot / tpot, "USD/Mtoken"),
           "energy_per_token": _v(xr.DataArray(0.5), "J/token"),
           "carbon_per_mtoken": _v(0.5e6 / 3.6e6 * ds["carbon_intensity"], "gCO2e/Mtoken"),
           "gpus": _v(gpus, ""), "feasible": _v(xr.DataArray(True), ""), "reason": _v(xr.DataArray(""), "")}
    return ds.assign(out)


def install_fake_stacks() -> None:
    import dsx.stacks

    dsx.stacks.TRAINING = (fake_training,)
    dsx.stacks.SERVING = (fake_serving,)


def dsx(*args: str, fake: bool = False, env: dict | None = None, cwd: Path | None = None):
    """Run the command in a child process: ``dsx ARGS`` (with the fake stacks when asked)."""
    if fake:
        boot = ("import sys; sys.path.insert(0, sys.argv.pop(1)); import test_cli; "
                "test_cli.install_fake_stacks(); from dsx.cli import main; sys.exit(main(sys.argv[1:]))")
        cmd = [sys.executable, "-c", boot, str(TESTS), *args]
    else:
        cmd = [sys.executable, "-m", "dsx", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd or ROOT,
                          env={**os.environ, **(env or {})}, timeout=120)


def run_main(args, capsys, monkeypatch=None, fake=True):
    """The same entry point in-process (fast): (status, stdout, stderr)."""
    from dsx.cli import main

    if fake:
        import dsx.stacks

        monkeypatch.setattr(dsx.stacks, "TRAINING", (fake_training,))
        monkeypatch.setattr(dsx.stacks, "SERVING", (fake_serving,))
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse exits on unknown options
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def _real_stack_ready(workload: str = "training") -> bool:
    import dsx.stacks

    return bool(dsx.stacks.TRAINING if workload == "training" else dsx.stacks.SERVING)


# -- fake stacks: the command line itself ---------------------------------------------------
def test_audit_default_text_fake(capsys, monkeypatch):
    code, out, err = run_main(["audit"], capsys, monkeypatch)
    assert code == 0, err
    assert "llama-3.1-70b on 512 × H100-SXM (tp 8, pp 1, dp 64)" in out
    for domain in ("Node", "Data", "Algorithm", "Fleet/communication", "Fleet/reliability", "Ops/cost",
                   "Ops/environment", "Analysis"):
        assert f"\n{domain} " in out
    # binding constraints are computed: compute is the largest step term of the fake stack
    assert "compute: " in out and "of the step" in out and "region quebec" in out
    # the fake step time is proportional to 1 / peak FLOP/s: elasticity -1, and it leads the Analysis row
    line = next(x for x in out.splitlines() if "elasticity of step time to peak FLOP/s" in x)
    assert line.split()[-1] == "-1.00"
    assert "peak FLOP/s (elasticity -1.00); compute (peak FLOP/s)" in out


def test_audit_json_fake(capsys, monkeypatch):
    code, out, err = run_main(["audit", "--json"], capsys, monkeypatch)
    assert code == 0, err
    data = json.loads(out)
    assert data["step_time"]["units"] == "s" and data["step_time"]["value"] > 0
    assert data["gpus"] == {"value": 512, "units": ""}
    assert data["bound"] in ("compute", "memory") and data["feasible"] is True
    assert data["model"] == "llama-3.1-70b" and data["region"] == "quebec"
    # one value everywhere: no arrays hide in a single-configuration object
    assert all(isinstance(v, (dict, str, bool)) for v in data.values())


def test_audit_comparison_fake(capsys, monkeypatch):
    r = dsx("audit", "--gpus", "512,1024", "--global_batch=1024", fake=True)
    assert r.returncode == 0, r.stderr
    head = r.stdout.splitlines()[2]
    assert "gpus=512" in head and "gpus=1,024" in head
    assert r.stdout.count("binding constraint") == 8
    code, out, _ = run_main(["audit", "--gpus", "512,1024", "--json"], capsys, monkeypatch)
    j = json.loads(out)
    assert [c["gpus"]["value"] for c in j] == [512, 1024]
    assert j[1]["fleet_mtbf"]["value"] == pytest.approx(j[0]["fleet_mtbf"]["value"] / 2)


def test_audit_serving_fake(capsys, monkeypatch):
    code, out, err = run_main(["audit", "--workload", "serving"], capsys, monkeypatch)
    assert code == 0, err
    assert "serving audit: llama-3.1-70b on 4 × H100-SXM (tp 4), 2,048 in / 256 out" in out
    for word in ("TTFT", "TPOT", "max batch", "cost per M tokens", "carbon per M tokens", "of end-to-end latency"):
        assert word in out


@pytest.mark.parametrize("args, words", [
    (["--region", "quebek"], ["--region 'quebek'", "did you mean 'quebec'"]),
    (["--tp", "0"], ["--tp '0'", ">= 1"]),
    (["--gpus", "many"], ["--gpus 'many'"]),
    (["--seq-len", "2048,"], ["--seq-len", "empty value"]),
    (["--hbm-bandwidth", "3 GB"], ["--hbm-bandwidth '3 GB'", "dimension"]),
    (["--nonsense", "1"], ["unrecognized arguments: --nonsense"]),
    (["--gpus", ",".join(map(str, range(8, 800, 8)))], ["too many for an audit", "dsx run"]),
])
def test_bad_input_is_one_line_exit_2(args, words, capsys, monkeypatch):
    code, _, err = run_main(["audit", *args], capsys, monkeypatch)
    assert code == 2
    assert len(err.strip().splitlines()) == 1  # usage errors too: one line, no usage block
    for w in words:
        assert w in err, err


def test_bad_input_through_subprocess():
    r = dsx("audit", "--region", "quebec,atlantis", "--gpus", "512", fake=True)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("dsx audit: error: --region 'quebec,atlantis': ") and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_catalog(capsys, monkeypatch):
    r = dsx("catalog", "hardware")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("id ") and "hbm_capacity [GB]" in lines[0] and "bf16 peak [TFLOP/s]" in lines[0]
    row = next(line for line in lines if line.startswith("H100-SXM "))
    assert " 989 " in row and " 80 " in row
    assert "regions" in run_main(["catalog"], capsys, fake=False)[1]
    code, _, err = run_main(["catalog", "gpus"], capsys, fake=False)
    assert code == 2 and "unknown kind 'gpus'" in err
    j = json.loads(run_main(["catalog", "fabrics", "--json"], capsys, fake=False)[1])
    assert j["ib-ndr"]["bandwidth"] == pytest.approx(50e9)


def test_help_lists_every_input(capsys):
    from dsx import space
    from dsx.solvers import base

    space._inputs()
    code, out, _ = run_main(["audit", "--help"], capsys, fake=False)
    assert code == 0
    for name in [*base.INPUTS, *space.KEYS]:
        assert "--" + name.replace("_", "-") in out, name


# -- the real stacks -----------------------------------------------------------------------
def test_audit_real_default_is_fast():
    if not _real_stack_ready():
        pytest.skip("training stack not assembled yet")
    t0 = time.perf_counter()
    r = subprocess.run([str(Path(sys.executable).parent / "dsx"), "audit"], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)
    seconds = time.perf_counter() - t0
    print(f"dsx audit (default) wall time: {seconds:.2f} s")
    assert r.returncode == 0, r.stderr
    assert "Analysis" in r.stdout and "Traceback" not in r.stderr


def test_audit_real_json_has_contract_names(capsys):
    if not _real_stack_ready():
        pytest.skip("training stack not assembled yet")
    code, out, err = run_main(["audit", "--json"], capsys, fake=False)
    assert code == 0, err
    data = json.loads(out)
    present = [n for n in ("step_time", "tokens_per_s", "mfu", "memory_per_gpu", "time_to_train", "fleet_mtbf",
                           "checkpoint_interval", "goodput", "energy", "carbon", "water", "capex", "opex", "tco")
               if n in data]
    assert "step_time" in present or "fleet_mtbf" in present
    for n in present:
        assert set(data[n]) == {"value", "units"}


def test_html_and_quantities_with_units(capsys, monkeypatch):
    code, out, err = run_main(["audit", "--html", "--hbm-bandwidth", "4.8 TB/s"], capsys, monkeypatch)
    assert code == 0, err
    assert out.startswith("<div class='dsx-report'>") and "<b>Node</b>" in out
    code, out, err = run_main(["audit", "--json", "--hbm_bandwidth=4.8 TB/s", "--sequence-parallel", "true"],
                              capsys, monkeypatch)
    data = json.loads(out)
    assert data["hbm_bandwidth"] == {"value": 4.8e12, "units": "B/s"} and data["sequence_parallel"] is True
    # the fake step time does not depend on HBM bandwidth: its elasticity is 0 (HBM 4.8 TB/s took effect)
    assert data["elasticity_hbm_bandwidth"]["value"] == pytest.approx(0.0, abs=1e-9)
    assert data["ridge_intensity"]["value"] == pytest.approx(989e12 / 4.8e12)


def test_audit_real_serving_json(capsys):
    if not _real_stack_ready("serving"):
        pytest.skip("serving stack not assembled yet")
    code, out, err = run_main(["audit", "--workload", "serving", "--json"], capsys, fake=False)
    assert code == 0, err
    data = json.loads(out)
    assert data["tp"]["value"] == 4 and data["input_len"]["value"] == 2048 and data["output_len"]["value"] == 256
    assert data["ttft"]["units"] == "s" and 0 < data["ttft"]["value"] < data["e2e_latency"]["value"]
    assert data["binding_input"] in ("peak_flops", "hbm_bandwidth", "scale_up_bandwidth") or "=" in data["binding_input"]


def test_audit_scale_out_bandwidth_overrides_default_fabric(capsys):
    # the audit's default names ib-ndr (50 GB/s); --scale-out-bandwidth was dropped for it
    if not _real_stack_ready():
        pytest.skip("training stack not assembled yet")
    code, out, err = run_main(["audit", "--json"], capsys, fake=False)
    assert code == 0, err
    default = json.loads(out)
    code, out, err = run_main(["audit", "--json", "--scale-out-bandwidth", "100 GB/s"], capsys, fake=False)
    assert code == 0, err
    fast = json.loads(out)
    assert default["scale_out_bandwidth"]["value"] == pytest.approx(50e9)
    assert fast["scale_out_bandwidth"]["value"] == pytest.approx(100e9)
    assert fast["step_time"]["value"] < default["step_time"]["value"]
    # bandwidth and latency both given: the default fabric makes way (not refused, not used)
    code, out, err = run_main(["audit", "--json", "--scale-out-bandwidth", "100 GB/s", "--scale-out-latency", "5 us"],
                              capsys, fake=False)
    assert code == 0, err
    assert json.loads(out)["step_time"]["value"] == pytest.approx(fast["step_time"]["value"], rel=1e-12)


def test_zero_stage_above_three_is_refused_by_the_command(capsys, monkeypatch):
    code, out, err = run_main(["audit", "--zero", "5"], capsys, monkeypatch)
    assert code == 2 and out == ""
    assert err.strip() == "dsx audit: error: --zero '5': zero: 5 is out of range; expected a value >= 0 and <= 3"
