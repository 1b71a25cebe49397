"""The audit report: readable units, computed binding constraints, text/HTML/JSON, comparisons."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from dsx import report
from dsx.errors import DsxInputError
from dsx.report import fmt


@pytest.mark.parametrize("value, units, name, expected", [
    (9.6252, "s", None, "9.63 s"), (0.0123, "s", None, "12.3 ms"), (4.2e-6, "s", None, "4.20 µs"),
    (8504.2, "s", None, "2.36 h"), (600.0, "s", None, "10.0 min"), (30 * 86400.0, "s", None, "30.0 days"),
    (141.2e9, "B", None, "141 GB"), (3.35e12, "B/s", None, "3.35 TB/s"), (5.25e23, "flop", None, "525 Zflop"),
    (158647.9e3 * 3.6e3, "J", None, "159 MWh"), (500.0, "J", None, "500 J"), (10.2e3, "W", None, "10.2 kW"),
    (3172958.0, "gCO2e", None, "3.17 t CO2e"), (3172.9, "gCO2e", None, "3.17 kg CO2e"), (12.0, "gCO2e", None, "12.0 g CO2e"),
    (502982.95, "USD", None, "$502,983"), (2.5, "USD", None, "$2.50"), (1.5, "USD/h", None, "$1.50/h"),
    (1.24e12, "token", None, "1.24 T tokens"), (70.6e9, "param", None, "70.6 B params"), (250.0, "L", None, "250 L"),
    (2.5e6, "L", None, "2,500 m³"), (0.963, "", "scaling_efficiency", "96.3 %"), (0.4, "", "mfu", "40.0 %"),
    (17.55, "", "tokens_per_param", "17.6"), (2048.0, "", "global_batch", "2,048"), (np.nan, "s", None, "n/a"),
    (None, "s", None, "n/a"), (True, "", None, "yes"), ("compute", "", None, "compute"), (3.0, "flop/B", None, "3.00 flop/B"),
])
def test_fmt(value, units, name, expected):
    assert fmt(value, units, name) == expected


def _one(**over) -> xr.Dataset:
    """A hand-made one-configuration training result (numbers chosen to make each binding clear)."""
    v = {"model": ("", "llama-3.1-70b"), "hardware": ("", "H100-SXM"), "region": ("", "quebec"),
         "precision": ("", "bf16"), "gpus": ("", 512), "tp": ("", 8), "pp": ("", 1), "dp": ("", 64),
         "global_batch": ("", 2048), "seq_len": ("", 2048),
         "mb_compute_time": ("s", 0.2), "mb_memory_time": ("s", 0.01), "bound": ("", "compute"),
         "memory_per_gpu": ("B", 60e9), "hbm_capacity": ("B", 80e9), "ok_memory": ("", True),
         "data_utilization": ("", 0.002), "data_stalled": ("", False),
         "tokens_per_param": ("", 212.0), "chinchilla_tokens": ("token", 1.32e12), "chinchilla_params": ("param", 66e9),
         "optimal_tokens_per_param": ("token/param", 20.0),
         "step_time": ("s", 10.0), "step_compute_time": ("s", 7.0), "step_comm_time": ("s", 2.0),
         "step_bubble_time": ("s", 0.0), "step_dp_exposed_time": ("s", 0.5), "step_optimizer_time": ("s", 0.5),
         "scaling_efficiency": ("", 0.7), "mfu": ("", 0.35), "fleet_mtbf": ("s", 80 * 3600.0),
         "checkpoint_time": ("s", 120.0), "checkpoint_interval": ("s", 8000.0), "goodput": ("", 0.97),
         "checkpoint_overhead": ("", 120.0 / 8000.0), "failure_overhead": ("", 1 - 0.97 - 120.0 / 8000.0),
         "tco": ("USD", 1e6), "capex_amortized": ("USD", 7e5), "opex_energy": ("USD", 2e5),
         "opex_maintenance": ("USD", 1e5), "opex": ("USD", 3e5),
         "energy": ("J", 5e11), "carbon": ("gCO2e", 4e6), "carbon_operational": ("gCO2e", 1e6),
         "carbon_embodied": ("gCO2e", 3e6), "water": ("L", 1e5), "water_onsite": ("L", 0.0), "water_offsite": ("L", 1e5),
         "feasible": ("", True), "reason": ("", ""), "time_to_train": ("s", 30 * 86400.0)}
    v.update(over)
    return xr.Dataset({k: xr.DataArray(val, attrs={"units": u}) for k, (u, val) in v.items()})


def _binding(ds, domain):
    return next(r.binding for r in report.rows(ds) if r.domain == domain)


def test_binding_constraints_are_computed():
    ds = _one()
    assert _binding(ds, "Node") == "peak FLOP/s: compute time 20.0× memory time"
    assert _binding(ds, "Data") == "not binding: demand is 0.200 % of supply"
    assert _binding(ds, "Algorithm").startswith("over-trained: 10.6×")
    assert _binding(ds, "Fleet/communication") == "compute: 70.0 % of the step; largest overhead TP/CP/EP/PP communication 20.0 %"
    assert _binding(ds, "Fleet/reliability") == "failures (lost work + restarts): 1.50 % of wall time"
    assert _binding(ds, "Ops/cost") == "capex: 70.0 % of TCO"
    assert _binding(ds, "Ops/environment") == "embodied 75.0 % of carbon; off-site 100 % of water"
    assert _binding(ds, "Analysis") == "compute (peak FLOP/s): 67.9 % of wall time"   # 0.7 * 0.97


def test_binding_follows_the_numbers():
    # communication larger than compute, memory-bound, out of memory, stalled data, under-trained
    ds = _one(step_comm_time=("s", 9.0), bound=("", "memory"), mb_memory_time=("s", 0.5),
              memory_per_gpu=("B", 90e9), ok_memory=("", False), data_utilization=("", 1.5),
              data_stalled=("", True), tokens_per_param=("", 5.0), feasible=("", False), reason=("", "oom"),
              opex_energy=("USD", 9e5))
    assert _binding(ds, "Node") == "memory capacity: needs 90.0 GB > 80.0 GB (oom)"
    assert _binding(ds, "Fleet/communication").startswith("TP/CP/EP/PP communication: 90.0 % of the step")
    assert _binding(ds, "Data") == "data pipeline: demand is 150 % of supply"
    assert _binding(ds, "Algorithm").startswith("under-trained: 0.25")
    assert _binding(ds, "Ops/cost") == "energy: 90.0 % of TCO"
    assert _binding(ds, "Analysis") == "infeasible: oom"
    ok = _one(bound=("", "memory"), mb_memory_time=("s", 0.5))
    assert _binding(ok, "Node") == "HBM bandwidth: memory time 2.50× compute time"


def test_missing_variables_show_na():
    ds = xr.Dataset({"step_time": ((), 2.0, {"units": "s"}), "gpus": ((), 8)})
    txt = report.text(ds)
    assert "n/a" in txt and "2.00 s" in txt
    assert "Node" in txt and "Analysis" in txt


def test_text_layout_and_html():
    txt = report.text(_one())
    lines = txt.splitlines()
    assert lines[0].startswith("training audit: llama-3.1-70b on 512 × H100-SXM (tp 8, pp 1, dp 64)")
    header = lines[2]
    col = header.index("Binding constraint")
    node = next(line for line in lines if line.startswith("Node "))
    assert node[col:].startswith("peak FLOP/s")   # aligned under its header
    assert "$1,000,000" in txt and "4.00 t CO2e" in txt and "139 MWh" in txt and "3.33 days" in txt
    html = report.html(_one())
    assert html.startswith("<div class='dsx-report'>") and "<th style='text-align:left'>Binding constraint</th>" in html
    assert "$1,000,000" in html
    r = report.report(_one())
    assert r._repr_html_() == html and str(r) == txt


def test_comparison_one_column_per_configuration():
    a, b = (d.drop_vars("region") for d in (_one(), _one(carbon=("gCO2e", 8e7), carbon_operational=("gCO2e", 7.7e7))))
    ds = xr.concat([a, b], dim=xr.DataArray(["quebec", "poland"], dims="region", name="region"))
    txt = report.text(ds)
    header = txt.splitlines()[2]
    assert "region=quebec" in header and "region=poland" in header
    carbon = next(line for line in txt.splitlines() if line.strip().startswith("carbon"))
    assert "4.00 t CO2e" in carbon and "80.0 t CO2e" in carbon
    assert txt.count("binding constraint") == 8
    j = report.as_json(ds)
    assert [c["region"] for c in j] == ["quebec", "poland"]
    assert j[1]["carbon"] == {"value": 8e7, "units": "gCO2e"}


def test_json_single_configuration():
    j = report.as_json(_one(step_time=("s", np.nan)))
    assert j["tco"] == {"value": 1e6, "units": "USD"}
    assert j["gpus"] == {"value": 512, "units": ""}
    assert j["step_time"] == {"value": None, "units": "s"}    # NaN is null: valid JSON
    assert j["bound"] == "compute" and j["feasible"] is True
    json.loads(json.dumps(j, allow_nan=False))


def test_too_many_configurations():
    ds = xr.Dataset({"step_time": ("gpus", np.ones(100), {"units": "s"})}, coords={"gpus": np.arange(100)})
    with pytest.raises(DsxInputError, match="too many"):
        report.text(ds)


def test_serving_rows():
    ds = xr.Dataset({k: xr.DataArray(v, attrs={"units": u}) for k, (u, v) in {
        "ttft": ("s", 0.3), "tpot": ("s", 0.02), "output_len": ("", 256), "e2e_latency": ("s", 5.42),
        "decode_time": ("s", 5.12),
        "batch": ("", 16), "max_batch": ("", 64), "decode_bound": ("", "memory"), "prefill_bound": ("", "compute"),
        "cost_per_mtoken": ("USD/Mtoken", 1.5), "energy_per_token": ("J/token", 0.4),
        "carbon_per_mtoken": ("gCO2e/Mtoken", 8.0), "feasible": ("", True)}.items()})
    rows = {r.domain: r for r in report.rows(ds)}
    assert rows["Latency"].binding == "decode ((generated − 1) × TPOT): 94.5 % of end-to-end latency"
    assert rows["Capacity"].binding == "KV cache 25.0 % full"
    assert dict(rows["Ops"].items)["energy per M tokens"] == "111 Wh"
    assert dict(rows["Ops"].items)["cost per M tokens"] == "$1.50"
    assert dict(rows["Ops"].items)["carbon per M tokens"] == "8.00 g CO2e"


def test_elasticities_lead_the_analysis_binding():
    ds = _one(elasticity_peak_flops=("", -0.56), elasticity_hbm_bandwidth=("", -0.12),
              binding_input=("", "peak_flops"))
    assert _binding(ds, "Analysis") == "peak FLOP/s (elasticity -0.56); compute (peak FLOP/s): 67.9 % of wall time"
    items = dict(next(r for r in report.rows(ds) if r.domain == "Analysis").items)
    assert items["elasticity of step time to HBM bandwidth"] == "-0.12"
    tie = _one(elasticity_peak_flops=("", -0.5), elasticity_hbm_bandwidth=("", -0.5),
               binding_input=("", "peak_flops=hbm_bandwidth"))
    assert _binding(tie, "Analysis").startswith("peak FLOP/s = HBM bandwidth (elasticity -0.50)")
