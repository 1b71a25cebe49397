"""Lazy, dask-backed evaluation (``chunks=``) and the reductions that run inside its graph.

The lazy result must equal the eager one exactly, whatever the cut; ``dsx.best`` and
``dsx.pareto`` on it must give the eager answers while reducing piece by piece; and a
``dask.distributed`` cluster must run the pieces as tasks on its workers.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import dsx
from dsx.errors import DsxInputError
from dsx.lazy import pieces_of

SPACE = dict(model="llama-3.1-70b", hardware=["H100", "A100-80GB"], gpus=[256, 512, 1024], tp=[2, 4, 8],
             pp=[1, 2, 4], region=["quebec", "poland"], zero=[0, 1, 3])


@pytest.fixture(scope="module")
def eager():
    return dsx.training(dsx.Space(**SPACE))


def assert_same(a: xr.Dataset, b: xr.Dataset) -> None:
    assert set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        x, y = a[name], b[name]
        assert x.dims == y.dims, name
        if x.dtype.kind in "OU":
            assert (x.values.astype(str) == y.values.astype(str)).all(), name
        else:
            assert np.array_equal(x.values, y.values, equal_nan=True), name
        assert x.attrs.get("units") == y.attrs.get("units"), name


@pytest.mark.parametrize("chunks", [{"gpus": 1}, {"gpus": 2, "tp": 1}, {"region": 1, "zero": 2}, "auto"])
def test_lazy_equals_eager(eager, chunks):
    lazy = dsx.training(dsx.Space(**SPACE), chunks=chunks)
    assert all(hasattr(lazy[v].data, "dask") for v in lazy.data_vars)
    assert_same(eager, lazy.compute())


def test_auto_never_cuts_region_while_another_cut_exists(eager):
    from dsx.lazy import piece_lengths

    from dsx.footprint import of

    fp = of(eager)
    target = fp.working({"gpus": 1, "tp": 1, "pp": 3, "hardware": 2, "zero": 3, "region": 2})
    lengths = piece_lengths(dsx.Space(**SPACE), "auto", eager, task_bytes=target)
    assert lengths["region"] == 2            # only the cheap outputs (carbon, water, cost) carry it
    assert fp.working(lengths) <= target     # a piece fits the target, by measurement
    assert np.prod(list(lengths.values())) < dsx.Space(**SPACE).size


def test_auto_pieces_are_sized_by_measured_bytes():
    """A piece's measured peak (every variable's item size x the lengths of the axes it carries,
    x the transient factor) fits the task target, and is the largest cut along the split axis
    that does: so a pruned stack (outputs=) gets larger pieces than the whole stack."""
    from dsx.footprint import of
    from dsx.lazy import piece_lengths

    space = dsx.Space(**{**SPACE, "gpus": [64 * k for k in range(1, 41)]})  # 40 x 486 = 19,440 configurations
    for outputs in (None, ["tco"]):
        probe = dsx.training(space.replace(**{k: v[:2] for k, v in space.axes.items()}))
        if outputs is not None:
            from dsx import stacks
            from dsx.prune import prune

            steps = prune(stacks.TRAINING, set(outputs) | {"feasible", "reason"})
            probe = stacks.evaluate(steps, space.replace(**{k: v[:2] for k, v in space.axes.items()}).to_dataset())
        fp = of(probe)
        whole = fp.working(space.dims)
        target = whole / 7
        lengths = piece_lengths(space, "auto", probe, task_bytes=target)
        assert fp.working(lengths) <= target
        split = [a for a in lengths if lengths[a] < space.dims[a]]
        assert split and "region" not in split
        last = split[-1]
        assert fp.working({**lengths, last: lengths[last] + 1}) > target or lengths[last] == space.dims[last]
    # the lazy path runs the same sizing end to end and still equals the eager result
    small = dsx.Space(**SPACE)
    lazy = dsx.training(small, outputs=["tco"], chunks="auto")
    xr.testing.assert_equal(lazy.compute()["tco"], dsx.training(small, outputs=["tco"])["tco"])


@pytest.mark.parametrize("kw", [dict(minimize="step_time", over=["tp", "pp", "zero"]),
                                dict(minimize="tco", over=["tp", "pp"], include=["mfu"]),
                                dict(minimize="carbon"),
                                dict(maximize="mfu", over=["tp"], where="memory_per_gpu < 70 GB")])
@pytest.mark.parametrize("chunks", [{"gpus": 1, "tp": 2}, {"region": 1, "zero": 1}])
def test_best_in_graph_equals_eager(eager, kw, chunks):
    lazy = dsx.training(dsx.Space(**SPACE), chunks=chunks)
    assert pieces_of(lazy) is not None
    got = dsx.best(lazy, **kw)
    want = dsx.best(eager, **kw)
    xr.testing.assert_equal(want, got.transpose(*want.dims))
    # the optimum's labels keep their dtype (gpus = 256, not 256.0) when pieces split an optimised axis
    assert {v: got[v].dtype for v in got.data_vars} == {v: want[v].dtype for v in want.data_vars}


@pytest.mark.parametrize("kw", [dict(minimize=["step_time", "tco"]),
                                dict(minimize=["time_to_train", "tco", "carbon"]),
                                dict(minimize=["step_time", "tco"], over=["tp", "pp", "gpus"]),
                                dict(minimize=["time_to_train", "tco", "carbon"], maximize="mfu"),
                                dict(minimize=["step_time", "tco", "carbon", "memory_per_gpu"], over=["tp", "pp"])])
def test_pareto_in_graph_equals_eager(eager, kw):
    lazy = dsx.training(dsx.Space(**SPACE), chunks={"gpus": 1, "pp": 2})
    got = dsx.pareto(lazy, **kw)
    assert hasattr(got.data, "dask")  # the mask stays lazy: only the front points came back
    want = dsx.pareto(eager, **kw)
    assert bool((want == got.compute().transpose(*want.dims)).all())
    assert int(want.sum()) >= 1


def test_sliced_or_extended_lazy_results_reduce_eagerly(eager):
    lazy = dsx.training(dsx.Space(**SPACE), chunks={"gpus": 1})
    assert pieces_of(lazy.isel(gpus=[0, 1])) is None
    extended = lazy.assign(hours=lazy.time_to_train / 3600)
    assert pieces_of(extended) is None
    r = dsx.best(extended, minimize="hours", over=["tp", "pp", "zero"])
    np.testing.assert_allclose(r.hours.values,
                               dsx.best(eager, minimize="time_to_train", over=["tp", "pp", "zero"]).time_to_train / 3600)


@pytest.mark.parametrize("chunks, message", [("big", "'auto' or a mapping"), ({"nodes": 1}, "not an axis"),
                                             ({"gpus": 0}, ">= 1"), ({"gpus": 1.5}, "whole number"),
                                             (7, "mapping")])
def test_bad_chunks_are_refused(chunks, message):
    with pytest.raises(DsxInputError, match="chunks") as err:
        dsx.training(dsx.Space(**SPACE), chunks=chunks)
    assert message in str(err.value)


def test_serving_lazy_equals_eager():
    space = dsx.Space(model="llama-3.1-8b", hardware=["H100", "A100-80GB"], tp=[1, 2], batch=[1, 8, 64],
                      input_len=1024, output_len=128)
    assert_same(dsx.serving(space), dsx.serving(space, chunks={"batch": 1}).compute())


def test_a_local_cluster_runs_the_pieces_on_its_workers(eager, dask_cluster):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.Client(dask_cluster) as client:
        lazy = dsx.training(dsx.Space(**SPACE), chunks={"gpus": 1})
        with distributed.get_task_stream(client) as stream:
            got = dsx.best(lazy, minimize="time_to_train", over=["tp", "pp", "zero"])
        workers = {t["worker"] for t in stream.data if "dsx-reduce" in str(t["key"])}
        assert workers and workers <= set(client.scheduler_info()["workers"])
        xr.testing.assert_equal(got, dsx.best(eager, minimize="time_to_train", over=["tp", "pp", "zero"]))


def test_draws_lazy_equal_eager_and_a_quantile_objective_reduces_in_the_graph():
    space = dsx.Space(model="llama-3.1-70b", hardware=["H100", "A100-80GB"], gpus=[256, 512, 1024], tp=[4, 8],
                      pp=[1, 2])
    eager = dsx.training(space, draws=20, seed=1)
    lazy = dsx.training(space, draws=20, seed=1, chunks={"gpus": 1})
    assert_same(eager, lazy.compute())  # the same draws in every piece (seeded per input)
    got = dsx.best(lazy, minimize="time_to_train@q90", over=["tp", "pp"])
    want = dsx.best(eager, minimize="time_to_train@q90", over=["tp", "pp"])
    xr.testing.assert_allclose(want, got.transpose(*want.dims))


def test_reductions_send_one_graph_whatever_the_number_of_pieces(monkeypatch):
    """Per-piece tasks go to the scheduler as one graph (dsx.lazy.together), whose pickled size grows by
    a few hundred bytes a piece; dask sends a list of collections as one graph per collection (16.6 MB
    for 896 pieces, quadratic). dsx.best on a lazy result hands dask.compute one collection."""
    import dask

    cloudpickle = pytest.importorskip("cloudpickle")
    from dask.base import collections_to_expr

    from dsx.analysis.ingraph import best_tasks
    from dsx.lazy import pieces_of, together

    sizes = {}
    for step in (4, 1):
        lazy = dsx.training(dsx.Space(**{**SPACE, "gpus": [64 * k for k in range(1, 33)]}), chunks={"gpus": step})
        tasks = best_tasks(pieces_of(lazy), minimize="time_to_train", over=["tp"])
        one = len(cloudpickle.dumps(collections_to_expr([together(tasks)], optimize_graph=True)))
        many = len(cloudpickle.dumps(collections_to_expr(tasks, optimize_graph=True)))
        sizes[len(tasks)] = (one, many)
    (n1, (one1, many1)), (n2, (one2, many2)) = sorted(sizes.items())
    per_piece = (one2 - one1) / (n2 - n1)
    print(f"pickled graph, {n1} -> {n2} pieces: one graph {one1:,} -> {one2:,} B ({per_piece:.0f} B a piece); "
          f"a graph per task {many1:,} -> {many2:,} B")
    assert per_piece < 1000
    seen = []
    compute = dask.compute
    monkeypatch.setattr(dask, "compute", lambda *c, **kw: seen.append(len(c)) or compute(*c, **kw))
    dsx.best(lazy, minimize="time_to_train", over=["tp"])
    assert seen == [1]
