"""The composed stacks: one call over a whole space, chunking, memory refusal, compact results."""

import numpy as np
import pytest
import xarray as xr

import dsx
from dsx import DsxInputError, stacks

SPACE = dict(model="llama-3.1-70b", hardware=["H100", "B200"], gpus=[256, 512], tp=[4, 8], pp=[1, 2],
             global_batch=1024, region=["quebec", "poland"], train_tokens=1e12)


def test_issue_example_36_configurations_each_variable_compact():
    s = dsx.Space(model=["llama-3.1-8b", "llama-3.1-70b"], hardware=["H100", "B200", "MI300X"],
                  global_batch=[256, 512, 1024], precision=["bf16", "fp8"], gpus=64, tp=8)
    assert s.size == 36
    ds = dsx.training(s)
    assert ds["params"].dims == ("model",)
    assert set(ds["memory_per_gpu"].dims) <= {"model", "precision", "global_batch"}
    assert "hardware" not in ds["params"].dims and "region" not in ds["capex"].dims
    for name in ("step_time", "mfu", "memory_per_gpu", "carbon", "tco", "feasible"):
        assert ds[name].attrs.get("long_name") and "units" in ds[name].attrs, name


def test_chunked_equals_whole_and_keeps_outputs():
    whole = dsx.training(dsx.Space(**SPACE))
    parts = dsx.training(dsx.Space(**SPACE), chunk_size=8, outputs=["step_time", "tco", "carbon"])
    assert set(parts.data_vars) == {"step_time", "tco", "carbon", "feasible", "reason"}
    for name in ("step_time", "tco", "carbon"):
        a, b = xr.broadcast(whole[name], parts[name])
        np.testing.assert_allclose(a.transpose(*b.dims).values, b.values, rtol=1e-12)


def test_too_large_space_is_refused_with_estimate(monkeypatch):
    monkeypatch.setattr(stacks, "_available_memory", lambda: 1e4)  # pretend 10 kB are free
    with pytest.raises(DsxInputError) as exc:
        dsx.training(dsx.Space(**SPACE))
    msg = str(exc.value)
    assert "GiB" in msg and "chunk_size=" in msg and "32 configurations" in msg
    # with chunks it runs
    assert dsx.training(dsx.Space(**SPACE), chunk_size=4, outputs=["tco"])["tco"].size > 0


def test_the_advice_runs_as_written_and_every_piece_fits(monkeypatch):
    """The refusal's example (copied as written) runs, cut over as many axes as a piece needs."""
    import re

    whole = dsx.training(dsx.Space(**SPACE))
    monkeypatch.setattr(stacks, "_available_memory", lambda: 8e3)   # a piece may hold 1 configuration
    with pytest.raises(DsxInputError) as exc:
        dsx.training(dsx.Space(**SPACE))
    example = re.search(r"chunk_size=([^,)\s]+)", str(exc.value)).group(1)
    size = int(example)                                   # a Python literal (no thousands separator)
    assert size == 1 and "split along 'hardware', 'gpus', 'tp', 'pp', 'region'" in str(exc.value)
    sizes = []
    real = stacks.evaluate
    monkeypatch.setattr(stacks, "evaluate", lambda steps, ds: sizes.append(
        int(np.prod([ds.sizes[d] for d in ds.dims]))) or real(steps, ds))
    parts = dsx.training(dsx.Space(**SPACE), chunk_size=size, outputs=["tco", "step_time"])
    assert max(sizes) <= size and len(sizes) == 32
    a, b = xr.broadcast(whole.step_time, parts.step_time)
    np.testing.assert_allclose(a.transpose(*b.dims).values, b.values, rtol=1e-12)


def test_split_axes_cuts_as_few_axes_as_needed():
    axes = {"gpus": list(range(10)), "tp": [1, 2, 4], "model": ["a", "b"]}
    assert stacks.split_axes(axes, 60) == {}  # unused: the caller only splits a space that is too large
    assert stacks.split_axes(axes, 12) == {"gpus": 2}
    assert stacks.split_axes(axes, 3) == {"gpus": 1, "tp": 1}            # pieces of 2 (both models)
    assert stacks.split_axes(axes, 1) == {"gpus": 1, "tp": 1, "model": 1}


def test_region_changes_carbon_tens_of_times_and_cost():
    ds = dsx.training(dsx.Space(model="llama-3.1-70b", hardware="H100", gpus=512, tp=8, global_batch=2048,
                                days=30, scale_out_fabric="ib-ndr", region=["quebec", "poland"]))
    carbon = ds.carbon_operational.sel(region="poland") / ds.carbon_operational.sel(region="quebec")
    cost = ds.opex_energy.sel(region="poland") / ds.opex_energy.sel(region="quebec")
    print(f"Poland/Quebec: operational carbon x{float(carbon):.1f}, energy cost x{float(cost):.2f}")
    assert 30 < float(carbon) < 100
    assert float(cost) > 2


def test_store_streams_pieces_to_zarr_and_matches(tmp_path):
    pytest.importorskip("zarr")
    whole = dsx.training(dsx.Space(**SPACE))
    store = tmp_path / "result.zarr"
    lazy = dsx.training(dsx.Space(**SPACE), chunk_size=8, outputs=["step_time", "tco", "reason"], store=store)
    assert store.exists() and not (tmp_path / "result.zarr.partial").exists()
    a, b = xr.broadcast(whole["tco"], lazy["tco"].load())
    np.testing.assert_allclose(a.transpose(*b.dims).values, b.values, rtol=1e-12)
    assert set(np.unique(lazy["reason"].values)) == set(np.unique(whole["reason"].values))


def test_store_leaves_nothing_on_error(tmp_path, monkeypatch):
    pytest.importorskip("zarr")
    calls = {"n": 0}
    real = stacks.evaluate

    def failing(steps, ds):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(steps, ds)

    monkeypatch.setattr(stacks, "evaluate", failing)
    with pytest.raises(RuntimeError):
        dsx.training(dsx.Space(**SPACE), chunk_size=8, outputs=["tco"], store=tmp_path / "r.zarr")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stack", [dsx.training, dsx.serving])
def test_every_variable_states_units_and_meaning_and_defaults_are_shared(stack):
    ds = stack(dsx.Space(model="llama-3.1-70b", hardware=["H100", "B200"], tp=[4, 8]))
    assert [v for v in ds.data_vars if "units" not in ds[v].attrs] == []
    assert [v for v in ds.data_vars if not ds[v].attrs.get("long_name")] == []
    # an input left at its default is one variable in the result, seen by every solver
    assert ds["link_efficiency"].attrs.get("input") == "default"
    assert float(ds["link_efficiency"]) == dsx.inputs().loc["link_efficiency", "default"]
