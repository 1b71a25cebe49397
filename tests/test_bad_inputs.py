"""A catalogue of bad inputs: the API, the command line, sweep files and user catalogs.

Every case asserts the error class (``DsxInputError`` from the API; exit status 2 and one
line, no traceback, from the command), that the message names the input, and that no file
in the test's folder changed (nothing written, nothing deleted). The command runs in-process
(``dsx.cli.main``) so the catalogue takes seconds; ``test_signals_*`` run real processes.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import xarray as xr

import dsx
from dsx import catalog, expr
from dsx.cli import main
from dsx.errors import DsxInputError
from dsx.outdir import MANIFEST, PARTIAL_MARK

ROOT = Path(__file__).resolve().parents[1]


# -- helpers -------------------------------------------------------------------------------
def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` -> content hash (files) or "dir"."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "other"
    return out


def study(top: str = 'workload = "training"', space: str = "", minimize: str = '["tco"]', tail: str = "") -> str:
    """A small valid sweep file (2 configurations) with one part changed."""
    return (f'{top}\n[space]\nmodel = "llama-3.1-8b"\nhardware = "H100"\ngpus = [8, 16]\n{space}\n'
            f"[objectives]\nminimize = {minimize}\n{tail}\n")


FIGURE = '[[figures]]\nkind = "by_region"\nvar = "tco"\n'
#: A figure that draws on ``study()`` with a region axis: one value of the gpus axis selected.
FIGURE_OK = FIGURE + "select = { gpus = 8 }\n"


@pytest.fixture
def result() -> xr.Dataset:
    """A tiny result Dataset for the expression and analysis cases (no stack needed)."""
    return xr.Dataset({"x": ("gpus", [1.0, 2.0], {"units": "USD"}),
                       "reason": ("gpus", ["", "oom"], {"units": ""}),
                       "feasible": ("gpus", [True, False], {"units": ""})}, coords={"gpus": [8, 16]})


@pytest.fixture
def clean_catalog(monkeypatch):
    monkeypatch.setattr(catalog, "_USER_DIRS", [])
    monkeypatch.delenv("DSX_CATALOG", raising=False)
    catalog._clear_cache()
    yield
    monkeypatch.undo()
    catalog._clear_cache()


@dataclass
class Case:
    id: str
    kind: str                      # api | cli | sweep | catalog
    words: tuple
    call: Callable | None = None   # api: f(result_ds)
    argv: list = field(default_factory=list)   # cli/sweep: {tmp} and {sweep} are substituted
    text: str | bytes | None = None            # sweep file / catalog file content
    file: str = "hardware.csv"                 # catalog: which file
    env: dict = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None


def api(id_, call, *words):
    return Case(id_, "api", words, call=call)


def cli(id_, argv, *words, setup=None, env=None, text=None):
    return Case(id_, "cli", words, argv=argv, setup=setup, env=env or {}, text=text)


def sw(id_, text, *words, env=None, argv=()):
    return Case(id_, "sweep", words, text=text, env=env or {}, argv=list(argv))


def cat(id_, file, text, *words):
    return Case(id_, "catalog", words, text=text, file=file)


S = dsx.Space
HW = "id,name,peak_bf16,hbm_capacity,hbm_bandwidth,tdp,price,source\n"
REG = "id,name,carbon_intensity,pue,wue,ewif,electricity_price,source\n"


def _dsx_result(tmp: Path, extra: str | None = None) -> None:
    """An earlier dsx result in tmp/out (manifest and all), optionally with a user's file."""
    out = tmp / "out"
    out.mkdir()
    (out / "result.nc").write_text("old")
    (out / MANIFEST).write_text('{"writer": "dsx", "files": ["result.nc"]}')
    if extra:
        (out / extra).write_text("mine")


def _user_folder(tmp: Path) -> None:
    (tmp / "out").mkdir()
    (tmp / "out" / "thesis.tex").write_text("years of work")


CASES = [
    # -- API: Space inputs, their types and physical ranges ------------------------------------
    api("space-gpus-zero", lambda r: S(gpus=0), "gpus", ">= 1"),
    api("space-gpus-negative", lambda r: S(gpus=-8), "gpus"),
    api("space-gpus-fraction", lambda r: S(gpus=2.5), "gpus", "whole number"),
    api("space-gpus-bool", lambda r: S(gpus=True), "gpus", "boolean"),
    api("space-gpus-huge", lambda r: S(gpus=1e30), "gpus"),
    api("space-gpus-text", lambda r: S(gpus="many"), "gpus", "many"),
    api("space-gpus-nan", lambda r: S(gpus=float("nan")), "gpus", "finite"),
    api("space-gpus-inf", lambda r: S(gpus=float("inf")), "gpus", "finite"),
    api("space-gpus-empty-axis", lambda r: S(gpus=[]), "gpus", "empty axis"),
    api("space-gpus-repeated", lambda r: S(gpus=[8, 8]), "gpus", "repeated"),
    api("space-tp-zero", lambda r: S(tp=0), "tp"),
    api("space-matmul-eff-zero", lambda r: S(matmul_efficiency=0), "matmul_efficiency", "> 0"),
    api("space-matmul-eff-above-one", lambda r: S(matmul_efficiency=1.5), "matmul_efficiency", "<= 1"),
    api("space-hbm-eff-negative", lambda r: S(hbm_efficiency=-0.1), "hbm_efficiency"),
    api("space-link-eff-two", lambda r: S(link_efficiency=2), "link_efficiency"),
    api("space-kernel-eff-percent", lambda r: S(kernel_efficiency=82), "kernel_efficiency", "<= 1"),
    api("space-power-fraction-zero", lambda r: S(power_fraction=0), "power_fraction"),
    api("space-quantile-one", lambda r: S(quantile=1), "quantile", "< 1"),
    api("space-quantile-zero", lambda r: S(quantile=0), "quantile", "> 0"),
    api("space-pue-below-one", lambda r: S(pue=0.9), "pue", ">= 1"),
    api("space-hbm-bandwidth-zero", lambda r: S(hbm_bandwidth=0), "hbm_bandwidth", "> 0"),
    api("space-hbm-bandwidth-wrong-unit", lambda r: S(hbm_bandwidth="3 s"), "hbm_bandwidth", "B/s"),
    api("space-hbm-capacity-negative", lambda r: S(hbm_capacity=-80e9), "hbm_capacity"),
    api("space-price-zero", lambda r: S(price=0), "price"),
    api("space-tdp-zero", lambda r: S(tdp="0 W"), "tdp"),
    api("space-carbon-negative", lambda r: S(carbon_intensity=-5), "carbon_intensity"),
    api("space-cp-overlap-above-one", lambda r: S(cp_overlap=1.5), "cp_overlap"),
    api("space-days-zero", lambda r: S(days=0), "days"),
    api("space-checkpoint-bw-zero", lambda r: S(checkpoint_bandwidth=0), "checkpoint_bandwidth"),
    api("space-cloud-price-zero", lambda r: S(cloud_price=0), "cloud_price"),
    api("space-interconnect-share-one", lambda r: S(interconnect_cost_share=1), "interconnect_cost_share"),
    api("space-spec-acceptance", lambda r: S(spec_acceptance=1.2), "spec_acceptance"),
    api("space-memory-utilization-zero", lambda r: S(memory_utilization=0), "memory_utilization"),
    api("space-recompute-choice", lambda r: S(recompute="partial"), "recompute", "partial"),
    api("space-flag-not-bool", lambda r: S(flash_attention=3), "flash_attention", "true or false"),
    api("space-unknown-hardware", lambda r: S(hardware="H10O"), "hardware", "H10O"),
    api("space-unknown-model", lambda r: S(model="llama-9"), "model", "llama-9"),
    api("space-unknown-input", lambda r: S(hardwre="H100"), "hardwre", "hardware"),
    api("space-unknown-region-in-axis", lambda r: S(region=["quebec", "atlantis"]), "region", "atlantis"),
    api("space-nested-array", lambda r: S(gpus=np.array([[8, 16]])), "gpus", "not a number"),
    api("space-set", lambda r: S(gpus={8, 16}), "gpus", "not a number"),
    api("space-complex", lambda r: S(gpus=8 + 1j), "gpus", "not a number"),
    api("space-none-in-axis", lambda r: S(hardware=[None, "H100"]), "hardware", "None"),
    api("space-percent-above-one", lambda r: S(matmul_efficiency="180 %"), "matmul_efficiency", "<= 1"),
    # -- API: the stacks and the analysis functions ---------------------------------------------
    api("training-int-argument", lambda r: dsx.training(123), "dsx.Space", "int"),
    api("training-str-argument", lambda r: dsx.training("llama-3.1-8b"), "dsx.Space", "str"),
    api("serving-dict-argument", lambda r: dsx.serving({"gpus": 8}), "dsx.Space", "dict"),
    api("training-bad-option", lambda r: dsx.training(model="llama-3.1-8b", gpus=0), "gpus"),
    api("training-without-model", lambda r: dsx.training(gpus=8), "'arch'", "Space"),
    api("training-unknown-output", lambda r: dsx.training(model="llama-3.1-8b", outputs=["step_tme"]),
        "outputs", "'step_tme'", "did you mean"),
    api("training-chunk-size-text", lambda r: dsx.training(model="llama-3.1-8b", chunk_size="big"),
        "chunk_size", ">= 1"),
    api("training-chunks-not-an-axis", lambda r: dsx.training(model="llama-3.1-8b", hardware="H100", gpus=[8, 16], chunks={"tp": 1}),
        "chunks", "'tp'", "not an axis"),
    api("training-chunks-zero", lambda r: dsx.training(model="llama-3.1-8b", hardware="H100", gpus=[8, 16], chunks={"gpus": 0}),
        "chunks", ">= 1"),
    api("best-text-objective", lambda r: dsx.best(r, minimize="reason"), "reason", "not numeric"),
    api("best-unknown-objective", lambda r: dsx.best(r, minimize="nope"), "nope"),
    api("best-not-a-dataset", lambda r: dsx.best(5, minimize="x"), "best", "Dataset"),
    api("pareto-text-objective", lambda r: dsx.pareto(r, minimize=["reason"]), "reason"),
    api("pareto-not-a-dataset", lambda r: dsx.pareto("x", minimize="x"), "pareto", "Dataset"),
    api("best-bad-where", lambda r: dsx.best(r, minimize="x", where="x >> 1"), "x >> 1"),
    # -- API: expressions ----------------------------------------------------------------------
    api("expr-deep-parentheses", lambda r: expr.parse("(" * 60 + "x" + ")" * 60), "nested", "50"),
    api("expr-deep-not", lambda r: expr.parse("not " * 60 + "true"), "nested"),
    api("expr-deep-minus", lambda r: expr.parse("-" * 80 + "x"), "nested"),
    api("expr-deep-power", lambda r: expr.parse("2 ** " * 60 + "2"), "nested"),
    api("expr-huge", lambda r: expr.parse(" + ".join(["x"] * 5000)), "characters", "2,000"),
    api("expr-long-chain", lambda r: expr.evaluate("+".join(["x"] * 900), r), "chained operations", "200"),
    api("expr-long-comparison-chain", lambda r: expr.evaluate("<".join(["x"] * 500), r), "chained operations"),
    api("expr-overflowing-literal", lambda r: expr.evaluate("x < 1e999", r), "1e999", "too large"),
    api("expr-overflowing-power", lambda r: expr.evaluate("10.0 ** 400 > x", r), "10.0 ** 400 > x"),
    api("expr-caret", lambda r: expr.parse("x ^ 2"), "x ^ 2", "**"),
    api("expr-dunder", lambda r: expr.parse("__import__"), "__import__"),
    api("expr-attribute", lambda r: expr.parse("x.real"), "x.real", "attribute"),
    api("expr-call", lambda r: expr.parse("open(1)"), "open(1)", "function calls"),
    api("expr-dangling", lambda r: expr.parse("x <"), "x <", "end of input"),
    api("expr-string-arithmetic", lambda r: expr.evaluate("x + 'a'", r), "x + 'a'", "numbers"),
    api("expr-incompatible-units", lambda r: expr.evaluate("x < 3 s", r), "x < 3 s", "incompatible"),
    api("expr-unknown-name", lambda r: expr.evaluate("y > 1", r), "'y'"),
    api("expr-not-a-string", lambda r: expr.parse(5), "expression", "string"),
    api("expr-not-a-dataset", lambda r: expr.evaluate("x > 1", 5), "x > 1", "Dataset"),
    api("expr-number-as-constraint", lambda r: expr.mask("x + 1", r), "x + 1", "not a condition"),
    api("expr-empty", lambda r: expr.parse("   "), "empty expression"),
    # -- the command line (in-process) ---------------------------------------------------------
    cli("cli-unknown-command", ["bogus"], "'bogus'"),
    cli("cli-run-no-arguments", ["run"], "sweep", "-o/--output"),
    cli("cli-run-no-output", ["run", "{sweep}"], "-o/--output"),
    cli("cli-limit-zero", ["run", "{sweep}", "-o", "{tmp}/out", "--limit", "0"], "--limit", ">= 1"),
    cli("cli-limit-negative", ["run", "{sweep}", "-o", "{tmp}/out", "--limit", "-3"], "--limit"),
    cli("cli-limit-text", ["run", "{sweep}", "-o", "{tmp}/out", "--limit", "abc"], "--limit", "abc"),
    cli("cli-chunk-size-zero", ["run", "{sweep}", "-o", "{tmp}/out", "--chunk-size", "0"], "--chunk-size"),
    cli("cli-chunk-size-fraction", ["run", "{sweep}", "-o", "{tmp}/out", "--chunk-size", "1.5"], "--chunk-size"),
    cli("cli-audit-gpus-zero", ["audit", "--gpus", "0"], "--gpus"),
    cli("cli-audit-gpus-text", ["audit", "--gpus", "many"], "--gpus", "many"),
    cli("cli-audit-gpus-overflow", ["audit", "--gpus", "1e400"], "--gpus"),
    cli("cli-audit-efficiency", ["audit", "--matmul-efficiency", "1.5"], "--matmul-efficiency"),
    cli("cli-audit-pue", ["audit", "--pue", "0.5"], "--pue", ">= 1"),
    cli("cli-audit-quantile", ["audit", "--quantile", "1"], "--quantile"),
    cli("cli-audit-region", ["audit", "--region", "atlantis"], "--region", "atlantis"),
    cli("cli-audit-unknown-option", ["audit", "--nonsense", "1"], "--nonsense"),
    cli("cli-audit-workload", ["audit", "--workload", "batch"], "--workload", "batch"),
    cli("cli-audit-empty-list-item", ["audit", "--seq-len", "2048,"], "--seq-len", "empty value"),
    cli("cli-audit-flag", ["audit", "--flash-attention", "maybe"], "--flash-attention", "true or false"),
    cli("cli-audit-wrong-unit", ["audit", "--hbm-bandwidth", "3 GB"], "--hbm-bandwidth"),
    cli("cli-audit-missing-value", ["audit", "--gpus"], "--gpus"),
    cli("cli-audit-unread-input", ["audit", "--workload", "serving", "--days", "10"], "--days", "does not read"),
    cli("cli-audit-serving-input-in-training", ["audit", "--ttft-slo", "1 s"], "--ttft-slo", "--workload serving"),
    cli("cli-catalog-kind", ["catalog", "gpus"], "'gpus'"),
    cli("cli-catalog-option", ["catalog", "--format"], "--format"),
    cli("cli-sweep-missing", ["run", "{tmp}/missing.toml", "-o", "{tmp}/out"], "missing.toml", "not found"),
    cli("cli-sweep-is-a-folder", ["run", "{tmp}", "-o", "{tmp}/out"], "is a directory"),
    cli("cli-sweep-binary", ["run", "{sweep}", "-o", "{tmp}/out"], "UTF-8", text=b"\xff\xfe\x00\x01binary"),
    cli("cli-sweep-limit-env", ["run", "{sweep}", "-o", "{tmp}/out"], "DSX_SWEEP_LIMIT", env={"DSX_SWEEP_LIMIT": "abc"}),
    cli("cli-sweep-limit-env-zero", ["run", "{sweep}", "-o", "{tmp}/out"], "DSX_SWEEP_LIMIT", env={"DSX_SWEEP_LIMIT": "0"}),
    cli("out-is-a-symlink", ["run", "{sweep}", "-o", "{tmp}/link", "--force"], "symbolic link",
        setup=lambda t: (t / "link").symlink_to(t)),
    # -- output folders ------------------------------------------------------------------------
    cli("out-is-a-file", ["run", "{sweep}", "-o", "{tmp}/out"], "not a directory",
        setup=lambda t: (t / "out").write_text("a file")),
    cli("out-is-a-device", ["run", "{sweep}", "-o", "/dev/null", "--force"], "/dev/null", "not a directory"),
    cli("out-user-folder", ["run", "{sweep}", "-o", "{tmp}/out"], "not written by dsx", "thesis.tex",
        setup=_user_folder),
    cli("out-user-folder-force", ["run", "{sweep}", "-o", "{tmp}/out", "--force"], "not written by dsx",
        "thesis.tex", setup=_user_folder),
    cli("out-dsx-result-no-force", ["run", "{sweep}", "-o", "{tmp}/out"], "--force", setup=_dsx_result),
    cli("out-dsx-result-with-user-file", ["run", "{sweep}", "-o", "{tmp}/out", "--force"], "would delete",
        "notes.txt", setup=lambda t: _dsx_result(t, "notes.txt")),
    cli("out-holds-the-sweep", ["run", "{tmp}/study.toml", "-o", "{tmp}", "--force"], "the file being run"),
    cli("out-is-the-current-folder", ["run", "{sweep}", "-o", ".", "--force"], "current directory",
        setup=lambda t: ((t / "sub").mkdir(), (t / "sub" / "a.txt").write_text("x"), os.chdir(t / "sub"))),
    cli("out-is-above-the-current-folder", ["run", "{sweep}", "-o", "..", "--force"], "the file being run"),
    cli("out-partial-not-ours", ["run", "{sweep}", "-o", "{tmp}/out"], "out.partial", "not written by dsx",
        setup=lambda t: (t / "out.partial").mkdir()),
    cli("out-under-a-file", ["run", "{sweep}", "-o", "{tmp}/notes.txt/out"], "cannot write",
        setup=lambda t: (t / "notes.txt").write_text("x")),
    cli("out-in-proc", ["run", "{sweep}", "-o", "/proc/dsx-out"], "/proc/dsx-out"),
    cli("out-parents-removed-on-failure", ["run", "{sweep}", "-o", "{tmp}/a/b/out", "--quiet"], "no_such_plot",
        text=study(tail='[[figures]]\nkind = "no_such_plot"')),
    # -- sweep files (through the command, in-process) -----------------------------------------
    sw("sweep-unknown-key", study(top='workload = "training"\nworklaod = 1'), "worklaod"),
    sw("sweep-workload", study(top='workload = "inference"'), "workload", "inference"),
    sw("sweep-no-space", 'workload = "training"\n', "[space]"),
    sw("sweep-space-gpus-zero", study(space="tp = 0"), "space.tp"),
    sw("sweep-space-efficiency", study(space="matmul_efficiency = 2"), "space.matmul_efficiency"),
    sw("sweep-space-pue", study(space="pue = 0.5"), "space.pue"),
    sw("sweep-space-region", study(space='region = "atlantis"'), "space.region", "atlantis"),
    sw("sweep-space-nested-list", study(space="tp = [[1]]"), "space.tp"),
    sw("sweep-space-bool-count", study(space="pp = true"), "space.pp"),
    sw("sweep-constraint-syntax", study(top='constraints = ["tco < < 3"]'), "constraints[0]"),
    sw("sweep-constraint-deep", study(top=f'constraints = ["{"(" * 60}tco > 1{")" * 60}"]'), "constraints[0]", "nested"),
    sw("sweep-constraint-huge", study(top=f'constraints = ["{" + ".join(["tco"] * 1000)} > 1"]'), "constraints[0]"),
    sw("sweep-constraint-not-a-string", study(top="constraints = [3]"), "constraints[0]"),
    sw("sweep-derived-overflow", study(tail='[derived]\ny = "tco * 1e999"'), "derived.y", "too large"),
    sw("sweep-derived-number", study(tail="[derived]\ny = 5"), "derived.y"),
    sw("sweep-objective-text", study(minimize='["reason"]'), "objectives.minimize", "reason"),
    sw("sweep-objective-unknown", study(minimize='["tcoo"]'), "tcoo"),
    sw("sweep-objective-not-a-list", study(minimize="3"), "objectives.minimize"),
    sw("sweep-best-not-an-axis", study(top='best = ["pp"]'), "best", "'pp'"),
    sw("sweep-outputs-type", study(top="outputs = 3"), "outputs"),
    sw("sweep-figure-name-parent", study(tail=FIGURE + 'name = "../escape"'), "figures[0].name", "../escape"),
    sw("sweep-figure-name-absolute", study(tail=FIGURE + 'name = "/tmp/dsx-abs"'), "figures[0].name"),
    sw("sweep-figure-name-folder", study(tail=FIGURE + 'name = "sub/fig"'), "figures[0].name"),
    sw("sweep-figure-name-hidden", study(tail=FIGURE + 'name = ".dsx-manifest"'), "figures[0].name"),
    sw("sweep-figure-name-twice", study(tail=FIGURE + 'name = "f"\n' + FIGURE + 'name = "f"'), "figures[1].name", "twice"),
    sw("sweep-figure-select-not-axis", study(tail=FIGURE + 'select = { region = "quebec" }'),
       "figures[0].select", "region"),
    sw("sweep-figure-select-value", study(tail=FIGURE + "select = { gpus = 12 }"), "figures[0].select.gpus", "12"),
    sw("sweep-figure-select-limited", study(space="tp = [1, 2, 4]", tail=FIGURE + "select = { tp = 2 }"),
       "figures[0].select.tp", argv=["--limit", "2"]),
    sw("sweep-figure-kind", study(tail="[[figures]]\nkind = 3"), "figures[0]", "kind"),
    sw("sweep-figure-unknown-variable", study(tail=FIGURE.replace("tco", "tcoo")), "tcoo"),
    sw("sweep-figure-needs-select", study(space='region = ["quebec", "poland"]', tail=FIGURE),
       "figures[0] (by_region)", "'gpus'", "select = {"),
    sw("sweep-figure-bad-argument", study(tail=FIGURE_OK + "colour = 3"), "figures[0] (by_region)", "colour"),
    sw("sweep-invalid-toml", "[space\n", "not valid TOML"),
    sw("sweep-constraint-not-a-condition", study(top='constraints = ["tco"]'), "constraints", "not a condition"),
    sw("sweep-constraint-string-order", study(top='constraints = ["reason < 3"]'), "constraints", "reason < 3"),
    sw("sweep-derived-shadows-output", study(tail='[derived]\ntco = "tco * 2"'), "derived.tco", "already"),
    sw("sweep-derived-shadows-input", study(space="tp = 1", tail='[derived]\ntp = "2"'), "derived.tp"),
    sw("sweep-derived-bad-name", study(tail='[derived]\n"my cost" = "tco"'), "derived.my cost"),
    sw("sweep-objective-twice", study(top='[objectives]\nminimize = ["tco"]\nmaximize = ["tco"]').replace(
        '[objectives]\nminimize = ["tco"]\n\n', "", 1), "objectives", "'tco'", "twice"),
    sw("sweep-input-not-read", study(space="days = 10", top='workload = "serving"'), "space.days",
       "serving stack does not read"),
    sw("sweep-serving-input-in-training", study(space="ttft_slo = 1"), "space.ttft_slo", "training stack"),
    sw("sweep-deep-toml", "a = " + "[" * 5000 + "]" * 5000, "study.toml"),
    # -- user catalogs -------------------------------------------------------------------------
    cat("catalog-empty-file", "hardware.csv", "", "hardware.csv", "empty"),
    cat("catalog-binary-file", "hardware.csv", b"\x00\x01\xff\xfe" * 50, "hardware.csv", "UTF-8"),
    cat("catalog-duplicate-id", "hardware.csv", HW + "X1,a,1 PFLOP/s,80 GB,3 TB/s,700 W,1 USD,s\n"
        "X1,b,1 PFLOP/s,80 GB,3 TB/s,700 W,1 USD,s\n", "hardware.csv", "row 3", "'X1'", "twice"),
    cat("catalog-negative-bandwidth", "hardware.csv", HW + "X1,a,1 PFLOP/s,80 GB,-3 TB/s,700 W,1 USD,s\n",
        "hardware.csv", "row 2", "'hbm_bandwidth'"),
    cat("catalog-zero-price", "hardware.csv", HW + "X1,a,1 PFLOP/s,80 GB,3 TB/s,700 W,0 USD,s\n",
        "hardware.csv", "row 2", "'price'"),
    cat("catalog-zero-peak", "hardware.csv", HW + "X1,a,0 PFLOP/s,80 GB,3 TB/s,700 W,1 USD,s\n",
        "hardware.csv", "row 2", "'peak_bf16'"),
    cat("catalog-wrong-unit", "hardware.csv", HW + "X1,a,1 PFLOP/s,80 GB,3 s,700 W,1 USD,s\n",
        "hardware.csv", "row 2", "'hbm_bandwidth'"),
    cat("catalog-text-number", "regions.csv", REG + "r1,R,lots,1.1,0 L/kWh,1 L/kWh,0.05 USD/kWh,s\n",
        "regions.csv", "row 2", "'carbon_intensity'"),
    cat("catalog-pue-below-one", "regions.csv", REG + "r1,R,5 gCO2e/kWh,0.8,0 L/kWh,1 L/kWh,0.05 USD/kWh,s\n",
        "regions.csv", "row 2", "'pue'", ">= 1"),
    cat("catalog-infinite", "regions.csv", REG + "r1,R,inf gCO2e/kWh,1.1,0 L/kWh,1 L/kWh,0.05 USD/kWh,s\n",
        "regions.csv", "'carbon_intensity'"),
    cat("catalog-efficiency-above-one", "hardware.csv",
        "id,hbm_capacity,hbm_bandwidth,matmul_efficiency\nX1,80 GB,3 TB/s,1.3\n", "hardware.csv", "'matmul_efficiency'"),
    cat("catalog-unknown-column", "hardware.csv", "id,colour\nX1,red\n", "hardware.csv", "colour"),
    cat("catalog-duplicate-column", "hardware.csv", "id,tdp,tdp\nX1,700 W,700 W\n", "hardware.csv", "'tdp'", "twice"),
    cat("catalog-no-id-column", "hardware.csv", "name,tdp\nX1,700 W\n", "hardware.csv", "'id'"),
    cat("catalog-empty-id", "hardware.csv", "id,hbm_capacity,hbm_bandwidth\n,80 GB,3 TB/s\n", "hardware.csv", "row 2", "empty id"),
    cat("catalog-missing-required", "hardware.csv", "id,tdp\nX1,700 W\n", "hardware.csv", "row 2", "'hbm_capacity'"),
    cat("catalog-required-blank", "models.csv", "id,arch,layers\nm1,,32\n", "models.csv", "row 2", "'arch'"),
    cat("catalog-fabric-zero", "fabrics.csv", "id,bandwidth\nf1,0 Gbit/s\n", "fabrics.csv", "row 2", "'bandwidth'"),
    cat("catalog-precision-negative", "precisions.csv", "id,bytes\np1,-1 B\n", "precisions.csv", "'bytes'"),
    cat("catalog-bad-flag", "models.csv", "id,arch,gated\nm1,decoder,maybe\n", "models.csv", "'gated'"),
    cat("catalog-bad-quote", "hardware.csv", 'id,name\n"X1,unclosed\n', "hardware.csv"),
    cat("catalog-is-a-folder", "hardware.csv", None, "hardware.csv", "cannot be read"),
    cat("catalog-env-missing", "DSX_CATALOG=missing", None, "DSX_CATALOG", "missing"),
    cat("catalog-env-file", "DSX_CATALOG=file", None, "DSX_CATALOG", "a file"),
]


def test_the_catalogue_is_large_and_named_uniquely():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 100, len(CASES)
    assert {c.kind for c in CASES} == {"api", "cli", "sweep", "catalog"}


def _run_cli(argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # pragma: no cover - main never exits; a regression would show here
        code = exc.code
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path, monkeypatch, capsys, result, clean_catalog):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("DSX_SWEEP_LIMIT", raising=False)
    for k, v in case.env.items():
        monkeypatch.setenv(k, v)
    sweep_file = work / "study.toml"
    text = case.text if case.kind in ("sweep", "cli") and case.text is not None else study()
    sweep_file.write_bytes(text if isinstance(text, bytes) else text.encode())
    if case.setup:
        case.setup(work)
    if case.kind == "catalog":
        _catalog_setup(case, work, monkeypatch)
    before = snapshot(tmp_path)

    if case.kind == "api":
        with pytest.raises(DsxInputError) as err:
            case.call(result)
        message = str(err.value)
    elif case.kind == "catalog":
        with pytest.raises(DsxInputError) as err:
            kind = case.file.split(".")[0] if case.file.endswith(".csv") else "hardware"
            catalog.load(kind)
        message = str(err.value)
        code, line = _run_cli(["catalog", kind], capsys)  # the command says the same, in one line
        assert code == 2 and len(line.strip().splitlines()) == 1 and message in line
    else:
        argv = case.argv if case.kind == "cli" else ["run", "{sweep}", "-o", "{tmp}/out", "--quiet", *case.argv]
        argv = [a.replace("{sweep}", str(sweep_file)).replace("{tmp}", str(work)) for a in argv]
        code, message = _run_cli(argv, capsys)
        assert code == 2, message
        assert len(message.strip().splitlines()) == 1, message
        assert message.startswith("dsx") and "Traceback" not in message
    print(f"{case.id}: {message}")
    assert "\n" not in message.strip()
    for w in case.words:
        assert w in message, f"{w!r} not in {message!r}"
    assert snapshot(tmp_path) == before  # nothing written, nothing deleted


def _catalog_setup(case: Case, work: Path, monkeypatch) -> None:
    folder = work / "catalog"
    folder.mkdir()
    if case.file == "DSX_CATALOG=missing":
        monkeypatch.setenv("DSX_CATALOG", str(work / "no-such-folder"))
    elif case.file == "DSX_CATALOG=file":
        monkeypatch.setenv("DSX_CATALOG", str(work / "study.toml"))
    else:
        if case.text is None:
            (folder / case.file).mkdir()
        else:
            data = case.text if isinstance(case.text, bytes) else case.text.encode()
            (folder / case.file).write_bytes(data)
        monkeypatch.setenv("DSX_CATALOG", str(folder))
    catalog._clear_cache()


# -- user catalogs: what is accepted, and what is said ---------------------------------------
def test_user_row_shadowing_a_builtin_alias_says_so(tmp_path, monkeypatch, clean_catalog):
    (tmp_path / "hardware.csv").write_text("id,hbm_capacity,hbm_bandwidth\nh100,96 GB,4 TB/s\n")
    monkeypatch.setenv("DSX_CATALOG", str(tmp_path))
    catalog._clear_cache()
    with pytest.warns(UserWarning, match=r"row 2: id 'h100' is also an alias of the built-in hardware 'H100-SXM'"):
        ids = catalog.names("hardware")
    assert "h100" in ids and catalog.resolve("hardware", "h100") == "h100"
    assert catalog.resolve("hardware", "H100-SXM") == "H100-SXM"


def test_the_command_prints_a_warning_as_one_line(tmp_path, monkeypatch, capsys, clean_catalog):
    (tmp_path / "hardware.csv").write_text("id,hbm_capacity,hbm_bandwidth\nh100,96 GB,4 TB/s\n")
    monkeypatch.setenv("DSX_CATALOG", str(tmp_path))
    catalog._clear_cache()
    code, err = _run_cli(["catalog", "hardware"], capsys)
    assert code == 0
    assert err.strip().splitlines() == [f"dsx: warning: catalog file {str(tmp_path / 'hardware.csv')!r} row 2: id "
                                        "'h100' is also an alias of the built-in hardware 'H100-SXM'; 'h100' now "
                                        "means your row, not 'H100-SXM'"]


def test_use_refuses_a_folder_without_catalog_files(tmp_path, clean_catalog):
    with pytest.raises(DsxInputError, match="holds no catalog file"):
        catalog.use(tmp_path)


def test_builtin_catalogs_pass_the_user_checks(clean_catalog):
    """The built-in rows meet the same ranges a user row must (RANGES and REQUIRED)."""
    for kind in catalog.SCHEMA:
        df = catalog._read(catalog._DATA / f"{kind}.csv", kind, user=True)
        assert len(df) > 0


# -- output folders: what is replaced, what is kept --------------------------------------------
def _small_run(work: Path, capsys, *extra: str) -> tuple[int, str]:
    (work / "study.toml").write_text(study(space='region = ["quebec", "poland"]', tail=FIGURE_OK))
    return _run_cli(["run", str(work / "study.toml"), "-o", str(work / "out"), "--quiet", *extra], capsys)


def test_force_replaces_only_dsx_results_and_a_stale_partial_is_replaced(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, err = _small_run(tmp_path, capsys)
    assert code == 0, err
    out = tmp_path / "out"
    files = sorted(p.name for p in out.iterdir())
    assert MANIFEST in files and "result.nc" in files and "01_by_region.png" in files
    assert sorted(set(files) - {MANIFEST}) == sorted(__import__("json").loads((out / MANIFEST).read_text())["files"])
    # a run killed earlier left its marked partial folder: reported and replaced
    stale = tmp_path / "out.partial"
    stale.mkdir()
    (stale / PARTIAL_MARK).write_text("999999999")
    (stale / "result.nc").write_text("half written")
    code, err = _small_run(tmp_path, capsys, "--force")
    assert code == 0, err
    assert "left by an interrupted dsx run" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "study.toml"]
    assert sorted(p.name for p in out.iterdir()) == files


def test_a_running_writer_is_not_disturbed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    busy = tmp_path / "out.partial"
    busy.mkdir()
    (busy / PARTIAL_MARK).write_text(str(os.getppid()))  # a live process: another run
    before = snapshot(tmp_path)
    code, err = _small_run(tmp_path, capsys)
    assert code == 2 and "another dsx run" in err
    assert snapshot(tmp_path) == {**before, "study.toml": snapshot(tmp_path)["study.toml"]}


def test_store_never_deletes_a_folder_it_did_not_create(tmp_path):
    pytest.importorskip("zarr")
    mine = tmp_path / "r.zarr.partial"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    space = dsx.Space(model="llama-3.1-8b", hardware="H100", gpus=[8, 16])
    with pytest.raises(DsxInputError, match="not an unfinished dsx store"):
        dsx.training(space, chunks={"gpus": 1}, outputs=["tco"], store=tmp_path / "r.zarr")
    assert (mine / "keep.txt").read_text() == "mine"
    (tmp_path / "r.zarr").mkdir()
    with pytest.raises(DsxInputError, match="exists"):
        dsx.training(space, chunks={"gpus": 1}, outputs=["tco"], store=tmp_path / "r.zarr")
    assert (tmp_path / "r.zarr").is_dir() and not any((tmp_path / "r.zarr").iterdir())


# -- real processes: exit status and signals ------------------------------------------------
def _dsx(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dsx", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "MPLBACKEND": "Agg"})


def test_exit_status_and_one_line_in_a_real_process(tmp_path):
    p = _dsx("run", str(tmp_path), "-o", str(tmp_path / "out"), cwd=tmp_path)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2 and out == "" and "Traceback" not in err
    assert err.strip().splitlines() == [f"dsx run: error: sweep file {str(tmp_path)!r} is a directory; name a .toml file"]
    assert list(tmp_path.iterdir()) == []


# exit status: 128 + signal after dsx's clean-up (python -m may also re-raise SIGINT: a shell shows 130 either way)
SIGNALS = [("SIGINT-evaluating", signal.SIGINT, (130, -signal.SIGINT), "evaluating"),
           ("SIGTERM-writing", signal.SIGTERM, (128 + signal.SIGTERM,), "writing"),
           ("SIGKILL-writing", signal.SIGKILL, (-signal.SIGKILL,), "writing")]


@pytest.mark.slow
@pytest.mark.parametrize("name, sig, status, phase", SIGNALS, ids=[s[0] for s in SIGNALS])
def test_signals_leave_the_previous_result_and_nothing_stray(tmp_path, monkeypatch, capsys, name, sig, status, phase):
    """Kill ``dsx run --force`` (a real process) while it evaluates or writes: the old result
    stays whole; SIGINT/SIGTERM leave nothing else, SIGKILL at most dsx's marked
    ``out.partial``, which the next run replaces."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "study.toml").write_text(study(space='region = ["quebec", "poland"]\ntp = [1, 2]',
                                               tail=FIGURE_OK.replace("gpus = 8", "gpus = 8, tp = 1")
                                               + FIGURE_OK.replace("gpus = 8", "gpus = 16, tp = 2")))
    args = ["run", "study.toml", "-o", "out", "--quiet", "--force"]
    assert _run_cli(args, capsys)[0] == 0  # the previous result (in-process: quicker)
    partial = tmp_path / "out.partial"

    def reached() -> bool:
        if not partial.exists():
            return False
        return phase == "evaluating" or any(x.name != PARTIAL_MARK for x in partial.iterdir())

    for _ in range(5):  # on a loaded machine the phase can pass between two polls: try again
        previous = snapshot(tmp_path / "out")
        p = _dsx(*args, cwd=tmp_path)
        deadline = time.monotonic() + 300
        while not reached() and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        if p.poll() is None:
            break
        p.communicate(timeout=120)  # it finished (a complete result): interrupt the next one
    assert p.poll() is None, "the run ended before it could be interrupted, five times"
    p.send_signal(sig)
    p.wait(timeout=120)
    stderr = p.stderr.read()
    assert p.returncode in status, stderr
    assert "Traceback" not in stderr
    assert snapshot(tmp_path / "out") == previous  # the previous result, whole
    left = sorted(x.name for x in tmp_path.iterdir())
    if sig == signal.SIGKILL:
        assert left == ["out", "out.partial", "study.toml"]
        assert (partial / PARTIAL_MARK).exists()  # marked as dsx's
        code, err = _run_cli(args, capsys)
        assert code == 0 and "left by an interrupted dsx run" in err, err
        left = sorted(x.name for x in tmp_path.iterdir())
    assert left == ["out", "study.toml"]
