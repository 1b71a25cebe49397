"""Catalog data files: provenance, physical plausibility, aliases and user overrides.

Every figure in ``dsx/catalog/data/*.csv`` is written with the unit it was published in and
carries a source; these tests check the loaded (canonical-unit) values against physical
ranges and against each other, and print the derived figures (ridge points, parameter
ratios) so a reviewer sees them in ``pytest -s``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import dsx.catalog as cat
from dsx import DsxInputError

KINDS = ["hardware", "models", "regions", "fabrics", "precisions"]

# Devices whose memory is on-wafer SRAM and whose "TDP" is a whole system (mlsysim carries them).
WAFER_SCALE = {"wafer"}


@pytest.fixture(scope="module")
def hw():
    return cat.hardware()


@pytest.fixture(scope="module")
def mdl():
    return cat.models()


@pytest.fixture(scope="module")
def reg():
    return cat.regions()


@pytest.fixture(scope="module")
def fab():
    return cat.fabrics()


def _gpu_like(hw):
    return hw.sel(hardware=[h for h in hw.hardware.values if hw.kind.sel(hardware=h).item() not in WAFER_SCALE])


# --------------------------------------------------------------------------------------------
# every catalog


@pytest.mark.parametrize("kind", KINDS)
def test_every_row_has_a_source(kind):
    ds = cat.load(kind)
    src = pd.Series(ds["source"].values, index=ds[cat.DIMENSION[kind]].values).astype(str).str.strip()
    missing = src[src.isin(["", "-", "nan", "NaN", "n/a"])]
    assert missing.empty, f"{kind}: rows without a source: {list(missing.index)}"


@pytest.mark.parametrize("kind", KINDS)
def test_ids_unique_and_aliases_unambiguous(kind):
    table = cat._table(kind)
    assert table.index.is_unique, f"{kind}: duplicate ids {list(table.index[table.index.duplicated()])}"
    ids = {i.lower() for i in table.index}
    seen: dict[str, str] = {}
    if "aliases" in table.columns:
        for ident, al in table["aliases"].items():
            for a in (x.strip().lower() for x in str(al).split(";") if x.strip()):
                assert a not in ids or a == ident.lower(), f"{kind}: alias {a!r} of {ident!r} is another id"
                assert seen.setdefault(a, ident) == ident, f"{kind}: alias {a!r} used by {seen[a]!r} and {ident!r}"


@pytest.mark.parametrize("kind", KINDS)
def test_every_id_resolves_to_itself(kind):
    for ident in cat.names(kind):
        assert cat.resolve(kind, ident.upper()) == ident


def test_catalog_variables_carry_canonical_units(hw, reg, fab):
    assert hw["hbm_capacity"].attrs["units"] == "B"
    assert hw["hbm_bandwidth"].attrs["units"] == "B/s"
    assert hw["peak_flops"].attrs["units"] == "flop/s"
    assert hw["price"].attrs["units"] == "USD"
    assert hw["embodied_carbon"].attrs["units"] == "gCO2e"
    assert hw["scale_up_latency"].attrs["units"] == "s"
    assert reg["carbon_intensity"].attrs["units"] == "gCO2e/kWh"
    assert reg["electricity_price"].attrs["units"] == "USD/kWh"
    assert fab["bandwidth"].attrs["units"] == "B/s"


# --------------------------------------------------------------------------------------------
# hardware


REQUIRED_HARDWARE = [
    "V100", "A100-40GB", "A100-80GB", "H100-SXM", "H100-PCIe", "H200", "B200", "GB200", "MI250X", "MI300X",
    "MI325X", "Gaudi2", "Gaudi3", "TPU-v4", "TPU-v5e", "TPU-v5p", "TPU-v6e", "Trainium2", "L4", "T4",
    "CS-3",  # mlsysim 0.1.1 Hardware.Cloud.Cerebras_CS3
]


def test_required_hardware_present():
    missing = set(REQUIRED_HARDWARE) - set(cat.names("hardware"))
    assert not missing


@pytest.mark.parametrize("alias,ident", [
    ("H100", "H100-SXM"), ("h100", "H100-SXM"), ("H100-SXM5", "H100-SXM"), ("A100", "A100-80GB"),
    ("TPUv5p", "TPU-v5p"), ("Trillium", "TPU-v6e"), ("CerebrasCS3", "CS-3"),
])
def test_hardware_aliases(alias, ident):
    assert cat.resolve("hardware", alias) == ident


def test_unknown_hardware_suggests_close_match():
    with pytest.raises(DsxInputError, match="H100-SXM"):
        cat.resolve("hardware", "H100-SMX")


def test_bf16_or_fp16_peak_present(hw):
    half = hw.peak_flops.sel(precision="bf16").fillna(hw.peak_flops.sel(precision="fp16"))
    missing = list(hw.hardware.values[~np.isfinite(half.values)])
    assert not missing, f"no bf16/fp16 peak for {missing}"


def test_ridge_point_plausible(hw):
    gpu = _gpu_like(hw)
    half = gpu.peak_flops.sel(precision="bf16").fillna(gpu.peak_flops.sel(precision="fp16"))
    ridge = (half / gpu.hbm_bandwidth).to_series()
    print("\nridge point, 16-bit peak / HBM bandwidth (flop/B):")
    print(ridge.round(1).to_string())
    bad = ridge[(ridge < 30) | (ridge > 1000)]  # H20 (export variant): 148 TFLOP/s / 4.0 TB/s = 37
    assert bad.empty, f"ridge point outside 30-1000 flop/B: {bad.to_dict()}"


def test_memory_and_power_ranges(hw):
    gpu = _gpu_like(hw)
    cap = gpu.hbm_capacity.to_series() / 1e9
    tdp = gpu.tdp.to_series().dropna()  # blank where unpublished (AWS Trainium1, Inferentia2)
    assert cap.between(8, 300).all(), cap[~cap.between(8, 300)].to_dict()
    assert tdp.between(50, 2000).all(), tdp[~tdp.between(50, 2000)].to_dict()
    # node power per slot covers at least the accelerator itself
    sp = gpu.system_power.to_series().reindex(tdp.index)
    assert (sp >= tdp).all(), (sp[sp < tdp]).to_dict()


def test_published_capacities_keep_gb_vs_gib(hw):
    # TPU v4/v5p and Trainium2 are published in GiB, the GPUs in GB
    assert float(hw.hbm_capacity.sel(hardware="TPU-v5p")) == 95 * 2**30
    assert float(hw.hbm_capacity.sel(hardware="TPU-v4")) == 32 * 2**30
    assert float(hw.hbm_capacity.sel(hardware="H100-SXM")) == 80e9
    assert float(hw.hbm_capacity.sel(hardware="H200")) == 141e9


@pytest.mark.parametrize("ident,total_bidirectional", [
    ("V100", 300e9), ("A100-40GB", 600e9), ("A100-80GB", 600e9), ("H100-SXM", 900e9), ("H200", 900e9),
    ("B200", 1800e9), ("GB200", 1800e9), ("MI300X", 896e9), ("TPU-v5e", 400e9), ("TPU-v5p", 1200e9),
    ("TPU-v6e", 800e9),
])
def test_scale_up_is_per_direction(hw, ident, total_bidirectional):
    per_dir = float(hw.scale_up_bandwidth.sel(hardware=ident))
    assert per_dir <= total_bidirectional / 2 * (1 + 1e-9)
    assert per_dir == pytest.approx(total_bidirectional / 2)


def test_scale_up_below_hbm_and_domain_sane(hw):
    su = hw.scale_up_bandwidth.to_series().dropna()
    assert (su <= hw.hbm_bandwidth.to_series()[su.index]).all()
    dom = hw.scale_up_domain.to_series()
    assert (dom >= 1).all() and (dom == np.round(dom)).all()
    assert int(hw.scale_up_domain.sel(hardware="GB200")) == 72
    assert int(hw.scale_up_domain.sel(hardware="H100-SXM")) == 8
    gpn = hw.gpus_per_node.to_series()
    assert (gpn >= 1).all() and (gpn == np.round(gpn)).all()


def test_dense_not_sparse(hw):
    """Data sheets print sparse peaks; dense figures are half. Lower precision is at most 2x faster."""
    p = hw.peak_flops
    tol = 1.015  # data sheets round the sparse figures (L4: 242 vs 485; L40S: 362.05 vs 733 TFLOP/s)
    bf16 = p.sel(precision="bf16").fillna(p.sel(precision="fp16"))
    # Blackwell Ultra (B300/GB300) runs NVFP4 at 3x its fp8 rate (GB300 NVL72 spec: 15 vs 5 PFLOP/s dense)
    for low, high, most in [("fp8", bf16, 2), ("int8", bf16, 2), ("fp4", p.sel(precision="fp8"), 3)]:
        ratio = (p.sel(precision=low) / high).to_series().dropna()
        assert (ratio <= most * tol).all(), f"{low}: {ratio[ratio > most * tol].to_dict()}"
    tf32 = (p.sel(precision="tf32") / bf16).to_series().dropna()
    assert (tf32 <= 1 * tol).all(), tf32[tf32 > tol].to_dict()
    fp32 = (p.sel(precision="fp32") / bf16).to_series().dropna()
    assert (fp32 <= 1 * tol).all(), fp32[fp32 > tol].to_dict()


def test_h100_anchor_values(hw):
    h = hw.sel(hardware="H100-SXM")
    assert float(h.peak_flops.sel(precision="bf16")) == 989e12
    assert float(h.peak_flops.sel(precision="fp8")) == 1979e12
    assert float(h.hbm_bandwidth) == 3.35e12
    assert float(h.scale_up_bandwidth) == 450e9
    assert float(h.scale_out_bandwidth) == 50e9  # one 400 Gb/s ConnectX-7 per GPU
    assert float(h.system_power) == pytest.approx(10_200 / 8)
    assert float(h.tdp) == 700


def test_unsupported_precision_is_nan_not_substituted(hw):
    # V100 has no bf16 tensor cores; TPU v4 no fp8: NaN, never another precision's figure
    assert np.isnan(float(hw.peak_flops.sel(hardware="V100", precision="bf16")))
    assert np.isnan(float(hw.peak_flops.sel(hardware="TPU-v4", precision="fp8")))
    assert np.isnan(float(hw.peak_flops.sel(hardware="H100-SXM", precision="fp4")))


def test_prices_and_carbon_positive_where_given(hw):
    for var in ("price", "embodied_carbon", "system_power"):
        s = hw[var].to_series().dropna()
        assert (s > 0).all(), var


# --------------------------------------------------------------------------------------------
# models


REQUIRED_MODELS = [
    "llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "gpt3-175b",
    "gpt-1.7b", "gpt-3.6b", "gpt-7.5b", "gpt-18b", "gpt-22b", "gpt-39b", "gpt-76b", "gpt-145b", "gpt-175b",
    "gpt-310b", "gpt-530b", "gpt-1t", "bloom-176b", "opt-175b", "mpt-7b", "mpt-30b", "mixtral-8x7b",
    "deepseek-v3", "bert-large", "resnet-50",
]


def _llms(mdl):
    return mdl.sel(model=[m for m in mdl.model.values if mdl.arch.sel(model=m).item() in ("decoder", "encoder", "moe")])


def test_required_models_present():
    missing = set(REQUIRED_MODELS) - set(cat.names("models"))
    assert not missing


def test_published_params_present(mdl):
    p = mdl.params_published.to_series()
    a = mdl.active_params_published.to_series()
    assert (p > 0).all(), p[~(p > 0)].index.tolist()
    assert (a > 0).all() and (a <= p).all()


def test_transformer_fields_integral_and_consistent(mdl):
    llm = _llms(mdl)
    for var in ("layers", "hidden", "heads", "kv_heads", "head_dim", "ffn", "vocab", "max_context"):
        v = llm[var].to_series()
        assert (v > 0).all() and (v == np.round(v)).all(), f"{var}: {v[~(v > 0)].to_dict()}"
    heads, kv = llm.heads.to_series(), llm.kv_heads.to_series()
    assert ((heads % kv) == 0).all(), "kv_heads must divide heads"
    assert set(llm.norm.values) <= {"rms", "layer"}
    assert set(llm.attention.values) <= {"mha", "gqa", "mqa", "mla"}
    mha = llm.attention.to_series() == "mha"
    assert (heads[mha] == kv[mha]).all()
    assert (kv[llm.attention.to_series() == "gqa"] < heads[llm.attention.to_series() == "gqa"]).all()


def test_moe_fields(mdl):
    moe = mdl.sel(model=[m for m in mdl.model.values if float(mdl.experts.sel(model=m)) > 0])
    assert set(moe.model.values) >= {"mixtral-8x7b", "deepseek-v3"}
    assert (moe.experts_per_token <= moe.experts).all()
    assert (moe.expert_ffn > 0).all()
    assert (moe.active_params_published < moe.params_published).all()
    ds3 = mdl.sel(model="deepseek-v3")
    assert ds3.attention.item() == "mla"
    assert [int(ds3[v]) for v in ("q_lora_rank", "kv_lora_rank", "rope_dim", "nope_dim", "v_head_dim")] == [1536, 512, 64, 128, 128]
    assert [int(ds3[v]) for v in ("dense_layers", "ffn", "experts", "experts_per_token", "shared_experts", "expert_ffn")] == [3, 18432, 256, 8, 1, 2048]


def test_llama_31_70b_config(mdl):
    m = mdl.sel(model="llama-3.1-70b")
    got = [int(m[v]) for v in ("layers", "hidden", "heads", "kv_heads", "head_dim", "ffn", "vocab")]
    assert got == [80, 8192, 64, 8, 128, 28672, 128256]
    assert bool(m.gated) and not bool(m.tied_embeddings) and not bool(m.bias)
    assert cat.resolve("models", "llama3-70b") == "llama-3.1-70b"


def _dense_param_estimate(m) -> float:
    """Plain parameter count of a dense (non-MoE, non-MLA) transformer, physics.md §1.

    Only a sanity check of the catalog fields; the real count lives in dsx.solvers.model.
    """
    L, h, a, akv, dh, f, V = (float(m[v]) for v in ("layers", "hidden", "heads", "kv_heads", "head_dim", "ffn", "vocab"))
    bias = bool(m.bias)
    attn = 2 * h * dh * (a + akv) + ((dh * (a + 2 * akv) + h) if bias else 0.0)
    mlp = (3 if bool(m.gated) else 2) * h * f + ((f + h) if bias else 0.0)
    norm = 4 * h if m.norm.item() == "layer" else 2 * h
    norm += (h * h + 2 * a * dh) if bool(m.relative_positions) else 0.0  # Transformer-XL W_kR, u, v
    emb = V * h * (1 if bool(m.tied_embeddings) else 2)
    pos = float(m.max_context) * h if bool(m.learned_positions) else 0.0
    return L * (attn + mlp + norm) + emb + pos


def test_dense_architectures_match_published_counts(mdl):
    """The architecture fields reproduce the published count within 3 % (rounded figures like '1.7B')."""
    rows = []
    for name in mdl.model.values:
        m = mdl.sel(model=name)
        if m.arch.item() not in ("decoder", "encoder") or float(m.experts) > 0:
            continue
        est = _dense_param_estimate(m)
        rows.append((name, est / 1e9, float(m.params_published) / 1e9, est / float(m.params_published) - 1))
    table = pd.DataFrame(rows, columns=["model", "formula_B", "published_B", "rel_err"]).set_index("model")
    print("\n" + table.round(4).to_string())
    bad = table[table.rel_err.abs() > 0.03]
    assert bad.empty, bad.to_dict()


def test_resnet50_flops(mdl):
    r = mdl.sel(model="resnet-50")
    assert r.arch.item() == "cnn"
    assert float(r.forward_flops_per_sample) == pytest.approx(8.2e9)
    assert float(r.params_published) == pytest.approx(25.6e6)


# --------------------------------------------------------------------------------------------
# regions


REQUIRED_REGIONS = [
    "quebec", "norway", "us-average", "poland", "france", "germany", "sweden", "california", "texas", "virginia",
    "iowa", "oregon", "uk", "ireland", "netherlands", "japan", "india", "china", "singapore", "australia",
    "us-east-1", "us-west-2", "eu-west-1", "europe-north1", "us-central1",
]


def test_required_regions_present():
    missing = set(REQUIRED_REGIONS) - set(cat.names("regions"))
    assert not missing


def test_region_values_finite_and_in_range(reg):
    for var in ("carbon_intensity", "pue", "wue", "ewif", "electricity_price"):
        v = reg[var].to_series()
        assert np.isfinite(v).all(), f"{var} missing for {list(v[~np.isfinite(v)].index)}"
        assert (v >= 0).all(), var
    ci = reg.carbon_intensity.to_series()
    assert ci.between(0, 1200).all(), ci[~ci.between(0, 1200)].to_dict()
    pue = reg.pue.to_series()
    assert pue.between(1.0, 2.5).all(), pue[~pue.between(1.0, 2.5)].to_dict()
    assert reg.electricity_price.to_series().between(0.01, 1.0).all()
    assert reg.wue.to_series().between(0, 10).all() and reg.ewif.to_series().between(0, 100).all()


def test_fallbacks_are_declared(reg):
    """Rows sharing the fallback figures say so in their source."""
    src = reg.source.to_series()
    for var, fallback in [("ewif", 3.65), ("wue", 0.54)]:
        uses = reg[var].to_series() == fallback
        assert src[uses].str.contains("fallback").all(), var


def test_mlsysim_grids_match_anchor(reg):
    # mlsysim 0.1.1 Grids: (intensity g/kWh, PUE, WUE L/kWh)
    for ident, (ci, pue, wue) in {"quebec": (20, 1.06, 0), "norway": (10, 1.06, 0),
                                  "us-average": (429, 1.12, 1.8), "poland": (820, 1.58, 1.8)}.items():
        r = reg.sel(region=ident)
        assert (float(r.carbon_intensity), float(r.pue), float(r.wue)) == pytest.approx((ci, pue, wue))
    assert cat.resolve("regions", "US_Avg") == "us-average"


def test_region_ordering_sanity(reg):
    ci = reg.carbon_intensity
    assert float(ci.sel(region="quebec")) < float(ci.sel(region="france")) < float(ci.sel(region="germany"))
    assert float(ci.sel(region="germany")) < float(ci.sel(region="poland"))


# --------------------------------------------------------------------------------------------
# fabrics


def test_fabric_ordering(fab):
    bw = fab.bandwidth
    b = {k: float(bw.sel(fabric=k)) for k in fab.fabric.values}
    assert b["nvlink3"] < b["nvlink4"] < b["nvlink5"]
    assert b["ib-hdr"] < b["ib-ndr"] < b["ib-xdr"]
    assert b["roce-200g"] < b["roce-400g"] < b["roce-800g"]
    assert b["pcie4"] < b["pcie5"]
    assert b["ib-ndr"] == 50e9 and b["nvlink4"] == 450e9 and b["pcie5"] == pytest.approx(63e9)
    # scale-up fabrics outrun scale-out ones
    scope = fab.scope.to_series()
    up, out = fab.bandwidth.to_series()[scope == "scale-up"], fab.bandwidth.to_series()[scope == "scale-out"]
    assert up.min() > out.max()
    lat = fab.latency.to_series()
    assert np.isfinite(lat).all() and (lat > 0).all() and (lat < 1e-3).all()
    assert set(scope) <= {"scale-up", "scale-out", "host"}


def test_hardware_scale_up_matches_its_fabric(hw, fab):
    for ident, fabric in [("A100-80GB", "nvlink3"), ("H100-SXM", "nvlink4"), ("B200", "nvlink5"),
                          ("MI300X", "xgmi-mi300x"), ("TPU-v5p", "ici-v5p")]:
        assert float(hw.scale_up_bandwidth.sel(hardware=ident)) == float(fab.bandwidth.sel(fabric=fabric))


# --------------------------------------------------------------------------------------------
# precisions


def test_precision_bytes():
    p = cat.precisions()
    b = p.bytes.to_series()
    assert b["fp32"] == 4 and b["bf16"] == 2 and b["fp8"] == 1 and b["fp4"] == 0.5625 and b["int4"] == 0.5  # NVFP4: + one fp8 scale per 16
    # every hardware peak column names a precision of the catalog
    assert set(cat.hardware().precision.values) <= set(b.index)


# --------------------------------------------------------------------------------------------
# user catalogs


@pytest.fixture
def user_catalog(tmp_path, monkeypatch):
    """Empty user-dir list and no DSX_CATALOG for the test; caches cleared before and after."""
    monkeypatch.setattr(cat, "_USER_DIRS", [])
    monkeypatch.delenv("DSX_CATALOG", raising=False)
    cat._clear_cache()
    yield tmp_path
    monkeypatch.undo()
    cat._clear_cache()


def _write_user_hardware(d):
    (d / "hardware.csv").write_text(
        "id,aliases,name,peak_bf16,hbm_capacity,hbm_bandwidth,tdp,source\n"
        "H100-SXM,,H100 capped,989 TFLOP/s,80 GB,3.0 TB/s,500 W,my lab measurement\n"
        "MyChip,mine,My accelerator,500 TFLOP/s,64 GiB,2 TB/s,400 W,my data sheet\n"
    )


def test_user_catalog_via_use_overrides_and_extends(user_catalog):
    _write_user_hardware(user_catalog)
    n_builtin = len(cat.names("hardware"))
    cat.use(user_catalog)
    hw = cat.hardware()
    assert len(cat.names("hardware")) == n_builtin + 1
    assert float(hw.hbm_bandwidth.sel(hardware="H100-SXM")) == 3.0e12  # overridden
    assert float(hw.tdp.sel(hardware="H100-SXM")) == 500
    assert np.isnan(float(hw.scale_up_bandwidth.sel(hardware="H100-SXM")))  # whole row replaced
    assert float(hw.hbm_capacity.sel(hardware="MyChip")) == 64 * 2**30  # extended
    assert cat.resolve("hardware", "mine") == "MyChip"
    assert float(hw.hbm_bandwidth.sel(hardware="B200")) == 8e12  # untouched built-in row


def test_user_catalog_via_env(user_catalog, monkeypatch):
    (user_catalog / "regions.csv").write_text(
        "id,name,carbon_intensity,pue,wue,ewif,electricity_price,source\n"
        "my-site,My site,5 gCO2e/kWh,1.05,0.1 L/kWh,1 L/kWh,40 USD/MWh,contract\n"
    )
    monkeypatch.setenv("DSX_CATALOG", str(user_catalog))
    cat._clear_cache()
    reg = cat.regions()
    assert float(reg.electricity_price.sel(region="my-site")) == pytest.approx(0.04)
    assert "quebec" in reg.region.values


def test_builtin_restored_after_user_catalog():
    cat._clear_cache()
    assert float(cat.hardware().hbm_bandwidth.sel(hardware="H100-SXM")) == 3.35e12
    assert "MyChip" not in cat.names("hardware")


def test_user_catalog_must_be_a_directory(tmp_path):
    with pytest.raises(DsxInputError, match="not a directory"):
        cat.use(tmp_path / "missing")


# --------------------------------------------------------------------------------------------
# a source per figure (data/sources.csv)

KEY_FIGURES = ("peak_bf16", "peak_fp8", "hbm_capacity", "hbm_bandwidth", "tdp", "scale_up_bandwidth")


def test_every_hardware_key_figure_has_a_source_quoted_from_its_row(user_catalog):
    table = cat._table("hardware")
    own = 0
    for ident in cat.names("hardware"):
        src = cat.sources("hardware", ident)
        for col in KEY_FIGURES:
            if table.loc[ident, col].strip():  # a figure is given: it has a source
                assert src.get(col, "").strip(), f"{ident} {col}: no source"
                own += src[col] != table.loc[ident, "source"]
    # the figure sources quote the row's own words, never invent one (fragments joined by " ... ")
    listed = pd.read_csv(cat._DATA / "sources.csv", dtype=str, keep_default_na=False)
    assert list(listed.columns) == ["catalog", "id", "column", "source"]
    assert not listed.duplicated(["catalog", "id", "column"]).any()
    for r in listed.itertuples():
        assert r.catalog == "hardware" and r.id in table.index and r.column in KEY_FIGURES, r
        for fragment in r.source.split(cat.QUOTE_SEPARATOR):
            assert fragment in table.loc[r.id, "source"], f"{r.id} {r.column}: {fragment!r} is not in the row's source"
    given = sum(bool(table.loc[i, c].strip()) for i in table.index for c in KEY_FIGURES)
    print(f"hardware key figures with their own source: {own} of {given} (the rest: the row's source)")
    assert (own, given) == (158, 174)  # 16 figures whose row text names no source of their own


def test_figure_sources_fall_back_to_a_user_rows_own_source(user_catalog):
    assert cat.sources("hardware", "H100")["scale_up_bandwidth"] == "NVLink 4: 900 GB/s total = 450 GB/s per direction"
    _write_user_hardware(user_catalog)
    cat.use(user_catalog)
    src = cat.sources("hardware", "H100-SXM")  # the user row (its aliases column is empty)
    assert src == {c: "my lab measurement" for c in ("peak_bf16", "hbm_capacity", "hbm_bandwidth", "tdp")}


def test_cli_catalog_one_entry_shows_each_figure_with_its_source(user_catalog, capsys):
    from dsx.cli import main

    assert main(["catalog", "hardware", "v100"]) == 0
    out = capsys.readouterr().out
    assert "NVLink 2: 6 links, 300 GB/s total = 150 GB/s per direction" in out and "row source: NVIDIA V100" in out
    assert main(["catalog", "hardware", "H100", "--json"]) == 0
    figures = __import__("json").loads(capsys.readouterr().out)["figures"]
    assert figures["hbm_bandwidth"]["value"] == "3.35 TB/s" and figures["tdp"]["units"] == "W"
    assert figures["peak_fp8"]["source"].startswith("NVIDIA H100 Tensor Core GPU data sheet (dense figures")
