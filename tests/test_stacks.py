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
    monkeypatch.setattr(stacks, "UNCHECKED", 0)
    monkeypatch.setattr(stacks, "_available_memory", lambda: 2e4)  # pretend 20 kB are free
    with pytest.raises(DsxInputError) as exc:
        dsx.training(dsx.Space(**SPACE), outputs=["tco"])
    msg = str(exc.value)
    assert "kB" in msg and "chunk_size=" in msg and "32 configurations" in msg and "B per configuration" in msg
    # with chunks it runs
    assert dsx.training(dsx.Space(**SPACE), chunk_size=4, outputs=["tco"])["tco"].size > 0


def test_the_advice_runs_as_written_and_every_piece_fits(monkeypatch):
    """The refusal's example (copied as written) runs, cut over as many axes as a piece needs."""
    import re

    from dsx import footprint

    whole = dsx.training(dsx.Space(**SPACE))
    fp = footprint.measure(lambda sp: stacks.evaluate(stacks.prune(stacks.TRAINING, {"tco", "step_time"}),
                                                      sp.to_dataset()), dsx.Space(**SPACE),
                           {"tco", "step_time", "feasible", "reason"})
    sizes = dsx.Space(**SPACE).dims
    one = {**sizes, **stacks.split_axes(dsx.Space(**SPACE).axes, 1)}
    free = 2 * fp.chunked(sizes, one) * 1.01      # half of it holds exactly a one-configuration piece
    monkeypatch.setattr(stacks, "UNCHECKED", 0)
    monkeypatch.setattr(stacks, "_available_memory", lambda: free)
    with pytest.raises(DsxInputError) as exc:
        dsx.training(dsx.Space(**SPACE), outputs=["tco", "step_time"])
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


BIG = dict(model="llama-3.1-70b", hardware="H100", gpus=list(range(64, 64 * 41, 64)), tp=[1, 2, 4, 8],
           pp=[1, 2, 4, 8], global_batch=[512, 1024, 2048, 4096], seq_len=[2048, 4096, 8192],
           micro_batch=[1, 2], train_tokens=1e12)   # 40 x 4 x 4 x 4 x 3 x 2 = 30,720 configurations


@pytest.mark.parametrize("outputs", [["time_to_train", "tco"], None])
def test_the_advice_fits_when_followed(monkeypatch, tmp_path, outputs):
    """Refused at a small free memory, the advice runs within half of it (tracemalloc peak): the
    advised chunk_size, or (every output kept: they alone do not fit) a store= streamed to disk."""
    import re
    import tracemalloc

    space = dsx.Space(**BIG)
    tracemalloc.start()
    whole = dsx.training(space, outputs=outputs)
    _, peak_whole = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    free = peak_whole * 0.9                                  # the whole space needs more than half of it
    monkeypatch.setattr(stacks, "UNCHECKED", 0)
    monkeypatch.setattr(stacks, "_available_memory", lambda: free)
    with pytest.raises(DsxInputError) as exc:
        dsx.training(space, outputs=outputs)
    advised = re.search(r"chunk_size=(\d+)", str(exc.value))
    if outputs is None:
        assert advised is None and "store='result.zarr'" in str(exc.value) and "no chunk_size fits" in str(exc.value)
        kwargs = {"store": tmp_path / "result.zarr"}
    else:
        kwargs = {"chunk_size": int(advised.group(1))}
    tracemalloc.start()
    parts = dsx.training(space, outputs=outputs, **kwargs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"outputs={outputs}: whole {peak_whole / 1e6:.1f} MB; advised {kwargs}: peak {peak / 1e6:.1f} MB "
          f"of a {free / 2e6:.1f} MB budget")
    assert peak <= free / 2
    got = parts.time_to_train.load().transpose(*whole.time_to_train.dims)
    np.testing.assert_array_equal(*xr.broadcast(whole.time_to_train, got))
