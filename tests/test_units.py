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
