import numpy as np
import pytest

from dsx import DsxInputError, Space


def test_lists_become_axes_scalars_fixed():
    s = Space(model=["llama-3.1-70b"], hardware="H100", gpus=[8, 16, 32], precision=["bf16", "fp8"])
    assert s.dims == {"model": 1, "gpus": 3, "precision": 2}
    assert s.size == 6
    ds = s.to_dataset()
    assert ds.coords["hardware"].item() == "H100-SXM"  # alias resolved
    assert ds["hbm_bandwidth"].dims == ()
    assert ds["layers"].dims == ("model",)
    assert ds["peak_flops"].dims == ("precision",)
    np.testing.assert_allclose(ds["peak_flops"].values, [989e12, 1979e12])
    assert ds["gpus"].dtype.kind == "i"


def test_catalog_columns_carry_units():
    ds = Space(hardware=["H100"], region="quebec").to_dataset()
    assert ds["hbm_bandwidth"].attrs["units"] == "B/s"
    assert ds["carbon_intensity"].attrs["units"] == "gCO2e/kWh"


def test_override_catalog_column_with_units():
    ds = Space(hardware="H100", hbm_bandwidth=["3.35 TB/s", "4.8 TB/s"]).to_dataset()
    np.testing.assert_allclose(ds["hbm_bandwidth"].values, [3.35e12, 4.8e12])
    assert ds["hbm_bandwidth"].dims == ("hbm_bandwidth",)


def test_fabric_join_sets_scale_out_bandwidth():
    ds = Space(hardware="H100", scale_out_fabric="ib-ndr").to_dataset()
    assert float(ds["scale_out_bandwidth"]) == pytest.approx(50e9)


@pytest.mark.parametrize("kwargs,words", [
    ({"hardwre": "H100"}, ["unknown input", "hardware"]),
    ({"hardware": "H10O"}, ["unknown", "H100"]),
    ({"hardware": []}, ["empty axis"]),
    ({"gpus": 0}, ["gpus", ">= 1"]),
    ({"gpus": -8}, ["gpus"]),
    ({"gpus": 2.5}, ["whole number"]),
    ({"hbm_bandwidth": "3 s"}, ["hbm_bandwidth", "B/s"]),
    ({"gpus": [8, 8]}, ["repeated"]),
])
def test_bad_input_raises_clear_error(kwargs, words):
    with pytest.raises(DsxInputError) as exc:
        Space(**kwargs)
    for w in words:
        assert w in str(exc.value)


def test_replace_returns_new_space():
    s = Space(hardware="H100", gpus=8)
    t = s.replace(gpus=[8, 16])
    assert s.size == 1 and t.size == 2


def _bounded_inputs():
    from dsx.space import _inputs

    return sorted((n, s) for n, s in _inputs().items() if s.minimum is not None or s.maximum is not None)


@pytest.mark.parametrize("name, spec", _bounded_inputs(), ids=[n for n, _ in _bounded_inputs()])
def test_every_declared_range_is_enforced_at_its_edges(name, spec):
    """The bound itself is accepted or refused as declared; just outside is refused; the default is inside."""
    if np.isfinite(spec.default):  # inf defaults ("no objective") are not user values
        assert Space(**{name: spec.default}).values[name] == spec.default
    for bound, exclusive, outside in ((spec.minimum, spec.exclusive_minimum, -1), (spec.maximum, spec.exclusive_maximum, 1)):
        if bound is None:
            continue
        step = 1 if spec.integer else max(abs(bound), 1.0) * 1e-6
        with pytest.raises(DsxInputError, match=name):
            Space(**{name: bound + outside * step})
        if exclusive:
            with pytest.raises(DsxInputError, match=name):
                Space(**{name: bound})
        else:
            assert Space(**{name: bound}).values[name] == bound


def test_ranges_cover_the_efficiencies_and_quantile():
    from dsx.space import _inputs

    specs = _inputs()
    for name in [n for n in specs if n.endswith("_efficiency")] + ["memory_utilization", "power_fraction"]:
        s = specs[name]
        assert (s.minimum, s.exclusive_minimum, s.maximum, s.exclusive_maximum) == (0.0, True, 1.0, False), name
    q = specs["quantile"]
    assert (q.minimum, q.exclusive_minimum, q.maximum, q.exclusive_maximum) == (0.0, True, 1.0, True)


try:
    from hypothesis import given, strategies as st
except ImportError:  # pragma: no cover
    given = None

if given is not None:
    @given(st.floats(min_value=-2.0, max_value=3.0, allow_nan=False))
    def test_an_efficiency_is_accepted_exactly_in_its_range(x):
        """matmul_efficiency in (0, 1]: accepted there, refused (naming it) everywhere else."""
        if 0.0 < x <= 1.0:
            assert Space(matmul_efficiency=x).values["matmul_efficiency"] == x
        else:
            with pytest.raises(DsxInputError, match="matmul_efficiency"):
                Space(matmul_efficiency=x)

    @given(st.floats(min_value=0.0, max_value=5.0, allow_nan=False))
    def test_pue_is_accepted_exactly_from_one(x):
        if x >= 1.0:
            assert Space(pue=x).values["pue"] == x
        else:
            with pytest.raises(DsxInputError, match="pue"):
                Space(pue=x)


def test_user_scale_out_bandwidth_overrides_fabric_scalar_and_axis():
    # the fabric supplies the latency and the link rate; the user's per-GPU bandwidth wins, as for
    # every other catalog column (it was overwritten by the fabric's link rate in Space._derive)
    ds = Space(hardware="H100", scale_out_fabric="ib-ndr", scale_out_bandwidth="100 GB/s").to_dataset()
    assert float(ds["scale_out_bandwidth"]) == pytest.approx(100e9)
    assert float(ds["scale_out_link_bandwidth"]) == pytest.approx(50e9)
    axis = Space(hardware="H100", scale_out_fabric="ib-ndr", scale_out_bandwidth=["10 GB/s", "100 GB/s"]).to_dataset()
    assert axis["scale_out_bandwidth"].dims == ("scale_out_bandwidth",)
    np.testing.assert_allclose(axis["scale_out_bandwidth"].values, [10e9, 100e9])
    # the scale-out latency and the scale-up pair override their fabric the same way
    ds = Space(scale_out_fabric="ib-ndr", scale_out_latency="1 ms", scale_up_fabric="nvlink3",
               scale_up_bandwidth="900 GB/s").to_dataset()
    assert float(ds["scale_out_latency"]) == pytest.approx(1e-3)
    assert float(ds["scale_out_bandwidth"]) == pytest.approx(50e9)
    assert float(ds["scale_up_bandwidth"]) == pytest.approx(900e9)


@pytest.mark.parametrize("kwargs,words", [
    ({"scale_out_fabric": "ib-ndr", "scale_out_bandwidth": "100 GB/s", "scale_out_latency": "5 us"},
     ["scale_out_fabric", "change nothing"]),
    ({"scale_out_fabric": "ib-ndr", "scale_out_link_bandwidth": "100 GB/s", "scale_out_latency": "5 us"},
     ["scale_out_fabric", "change nothing"]),
    ({"scale_up_fabric": "nvlink3", "scale_up_bandwidth": "900 GB/s", "scale_up_latency": "1 us"},
     ["scale_up_fabric", "change nothing"]),
    ({"scale_out_link_bandwidth": "50 GB/s", "scale_out_bandwidth": ["10 GB/s", "100 GB/s"]},
     ["scale_out_link_bandwidth", "change nothing"]),
])
def test_input_overridden_entirely_is_refused(kwargs, words):
    with pytest.raises(DsxInputError) as err:
        Space(**kwargs)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_zero_stage_above_three_is_refused_with_the_registry_message():
    """Only ZeRO stages 0-3 exist; 4 and 100 were accepted and evaluated as ZeRO-3 (a count's maximum
    was never checked: the integer path skipped the range check)."""
    with pytest.raises(DsxInputError) as e:
        Space(model="llama-3.1-8b", hardware="H100", gpus=8, zero=[3, 4, 100])
    assert str(e.value) == "zero: 4 is out of range; expected a value >= 0 and <= 3"
    assert Space(zero=[0, 1, 2, 3]).dims["zero"] == 4
