"""Sweep files: validation, chunked evaluation, outputs, atomic writes, and the shipped files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dsx import sweep
from dsx.errors import DsxInputError

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("dsx_test_cli_fakes", Path(__file__).with_name("test_cli.py"))
fakes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fakes)

STUDY = """
workload = "training"
description = "fake study"
outputs = ["step_time", "tco", "carbon", "mfu"]
constraints = ["step_time < 30 s", "mfu > 10 %"]
best = ["gpus", "tp"]

[space]
model = "llama-3.1-70b"
hardware = "H100-SXM"
gpus = [256, 512, 1024, 2048]
tp = [4, 8]
pp = 1
global_batch = 2048
seq_len = 2048
region = ["quebec", "poland", "france"]

[derived]
tco_musd = "tco / 1e6"

[objectives]
minimize = ["carbon", "step_time"]

[[figures]]
kind = "pareto_front"
x = "step_time"
y = "tco"
name = "front"
"""


@pytest.fixture
def fake(monkeypatch):
    import dsx.stacks

    monkeypatch.setattr(dsx.stacks, "TRAINING", (fakes.fake_training,))
    monkeypatch.setattr(dsx.stacks, "SERVING", (fakes.fake_serving,))


def _write(tmp_path, text, name="study.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_run_writes_every_output(tmp_path, fake):
    out = sweep.run(_write(tmp_path, STUDY), tmp_path / "out", progress=False)
    files = sorted(p.name for p in out.iterdir())
    assert files == [".dsx-manifest.json", "best.csv", "front.csv", "front.pdf", "front.png", "result.nc", "summary.md"]
    ds = xr.open_dataset(out / "result.nc")
    assert ds["step_time"].attrs["units"] == "s" and ds["tco_musd"].attrs["units"] == "USD"
    assert set(ds.data_vars) >= {"step_time", "tco", "carbon", "mfu", "tco_musd", "feasible", "reason",
                                 "meets_constraints"}
    assert "memory_per_gpu" not in ds            # not in outputs
    assert ds["reason"].dtype.kind in "OU" and ds["feasible"].dtype == bool
    assert list(ds["region"].values) == ["quebec", "poland", "france"]
    np.testing.assert_allclose(ds["tco_musd"].values, ds["tco"].values / 1e6)
    front = pd.read_csv(out / "front.csv")
    assert "step_time [s]" in front.columns and "carbon [gCO2e]" in front.columns and len(front) >= 1
    best = pd.read_csv(out / "best.csv")
    assert len(best) == 3 and "region" in best.columns and "step_time [s]" in best.columns  # per region
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# study") and "24 configurations" in summary and "satisfy them" in summary
    ds.close()


def test_chunks_give_the_same_result(tmp_path, fake, capsys):
    s = sweep.parse(__import__("tomllib").loads(STUDY), "study.toml")
    whole = sweep.evaluate(s)
    parts = sweep.evaluate(s, chunk_size=6, progress=True)   # 24 configurations, 6 per chunk
    err = capsys.readouterr().err
    assert "4/4 chunks" in err
    assert set(whole.variables) == set(parts.variables)
    for name in whole.variables:
        xr.testing.assert_identical(whole[name], parts[name].transpose(*whole[name].dims))


def test_limit_shrinks_axes(tmp_path, fake, monkeypatch):
    assert sweep._limit(list(range(10)), 3) == [0, 4, 9] or sweep._limit(list(range(10)), 3) == [0, 5, 9]
    assert sweep._limit([1, 2], 5) == [1, 2]
    monkeypatch.setenv("DSX_SWEEP_LIMIT", "2")
    out = sweep.run(_write(tmp_path, STUDY), tmp_path / "small", progress=False)
    ds = xr.open_dataset(out / "result.nc")
    assert dict(ds.sizes) == {"gpus": 2, "tp": 2, "region": 2} and list(ds.gpus.values) == [256, 2048]
    ds.close()


def _no_leftovers(tmp_path, keep=("study.toml",)):
    return sorted(p.name for p in tmp_path.iterdir() if p.name not in keep)


def test_failure_leaves_nothing(tmp_path, fake):
    bad = STUDY.replace('kind = "pareto_front"', 'kind = "no_such_plot"')
    with pytest.raises(DsxInputError, match="no 'no_such_plot'"):
        sweep.run(_write(tmp_path, bad), tmp_path / "out", progress=False)
    assert _no_leftovers(tmp_path) == []      # neither DIR nor its temporary sibling


def test_failure_keeps_the_old_output(tmp_path, fake):
    good = sweep.run(_write(tmp_path, STUDY), tmp_path / "out", progress=False)
    before = (good / "summary.md").read_text()
    with pytest.raises(DsxInputError, match="exists"):
        sweep.run(tmp_path / "study.toml", tmp_path / "out", progress=False)
    _write(tmp_path, STUDY.replace('y = "tco"', 'y = "tco"\nbogus = 1'))
    with pytest.raises(DsxInputError, match=r"figures\[0\]"):
        sweep.run(tmp_path / "study.toml", tmp_path / "out", force=True, progress=False)
    assert (good / "summary.md").read_text() == before and _no_leftovers(tmp_path) == ["out"]
    sweep.run(_write(tmp_path, STUDY.replace("fake study", "again")), tmp_path / "out", force=True, progress=False)
    assert "again" in (good / "summary.md").read_text() and _no_leftovers(tmp_path) == ["out"]


@pytest.mark.parametrize("edit, words", [
    (("workload", "worklaod"), ["unknown key 'worklaod'", "did you mean 'workload'"]),
    (('workload = "training"', 'workload = "inference"'), ["workload must be 'training' or 'serving'"]),
    (('outputs = ["step_time", "tco", "carbon", "mfu"]', "outputs = 3"), ["outputs must be a list"]),
    (('constraints = ["step_time < 30 s", "mfu > 10 %"]', 'constraints = ["step_time < < 3"]'),
     ["constraints[0]", "position"]),
    (('constraints = ["step_time < 30 s", "mfu > 10 %"]', 'constraints = ["open(1)"]'), ["function calls"]),
    (('best = ["gpus", "tp"]', 'best = ["gpus", "pp"]'), ["best: 'pp' is not an axis"]),
    (("pp = 1", "ppp = 1"), ["space.ppp", "did you mean 'pp'"]),
    (('region = ["quebec", "poland", "france"]', 'region = ["quebec", "atlantis"]'), ["space.region", "atlantis"]),
    (("pp = 1", "pp = [[1]]"), ["space.pp must be a value or a list"]),
    (("[objectives]", "[objectives]\nminimise = ['tco']"), ["unknown key 'minimise' in [objectives]"]),
    (('tco_musd = "tco / 1e6"', "tco_musd = 5"), ["derived.tco_musd must be a string"]),
    (('kind = "pareto_front"', "kind = 3"), ["figures[0] needs kind"]),
    (("[space]", "[space\n"), ["not valid TOML"]),
])
def test_validation_errors_name_the_key(tmp_path, fake, edit, words):
    text = STUDY.replace(*edit)
    assert text != STUDY
    with pytest.raises(DsxInputError) as err:
        sweep.run(_write(tmp_path, text), tmp_path / "out", progress=False)
    for w in words:
        assert w in str(err.value), str(err.value)
    assert _no_leftovers(tmp_path) == []


def test_unknown_variable_is_caught_before_the_run(tmp_path, fake):
    text = STUDY.replace('"mfu"]', '"mfuu"]')
    with pytest.raises(DsxInputError, match="unknown variable 'mfuu'; did you mean 'mfu'"):
        sweep.run(_write(tmp_path, text), tmp_path / "out", progress=False)
    text = STUDY.replace('y = "tco"', 'y = "tcoo"')
    with pytest.raises(DsxInputError, match="unknown variable 'tcoo'; did you mean 'tco'"):
        sweep.run(_write(tmp_path, text), tmp_path / "out", progress=False)
    assert _no_leftovers(tmp_path) == []


def test_cli_run_through_subprocess(tmp_path, fake, capsys):
    study = _write(tmp_path, STUDY)
    r = fakes.dsx("run", str(study), "-o", str(tmp_path / "cli"), "--limit", "2", fake=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "cli" / "result.nc").exists() and "1/1 chunks" in r.stderr
    code, _, err = fakes.run_main(["run", str(study), "-o", str(tmp_path / "cli")], capsys, fake=False)
    assert code == 2 and "exists" in err
    code, _, err = fakes.run_main(["run", str(tmp_path / "missing.toml"), "-o", str(tmp_path / "x")], capsys, fake=False)
    assert code == 2 and "not found" in err and not (tmp_path / "x").exists()


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "sweeps").glob("*.toml")))
def test_shipped_sweep_files_run_small(tmp_path, name):
    import dsx.stacks

    study = sweep.load(ROOT / "sweeps" / name)
    stack = dsx.stacks.TRAINING if study.workload == "training" else dsx.stacks.SERVING
    made = {n for step in stack for n in getattr(step, "outputs", {})}
    if not stack or not (set(study.outputs or ()) - set(study.space)) <= made:
        pytest.skip(f"the {study.workload} stack does not produce {sorted(set(study.outputs) - made)} yet")
    sweep.run(ROOT / "sweeps" / name, tmp_path / "o", limit=2, progress=False)
    ds = xr.open_dataset(tmp_path / "o" / "result.nc")
    assert all(ds.sizes[d] <= 2 for d in ds.dims) and len(ds.data_vars) > 3
    assert (tmp_path / "o" / "summary.md").exists()
    ds.close()


# -- dsx run on dask (--scheduler ADDRESS, --workers N): the session's small LocalCluster --------
CLUSTER_STUDY = STUDY.replace('[[figures]]', '[[figures]]\nselect = { region = "quebec" }')


def test_run_on_a_dask_scheduler_equals_the_local_run(tmp_path, dask_cluster, monkeypatch, capsys):
    """Pieces evaluated, written (result.zarr) and reduced (best, front) on the workers; the
    tables equal the local run's and the store equals result.nc."""
    import dsx.lazy
    from dsx import cli

    study = _write(tmp_path, CLUSTER_STUDY)
    assert cli.main(["run", str(study), "-o", str(tmp_path / "local"), "--quiet"]) == 0
    from dsx.footprint import of

    real = dsx.lazy.piece_lengths

    def one_gpus_value(space, chunks, template, task_bytes, working=None):  # target: the measured peak
        held = template if working is None else working  # of a piece one gpus value wide (6 configurations)
        return real(space, chunks, template, of(held).working({**held.sizes, **space.dims, "gpus": 1}), working)

    monkeypatch.setattr(dsx.lazy, "piece_lengths", one_gpus_value)
    assert cli.main(["run", str(study), "-o", str(tmp_path / "dask"), "--scheduler",
                     dask_cluster.scheduler_address]) == 0
    err = capsys.readouterr().err
    assert "24 configurations in 4 pieces on 2 dask workers" in err and "12/12 chunks" in err
    local, remote = tmp_path / "local", tmp_path / "dask"
    for table in ("best.csv", "front.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(local / table), pd.read_csv(remote / table))
    with xr.open_dataset(local / "result.nc") as whole, xr.open_zarr(remote / "result.zarr") as parts:
        for name in ("step_time", "tco", "carbon", "tco_musd", "meets_constraints", "feasible"):
            a, b = whole[name], parts[name].transpose(*whole[name].dims)
            assert np.array_equal(a.values, b.values, equal_nan=True), name
    assert (remote / "front.png").is_file() and (remote / ".dsx-manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dask", "local", "study.toml"]  # no .partial left


def test_run_with_workers_starts_a_local_cluster_of_that_size(tmp_path, dask_cluster, monkeypatch):
    import contextlib

    from dsx import cli, sweep_cluster

    asked = []

    @contextlib.contextmanager
    def session_cluster(n):  # stands in for LocalCluster(n_workers=n): one cluster per test session
        asked.append(n)
        yield dask_cluster.scheduler_address

    monkeypatch.setattr(sweep_cluster, "_local_cluster", session_cluster)
    study = _write(tmp_path, CLUSTER_STUDY)
    assert cli.main(["run", str(study), "-o", str(tmp_path / "out"), "--workers", "3", "--quiet"]) == 0
    assert asked == [3] and len(pd.read_csv(tmp_path / "out" / "best.csv")) == 3


@pytest.mark.parametrize("args, message", [(["--workers", "2", "--scheduler", "tcp://x:1"], "give one"),
                                           (["--workers", "2", "--chunk-size", "6"], "--chunk-size"),
                                           (["--workers", "0"], "--workers")])
def test_bad_cluster_options_are_refused_before_any_work(tmp_path, capsys, args, message):
    from dsx import cli

    study = _write(tmp_path, CLUSTER_STUDY)
    assert cli.main(["run", str(study), "-o", str(tmp_path / "out"), *args]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "out").exists()
