"""``outputs=`` runs only the solvers the outputs need, and changes no number (issue 12 item 4).

A pruned result equals the full result restricted to the kept variables — values, NaN where
infeasible, ``feasible`` and ``reason`` — over random spaces of both stacks (hypothesis).
"""

from __future__ import annotations

import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings, strategies as st

import dsx
from dsx.prune import prune
from dsx.solvers import outcomes
from dsx.stacks import SERVING, TRAINING

TRAIN_AXES = dict(model=["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b"], hardware=["H100", "A100-80GB", "MI300X"],
                  gpus=[8, 64, 512], tp=[1, 2, 8, 16], pp=[1, 2, 4], global_batch=[64, 1024],
                  precision=["bf16", "fp8"], region=["quebec", "poland"], seq_len=[2048, 8192])
SERVE_AXES = dict(model=["llama-3.1-8b", "llama-3.1-70b"], hardware=["H100", "MI300X", "A100-80GB"],
                  tp=[1, 2, 8], batch=[1, 32, 512], input_len=[128, 8192], output_len=[64, 1024],
                  precision=["bf16", "fp8"], arrival_rate=[0.0, 5.0])
TRAIN_OUT = ["time_to_train", "tco", "carbon", "memory_per_gpu", "mfu", "water", "energy", "bottleneck",
             "step_time", "checkpoint_interval", "cloud_cost", "tokens_per_s"]
SERVE_OUT = ["ttft", "tpot", "cost_per_mtoken", "energy_per_token", "carbon", "memory_per_gpu", "max_batch",
             "replicas_needed", "e2e_q", "decode_bound"]


def _space(draw, axes):
    chosen = {}
    for name, values in axes.items():
        picked = draw(st.lists(st.sampled_from(values), min_size=1, max_size=len(values), unique=True))
        chosen[name] = picked if len(picked) > 1 else picked[0]
    return chosen


@st.composite
def cases(draw, axes, names):
    return _space(draw, axes), draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))


def _check(run, space, outputs):
    full = run(dsx.Space(**space))
    pruned = run(dsx.Space(**space), outputs=outputs)
    keep = set(outputs) | {"feasible", "reason"}
    assert set(pruned.data_vars) == keep & set(full.data_vars)
    for name in pruned.data_vars:
        xr.testing.assert_identical(pruned[name], full[name])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(TRAIN_AXES, TRAIN_OUT))
def test_pruned_training_equals_full(case):
    _check(dsx.training, *case)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(SERVE_AXES, SERVE_OUT))
def test_pruned_serving_equals_full(case):
    _check(dsx.serving, *case)


def test_infeasible_configuration_stays_nan_in_every_kept_outcome():
    ds = dsx.training(dsx.Space(model="llama-3.1-70b", hardware="H100", gpus=[8, 512], tp=[1, 8]),
                      outputs=["time_to_train", "tco"])
    assert not bool(ds.feasible.all())
    for name in ("time_to_train", "tco"):
        assert bool(ds[name].where(~ds.feasible).isnull().all())


@pytest.mark.parametrize("steps, outputs, dropped", [
    (TRAINING, ["time_to_train"], {"carbon_footprint", "operating_cost", "data_pipeline", "water_footprint"}),
    (SERVING, ["ttft"], {"carbon_footprint", "operating_cost", "water_footprint"}),
])
def test_prune_drops_the_solvers_the_outputs_do_not_need(steps, outputs, dropped):
    kept = {step.__name__ for step in prune(steps, set(outputs))}
    assert not kept & dropped
    assert {"feasibility" if steps is TRAINING else "serving_feasibility", "finite_outcomes"} <= kept


def test_an_undeclared_step_keeps_everything_upstream():
    def opaque(ds):
        return ds

    steps = (*TRAINING[:-2], opaque, *TRAINING[-2:])
    kept = prune(steps, {"feasible"})
    assert kept[:len(TRAINING) - 1] == steps[:len(TRAINING) - 1]
    assert outcomes.mask_infeasible not in kept


def test_pruned_draws_equal_the_full_draws():
    space = dsx.Space(model="llama-3.1-70b", hardware="H100", gpus=[64, 512], tp=[4, 8],
                      kernel_efficiency=dsx.normal(0.6, 0.05), pue=dsx.normal(1.2, 0.05))
    full = dsx.training(space, draws=16, seed=3)
    pruned = dsx.training(space, draws=16, seed=3, outputs=["time_to_train", "carbon"])
    for name in ("time_to_train", "carbon", "feasible", "reason"):
        xr.testing.assert_identical(pruned[name], full[name])
