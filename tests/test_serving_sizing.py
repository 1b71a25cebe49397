"""Serving is sized the way people ask: ``gpus`` is the deployment, replicas follow (issue 10 item 5)."""

from __future__ import annotations

import numpy as np
import pytest

import dsx
from dsx.errors import DsxInputError
from dsx.solvers.erlang import erlang_c

BASE = dict(model="llama-3.1-70b", hardware="H100", input_len=2048, output_len=256, region="quebec")


def test_gpus_set_the_replicas_and_are_kept():
    ds = dsx.serving(dsx.Space(**BASE, gpus=[4, 12, 16, 64], tp=[4, 8], batch=8))
    replicas = ds.replicas.transpose("gpus", "tp").values
    np.testing.assert_array_equal(replicas, [[1, 0.5], [3, 1.5], [4, 2], [16, 8]])   # gpus / tp
    assert ds.gpus.values.tolist() == [4, 12, 16, 64]            # the input, never replaced
    reason = dsx.decode(ds.reason).transpose("gpus", "tp").values
    assert reason[0, 1] == "model_parallel_exceeds_gpus"         # 4 GPUs < one TP8 replica
    assert reason[1, 1] == "gpus_not_divisible"                  # 12 GPUs = 1.5 TP8 replicas
    assert reason[3, 1] == ""
    assert np.isnan(float(ds.ttft.sel(gpus=12, tp=8))) and np.isnan(float(ds.cost_per_mtoken.sel(gpus=12, tp=8)))


def test_without_gpus_replicas_set_the_size_and_both_is_refused():
    ds = dsx.serving(dsx.Space(**BASE, tp=8, replicas=[1, 3], batch=8))
    assert ds.gpus.values.tolist() == [8, 24]
    assert dsx.serving(dsx.Space(**BASE, tp=4, batch=8)).gpus.item() == 4          # default: one replica
    with pytest.raises(DsxInputError, match="gpus.*replicas"):
        dsx.serving(dsx.Space(**BASE, tp=8, gpus=16, replicas=2, batch=8))
    disagg = dsx.serving(dsx.Space(**BASE, tp=8, gpus=64, batch=8, disaggregated=True))
    assert float(disagg.replicas) == 4.0                        # 16 GPUs per prefill+decode pair


def test_queue_uses_the_deployments_replicas():
    """Utilisation and the Erlang C wait at gpus=96, tp=8 are those of 12 replicas (hand derivation)."""
    lam = 20.0
    ds = dsx.serving(dsx.Space(**BASE, gpus=[64, 96], tp=8, batch=8, arrival_rate=lam))
    assert dsx.decode(ds.reason).values.tolist() == ["unstable_queue", ""]     # 8 replicas saturate, 12 do not
    ds = ds.sel(gpus=96)
    by_replicas = dsx.serving(dsx.Space(**BASE, replicas=12, tp=8, batch=8, arrival_rate=lam))
    slots = 12 * 8
    rho = lam * float(ds.e2e_latency) / slots                   # ρ = λ·E2E / (replicas·batch)
    assert float(ds.utilization) == pytest.approx(rho, rel=1e-9)
    assert float(ds.ttft_q) == pytest.approx(float(by_replicas.ttft_q), rel=1e-12)
    pw = float(erlang_c(slots, lam * float(ds.e2e_latency)))
    print(f"rho={rho:.3f} P(wait)={pw:.4f} ttft_q={float(ds.ttft_q):.3f} s")
    assert 0 <= pw < 1


def test_how_many_gpus_of_which_kind_for_20_requests_per_second():
    gpus = [8, 16, 24, 32, 48, 64, 96, 128, 192]
    ds = dsx.serving(dsx.Space(
        model="llama-3.1-70b", hardware=["H100", "H200", "B200"], gpus=gpus, tp=[4, 8], batch=[8, 32],
        input_len=2048, output_len=256, region="quebec", arrival_rate=20.0))
    answer = dsx.best(ds, minimize="gpus", where="ttft_q < 1 s", over=["gpus", "tp", "batch"])
    print(answer[["gpus", "tp", "batch"]].to_dataframe())
    assert bool(answer.found.all())
    meets = ds.feasible & (ds.ttft_q < 1.0)
    for hw in answer.hardware.values:
        n = int(answer.gpus.sel(hardware=hw))
        chosen = meets.sel(hardware=hw, gpus=n, tp=int(answer.tp.sel(hardware=hw)),
                           batch=int(answer.batch.sel(hardware=hw)))
        assert bool(chosen)
        smaller = meets.sel(hardware=hw).sel(gpus=[g for g in gpus if g < n])
        assert not bool(smaller.any()), hw                      # no smaller deployment meets it
        # at the answer the queue holds: 20 req/s below the deployment's capacity
        sel = ds.sel(hardware=hw, gpus=n, tp=int(answer.tp.sel(hardware=hw)), batch=int(answer.batch.sel(hardware=hw)))
        assert float(sel.replicas) * float(sel.request_capacity) > 20.0
    # a faster, larger-memory part never needs more GPUs than the H100
    assert int(answer.gpus.sel(hardware="B200")) <= int(answer.gpus.sel(hardware="H100-SXM"))


def test_readme_sizing_example_runs():
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = next(b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "ttft_q < 1 s" in b)
    namespace: dict = {"dsx": dsx}
    *body, last = code.strip().splitlines()
    exec("\n".join(body), namespace)
    answer = eval(last, namespace)
    print(answer[["gpus", "tp", "batch"]].to_dataframe())
    assert bool(answer.found.all()) and set(answer.gpus.values) <= {8, 16, 32, 48, 64, 96, 128}
