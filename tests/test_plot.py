"""Every figure renders on small synthetic data, labels its axes with units and saves PDF + PNG."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from dsx import plot  # noqa: E402
from dsx.analysis import sensitivity  # noqa: E402
from dsx.errors import DsxInputError  # noqa: E402


@pytest.fixture
def result():
    rng = np.random.default_rng(0)
    hw, gpus, tp, region = ["H100", "H200"], [8, 16, 32], [1, 2, 4, 8], ["quebec", "texas", "iowa"]
    peak = xr.DataArray([989e12, 989e12], dims="hardware", attrs={"units": "flop/s", "long_name": "peak"})
    bw = xr.DataArray([3.35e12, 4.8e12], dims="hardware", attrs={"units": "B/s", "long_name": "HBM bandwidth"})
    ai = xr.DataArray(rng.lognormal(5, 1.5, (2, 3, 4)), dims=("hardware", "gpus", "tp"),
                      attrs={"units": "flop/B", "long_name": "arithmetic intensity"})
    perf = np.minimum(peak, bw * ai) * 0.6
    comp = xr.DataArray(rng.random((3, 4)) + 1, dims=("gpus", "tp"), attrs={"units": "s", "long_name": "compute"})
    comm = xr.DataArray(rng.random((3, 4)), dims=("gpus", "tp"), attrs={"units": "s", "long_name": "communication"})
    carbon = xr.DataArray(rng.random((3, 3)) * 1e6, dims=("gpus", "region"),
                          attrs={"units": "gCO2e", "long_name": "carbon"})
    return xr.Dataset(
        {"peak_flops": peak, "hbm_bandwidth": bw, "arithmetic_intensity": ai,
         "achieved": perf.assign_attrs(units="flop/s", long_name="achieved throughput"),
         "step_compute_time": comp, "step_comm_time": comm,
         "step_time": (comp + comm).assign_attrs(units="s", long_name="step time"),
         "capex": xr.DataArray([1e6, 2e6, 4e6], dims="gpus", attrs={"units": "USD", "long_name": "capital cost"}),
         "carbon": carbon,
         "feasible": xr.DataArray(rng.random((3, 4)) > 0.2, dims=("gpus", "tp"))},
        coords={"hardware": hw, "gpus": gpus, "tp": tp, "region": region})


def saved(fig, tmp_path, name):
    paths = plot.save(fig, tmp_path / name)
    assert [p.suffix for p in paths] == [".pdf", ".png"]
    assert all(p.stat().st_size > 0 for p in paths)
    plt.close(fig)


def test_roofline(result, tmp_path):
    fig = plot.roofline(result, performance="achieved")
    ax = fig.axes[0]
    # peaks near 1e15 flop/s: the rate axis reads in TFLOP/s; intensity has no ladder and stays flop/B
    assert "[flop/B]" in ax.get_xlabel() and "[TFLOP/s]" in ax.get_ylabel()
    assert len(ax.get_lines()) == 2  # one roof per hardware
    saved(fig, tmp_path, "roofline")


def test_pareto_front_many_points(tmp_path):
    rng = np.random.default_rng(1)
    n = 200_000
    ds = xr.Dataset({"step_time": ("cfg", rng.lognormal(0.5, 1, n), {"units": "s", "long_name": "step time"}),
                     "capex": ("cfg", rng.lognormal(10, 1, n), {"units": "USD", "long_name": "capital cost"})})
    fig = plot.pareto_front(ds, "step_time", "capex", logx=True, logy=True)
    ax = fig.axes[0]
    # median capex e^10 ≈ 22,000 USD: the axis reads in kUSD
    assert ax.get_xlabel() == "step time [s]" and ax.get_ylabel() == "capital cost [kUSD]"
    assert any(line.get_label() == "Pareto front" for line in ax.get_lines())
    saved(fig, tmp_path, "front.pdf")


def test_heatmap_facets_and_ax(result, tmp_path):
    fig = plot.heatmap(result.sel(hardware="H100"), "step_time", x="tp", y="gpus", col=None, annotate=True)
    assert "[s]" in fig.axes[-1].get_ylabel()  # colour bar
    saved(fig, tmp_path, "heat")
    fig = plot.heatmap(result, "arithmetic_intensity", x="tp", y="gpus", col="hardware")
    assert len([a for a in fig.axes if a.get_title()]) == 2
    saved(fig, tmp_path, "heat_facets")
    fig, ax = plt.subplots()
    assert plot.heatmap(result, "step_time", x="tp", y="gpus", ax=ax) is fig
    with pytest.raises(DsxInputError, match="select"):
        plot.heatmap(result, "arithmetic_intensity", x="tp", y="gpus")


def test_breakdown_and_units_check(result, tmp_path):
    fig = plot.breakdown(result.sel(gpus=8), ["step_compute_time", "step_comm_time"], ylabel="step time")
    assert fig.axes[0].get_ylabel() == "step time [s]"
    saved(fig, tmp_path, "breakdown")
    with pytest.raises(DsxInputError, match="units"):
        plot.breakdown(result, ["step_compute_time", "capex"], dim="gpus")


def test_tornado(tmp_path):
    ds = xr.Dataset({"x": 2.0, "y": 3.0, "z": 1.0}, coords={"cfg": [0, 1]})
    sens = sensitivity(lambda d: d.assign(t=(d.x**-1 * d.y**0.5 * d.z**0.25 + 0 * d.cfg).assign_attrs(units="s")),
                       ds, output="t", inputs=["x", "y", "z"])
    fig = plot.tornado(sens, cfg=0)
    ax = fig.axes[0]
    assert "[1]" in ax.get_xlabel() and "binding" in ax.get_title()
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "x"  # largest on top
    saved(fig, tmp_path, "tornado")


def test_by_region(result, tmp_path):
    fig = plot.by_region(result, "carbon", hue="gpus")
    assert fig.axes[0].get_ylabel() == "carbon [kgCO2e]"  # values around 5e5 gCO2e = 500 kgCO2e
    saved(fig, tmp_path, "regions")


def test_palette_is_defined_once():
    assert len(set(plot.PALETTE)) == len(plot.PALETTE) == 8
