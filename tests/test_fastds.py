"""The one-step Dataset builds equal the merge-by-merge ones they replace (issue 12 item 4).

``reference_to_dataset`` is ``Space.to_dataset`` as it was (one xarray assignment per
variable); the one-step build must give an identical Dataset, dimension order included.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import xarray as xr

import dsx
from dsx import catalog
from dsx.fastds import build
from dsx.space import DEFAULT_PRECISION, DEFAULT_REGION, KEYS, _SKIP_COLUMNS, _attrs, _catalog_columns, _inputs
from dsx.stacks import SERVING, TRAINING, evaluate
from dsx.uncertainty import Distribution

def reference_to_dataset(self) -> xr.Dataset:
    """The input Dataset: axes as dimension coordinates, catalog columns joined by label."""
    inputs = _inputs()
    ds = xr.Dataset()
    self._ref_peak = None
    if "precision" not in self._axes and "precision" not in self._values:
        ds.coords["precision"] = DEFAULT_PRECISION
    if "region" not in self._axes and "region" not in self._values:
        ds.coords["region"] = DEFAULT_REGION
    for name, vals in self._axes.items():
        ds.coords[name] = xr.DataArray(np.asarray(vals), dims=name, attrs=_attrs(name, inputs))
    for name, val in self._values.items():
        if name in KEYS:
            ds.coords[name] = val
        elif val is not None:
            val = val.center if isinstance(val, Distribution) else val
            ds[name] = xr.DataArray(val, attrs=_attrs(name, inputs))
    joined: dict[str, xr.Variable] = {}
    for key, (kind, columns) in KEYS.items():
        if key in ds.coords:
            _ref_join(self, ds, key, kind, columns, joined)
    ds = ds.assign(joined)  # one merge: per-column assignment would align ~50 times
    _ref_derive(self, ds)
    # user overrides of catalog columns win over the joined values
    for name in list(self._values) + list(self._axes):
        if name in _catalog_columns() and name not in KEYS:
            if name in self._axes:
                continue  # already a dimension coordinate; joined column was not added
            val = self._values[name]
            val = val.center if isinstance(val, Distribution) else val
            ds[name] = xr.DataArray(val, attrs=_attrs(name, inputs))
    return ds

def _ref_join(self, ds: xr.Dataset, key: str, kind: str, columns: Any, joined: dict) -> None:
    table = catalog.load(kind)
    dim = catalog.DIMENSION[kind]
    label = ds.coords[key]
    picked = table.sel({dim: label.values})
    if dim in picked.dims and dim != key:
        picked = picked.rename({dim: key}) if key in ds.dims else picked
    for col in picked.data_vars:
        if col in _SKIP_COLUMNS:
            continue
        if isinstance(columns, dict):
            if col not in columns:
                continue
            target = columns[col]
        elif isinstance(columns, str):
            target = columns + col
        else:
            target = col
        if target in self._axes or target in self._values:
            continue  # the user overrides this column
        da = picked[col]
        if col == "peak_flops":  # per precision: selected at the compute precision in _derive
            self._ref_peak = da.drop_vars([c for c in da.coords if c not in da.dims])
            if key in da.dims:
                self._ref_peak = self._ref_peak.assign_coords({key: ds.coords[key].values})
            continue
        joined[target] = xr.Variable(da.dims, da.values, da.attrs)

def _ref_derive(self, ds: xr.Dataset) -> None:
    """Joins that depend on two keys: peak FLOP/s at the compute precision; byte widths."""
    for name in ("weight_bytes", "kv_bytes", "activation_bytes"):
        if name not in ds and "precision_bytes" in ds:
            ds[name] = ds["precision_bytes"]
    if "weight_bytes" in ds:  # per weight element, i.e. per parameter
        ds["weight_bytes"] = ds["weight_bytes"].assign_attrs(units=_catalog_columns()["weight_bytes"])
    if self._ref_peak is not None and "peak_flops" not in self._values and "peak_flops" not in self._axes:
        compute = "activation_precision" if "activation_precision" in ds.coords else "precision"
        label = ds.coords[compute]
        # a precision the device has no figure for is NaN (-> precision_unsupported), never an error
        peak = self._ref_peak.reindex(precision=catalog.names("precisions"))
        sel = xr.DataArray(label.values, dims=label.dims) if label.dims else label.values[()]
        peak = peak.sel(precision=sel).drop_vars("precision", errors="ignore")
        if label.dims:
            peak = peak.assign_coords({label.dims[0]: label.values})
        ds["peak_flops"] = peak
        ds["peak_flops"].attrs = {"units": "flop/s", "long_name": "dense peak throughput at the compute precision"}
    if "scale_out_link_bandwidth" in ds:
        ds["scale_out_bandwidth"] = ds["scale_out_link_bandwidth"] * 1  # one NIC per GPU
        ds["scale_out_bandwidth"].attrs = {"units": "B/s", "long_name": "scale-out bandwidth per direction per accelerator"}




SPACES = [
    dict(model="llama-3.1-70b", hardware="H100", gpus=512, tp=8),
    dict(model="llama-3.1-8b", hardware="H100"),
    dict(model=["llama-3.1-8b", "llama-3.1-70b"], hardware=["H100", "B200", "MI300X"], gpus=[64, 128],
         precision=["bf16", "fp8"], region=["quebec", "poland"], scale_out_fabric="ib-ndr"),
    dict(model="llama-3.1-8b", hardware=["H100", "B200"], activation_precision=["fp8", "fp4"],
         weight_precision="fp8", spec_draft_model="llama-3.1-8b"),
    dict(model="llama-3.1-8b", hardware="H100", hbm_bandwidth=["3 TB/s", "4 TB/s"], precision_bytes=1,
         scale_out_fabric=["ib-ndr", "roce-400g"], scale_out_link_bandwidth=[1e10, 2e10]),
    dict(model="llama-3.1-8b", hardware="H100", peak_flops=1e15, kernel_efficiency=dsx.normal(0.7, 0.05)),
]


@pytest.mark.parametrize("axes", SPACES)
def test_to_dataset_equals_the_merge_by_merge_build(axes):
    space = dsx.Space(**axes)
    new, old = space.to_dataset(), reference_to_dataset(space)
    xr.testing.assert_identical(new, old)
    assert list(new.dims) == list(old.dims)
    for name in old.variables:
        assert new[name].attrs == old[name].attrs, name
        assert new[name].dtype == old[name].dtype, name


@pytest.mark.parametrize("steps, axes", [(TRAINING, SPACES[0]), (TRAINING, SPACES[2]), (SERVING, SPACES[1]),
                                         (SERVING, SPACES[3])])
def test_build_equals_assign(steps, axes):
    ds = evaluate(steps, dsx.Space(**axes).to_dataset())
    coords = {c: ds.variables[c] for c in ds.coords}
    data = {n: ds.variables[n] for n in ds.data_vars}
    fast, slow = build(coords, data, {"a": 1}), xr.Dataset(coords=coords, attrs={"a": 1}).assign(data)
    xr.testing.assert_identical(fast, slow)
    assert list(fast.dims) == list(slow.dims) and list(fast.variables) == list(slow.variables)


def test_build_with_disagreeing_lengths_raises_xarrays_error():
    with pytest.raises(ValueError):
        build({"x": xr.Variable(("x",), [1, 2])}, {"y": xr.Variable(("x",), [1.0, 2.0, 3.0])})


@pytest.mark.parametrize("dims, data", [
    ((), np.asarray(3.5)), (("x",), np.arange(4)), (("x", "y"), np.ones((2, 3), dtype=np.int8)),
    (("x",), np.array(["a", "bc"])), (("x",), np.array(["a", "bc"], dtype=object)), ((), 7), (("x",), [1.0, 2.0]),
])
def test_variable_equals_the_public_constructor(dims, data):
    """fastds.variable (fields set directly when this xarray allows it) gives the Variable
    xr.Variable gives: same dims, data, dtype, attrs (a copy), encoding."""
    from dsx.fastds import variable

    attrs = {"units": "s", "long_name": "t"}
    got, want = variable(dims, data, attrs), xr.Variable(dims, np.asarray(data), attrs)
    assert type(got) is xr.Variable and got.identical(want) and got.dtype == want.dtype
    assert got.encoding == want.encoding == {}
    got.attrs["units"] = "ms"
    assert attrs["units"] == "s"  # the caller's attrs are not shared
    with pytest.raises(ValueError):
        variable(("x", "y"), np.arange(3), attrs)  # a dims/data mismatch still raises xarray's error
