"""dsx.audit(): the audit as data — elasticities and binding_* variables, agreeing with `dsx audit --json`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

import dsx
from dsx import report
from dsx.cli import main

from dsx import diagnosis as audit_mod  # the module (dsx.audit is the function)


def _json_of(ds: xr.Dataset) -> dict | list:
    return json.loads(json.dumps(report.as_json(ds)))


@pytest.mark.parametrize("args, call", [
    ([], {}),
    (["--workload", "serving"], {"workload": "serving"}),
    (["--gpus", "512,1024"], {"gpus": [512, 1024]}),
])
def test_cli_json_agrees_with_dsx_audit_figure_for_figure(args, call, capsys):
    assert main(["audit", "--json", *args]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == _json_of(dsx.audit(**call))
    one = printed if isinstance(printed, dict) else printed[0]
    assert any(k.startswith("binding_") for k in one) and any(k.startswith("elasticity_") for k in one)


def test_report_of_the_audit_is_what_the_command_prints(capsys):
    assert main(["audit"]) == 0
    assert capsys.readouterr().out == dsx.audit().dsx.report()


def test_diagnosis_is_data_for_every_configuration():
    ds = dsx.audit(gpus=[512, 1024])
    assert ds.binding_step.dims == ("gpus",)            # one diagnosis per configuration, vectorized
    assert set(np.unique(ds.binding_step.values)) <= set(audit_mod.STEP_TERMS)
    assert float(ds.binding_step_share.max()) <= 1.0
    # shares of the step are the solvers' terms over the solvers' step time, nothing re-derived
    np.testing.assert_allclose(ds.step_comm_share, ds.step_comm_time / ds.step_time)


def test_thresholds_are_named_constants():
    base = xr.Dataset({"tokens_per_param": ((), 20.0), "optimal_tokens_per_param": ((), 20.0), "law": ((), "20x")})
    ratio = {"over_trained": audit_mod.OVER_TRAINED * 1.01, "under_trained": audit_mod.UNDER_TRAINED * 0.99,
             "compute_optimal": 1.0}
    for code, r in ratio.items():
        d = audit_mod.diagnose(base.assign(tokens_per_param=20.0 * r))
        assert d.binding_algorithm.item() == code


def test_largest_skips_missing_parts_and_ties_go_first():
    code, share = audit_mod.largest({"a": xr.DataArray([1.0, np.nan, 2.0]), "b": xr.DataArray([1.0, np.nan, 3.0])})
    assert code.values.tolist() == ["a", "", "b"]
    np.testing.assert_allclose(share.values, [0.5, np.nan, 0.6])


def test_unknown_workload_is_refused():
    with pytest.raises(dsx.DsxInputError, match="workload"):
        dsx.audit(workload="inference")
