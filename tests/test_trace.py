"""The dependency tracer follows every solver of both stacks (issue 13 item 4).

A dimension of length 1 cannot show whether a result varies along it, so the solver wrapper
traces each kernel with dimension-only stand-ins (``dsx.solvers.base._trace_dims``). A kernel
the tracer cannot follow returns None there, and its outputs keep every length-1 dimension of
every input. These tests evaluate both stacks on spaces whose every swept dimension has length 1
(the branches of the kernels on their data swept too) and assert the trace of each solver.
"""

import inspect

import numpy as np
import pytest

import dsx
from dsx import stacks
from dsx.solvers import base
from dsx.solvers.serving_ops import _DERIVED, CHECKS, serving_feasibility

TRAINING = dict(model=["llama-3.1-8b"], hardware=["H100"], gpus=[64], tp=[2], pp=[2], zero=[3],
                global_batch=[256], recompute=["selective"], precision=["bf16"], region=["quebec"])
SERVING = dict(model=["mixtral-8x7b"], hardware=["H100"], batch=[8], tp=[2], ep=[2], input_len=[512],
               output_len=[128], precision=["fp8"], weight_offload=[False], prefix_cache_hit=[0.0],
               arrival_rate=[1.0], ttft_slo=[2.0], disaggregated=[False], region=["quebec"])


def _traces(monkeypatch, run, space):
    seen = {}
    trace = base._trace_dims

    def record(kernel, scalars, labelled):
        seen[kernel.__name__] = out = trace(kernel, scalars, labelled)
        return out
    monkeypatch.setattr(base, "_trace_dims", record)
    run(dsx.Space(**space))
    return seen


@pytest.mark.parametrize("name, run, stack, space", [
    ("training", dsx.training, stacks.TRAINING, TRAINING),
    ("serving", dsx.serving, stacks.SERVING, SERVING),
])
def test_tracer_follows_every_solver(monkeypatch, name, run, stack, space):
    seen = _traces(monkeypatch, run, space)
    solvers = {s.__name__ for s in stack if hasattr(s, "kernel")}
    assert solvers <= set(seen), f"{name}: never traced: {sorted(solvers - set(seen))}"
    failed = sorted(k for k in solvers if seen[k] is None)
    assert not failed, f"{name}: the tracer cannot follow {failed}"


def test_trace_keeps_only_the_dimensions_a_result_depends_on():
    # hand derivation: the KV bytes per token depend on the model and the precision of the KV
    # cache, not on the batch, nor (without offload) does max_batch; the
    # decode step on the batch (KV reads grow with it)
    ds = dsx.serving(dsx.Space(**SERVING), mask_infeasible=False)
    assert "batch" not in ds.kv_bytes_per_token.dims and "batch" not in ds.max_batch.dims
    assert "batch" in ds.decode_step_latency.dims and "model" in ds.kv_bytes_per_token.dims
    assert "arrival_rate" not in ds.tpot.dims and "arrival_rate" in ds.wait_time_mean.dims
    off = dsx.serving(dsx.Space(**{**SERVING, "weight_offload": [True]}), mask_infeasible=False)
    assert "batch" in off.offloaded_weights.dims  # offload: what stays resident depends on the batch's KV


def test_serving_kernels_have_explicit_parameters():
    # ordinary solvers: no **kw and no synthesised signature; the feasibility flags are the checks'
    for s in stacks.SERVING:
        if hasattr(s, "kernel"):
            params = inspect.signature(s.__wrapped__).parameters.values()
            assert all(p.kind == p.POSITIONAL_OR_KEYWORD for p in params), s.__name__
            assert "__signature__" not in vars(s.__wrapped__), s.__name__
    flags = [p for p in inspect.signature(serving_feasibility.__wrapped__).parameters if p.startswith("ok_")]
    assert sorted(flags) == sorted(name for _, name in CHECKS if name not in _DERIVED)


def test_traced_is_false_on_data():
    assert not base.traced(1.0, np.ones(3), "a") and base.traced(base._Dims(("x",)))
