"""The expression language: grammar, units, categorical comparisons, and every rejection."""

import numpy as np
import pytest
import xarray as xr

from dsx.errors import DsxInputError
from dsx.expr import Expression, evaluate, mask, names, parse


@pytest.fixture
def ds():
    return xr.Dataset(
        {
            "time_to_train": ("gpus", [20 * 86400.0, 40 * 86400.0], {"units": "s"}),
            "ttft": ("gpus", [0.4, 0.6], {"units": "s"}),
            "tco": ((), 2.5e6, {"units": "USD"}),
            "tokens_total": ((), 1e12, {"units": "token"}),
            "mfu": ("gpus", [0.3, 0.5], {"units": ""}),
            "memory_per_gpu": ("tp", [90e9, 45e9], {"units": "B"}),
            "bandwidth": ((), 5e10, {"units": "B/s"}),
            "feasible": ("gpus", [True, False]),
            "reason": ("gpus", np.array(["", "oom"], dtype=object)),
        },
        coords={"gpus": [512, 1024], "tp": [4, 8], "hardware": "H100-SXM"},
    )


@pytest.mark.parametrize("text, expected", [
    ("1 + 2 * 3", 7.0), ("(1 + 2) * 3", 9.0), ("2 ** 3 ** 2", 512.0), ("-2 ** 2", -4.0),
    ("2 ** -1", 0.5), ("10 / 4 - 1", 1.5), ("+3", 3.0), ("1e3 * .5", 500.0), ("1.5e-3 * 2e3", 3.0),
])
def test_arithmetic(text, expected):
    assert float(evaluate(text, xr.Dataset())) == pytest.approx(expected)


def test_quantity_literal_converted_to_variable_unit(ds):
    assert evaluate("time_to_train < 30 day", ds).values.tolist() == [True, False]
    assert evaluate("ttft <= 500 ms", ds).values.tolist() == [True, False]
    assert evaluate("memory_per_gpu < 80 GB", ds).values.tolist() == [False, True]
    assert evaluate("memory_per_gpu < 80 GiB", ds).values.tolist() == [False, True]   # 85.9e9 B
    assert bool(evaluate("bandwidth >= 400 Gbit/s", ds)) and not bool(evaluate("bandwidth > 400 Gbit/s", ds))
    assert bool(evaluate("tco < 1e7 USD", ds))
    assert evaluate("mfu > 40 %", ds).values.tolist() == [False, True]


def test_dims_broadcast_and_units_of_results(ds):
    m = evaluate("time_to_train < 30 day and memory_per_gpu < 80 GB", ds)
    assert m.dims == ("gpus", "tp") and m.values.tolist() == [[False, True], [False, False]]
    per = evaluate("1e6 * tco / tokens_total", ds)
    assert float(per) == pytest.approx(2.5) and per.attrs["units"] == "USD/token"
    days = evaluate("time_to_train / 1 day", ds)
    assert days.values.tolist() == pytest.approx([20.0, 40.0]) and days.attrs["units"] == ""
    mb = evaluate("memory_per_gpu * 2", ds)
    assert mb.attrs["units"] == "B" and mb.values.tolist() == [180e9, 90e9]
    assert evaluate("ttft + 100 ms", ds).values.tolist() == pytest.approx([0.5, 0.7])
    assert evaluate("ttft + 1", ds).values.tolist() == pytest.approx([1.4, 1.6])  # bare number: the variable's unit


def test_dimensionless_powers_convert_percent(ds):
    """A percentage in a variable power is a fraction: 4 ** 50 % = 2 (not 4 ** 50), 50 % ** 2 = 0.25."""
    assert evaluate("(mfu * 0 + 4) ** 50 %", ds).values.tolist() == pytest.approx([2.0, 2.0])
    assert evaluate("50 % ** (mfu * 0 + 2)", ds).values.tolist() == pytest.approx([0.25, 0.25])


def test_lazy_dataset_gives_the_same_numbers(ds):
    """Dask-backed variables (``chunks=``) evaluate lazily to the eager figures."""
    pytest.importorskip("dask")
    lazy = ds.chunk({"gpus": 1})
    for text in ("time_to_train < 30 day and feasible", "ttft * 2 + 100 ms", "memory_per_gpu / bandwidth",
                 "mfu > 40 %"):
        got = evaluate(text, lazy)
        assert got.chunks is not None, text
        want = evaluate(text, ds)
        assert got.attrs == want.attrs and got.values.tolist() == want.values.tolist(), text


def test_booleans_chains_and_strings(ds):
    assert evaluate("0.3 < mfu < 0.6", ds).values.tolist() == [False, True]
    assert evaluate("not feasible or mfu > 0.4", ds).values.tolist() == [False, True]
    assert evaluate("feasible == true", ds).values.tolist() == [True, False]
    assert evaluate("reason == 'oom'", ds).values.tolist() == [False, True]
    assert evaluate('reason != "oom"', ds).values.tolist() == [True, False]
    assert bool(evaluate('hardware == "H100-SXM"', ds))
    assert bool(evaluate('hardware == "h100"', ds))  # catalog alias resolved
    assert mask(["feasible", "mfu > 0.2"], ds).values.tolist() == [True, False]
    assert mask(None, ds) is None


def test_names_and_expression_object(ds):
    assert names("tco / tokens_total < 2 USD and feasible") == {"tco", "tokens_total", "feasible"}
    assert names("1e6 USD / tokens_total") == {"tokens_total"}   # USD is the literal's unit
    e = Expression("ttft * 2")
    assert e.names == {"ttft"} and e(ds).values.tolist() == pytest.approx([0.8, 1.2])
    assert e(ds).attrs == {"units": "s", "long_name": "ttft * 2"}


@pytest.mark.parametrize("text, words", [
    ("__import__('os')", ["'_'", "position 0"]),
    ("open('x')", ["function calls", "position 4"]),
    ("abs(ttft)", ["function calls"]),
    ("ttft.real", ["attribute access", "position 4"]),
    ("1.5.real", ["attribute access"]),
    ("ds['ttft']", ["subscripts", "position 2"]),
    ("lambda: 1", ["'lambda' is not supported"]),
    ("[x for x in y]", ["subscripts", "position 0"]),
    ("import os", ["'import' is not supported"]),
    ("ttft = 1", ["assignment"]),
    ("ttft & mfu", ["use 'and'"]),
    ("ttft ^ 2", ["'**'"]),
    ("ttft <", ["expected a number", "end of input"]),
    ("", ["empty expression"]),
    ("(1 + 2", ["expected ')'"]),
    ("1 +* 2", ["unexpected '*'", "position 3"]),
    ("1 2", ["unexpected '2'"]),
    ("'abc", ["unterminated string"]),
    ("3 gpus", ["not a known unit"]),
    ("ttft < 3 furlongz", ["not a known unit"]),
    ("a ; b", ["';'"]),
    ("and ttft", ["unexpected keyword 'and'"]),
])
def test_syntax_rejections(text, words):
    with pytest.raises(DsxInputError) as err:
        parse(text)
    for w in words:
        assert w in str(err.value), str(err.value)


@pytest.mark.parametrize("text, words", [
    ("ttft_p99 < 1 s", ["unknown name 'ttft_p99'", "did you mean 'ttft'"]),
    ("tco < 30 day", ["'tco' [USD]", "'30 day' [day]", "incompatible"]),
    ("ttft + memory_per_gpu", ["'ttft' [s]", "'memory_per_gpu' [B]"]),
    ("mfu > 0.4 and tco", ["'and' needs true/false"]),
    ("not tco", ["'not' needs true/false"]),
    ("reason < 'oom'", ["compare only with '==' or '!='"]),
    ("reason == 3", ["string vs number"]),
    ("feasible + 1", ["needs numbers"]),
    ("ttft ** mfu", ["must be a number"]),
    ('hardware == "Z9000"', ["unknown hardware"]),
])
def test_evaluation_rejections(ds, text, words):
    with pytest.raises(DsxInputError) as err:
        evaluate(text, ds)
    for w in words:
        assert w in str(err.value), str(err.value)


def test_constraint_must_be_a_condition(ds):
    with pytest.raises(DsxInputError, match="not a condition"):
        mask(["tco * 2"], ds)


def test_not_a_string():
    with pytest.raises(DsxInputError, match="must be a string"):
        parse(3)
