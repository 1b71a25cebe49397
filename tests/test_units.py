import numpy as np
import pint
import pytest

from dsx import DsxInputError
from dsx.units import CANONICAL, canonical_unit, magnitude, ureg


@pytest.mark.parametrize("a,b", [("1 GB", "1 flop"), ("1 GB", "1 USD"), ("1 token", "1 param"),
                                 ("1 gCO2e", "1 kg"), ("1 flop", "1 s")])
def test_distinct_dimensions_do_not_add(a, b):
    with pytest.raises(pint.DimensionalityError):
        ureg(a) + ureg(b)


def test_information_is_not_dimensionless():
    with pytest.raises(pint.DimensionalityError):
        ureg("1 GB") + 1


@pytest.mark.parametrize("text,unit,expected", [
    ("400 Gbit/s", "B/s", 50e9),
    ("80 GiB", "B", 80 * 2**30),
    ("80 GB", "B", 80e9),
    ("989 TFLOP/s", "flop/s", 989e12),
    ("20 gCO2e/kWh", "gCO2e/J", 20 / 3.6e6),
    ("2 kgCO2e", "gCO2e", 2000.0),
    ("0.12 USD/kWh", "USD/J", 0.12 / 3.6e6),
    ("30 day", "s", 30 * 86400.0),
    ("1 tCO2e", "gCO2e", 1e6),
    ("5 us", "s", 5e-6),
])
def test_boundary_conversion(text, unit, expected):
    assert magnitude(text, unit, name="x") == pytest.approx(expected, rel=1e-12)


def test_bare_number_is_canonical_and_lists_convert():
    assert magnitude(3, "s") == 3.0
    np.testing.assert_allclose(magnitude(["1 ms", 2, ureg.Quantity(3, "s")], "s"), [1e-3, 2, 3])


def test_foreign_registry_quantity_is_accepted():
    other = pint.UnitRegistry()
    assert magnitude(other.Quantity(2, "hour"), "s") == 7200.0


@pytest.mark.parametrize("bad", ["3 s", "fast", "1 flop"])
def test_wrong_dimension_names_input_and_expectation(bad):
    with pytest.raises(DsxInputError) as exc:
        magnitude(bad, "B/s", name="scale_out_bandwidth")
    msg = str(exc.value)
    assert "scale_out_bandwidth" in msg and "B/s" in msg


def test_canonical_table_is_self_consistent():
    for name, unit in CANONICAL.items():
        assert canonical_unit(unit or "dimensionless") == unit, name


@pytest.mark.parametrize("text,unit,expected", [
    ("3 t CO2e", "gCO2e", 3e6),
    ("3 tCO2e", "kgCO2e", 3e3),
    ("2 kg CO2e", "gCO2e", 2e3),
    ("1.5 MtCO2e", "tCO2e", 1.5e6),
    ("1 kt CO2eq", "tCO2e", 1e3),
    ("2 MWh", "J", 2 * 3.6e9),
    ("10 GPU-hours", "s", 36000.0),
    ("1 GPU-hour", "h", 1.0),
    ("5 $", "USD", 5.0),
    ("2 $/h", "USD/h", 2.0),
    ("3 kUSD", "USD", 3e3),
    ("2 MUSD", "USD", 2e6),
    ("1 M$", "USD", 1e6),
    ("4 Mtok", "token", 4e6),
    ("250 tok/s", "token/s", 250.0),
    ("989 TFLOP/s", "flop/s", 989e12),
    ("1 GiB/s", "B/s", 2**30),
])
def test_units_people_write(text, unit, expected):
    assert magnitude(text, unit, name="x") == pytest.approx(expected, rel=1e-12)


def test_target_units_people_write():
    """The same spellings work as the target of a conversion (``ds.dsx.to``)."""
    assert magnitude("3e6 gCO2e", "t CO2e") == pytest.approx(3.0)
    assert magnitude("7.2e9 J", "MWh") == pytest.approx(2.0)


@pytest.mark.parametrize("bad,suggested", [("3 tCO2", "tCO2e"), ("3 GBs", "GB"), ("2 hourz", "hour"),
                                           ("1 Mtokn", "Mtok")])
def test_unknown_unit_suggests_nearest(bad, suggested):
    with pytest.raises(DsxInputError) as exc:
        magnitude(bad, "gCO2e" if "CO2" in bad else "B" if "GB" in bad else "s" if "hour" in bad else "token",
                  name="budget")
    msg = str(exc.value)
    print(msg)
    assert "budget" in msg and "did you mean" in msg and repr(suggested) in msg


def test_unknown_target_unit_suggests_nearest():
    with pytest.raises(DsxInputError, match="did you mean.*'MWh'"):
        magnitude("1 J", "MWhr", name="energy")


def test_units_people_write_in_where_expressions_and_to():
    import xarray as xr

    from dsx.expr import evaluate

    ds = xr.Dataset({"carbon": ((), 5e6, {"units": "gCO2e"}), "tco": ((), 2e6, {"units": "USD"}),
                     "wall_time": ((), 5 * 3600.0, {"units": "s"})})
    assert bool(evaluate("carbon < 10 t CO2e and carbon > 4 tCO2e", ds))
    assert bool(evaluate("tco < 3e6 $ and tco > 1.9 MUSD and tco < 2500 kUSD", ds))
    assert not bool(evaluate("wall_time > 6 GPU-hours", ds))
    out = ds.dsx.to(carbon="t CO2e", tco="MUSD")
    assert float(out.carbon) == pytest.approx(5.0) and out.carbon.attrs["units"] == "t CO2e"
    assert float(out.tco) == pytest.approx(2.0)


def test_space_reads_dollar_prices():
    import dsx

    ds = dsx.Space(model="llama-3.1-8b", hardware="H100", gpus=8, cloud_price=["2 $/h", "3 USD/h"]).to_dataset()
    np.testing.assert_allclose(ds.cloud_price.values, [2.0, 3.0])


def test_units_people_write_in_a_sweep_file():
    """A sweep (the dict of a TOML file): space values and constraints/derived with these spellings."""
    from dsx import sweep

    s = sweep.parse({
        "workload": "training",
        "space": {"model": "llama-3.1-8b", "hardware": "H100", "gpus": [8, 16], "cloud_price": "2.5 $/h"},
        "constraints": ["carbon < 50 t CO2e", "tco < 2 MUSD", "energy < 500 MWh"],
        "derived": {"carbon_kt": "carbon / 1 kt CO2e",
                    "rent_per_gpu_h": "cloud_cost / (gpus * wall_time / 1 GPU-hour)"},
    })
    import dsx
    from dsx.expr import evaluate

    ds = dsx.training(dsx.Space(**s.space))
    rent = evaluate(s.derived["rent_per_gpu_h"], ds)
    np.testing.assert_allclose(rent, 2.5)                      # USD per GPU-hour, as the space set it
    np.testing.assert_allclose(evaluate(s.derived["carbon_kt"], ds), ds.carbon / 1e9)
    assert evaluate(s.constraints[0], ds).dtype == bool


def test_unknown_unit_in_a_where_expression_suggests_the_nearest():
    import xarray as xr

    from dsx.expr import evaluate

    ds = xr.Dataset({"carbon": ((), 5e6, {"units": "gCO2e"})})
    with pytest.raises(DsxInputError, match=r"'tCO2' after a number is not a known unit; did you mean 'tCO2e'"):
        evaluate("carbon < 10 tCO2", ds)


def test_to_a_unit_of_the_wrong_dimension_says_which_is_which():
    """ds.dsx.to(time_to_train='GB') read backwards ('1 second ... expected [information] ... a bare
    number in 'GB''): the variable is the time, the unit asked for is the information."""
    import xarray as xr

    ds = xr.Dataset({"time_to_train": ((), 86400.0, {"units": "s"}), "energy": ((), 3.6e9, {"units": "J"}),
                     "mfu": ((), 0.5, {"units": ""})})
    with pytest.raises(DsxInputError) as e:
        ds.dsx.to(time_to_train="GB")
    assert str(e.value) == ("to(): time_to_train is in seconds (a time); 'GB' is information; "
                            "pick a time unit such as 'day'")
    with pytest.raises(DsxInputError) as e:
        ds.dsx.to(energy="kW")
    assert str(e.value) == "to(): energy is in joules (an energy); 'kW' is a power; pick an energy unit such as 'MWh'"
    with pytest.raises(DsxInputError) as e:
        ds.dsx.to(mfu="s")
    assert str(e.value) == "to(): mfu is a pure number; 's' is a time; pick '' (or '%')"
    with pytest.raises(DsxInputError, match="did you mean.*'GB'"):  # an unknown unit keeps its suggestions
        ds.dsx.to(time_to_train="GBB")
    assert float(ds.dsx.to(time_to_train="day").time_to_train) == 1.0
