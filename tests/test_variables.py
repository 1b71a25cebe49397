"""The variable registry (dsx/variables.toml): complete, used, checked on load, one meaning per name."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import dsx
import dsx.solvers
from dsx import space, variables
from dsx.solvers import base

ROOT = Path(__file__).resolve().parents[1]


def _solvers() -> dict[str, object]:
    """Every decorated solver of dsx.solvers, by qualified name."""
    found = {}
    for info in pkgutil.iter_modules(dsx.solvers.__path__):
        mod = importlib.import_module(f"dsx.solvers.{info.name}")
        for obj in vars(mod).values():
            if callable(obj) and hasattr(obj, "compute") and hasattr(obj, "kernel"):
                found[f"{obj.__module__}.{obj.__name__}"] = obj
    return found


SOLVERS = _solvers()


def _params(fn) -> list[str]:
    return [p.name for p in inspect.signature(fn.kernel).parameters.values() if p.kind != p.VAR_KEYWORD]


def test_every_name_a_solver_reads_or_returns_is_declared():
    # catalog columns and keys, and what Space derives from them (peak_flops, weight_bytes, ...)
    catalog = {c for kind in dsx.catalog.SCHEMA.values() for c in kind} | set(space.KEYS) | \
        set(space._catalog_columns()) | {"activation_bytes"}
    for name, fn in SOLVERS.items():
        assert set(fn.outputs) <= set(variables.OUTPUTS), name
        for p in inspect.signature(fn.kernel).parameters.values():
            if p.kind == p.VAR_KEYWORD or p.name.startswith("draft_") or p.name == "weight_stream_efficiency":
                continue  # the draft model's columns; serving's internal weight-stream derating
            known = p.name in variables.INPUTS or p.name in variables.OUTPUTS or p.name in catalog
            assert known, f"{name} reads {p.name!r}, which neither dsx/variables.toml nor a catalog declares"


def test_every_declared_variable_is_used():
    read = {p for fn in SOLVERS.values() for p in _params(fn)}
    returned = {o for fn in SOLVERS.values() for o in fn.outputs}
    unread = sorted(set(variables.INPUTS) - read)
    assert not unread, f"inputs no solver reads: {unread}"
    unreturned = sorted(set(variables.OUTPUTS) - returned)
    assert not unreturned, f"outputs no solver returns: {unreturned}"


def test_every_input_has_unit_or_choices_meaning_and_a_resolving_reference():
    keys = set(re.findall(r"^@\w+\{([^,]+),", (ROOT / "docs/references.bib").read_text(), re.M))
    sections = set(re.findall(r"^#+ (\d+(?:\.\d+)*)\.? ", (ROOT / "docs/physics.md").read_text(), re.M))
    table = dsx.inputs()
    assert list(table.columns) == ["unit", "default", "choices", "meaning", "reference"]
    assert set(table.index) == set(variables.INPUTS)
    for name, row in table.iterrows():
        spec = variables.INPUTS[name]
        assert spec.unit is not None or spec.choices, name
        assert row["meaning"].strip(), name
        ref = row["reference"]
        m = re.fullmatch(r"physics\.md §(\d+(?:\.\d+)*)", ref)
        assert (m and m.group(1) in sections) or ref in keys, f"{name}: reference {ref!r} resolves nowhere"


def test_the_views_other_modules_read():
    assert base.INPUTS is variables.INPUTS and base.OUTPUTS is variables.OUTPUTS
    assert base.CALIBRATED == {n for n, s in base.INPUTS.items() if s.calibrated}
    assert {"kernel_efficiency", "link_efficiency", "step_overhead"} <= base.CALIBRATED
    assert base.INPUTS["tp"].integer and base.INPUTS["tp"].default == 1
    assert base.INPUTS["recompute"].choices == ("none", "selective", "full", "op")
    assert base.OUTPUTS["step_time"] == ("s", base.OUTPUTS["step_time"][1])
    assert base.PROVIDERS["step_time"] == "step_time"


def test_a_kernel_takes_its_inputs_defaults_from_the_registry():
    from dsx.solvers.reliability import reliability

    assert "gpu_interruption_rate" not in reliability.requires
    assert reliability.inputs["gpu_interruption_rate"] is base.INPUTS["gpu_interruption_rate"]
    rate = base.INPUTS["gpu_interruption_rate"].default
    assert float(reliability.kernel(1000)["fleet_mtbf"]) == pytest.approx(1 / (1000 * rate))


GOOD = '[x]\nkind = "input"\nunit = "s"\ndefault = 1.0\nminimum = 0.0\nmeaning = "a time"\n'


@pytest.mark.parametrize("text, message", [
    (GOOD + "colour = 3\n", r"\[x\]: unknown field\(s\) colour"),
    (GOOD.replace('"s"', '"parsecs_per_fortnight"'), r"\[x\]: unit 'parsecs_per_fortnight' is not a unit"),
    (GOOD + GOOD, r"not valid TOML"),                              # the same name twice
    (GOOD.replace("default = 1.0", "default = -1.0"), r"\[x\]: default -1.0 is outside its bounds"),
    (GOOD.replace("default = 1.0", "default = 0.0") + "exclusive_minimum = true\n", r"\[x\]: default 0.0 is outside"),
    (GOOD + "maximum = 0.5\n", r"\[x\]: default 1.0 is outside its bounds \[0.0, 0.5\]"),
    (GOOD + "maximum = -1.0\n", r"\[x\]: minimum 0.0 is above maximum -1.0"),
    (GOOD.replace('kind = "input"', 'kind = "knob"'), r"\[x\]: kind is 'knob'"),
    (GOOD.replace("minimum = 0.0", 'minimum = "zero"'), r"\[x\]: minimum = 'zero' has the wrong type"),
    ('[y]\nkind = "output"\nunit = "s"\n', r"\[y\]: an output needs a long_name"),
    ('[z]\nkind = "input"\ndefault = "a"\nchoices = ["b"]\nmeaning = "m"\n', r"\[z\]: default 'a' is not one of"),
])
def test_a_malformed_registry_is_refused_naming_the_entry(text, message):
    with pytest.raises(variables.RegistryError, match=message):
        variables.load(text)


def test_an_undeclared_output_or_a_conflicting_signature_default_is_refused():
    with pytest.raises(RuntimeError, match="does not declare"):
        base.solver(("no_such_output",))(lambda gpus: {"no_such_output": gpus})
    with pytest.raises(RuntimeError, match="one unit per name"):
        base.solver({"step_time": ("h", "step")})(lambda gpus: {"step_time": gpus})
    with pytest.raises(RuntimeError, match="differently from dsx/variables.toml"):
        base.solver(("step_time",))(lambda tp=base.Input(2, "", "x"): {"step_time": tp})


def test_nothing_private_leaks_from_dsx():
    public = set(dir(dsx)) - {"__version__"}
    assert public == set(dsx.__all__)
    assert not {"pd", "annotations", "_analysis", "_expr"} & set(vars(dsx))


def test_one_optimizer_state_figure_sizes_memory_and_checkpoint():
    """optimizer_bytes (B/param) drives both: checkpoint S = N·(K + b_w), ZeRO-0 optimizer memory N_gpu·K."""
    assert base.INPUTS["optimizer_bytes"].unit == "B/param" and "checkpoint_state_bytes" not in base.INPUTS
    space_ = dict(model="llama-3.1-8b", hardware="H100", gpus=8, tp=8, zero=0)
    a = dsx.training(dsx.Space(**space_))
    b = dsx.training(dsx.Space(**space_, optimizer_bytes=6.0))  # e.g. 8-bit Adam states
    n, bw = float(a.params), float(a.weight_bytes)
    assert float(a.checkpoint_size) == pytest.approx(n * (12.0 + bw), rel=1e-12)
    assert float(b.checkpoint_size) == pytest.approx(n * (6.0 + bw), rel=1e-12)
    assert float(b.optimizer_memory) == pytest.approx(float(a.optimizer_memory) / 2, rel=1e-12)


def test_shared_names_mean_one_thing_in_both_stacks():
    """Names both stacks compute carry one unit and long name; serving's per-replica rate has its own name."""
    space_ = dict(model="llama-3.1-8b", hardware="H100", gpus=8, tp=8)
    train, serve = dsx.training(dsx.Space(**space_)), dsx.serving(dsx.Space(**space_))
    shared = set(train.data_vars) & set(serve.data_vars) & set(variables.OUTPUTS)
    assert {"feasible", "reason", "wall_time", "tokens_total", "memory_per_gpu", "activation_memory",
            "tokens_per_s_per_gpu", "power_fraction", "ok_context"} <= shared
    for name in shared:
        assert train[name].attrs["units"] == serve[name].attrs["units"] == variables.OUTPUTS[name][0], name
        if name not in variables.INPUTS:  # an input's attrs come from the space (or its default)
            assert train[name].attrs["long_name"] == serve[name].attrs["long_name"], name
    assert "tokens_per_s" in train and "tokens_per_s" not in serve and "replica_tokens_per_s" in serve
    assert float(serve.tokens_per_s_per_gpu) == pytest.approx(
        float(serve.replica_tokens_per_s) / float(serve.gpus_per_replica), rel=1e-12)


# -- catalog columns: declared once, in the registry ----------------------------------------------------
def _headers() -> dict[str, list[str]]:
    """The header row of each built-in catalog file."""
    return {kind: (ROOT / "dsx/catalog/data" / f"{kind}.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
            for kind in variables.CATALOGS}


def test_every_catalog_column_is_declared_and_every_declared_column_exists():
    for kind, header in _headers().items():
        undeclared = [c for c in header if kind not in getattr(variables.COLUMNS.get(c), "catalogs", ())]
        assert not undeclared, f"{kind}.csv columns not declared in dsx/variables.toml for {kind}: {undeclared}"
        declared = {n for n, col in variables.COLUMNS.items() if kind in col.catalogs}
        assert declared == set(header), f"declared for {kind} but not in {kind}.csv: {sorted(declared - set(header))}"
    assert set(dsx.catalog.SCHEMA) == set(variables.CATALOGS)
    for kind, cols in dsx.catalog.SCHEMA.items():  # the catalog's schema is the registry's view
        assert set(cols) == set(_headers()[kind]) - {"id", "aliases"}, kind
        assert all(cols[c] is variables.COLUMNS[c] for c in cols)


def test_every_column_space_derives_or_joins_is_declared_with_one_unit():
    derived = {n for n, col in variables.COLUMNS.items() if col.derived_from}
    assert derived == {"peak_flops", "precision_bytes", "weight_bytes", "kv_bytes", "activation_bytes",
                       "scale_out_link_bandwidth"}
    for name in derived:  # derived_from names a real column ("catalog.column", peak_* the per-precision ones)
        kind, _, col = variables.COLUMNS[name].derived_from.partition(".")
        assert col.rstrip("*") and any(h.startswith(col.rstrip("*")) for h in _headers()[kind]), name
    cols = space._catalog_columns()
    assert all(cols[n] == variables.COLUMNS[n].unit for n in cols)
    # the columns the space keys join under a new name are declared too (scale_up_bandwidth, ...)
    for key, (kind, renames) in space.KEYS.items():
        if isinstance(renames, dict):
            assert set(renames) <= {n for n, c in variables.COLUMNS.items() if kind in c.catalogs}, key
            assert set(renames.values()) <= set(variables.COLUMNS), key
    ds = dsx.Space(model="llama-3.1-8b", hardware="H100", scale_out_fabric="ib-ndr").to_dataset()
    for name in ("peak_flops", "weight_bytes", "max_context", "scale_out_bandwidth", "hbm_bandwidth"):
        assert ds[name].attrs["units"] == variables.COLUMNS[name].unit, name


def test_a_column_in_several_catalogs_is_one_declaration_with_one_meaning():
    shared = {n: c.catalogs for n, c in variables.COLUMNS.items() if len(c.catalogs) > 1}
    assert set(shared) == {"id", "aliases", "name", "source"}
    assert all(set(c) == set(variables.CATALOGS) for c in shared.values())
    # an input whose per-device value is a catalog column: one entry, unit and range shared
    for name in ("gpus_per_node", "matmul_efficiency"):
        assert variables.COLUMNS[name].catalogs == ("hardware",) and name in variables.INPUTS
        assert variables.COLUMNS[name].unit == variables.INPUTS[name].unit
    assert variables.COLUMNS["matmul_efficiency"].low == (0.0, False) and variables.COLUMNS["matmul_efficiency"].high == (1.0, True)


def test_catalog_units_and_ranges_come_from_the_registry():
    hw = dsx.catalog.hardware()
    assert hw.hbm_bandwidth.attrs == {"long_name": "HBM bandwidth", "units": "B/s"}
    assert float(hw.hbm_bandwidth.sel(hardware="H100-SXM")) == pytest.approx(3.35e12, rel=1e-12)
    assert dsx.catalog.REQUIRED["hardware"] == ("hbm_capacity", "hbm_bandwidth")
    assert variables.COLUMNS["pue"].low == (1.0, True) and variables.COLUMNS["year"].low is None


COLUMN = '[c]\nkind = "catalog"\ncatalog = ["hardware"]\ntype = "number"\nunit = "W"\nlong_name = "c"\nmeaning = "m"\n'


@pytest.mark.parametrize("text, message", [
    (COLUMN.replace('["hardware"]', '["gpus"]'), r"\[c\]: catalog = \['gpus'\]; expected a non-empty list"),
    (COLUMN.replace('"number"', '"colour"'), r"\[c\]: type is 'colour'"),
    (COLUMN.replace('"number"', '"text"'), r"\[c\]: a text column has no unit or bounds: remove unit"),
    (COLUMN.replace('unit = "W"\n', ''), r"\[c\]: no unit"),
    (COLUMN.replace('long_name = "c"\n', ''), r"\[c\]: a catalog column needs a long_name"),
    (COLUMN + "default = 1.0\n", r"\[c\]: unknown field\(s\) default"),
    (COLUMN + "minimum = 2.0\nmaximum = 1.0\n", r"\[c\]: minimum 2.0 is above maximum 1.0"),
    (COLUMN.replace('kind = "catalog"\ncatalog = ["hardware"]\ntype = "number"', 'kind = "derived"'),
     r"\[c\]: a derived column needs derived_from"),
])
def test_a_malformed_catalog_column_is_refused_naming_the_entry(text, message):
    with pytest.raises(variables.RegistryError, match=message):
        variables.load(text)
