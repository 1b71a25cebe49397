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

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


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


# -- figures for a paper: human-scale units, no offset text, honest about what is missing -----
def _offsets(fig):
    """Offset texts (the '1e7' above an axis) of every axes of ``fig``, after drawing."""
    fig.canvas.draw()
    return [t for a in fig.axes for t in (a.xaxis.get_offset_text().get_text(), a.yaxis.get_offset_text().get_text())
            if t]


def _job(days):
    """A sweep-like result: wall time of ~``days`` days, cost in USD, carbon in gCO2e, one infeasible corner."""
    gpus, tp, hw = [512, 1024, 2048, 4096], [1, 2, 4, 8], ["H100", "B200"]
    wall = xr.DataArray(days * 86400.0 * 1024 / np.array(gpus)[None, :, None] * np.array([1.0, 0.6])[:, None, None]
                        * (1 + 0.02 * np.arange(4))[None, None, :], dims=("hardware", "gpus", "tp"),
                        attrs={"units": "s", "long_name": "wall-clock time including checkpoints, restarts and lost work"})
    feasible = xr.DataArray(np.ones((2, 4, 4), bool), dims=("hardware", "gpus", "tp"))
    feasible[:, 0, :2] = False
    return xr.Dataset({"wall_time": wall.where(feasible),
                       "tco": (wall * 0 + 2.5e7 + 1e6 * wall / 86400).where(feasible).assign_attrs(
                           units="USD", long_name="total cost of ownership of the job"),
                       "feasible": feasible},
                      coords={"hardware": hw, "gpus": gpus, "tp": tp})


def test_a_job_of_days_reads_in_days_without_offsets():
    ds = _job(30)
    fig = plot.pareto_front(ds, "wall_time", "tco", logx=True)
    ax = fig.axes[0]
    print(ax.get_xlabel(), "|", ax.get_ylabel())
    assert ax.get_xlabel().endswith("[day]") and ax.get_ylabel().endswith("[MUSD]")
    assert _offsets(fig) == []
    assert any("infeasible" in t.get_text() for t in ax.get_legend().get_texts())  # 4 infeasible, not drawn
    plt.close(fig)
    fig = plot.heatmap(ds, "wall_time", x="gpus", y="tp", col="hardware")
    bar = fig.axes[-1]
    assert bar.get_ylabel().endswith("[day]") and _offsets(fig) == []
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["infeasible"]
    plt.close(fig)


@pytest.mark.parametrize("seconds, unit", [(0.004, "ms"), (40.0, "s"), (5 * 3600.0, "h"), (45 * 86400.0, "day")])
def test_time_axis_unit(seconds, unit):
    ds = xr.Dataset({"t": ("cfg", seconds * np.linspace(0.8, 1.2, 50), {"units": "s", "long_name": "latency"}),
                     "c": ("cfg", np.linspace(1, 2, 50), {"units": "USD", "long_name": "cost"})})
    fig = plot.pareto_front(ds, "t", "c")
    assert fig.axes[0].get_xlabel() == f"latency [{unit}]" and _offsets(fig) == []
    plt.close(fig)


def test_heatmap_single_value_colour_bar_and_empty_panel():
    ds = _job(30)
    ds["wall_time"][:] = 86400.0 * 10  # every cell the same value
    ds["feasible"][1] = False          # and no feasible cell on B200
    fig = plot.heatmap(ds, "wall_time", x="gpus", y="tp", col="hardware")
    mesh = fig.axes[0].collections[0]
    lo, hi = mesh.norm.vmin, mesh.norm.vmax
    print("colour range", lo, hi)
    assert hi - lo > 0.05 * hi  # a colour bar never spans a single value
    notices = [t.get_text() for t in fig.axes[1].texts]
    assert any("no feasible" in t for t in notices), notices
    plt.close(fig)


def test_facet_labels_do_not_collide():
    ds = _job(30).assign_coords(gpus=("gpus", [512, 1024, 2048, 4096], {
        "long_name": "Accelerators in the job (training) or in one serving replica", "units": ""}))
    fig = plot.heatmap(ds, "wall_time", x="gpus", y="tp", col="hardware")
    fig.canvas.draw()
    panels = [a for a in fig.axes if a.get_title()]
    assert all(a.get_xlabel() == "" for a in panels)  # one shared x label, not one per panel
    assert "Accelerators in the job" in fig.get_supxlabel()
    boxes = [a.get_tightbbox() for a in panels]
    for left, right in zip(boxes, boxes[1:]):
        assert left.x1 <= right.x0 + 1.0  # facets (with their tick labels) do not overlap
    plt.close(fig)


def test_empty_series_and_selection_say_so():
    ds = xr.Dataset({"carbon": (("region", "hardware"), [[2e9, np.nan], [5e9, np.nan], [np.nan, np.nan]],
                                {"units": "gCO2e", "long_name": "total carbon: operational + embodied"})},
                    coords={"region": ["quebec", "texas", "poland"], "hardware": ["B200", "H100"]})
    fig = plot.by_region(ds, "carbon", hue="hardware")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "total carbon [ktCO2e]" and _offsets(fig) == []
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "hardware = H100: no value" in legend and any(t.startswith("infeasible") for t in legend), legend
    assert any("no feasible value for hardware = H100" in t.get_text() for t in ax.texts)
    plt.close(fig)
    empty = _job(30).assign(feasible=lambda d: d.feasible & False)
    fig = plot.pareto_front(empty, "wall_time", "tco")
    assert any("no feasible configuration" in t.get_text() for t in fig.axes[0].texts)
    plt.close(fig)


def test_hexbin_colour_bar_is_never_degenerate():
    rng = np.random.default_rng(2)
    n = 5000  # more than max_markers: a density, every point in its own cell
    ds = xr.Dataset({"a": ("cfg", rng.random(n) * 1e3, {"units": "s"}), "b": ("cfg", rng.random(n), {"units": "USD"})})
    fig = plot.pareto_front(ds, "a", "b", gridsize=400)
    hb = fig.axes[0].collections[0]
    assert hb.norm.vmax >= 2 * hb.norm.vmin
    plt.close(fig)


def test_sweep_figures_use_human_units(tmp_path, monkeypatch):
    """`dsx run` draws with the same dsx.plot functions: plain ticks, human units."""
    from dsx import sweep

    drawn = []
    real_save = plot.save
    monkeypatch.setattr(plot, "save", lambda fig, path, **kw: drawn.append(fig) or real_save(fig, path, **kw))
    out = tmp_path / "out"
    sweep.run(ROOT / "sweeps" / "seed_audit.toml", out, progress=False)
    assert (out / "carbon_by_region.png").stat().st_size > 0
    assert len(drawn) == 1 and _offsets(drawn[0]) == []
    print(drawn[0].axes[0].get_ylabel())
    assert drawn[0].axes[0].get_ylabel().endswith("[tCO2e]")  # 12-930 tCO2e, not 1e8 gCO2e
    ds = xr.open_dataset(out / "result.nc")
    fig = plot.by_region(ds, "time_to_train", hue="gpus")  # the 30-day job reads in days
    assert fig.axes[0].get_ylabel().endswith("[day]"), fig.axes[0].get_ylabel()
    plt.close(fig)
