"""Refit the calibrated factors on the published runs and report in-sample and leave-one-source-out error.

    python benchmarks/calibrate.py            # refit, print, write docs/validation.md and validation/loso_residuals.csv
    python benchmarks/calibrate.py --check    # refit and print only; exit 1 if the kept files differ

For each stack (training, serving) the default calibration factors (``dsx.calibration.DEFAULT_FACTORS``)
are fitted with ``dsx.calibrate`` on every published run of ``validation/<workload>*.csv``
(in-sample), and once per source with that source left out (leave-one-source-out, LOSO: the
left-out source's rows are predicted by factors that never saw them). The LOSO error is the
honest one: it is what a user should expect on a publication dsx was not fitted to. Rows that dsx
calls infeasible keep their computed value (the published run exists; the model error is shown).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import xarray as xr

import dsx
from dsx import validation
from dsx.calibration import DEFAULT_FACTORS, bounds
from dsx.uncertainty import interval
from dsx.uncertainty.spreads import FACTORS as SPREAD_FACTORS, factor_spreads, update_registry

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "validation.md"
RESIDUALS = ROOT / "validation" / "loso_residuals.csv"
REGISTRY = ROOT / "dsx" / "catalog" / "data" / "uncertainty.csv"
WORKLOADS = ("training", "serving")
LEVEL = 0.8      # nominal coverage of the intervals checked
DRAWS = 200      # draws of the uncertain factors per held-out run
STEP = 1.01      # relative step of the elasticity probe
#: The stated configuration on ideal hardware: every efficiency and overlap at 1, no exposed memory
#: traffic, no per-step or per-collective latency. A published rate above this (a time below it)
#: cannot come from the configuration as the row states it, whatever the factors.
IDEAL = {**{n: 1.0 for n in dsx.inputs().index if n.endswith(("_efficiency", "_overlap"))},
         "memory_exposure": 0.0, "step_overhead": 0.0, "allreduce_latency": 0.0, "collective_latency": 0.0,
         "memory_utilization": 1.0, "memory_reserve": 0.0, "memory_fragmentation": 0.0}  # the whole HBM for KV


def _evaluate(df: pd.DataFrame, workload: str, factors: dict) -> xr.DataArray:
    """Predicted metric of every row, with whatever extra dimensions the factors carry."""
    inputs = validation.run_dataset(df, workload)
    out = validation.evaluate_metric(inputs, df.metric, workload, validation.batch_cap(df), factors)
    return out.predicted


def elasticities(df: pd.DataFrame, workload: str, factors: dict) -> pd.DataFrame:
    """d ln(metric) / d ln(factor) of every row, for the factors whose spread the registry holds.

    One evaluation along a ``probe`` dimension: the fitted values, then each factor x1.01.
    """
    names = list(SPREAD_FACTORS[workload])
    k = len(names) + 1
    probe = {n: xr.DataArray([factors[n] * (STEP if j == i + 1 else 1.0) for j in range(k)], dims="probe")
             for i, n in enumerate(names)}
    pred = _evaluate(df, workload, {**factors, **probe}).transpose("run", "probe").values
    return pd.DataFrame({f"elasticity_{n}": np.log(pred[:, i + 1] / pred[:, 0]) / np.log(STEP)
                         for i, n in enumerate(names)}, index=df.index)


def intervals(df: pd.DataFrame, workload: str, center: dict, sigma: dict, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The central LEVEL interval of each row's prediction when the spread factors are drawn.

    Each factor of the registry is drawn log-normally around ``center`` with its ``sigma`` (the
    way ``dsx.training(..., draws=N)`` draws it), clipped to its physical range, and the rows are
    evaluated once along a ``draw`` dimension.
    """
    rng = np.random.default_rng(seed)
    drawn = {}
    for n in SPREAD_FACTORS[workload]:
        lo, hi = bounds(n)
        values = center[n] * np.exp(sigma.get(n, 0.0) * rng.standard_normal(DRAWS))
        drawn[n] = xr.DataArray(np.clip(values, max(lo, 1e-6), hi), dims="draw")
    pred = _evaluate(df, workload, {**center, **drawn})
    band = interval(pred, LEVEL)  # the same central interval ds.dsx.interval gives a user
    return band.low.transpose("run").values, band.high.transpose("run").values


def refit(workload: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-row predictions (defaults, in-sample, LOSO) and the fitted factors (all data and per left-out source)."""
    df = validation.load(workload)
    names = list(DEFAULT_FACTORS[workload])
    rows = validation.predict(df, workload)[["run", "source", "metric", "published", "predicted", "feasible", "reason"]]
    rows = rows.rename(columns={"predicted": "predicted_default"})
    fit = dsx.calibrate(df, workload, names, strict=False)
    rows["predicted_in_sample"] = fit.predicted.values
    rows["predicted_loso"] = np.nan
    factors = [{"left_out": "(none)", "rows": len(df), **fit.dsx.factors()}]
    sources = sorted(df.source.unique())
    fits = {}
    for source in sources:  # one fit per source (a handful)
        keep = (df.source != source).to_numpy()
        loso = dsx.calibrate(df[keep], workload, names, strict=False)
        fits[source] = loso.dsx.factors()
        held = validation.predict(df[~keep], workload, **fits[source])
        rows.loc[~keep, "predicted_loso"] = held.predicted.values
        factors.append({"left_out": source, "rows": int(keep.sum()), **fits[source]})
    rows.insert(2, "workload", workload)
    rows = pd.concat([rows, elasticities(df, workload, fit.dsx.factors())], axis=1)
    # coverage: each source's runs, predicted by factors fitted without it and drawn with the
    # spread that the other sources' held-out residuals give (the source never sets its own spread)
    rows["low80"], rows["high80"] = np.nan, np.nan
    for i, source in enumerate(sources):
        held = (df.source == source).to_numpy()
        spread = factor_spreads(rows[~held], LEVEL).set_index("input")["sigma"].to_dict()
        low, high = intervals(df[held], workload, fits[source], spread, seed=i)
        rows.loc[held, "low80"], rows.loc[held, "high80"] = low, high
    rows["inside80"] = (rows.low80 <= rows.published) & (rows.published <= rows.high80)
    rows["ideal"] = validation.predict(df, workload, **IDEAL).predicted.values
    return rows, pd.DataFrame(factors)


def is_time(metrics: pd.Series, workload: str) -> np.ndarray:
    """Which metrics are durations (unit s in ``dsx.validation.METRICS``): lower is faster."""
    return metrics.map(lambda m: validation.METRICS[workload][m][0] == "s").to_numpy(bool)


def beyond_ideal(rows: pd.DataFrame, workload: str) -> pd.DataFrame:
    """Rows whose published value the stated configuration cannot reach on ideal hardware
    (:data:`IDEAL`): a rate above the bound, a time below it; ``beyond`` is by how much."""
    time = is_time(rows.metric, workload)
    beyond = np.where(time, rows.ideal / rows.published, rows.published / rows.ideal) - 1.0
    return rows.assign(beyond=beyond)[beyond > 0]


def coverage(rows: pd.DataFrame) -> dict:
    """Share of published values inside their leave-one-source-out 80 % interval, and its width."""
    half = (rows.high80 - rows.low80) / 2 / rows.predicted_loso
    return {"coverage": float(rows.inside80.mean()), "half_width": float(half.mean()), "rows": len(rows),
            "by_source": float(rows.groupby("source").inside80.mean().mean())}  # every source alike, as the spread


def _mae(predicted: pd.Series, published: pd.Series) -> float:
    return float((predicted / published - 1.0).abs().mean())


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """MAE with dsx's defaults, in-sample and LOSO, per source and for all rows."""
    out = []
    for source, sub in [*rows.groupby("source"), ("all sources", rows)]:
        out.append({"source": source, "rows": len(sub),
                    "defaults": _mae(sub.predicted_default, sub.published),
                    "in-sample": _mae(sub.predicted_in_sample, sub.published),
                    "LOSO": _mae(sub.predicted_loso, sub.published)})
    return pd.DataFrame(out)


def _pct(x: float) -> str:
    return f"{x:.1%}"


def render(results: dict[str, tuple[pd.DataFrame, pd.DataFrame]]) -> str:
    lines = [
        "# Validation: in-sample and leave-one-source-out error",
        "",
        "Generated by `python benchmarks/calibrate.py` (do not edit by hand; `tests/test_validation_doc.py`",
        "checks it is current). Every published run is a row of `validation/training*.csv` or",
        "`validation/serving*.csv` (run, source, full reference, metric, published value, dsx inputs).",
        "",
        "For each stack the default calibration factors are fitted by `dsx.calibrate` (least squares on",
        "relative error) on all rows (**in-sample**), and once per source with that source left out, whose",
        "rows are then predicted by factors fitted without them (**leave-one-source-out, LOSO**). The LOSO",
        "error is the honest figure: what to expect on a publication dsx was not fitted to. The *defaults*",
        "column is dsx as shipped (its factor defaults). Errors are mean absolute relative errors",
        "|predicted / published - 1|. Rows dsx calls infeasible keep their computed value (listed below).",
        "Per-row residuals: `validation/loso_residuals.csv`.",
        "",
        "| stack | rows | sources | defaults | in-sample | **LOSO** |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for workload, (rows, _) in results.items():
        s = summary(rows).iloc[-1]
        lines.append(f"| {workload} | {len(rows)} | {rows.source.nunique()} | {_pct(s['defaults'])} | "
                     f"{_pct(s['in-sample'])} | **{_pct(s['LOSO'])}** |")
    lines += ["", "## Intervals: do they cover what they claim?", "",
              "Every run of a source is predicted with the factors fitted without that source, and the",
              "registry's uncertain factors (`dsx/catalog/data/uncertainty.csv`: "
              + ", ".join(f"`{n}`" for w in WORKLOADS for n in SPREAD_FACTORS[w]) + ")",
              f"are drawn {DRAWS} times around them, with the spread that the *other* sources' held-out",
              "residuals give (each run's error taken back to the factor that moves it most, through its",
              "elasticity). The spread is the 80 % quantile of those errors with every source weighted",
              "alike (each run counts 1 / the runs of its source): the unit an interval must cover is a new",
              "source, and one source's runs share its bias. The published value should fall inside the",
              "central 80 % interval of those predictions about 80 % of the time. The registry's own spreads",
              "are set the same way from every source's held-out residuals. Runs of one source share its bias,",
              "so a coverage figure is itself uncertain by about the binomial error over the sources",
              "(sqrt(0.8 x 0.2 / sources): about 13 points with 9 or 10 sources).", "",
              "| stack | runs | inside the 80 % interval | same, every source weighted alike | mean half-width |",
              "|---|---:|---:|---:|---:|"]
    for workload, (rows, _) in results.items():
        c = coverage(rows)
        lines.append(f"| {workload} | {c['rows']} | {c['coverage']:.1%} | {c['by_source']:.1%} | {c['half_width']:.1%} |")
    for workload, (rows, factors) in results.items():
        names = list(DEFAULT_FACTORS[workload])
        lines += ["", f"## {workload.capitalize()}", "",
                  f"Factors fitted: {', '.join(f'`{n}`' for n in names)}.", "",
                  "| left-out source | rows | defaults | in-sample | **LOSO** |", "|---|---:|---:|---:|---:|"]
        for _, s in summary(rows).iterrows():
            lines.append(f"| {s['source']} | {s['rows']} | {_pct(s['defaults'])} | {_pct(s['in-sample'])} | "
                         f"**{_pct(s['LOSO'])}** |")
        lines += ["", "Fitted factors (first row: all sources; then each fit without one source):", "",
                  "| left out | rows | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
        defaults = " | ".join(f"{dsx.inputs().loc[n, 'default']:.3g}" for n in names)
        lines.append(f"| (dsx default) | | {defaults} |")
        for _, f in factors.iterrows():
            lines.append(f"| {f['left_out']} | {f['rows']} | " + " | ".join(f"{f[n]:.3f}" for n in names) + " |")
        out = beyond_ideal(rows, workload)
        if len(out):
            lines += ["", "Rows beyond what their stated configuration reaches on ideal hardware in dsx's model (every efficiency "
                      "and overlap at 1, no overheads: no factor can fit them; the configuration or the metric "
                      "as published is not what was run, and they stay in the error figures): "
                      + "; ".join(f"{r.run} (published {r.published:.4g}, ideal bound {r.ideal:.4g}, "
                                  f"{r.beyond:.0%} beyond)" for r in out.itertuples()) + "."]
        bad = rows[~rows.feasible]
        if len(bad):
            lines += ["", "Rows dsx calls infeasible (evaluated anyway): "
                      + "; ".join(f"{r.run} ({r.reason})" for r in bad.itertuples()) + "."]
    return "\n".join(lines) + "\n"


def evaluate() -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    return {w: refit(w) for w in WORKLOADS}


def residuals(results: dict) -> pd.DataFrame:
    cols = ["run", "source", "workload", "metric", "published", "predicted_in_sample", "predicted_loso"]
    extra = [c for rows, _ in results.values() for c in rows.columns if c.startswith("elasticity_")]
    cols += list(dict.fromkeys(extra)) + ["low80", "high80", "inside80"]
    return pd.concat([rows.reindex(columns=cols) for rows, _ in results.values()], ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="do not write; exit 1 if the kept files are stale")
    args = p.parse_args(argv)
    results = evaluate()
    for workload, (rows, _) in results.items():
        print(f"== {workload}")
        print(summary(rows).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
        c = coverage(rows)
        print(f"80 % interval (leave-one-source-out factors and spread, {DRAWS} draws): covers "
              f"{c['coverage']:.1%} of {c['rows']} runs ({c['by_source']:.1%} with every source weighted alike), "
              f"mean half-width {c['half_width']:.1%}")
    page = render(results)
    table = residuals(results).to_csv(index=False, float_format="%.6g")
    if args.check:
        stale = [str(f.relative_to(ROOT)) for f, text in ((DOC, page), (RESIDUALS, table))
                 if not f.exists() or f.read_text() != text]
        print("stale: " + ", ".join(stale) if stale else "kept files are current")
        return 1 if stale else 0
    DOC.write_text(page)
    RESIDUALS.write_text(table)
    update_registry(RESIDUALS, REGISTRY)  # the factors' spreads: from every source's held-out residuals
    print(f"wrote {DOC.relative_to(ROOT)}, {RESIDUALS.relative_to(ROOT)} and the factor spreads of "
          f"{REGISTRY.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
