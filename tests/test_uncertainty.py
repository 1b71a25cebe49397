"""Uncertainty as an axis (issue 9 item 2): draws, user distributions, calibration, decisions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from statistics import NormalDist

import dsx
from dsx.errors import DsxInputError
from dsx.uncertainty import coverage, factor_spreads, registry, update_registry

JOB = dict(model="llama-3.1-70b", hardware="H100", gpus=512, tp=8, pp=4, global_batch=1024, seq_len=4096,
           train_tokens=1e12)


@pytest.fixture(scope="module")
def drawn():
    return dsx.training(**{**JOB, "gpus": [256, 512]}, draws=400, seed=7)


def test_draw_dimension_only_where_an_uncertain_input_enters(drawn):
    assert drawn.sizes["draw"] == 400
    for name in ("step_time", "time_to_train", "wall_time", "energy", "carbon", "tco", "mfu"):
        assert "draw" in drawn[name].dims, name
    # memory and layout do not depend on any uncertain input
    for name in ("memory_per_gpu", "feasible", "dp", "model_flops_step"):
        assert "draw" not in drawn[name].dims, name
    q = drawn.step_time.quantile([0.1, 0.9], dim="draw")
    assert q.dims == ("quantile", "gpus") and bool((q.sel(quantile=0.9) > q.sel(quantile=0.1)).all())


def test_step_time_spread_follows_kernel_efficiency(drawn):
    # compute-bound job: step time ~ 1/kernel_efficiency, so its ln-spread is close to the registry's
    sigma = float(registry().loc["kernel_efficiency", "sigma"])
    spread = float(np.log(drawn.step_time.sel(gpus=512)).std("draw"))
    print(f"ln spread of step time {spread:.3f} vs kernel_efficiency sigma {sigma:.3f}")
    assert 0.5 * sigma < spread < 1.1 * sigma


def test_reproducible_with_the_seed():
    a = dsx.training(**JOB, draws=20, seed=3)
    b = dsx.training(**JOB, draws=20, seed=3)
    c = dsx.training(**JOB, draws=20, seed=4)
    np.testing.assert_array_equal(a.wall_time.values, b.wall_time.values)
    assert not np.allclose(a.wall_time.values, c.wall_time.values)


def test_chunks_see_the_same_draws():
    space = dsx.Space(**{**JOB, "gpus": [256, 512, 1024, 2048]})
    whole = dsx.training(space, draws=30, seed=1, outputs=["step_time"])
    pieces = dsx.training(space, draws=30, seed=1, outputs=["step_time"], chunks={"gpus": 1}).compute()
    np.testing.assert_allclose(whole.step_time.transpose(*pieces.step_time.dims).values, pieces.step_time.values)


def test_without_draws_nothing_changes():
    plain = dsx.training(**JOB)
    assert "draw" not in plain.dims
    with pytest.raises(DsxInputError, match="seed"):
        dsx.training(**JOB, seed=1)
    with pytest.raises(DsxInputError, match="draws"):
        dsx.training(**JOB, draws=0)


def test_user_distribution_implies_draws():
    space = dsx.Space(**JOB, kernel_efficiency=dsx.normal(0.8, 0.05))
    ds = dsx.training(space)
    assert ds.sizes["draw"] == 200
    ke = ds.kernel_efficiency
    print(f"kernel_efficiency mean {float(ke.mean()):.4f}, sd {float(ke.std()):.4f}")
    assert float(ke.mean()) == pytest.approx(0.8, abs=0.01)
    assert float(ke.std()) == pytest.approx(0.05, rel=0.15)
    for dist, lo, hi in ((dsx.uniform(0.7, 0.9), 0.7, 0.9), (dsx.triangular(0.7, 0.8, 0.9), 0.7, 0.9),
                         (dsx.lognormal(0.8, 0.05), 0.6, 1.0)):
        v = dsx.training(dsx.Space(**JOB, kernel_efficiency=dist), draws=50).kernel_efficiency
        assert lo <= float(v.min()) and float(v.max()) <= hi
    # units in the parameters, and bad distributions, are refused clearly
    s = dsx.Space(**JOB, checkpoint_bandwidth=dsx.uniform("1 GB/s", "2 GB/s"))
    assert s.distributions["checkpoint_bandwidth"].params == (1e9, 2e9)
    with pytest.raises(DsxInputError, match="sd"):
        dsx.normal(1.0, -1.0)
    with pytest.raises(DsxInputError, match="continuous"):
        dsx.Space(**{**JOB, "tp": dsx.normal(8, 1)})


def test_calibration_narrows_the_interval():
    wide = dsx.training(**JOB, draws=300)
    fitted = dsx.training(**JOB, draws=300, calibration={"kernel_efficiency": (0.80, 0.01)})
    w = wide.dsx.interval("step_time", 0.8)
    f = fitted.dsx.interval("step_time", 0.8)
    width = lambda b: float((b.high - b.low) / b.mid)  # noqa: E731
    print(f"80 % width of step time: registry {width(w):.1%}, calibrated {width(f):.1%}")
    assert width(f) < 0.35 * width(w)
    # a fitted Dataset (value + standard error) is accepted too
    fit = xr.Dataset({"kernel_efficiency": 0.80, "kernel_efficiency_stderr": 0.01})
    again = dsx.training(**JOB, draws=300, calibration=fit)
    np.testing.assert_allclose(again.step_time.values, fitted.step_time.values)
    with pytest.raises(DsxInputError, match="did you mean 'kernel_efficiency'"):
        dsx.training(**JOB, draws=5, calibration={"kernel_eficiency": (0.8, 0.01)})
    with pytest.raises(DsxInputError, match="standard error"):
        dsx.training(**JOB, draws=5, calibration={"kernel_efficiency": 0.8})


def test_interval_and_probability(drawn):
    band = drawn.dsx.interval("wall_time", 0.8)
    assert set(band.data_vars) == {"low", "mid", "high"}
    assert band.high.attrs["units"] == "s"
    assert bool((band.low <= band.mid).all() and (band.mid <= band.high).all())
    # P(wall_time < median) is one half, by construction of the median
    med = float(band.mid.sel(gpus=512))
    p = dsx.probability(drawn.sel(gpus=512), lambda d: d.wall_time < med)
    assert float(p) == pytest.approx(0.5, abs=0.01)
    p = drawn.dsx.probability("wall_time < 30 day")
    assert p.dims == ("gpus",) and 0 <= float(p.min()) and float(p.max()) <= 1


def test_best_and_pareto_at_a_quantile():
    ds = dsx.training(**{**JOB, "pp": [2, 4, 8]}, draws=200)
    at90 = dsx.best(ds, minimize="wall_time@q90", over="pp")
    q90 = ds.wall_time.quantile(0.9, dim="draw")
    assert float(at90.wall_time) == pytest.approx(float(q90.min()))
    assert float(at90.wall_time.attrs["quantile"]) == 0.9
    same = dsx.best(ds, minimize="wall_time", over="pp", quantile=0.9)
    assert float(same.wall_time) == float(at90.wall_time)
    med = dsx.best(ds, minimize="wall_time", over="pp")
    assert float(med.wall_time) < float(at90.wall_time)
    mask = dsx.pareto(ds, minimize=["wall_time@q90", "cost_per_mtoken"])
    assert "draw" not in mask.dims and bool(mask.any())


def test_serving_draws():
    ds = dsx.serving(model="llama-3.1-8b", hardware="H100", batch=[1, 32], draws=50, seed=2)
    assert "draw" in ds.tpot.dims and "draw" not in ds.kv_bytes_per_token.dims
    assert "kernel_efficiency" not in ds  # a training factor is not drawn for serving


def test_coverage_counts_published_inside_the_band():
    rng = np.random.default_rng(0)
    truth = rng.lognormal(0.0, 0.2, 2000)
    pred = xr.DataArray(np.exp(rng.normal(0, 0.2, (2000, 400))), dims=("run", "draw"))
    cov = coverage(pred, truth, 0.8)
    print(f"coverage of an honest 80 % interval: {cov:.3f}")
    assert cov == pytest.approx(0.8, abs=0.03)
    assert coverage(pred * 3.0, truth, 0.8) < 0.1


def test_factor_spreads_from_a_loso_file(tmp_path):
    # a small residual file as benchmarks/calibrate.py writes it
    rng = np.random.default_rng(1)
    n = 60
    published = rng.uniform(100, 1000, n)
    err = rng.normal(0, 0.1, n)
    df = pd.DataFrame({"run": [f"r{i}" for i in range(n)], "source": [f"s{i % 6}" for i in range(n)],
                       "workload": ["training"] * 40 + ["serving"] * 20, "metric": ["tokens_per_s"] * n,
                       "published": published, "predicted_in_sample": published,
                       "predicted_loso": published * np.exp(err)})
    path = tmp_path / "loso_residuals.csv"
    df.to_csv(path, index=False)
    spreads = factor_spreads(path).set_index("input")
    z = NormalDist().inv_cdf(0.9)
    # sources s0..s3 hold 7 training runs, s4 and s5 hold 6: each run weighs 1/7 or 1/6 (every source alike)
    x, w = np.abs(err[:40]), np.array([1 / (7 if i % 6 < 4 else 6) for i in range(40)])
    o = np.argsort(x)
    positions = (np.cumsum(w[o]) - w[o] / 2) / w.sum()
    expected = np.interp(0.8, positions, x[o]) / z
    assert expected != pytest.approx(np.quantile(x, 0.8) / z, abs=1e-4)  # the weights matter here
    assert float(spreads.loc["kernel_efficiency", "sigma"]) == pytest.approx(expected, abs=1e-4)
    assert set(spreads.index) == {"kernel_efficiency", "engine_compute_efficiency", "engine_memory_efficiency"}
    assert int(spreads.loc["kernel_efficiency", "sources"]) == 6
    # the script step rewrites only those rows of a registry file
    reg = tmp_path / "uncertainty.csv"
    registry().reset_index().to_csv(reg, index=False)
    update_registry(path, reg)
    out = pd.read_csv(reg).set_index("input")
    assert out.loc["kernel_efficiency", "basis"] == "leave_one_source_out"
    assert out.loc["pue", "sigma"] == registry().loc["pue", "sigma"]
    with pytest.raises(DsxInputError, match="lacks columns"):
        factor_spreads(df.drop(columns=["predicted_loso"]))


def test_registry_rows_are_documented():
    reg = registry()
    from dsx.solvers.base import INPUTS
    from dsx.space import _catalog_columns

    for name, row in reg.iterrows():
        assert name in INPUTS or name in _catalog_columns(), name
        assert row["distribution"] == "lognormal" and 0 < row["sigma"] < 1, name
        assert len(str(row["source"])) > 40, name


def test_audit_prints_medians_with_intervals(capsys):
    from dsx.cli import main

    assert main(["audit", "--draws", "60"]) == 0
    out = capsys.readouterr().out
    assert "60 draws" in out and "80% interval" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("step_time"))
    print(line)
    parts = line.split()
    median, low, high = float(parts[1]), float(parts[3]), float(parts[6])
    assert low < median < high
    assert main(["audit", "--draws", "0"]) == 2


def test_a_calibrate_fit_is_drawn_with_its_predictive_spread():
    """dsx.calibrate's result as calibration=: value, and sd² = se² + x²·Σe²/(n − p) (hand derivation)."""
    import xarray as xr

    from dsx.uncertainty.draws import _calibrated

    fit = xr.Dataset({"value": ("factor", [0.7]), "stderr": ("factor", [0.01]),
                      "error": ("row", [0.02, -0.02, 0.01, -0.01])}, coords={"factor": ["kernel_efficiency"]})
    value, sd = _calibrated(fit)["kernel_efficiency"]
    assert value == 0.7
    assert sd == pytest.approx((0.01 ** 2 + 0.49 * 0.001 / 3) ** 0.5, rel=1e-12)  # 0.016230
