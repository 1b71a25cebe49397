"""The audit report: domain -> key metric -> binding constraint, as text, HTML and JSON.

Formats an audit Dataset (:func:`dsx.audit`) of one configuration (every variable 0-d) or of
a few (a comparison, one column per configuration): every metric is read from the Dataset and
every binding constraint is its diagnosis (``binding_*``, :func:`dsx.diagnosis.diagnose`, added here
to a plain result that lacks it) put into words; a variable the stack did not compute shows as
``n/a``. Numbers are written by :mod:`dsx.formatting` (``fmt``, re-exported here).
"""

from __future__ import annotations

import html as _html
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from .codes import decode
from .diagnosis import default, workload_of
from .formatting import _grid, _json_lines, _json_value, _num, fmt

__all__ = ["fmt", "rows", "text", "uncertainty", "html", "as_json", "json_text", "Report", "report", "MAX_CONFIGS"]

#: Largest number of configurations a comparison report shows (use ``dsx run`` for sweeps).
MAX_CONFIGS = 24

# -- reading one configuration -------------------------------------------------------------
class _Cfg:
    """Values of one configuration, ``None`` where the stack did not compute them."""

    def __init__(self, ds: xr.Dataset) -> None:
        self.ds = ds

    def __call__(self, name: str) -> Any:
        if name not in self.ds.variables:
            return default(name)
        v = np.asarray(decode(self.ds[name]).values)  # categorical codes as their labels
        if v.ndim:  # a variable with a dimension left: not one configuration
            return None
        v = v[()]
        if isinstance(v, (np.floating, np.integer)):
            v = float(v)
            return None if math.isnan(v) else v
        return v.item() if isinstance(v, np.generic) else v

    def to(self, name: str, unit: str) -> float | None:
        """The value converted from its ``attrs["units"]`` to ``unit`` (None if missing)."""
        v = self(name)
        if v is None or isinstance(v, (str, bool)):
            return None
        from .units import ureg

        return v * ureg.Quantity(1.0, self.ds[name].attrs.get("units") or "dimensionless").to(unit).magnitude

    def f(self, name: str) -> str:
        """The value as text, in the units of the variable (or of the input's registry entry)."""
        from .solvers.base import INPUTS

        known = name in self.ds.variables
        units = self.ds[name].attrs.get("units", "") if known else getattr(INPUTS.get(name), "unit", "")
        return fmt(self(name), units or "", name)


@dataclass
class Row:
    domain: str
    items: list[tuple[str, str]] = field(default_factory=list)
    binding: str = "n/a"


def _pct(x: float) -> str:
    return f"{_num(100 * x)} %"


#: Words for the diagnosis codes of :mod:`dsx.diagnosis` (``binding_<domain>``).
_STEP_LABELS = {"compute": "compute", "comm": "TP/CP/EP/PP communication", "bubble": "pipeline bubble",
                "dp_exposed": "exposed data-parallel sync", "optimizer": "optimizer step"}
_WALL_LABELS = {**_STEP_LABELS, "reliability_losses": "reliability losses",
                "compute_peak_flops": "compute (peak FLOP/s)", "compute_hbm_bandwidth": "GPU kernels (HBM bandwidth)"}
_RELIABILITY_LABELS = {"checkpoint_writes": "checkpoint writes", "failures": "failures (lost work + restarts)"}
_WATER_LABELS = {"onsite": "on-site", "offsite": "off-site"}
_LATENCY_LABELS = {"prefill": "prefill (TTFT)", "decode": "decode ((generated − 1) × TPOT)"}


def _node_row(c: _Cfg) -> Row:
    share = c("memory_fraction")
    node = Row("Node", [("roofline bound", fmt(c("bound"))),
                        ("compute / memory time per micro-batch", f"{c.f('mb_compute_time')} / {c.f('mb_memory_time')}"),
                        ("arithmetic intensity / ridge", f"{c.f('arithmetic_intensity')} / {c.f('ridge_intensity')}"),
                        ("memory per GPU", f"{c.f('memory_per_gpu')} of {c.f('hbm_capacity')}"
                         + (f" ({_pct(share)})" if share is not None else ""))])
    ratio = c("roofline_ratio")
    node.binding = {
        "memory_capacity": lambda: f"memory capacity: needs {c.f('memory_per_gpu')} > {c.f('hbm_capacity')} (oom)",
        "peak_flops": lambda: f"peak FLOP/s: compute time {_num(ratio)}× memory time",
        "hbm_bandwidth": lambda: f"HBM bandwidth: memory time {_num(ratio)}× compute time",
    }.get(c("binding_node"), lambda: "n/a")()
    return node


def _data_row(c: _Cfg) -> Row:
    data = Row("Data", [("utilization", c.f("data_utilization")), ("stalled", c.f("data_stalled")),
                        ("demand / supply", f"{c.f('data_demand')} / {c.f('data_supply')}")])
    verdict = {"data_pipeline": "data pipeline", "none": "not binding"}.get(c("binding_data"))
    if verdict:
        data.binding = f"{verdict}: demand is {_pct(c('data_utilization'))} of supply"
    return data


def _algorithm_row(c: _Cfg) -> Row:
    algo = Row("Algorithm", [("tokens per parameter", c.f("tokens_per_param")),
                             (f"compute-optimal ({c('law') or 'scaling'} law)", fmt(c("optimal_tokens_per_param"))),
                             ("optimal size for this budget", c.f("chinchilla_params"))])
    if c("optimal_params_rule") is not None:
        algo.items.append(("optimal size, 20 tokens/param rule", fmt(c("optimal_params_rule") / 1e9, "B params")))
    r = c("tokens_per_param_ratio")
    verdict = {"over_trained": "over-trained: {r}× the compute-optimal tokens per parameter",
               "under_trained": "under-trained: {r}× the compute-optimal tokens per parameter",
               "compute_optimal": "near compute-optimal ({r}×)"}.get(c("binding_algorithm"))
    if verdict:
        algo.binding = verdict.format(r=_num(r))
        if c("tokens_per_param_ratio_rule") is not None:
            algo.binding += f" ({_num(c('tokens_per_param_ratio_rule'))}× the 20-tokens-per-parameter rule)"
    return algo


def _communication_row(c: _Cfg) -> Row:
    comm = Row("Fleet/communication", [("scaling efficiency", c.f("scaling_efficiency")),
                                       ("MFU", fmt(c("mfu"), "", "mfu")), ("step time", c.f("step_time"))])
    for term, label in _STEP_LABELS.items():
        share = c(f"step_{term}_share")
        comm.items.append((f"  {label}", fmt(c(f"step_{term}_time"), "s") + (f" ({_pct(share)})" if share is not None
                                                                             else "")))
    top, over = c("binding_step"), c("binding_step_overhead")
    if top:
        comm.binding = f"{_STEP_LABELS[top]}: {_pct(c('binding_step_share'))} of the step" + (
            f"; largest overhead {_STEP_LABELS[over]} {_pct(c('binding_step_overhead_share'))}"
            if over and top == "compute" else "")
    return comm


def _reliability_row(c: _Cfg) -> Row:
    rel = Row("Fleet/reliability", [("fleet MTBF", c.f("fleet_mtbf")), ("expected failures", c.f("expected_failures")),
                                    ("checkpoint interval", c.f("checkpoint_interval")), ("goodput", c.f("goodput"))])
    if c("binding_reliability"):
        rel.binding = (f"{_RELIABILITY_LABELS[c('binding_reliability')]}: "
                       f"{_pct(c('binding_reliability_share'))} of wall time")
    return rel


def _cost_binding(c: _Cfg, whole: str) -> str:
    top = c("binding_cost")
    return f"{top}: {_pct(c('binding_cost_share'))} of {whole}" if top else "n/a"


def _cost_row(c: _Cfg) -> Row:
    capex = "capex_amortized" if "capex_amortized" in c.ds else "capex"
    cost = Row("Ops/cost", [("TCO", c.f("tco")), ("capex (amortized) / opex", f"{c.f(capex)} / {c.f('opex')}"),
                            ("cost per M tokens", fmt(c.to("cost_per_mtoken", "USD/Mtoken")
                                                      if "cost_per_mtoken" in c.ds else None, "USD"))])
    cost.binding = _cost_binding(c, "TCO")
    return cost


def _environment_row(c: _Cfg) -> Row:
    env = Row("Ops/environment", [("energy", c.f("energy")), ("carbon", c.f("carbon")), ("water", c.f("water"))])
    bits = [f"{_WATER_LABELS.get(c(f'binding_{total}'), c(f'binding_{total}'))} "
            f"{_pct(c(f'binding_{total}_share'))} of {total}" for total in ("carbon", "water") if c(f"binding_{total}")]
    env.binding = "; ".join(bits) or "n/a"
    return env


def _analysis_row(c: _Cfg, items: list[tuple[str, str]], output: str, otherwise: str | None = None) -> Row:
    ana = Row("Analysis", items)
    code = c("binding_analysis")
    if code == "infeasible":
        ana.binding = f"infeasible: {c('reason') or 'unknown reason'}"
    elif otherwise is not None:
        ana.binding = otherwise
    elif code:
        ana.binding = f"{_WALL_LABELS[code]}: {_pct(c('binding_analysis_share'))} of wall time"
    _elasticities(c, ana, output)
    return ana


def _training_rows(c: _Cfg) -> list[Row]:
    analysis = [("feasible", c.f("feasible")), ("time to train", c.f("time_to_train")), ("wall time", c.f("wall_time"))]
    return [_node_row(c), _data_row(c), _algorithm_row(c), _communication_row(c), _reliability_row(c),
            _cost_row(c), _environment_row(c), _analysis_row(c, analysis, "step time")]


_INPUT_LABELS = {"peak_flops": "peak FLOP/s", "hbm_bandwidth": "HBM bandwidth",
                 "scale_up_bandwidth": "scale-up bandwidth", "scale_out_bandwidth": "scale-out bandwidth"}


def _elasticities(c: _Cfg, row: Row, output: str) -> None:
    """Elasticities ``elasticity_<input>`` (added by ``dsx.audit``) as items; the largest leads the binding."""
    found = {n[len("elasticity_"):]: c(n) for n in map(str, c.ds.variables) if n.startswith("elasticity_")}
    for name, e in found.items():
        row.items.append((f"elasticity of {output} to {_INPUT_LABELS.get(name, name)}",
                          "n/a" if e is None else f"{e:+.2f}"))
    top = str(c("binding_input") or "").split("=")
    if found.get(top[0]) is not None and c("feasible") is not False:
        label = " = ".join(_INPUT_LABELS.get(t, t) for t in top)
        row.binding = f"{label} (elasticity {found[top[0]]:+.2f}); " + row.binding


def _capacity_binding(c: _Cfg) -> str:
    return {"queue_saturated": lambda: "queue saturated: arrival rate exceeds service rate",
            "kv_cache_overflow": lambda: f"KV cache: batch {_num(c('batch'))} > max {_num(c('max_batch'))}",
            "kv_cache": lambda: f"KV cache {_pct(c('kv_cache_fill'))} full",
            "kv_cache_does_not_fit": lambda: "KV cache does not fit"}.get(c("binding_capacity"), lambda: "n/a")()


def _serving_rows(c: _Cfg) -> list[Row]:
    lat = Row("Latency", [("TTFT", c.f("ttft")), ("TPOT", c.f("tpot")), ("end-to-end", c.f("e2e_latency"))])
    if c("binding_latency"):
        lat.binding = (f"{_LATENCY_LABELS[c('binding_latency')]}: {_pct(c('binding_latency_share'))} "
                       "of end-to-end latency")
    thr = Row("Throughput", [("tokens/s per replica", c.f("replica_tokens_per_s")),
                             ("tokens/s per GPU", c.f("tokens_per_s_per_gpu")),
                             ("prefill / decode bound", f"{fmt(c('prefill_bound'))} / {fmt(c('decode_bound'))}")])
    if c("binding_throughput"):
        thr.binding = f"decode is {c('binding_throughput')}-bound"
    cap = Row("Capacity", [("batch", c.f("batch")), ("max batch (KV cache)", c.f("max_batch")),
                           ("KV cache per token", c.f("kv_bytes_per_token")), ("utilization", c.f("utilization"))])
    cap.binding = _capacity_binding(c)
    per_m = {"cost": ("cost_per_mtoken", "USD"), "energy": ("energy_per_token", "J"),
             "carbon": ("carbon_per_mtoken", "gCO2e")}
    ops = Row("Ops", [(f"{k} per M tokens", fmt(c.to(n, f"{u}/Mtoken") if n in c.ds else None, u))
                      for k, (n, u) in per_m.items()])
    ops.binding = _cost_binding(c, "cost")
    ana = _analysis_row(c, [("feasible", c.f("feasible"))], "end-to-end latency", otherwise=lat.binding)
    return [lat, thr, cap, ops, ana]


def _diagnosed(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with the audit's diagnosis (``binding_*``), added by :func:`dsx.diagnosis.diagnose` if missing."""
    from .diagnosis import diagnose

    return ds if "binding_analysis" in ds.variables else diagnose(ds)


def rows(ds: xr.Dataset) -> list[Row]:
    """The audit rows of a one-configuration result (training or serving, detected)."""
    c = _Cfg(_diagnosed(ds))
    return _serving_rows(c) if workload_of(ds) == "serving" else _training_rows(c)


# -- configurations -------------------------------------------------------------------------
def _configs(ds: xr.Dataset) -> list[tuple[str, xr.Dataset]]:
    dims = [d for d in ds.dims if ds.sizes[d] > 0]
    shape = [ds.sizes[d] for d in dims]
    n = int(np.prod(shape)) if dims else 1
    if n > MAX_CONFIGS:
        from .errors import DsxInputError
        raise DsxInputError(f"report: {n} configurations is too many for a comparison (at most {MAX_CONFIGS}); "
                            "select a few, or run a sweep file with `dsx run`")
    out = []
    for k in range(n):
        idx = dict(zip(dims, np.unravel_index(k, shape))) if dims else {}
        sub = ds.isel({d: int(i) for d, i in idx.items()})
        label = ", ".join(f"{d}={fmt(sub[d].values[()], sub[d].attrs.get('units', ''), d)}" for d in dims)
        out.append((label or "configuration", sub))
    return out


def _title(ds: xr.Dataset) -> str:
    c = _Cfg(ds)
    g = lambda n: c(n) if c(n) is not None else "?"  # noqa: E731
    if workload_of(ds) == "serving":
        return (f"serving audit: {g('model')} on {fmt(c('gpus'))} × {g('hardware')} "
                f"(tp {fmt(c('tp'))}), {fmt(c('input_len'))} in / {fmt(c('output_len'))} out, {g('precision')}")
    return (f"training audit: {g('model')} on {fmt(c('gpus'))} × {g('hardware')} (tp {fmt(c('tp'))}, "
            f"pp {fmt(c('pp'))}, dp {fmt(c('dp'))}), {fmt(c('global_batch'))} × {fmt(c('seq_len'))} tokens "
            f"per step, {g('precision')}, region {g('region')}")


def _single(sub: xr.Dataset) -> tuple[list[str], list[list[str]], str]:
    body = [[r.domain if i == 0 else "", label, value, r.binding if i == 0 else ""]
            for r in rows(sub) for i, (label, value) in enumerate(r.items)]
    return ["Domain", "Metric", "Value", "Binding constraint"], body, _title(sub)


def _comparison(ds: xr.Dataset, configs: list[tuple[str, xr.Dataset]]) -> tuple[list[str], list[list[str]], str]:
    per = [rows(sub) for _, sub in configs]
    body = []
    for j, r in enumerate(per[0]):
        body += [[r.domain if i == 0 else "", label, *[p[j].items[i][1] for p in per]]
                 for i, (label, _) in enumerate(r.items)]
        body.append(["", "binding constraint", *[p[j].binding for p in per]])
    dims = " × ".join(d for d in ds.dims if ds.sizes[d] > 1)
    title = (f"{workload_of(ds)} comparison of {len(configs)} configurations over {dims} (one column each); "
             f"first: {_title(configs[0][1]).split(': ', 1)[1]}")
    return ["Domain", "Metric", *[label for label, _ in configs]], body, title


def _table(ds: xr.Dataset) -> tuple[list[str], list[list[str]], str]:
    """(header, body, title) of the report; one value column per configuration."""
    configs = _configs(_diagnosed(ds))
    return _single(configs[0][1]) if len(configs) == 1 else _comparison(ds, configs)


def text(ds: xr.Dataset) -> str:
    """The audit as an aligned text table (a comparison when ``ds`` has several configurations)."""
    header, body, title = _table(ds)
    table = f"{title}\n\n{_grid(header, body, wrap=40 if len(header) > 3 and header[2] != 'Value' else None)}\n"
    return uncertainty(ds) + table


def uncertainty(ds: xr.Dataset) -> str:
    """The key figures drawn by ``dsx.audit(draws=N)``: median and interval (``<name>_low``/``_high``);
    ``""`` for an audit without draws. A comparison shows its first configuration."""
    from .diagnosis import UNCERTAINTY_LEVEL
    from .uncertainty import KEY_FIGURES

    if not ds.attrs.get("draws"):
        return ""
    first = ds.isel({d: 0 for d in ds.dims})
    body = []
    for name in KEY_FIGURES[workload_of(ds)]:
        if f"{name}_low" not in first.variables:
            continue
        units = first[name].attrs.get("units", "")
        low, mid, high = (fmt(float(first[n]), units, name) for n in (f"{name}_low", name, f"{name}_high"))
        body.append([name, mid, f"{low} – {high}"])
    level = f"{UNCERTAINTY_LEVEL:.0%}"
    return (f"Uncertainty: {ds.attrs['draws']} draws of the uncertain inputs (dsx/catalog/data/uncertainty.csv); "
            f"median and {level} interval\n\n{_grid(['Figure', 'Median', f'{level} interval'], body)}\n\n")


def html(ds: xr.Dataset) -> str:
    """The audit as an HTML table (what ``_repr_html_`` shows in a notebook)."""
    header, body, title = _table(ds)
    esc = _html.escape
    head = "".join(f"<th style='text-align:left'>{esc(h)}</th>" for h in header)
    trs = []
    for r in body:
        style = " style='border-top:1px solid #999'" if r[0] else ""
        cells = "".join(f"<td style='text-align:left'>{'<b>' + esc(v) + '</b>' if i == 0 and v else esc(v)}</td>"
                        for i, v in enumerate(r))
        trs.append(f"<tr{style}>{cells}</tr>")
    return (f"<div class='dsx-report'><p><b>{esc(title)}</b></p><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(trs)}</tbody></table></div>")


class Report:
    """Text in a terminal (``str``), a table in a notebook (``_repr_html_``)."""

    def __init__(self, ds: xr.Dataset) -> None:
        self.ds = ds

    def __str__(self) -> str:
        return text(self.ds)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return html(self.ds)


def report(ds: xr.Dataset) -> Report:
    """The audit report object of a result Dataset."""
    return Report(ds)


# -- JSON ----------------------------------------------------------------------------------
def as_json(ds: xr.Dataset) -> dict | list:
    """One configuration: ``{name: {"value": number, "units": str} | str | bool}`` for every
    input and result variable. Several configurations: a list of such objects, one per
    configuration, in the order of the comparison table.

    >>> ds = xr.Dataset({"step_time": ((), 2.0, {"units": "s"}), "bound": ((), "compute")})
    >>> as_json(ds)
    {'step_time': {'value': 2.0, 'units': 's'}, 'bound': 'compute'}
    """
    configs = _configs(ds)
    out = []
    for _, sub in configs:
        names = [n for n in sub.variables if np.asarray(sub[n].values).ndim == 0]
        out.append({str(n): _json_value(sub[n]) for n in names})
    return out[0] if len(out) == 1 else out


def json_text(ds: xr.Dataset) -> str:
    """:func:`as_json` with one variable per line: readable, and still one JSON document."""
    return _json_lines(as_json(ds))
