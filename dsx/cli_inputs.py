"""What ``dsx audit --help`` and ``dsx inputs`` show about the inputs: their domain, their
first sentence (not cut at "e.g." or "et al."), and booleans as ``--x`` / ``--no-x`` flags.

>>> first_sentence("Share of the link rate, e.g. 0.8 (Smith et al. 2020). Default: a guess.")
'Share of the link rate, e.g. 0.8 (Smith et al. 2020)'
"""

from __future__ import annotations

import argparse
import re
from typing import Any

__all__ = ["DOMAINS", "first_sentence", "domains", "inputs_rows", "known_inputs", "Flag", "GroupedHelp"]

#: Help groups of ``dsx audit`` and the ``domain`` column of ``dsx inputs``, in order.
DOMAINS = ("node", "layout", "network", "reliability", "economics", "environment", "serving", "scaling laws")
_SERVING_MODULES = {"serving", "serving_ops", "speculative", "queueing", "erlang"}
_MODULE_DOMAIN = {"layout": "layout", "network": "network", "collectives": "network", "reliability": "reliability",
                  "economics": "economics", "sustainability": "environment", "scaling": "scaling laws"}
#: Inputs whose domain is not the one their solvers' modules suggest.
_NAME_DOMAIN = {"region": "environment", "scale_out_fabric": "network", "scale_up_fabric": "network",
                "spec_draft_model": "serving", "price": "economics", "electricity_price": "economics",
                "days": "layout", "train_tokens": "layout", "gradient_bytes": "node", "tp_overlap": "network",
                "dp_overlap": "network", "cp_overlap": "network", "ep_overlap": "network"}
_CATALOG_DOMAIN = {"hardware": "node", "models": "node", "precisions": "node", "regions": "environment",
                   "fabrics": "network"}
#: Words whose trailing period does not end a sentence.
_ABBREVIATIONS = {"e.g", "i.e", "i.i.d", "vs", "cf", "al", "eq", "eqs", "fig", "sec", "approx", "no", "ca", "etc", "resp",
                  "app", "tab", "ref", "min", "max"}


def first_sentence(text: str) -> str:
    """The first sentence of ``text``, not cut at "e.g.", "vs." or "et al.".

    >>> first_sentence("Efficiency, e.g. 0.8 vs. 0.9 (Smith et al. 2020). More detail.")
    'Efficiency, e.g. 0.8 vs. 0.9 (Smith et al. 2020)'
    """
    for m in re.finditer(r"\.\s+", text):
        word = re.search(r"([A-Za-z.]+)$", text[:m.start()])
        if word and word.group(1).lower().lstrip(".") in _ABBREVIATIONS:
            continue
        if word and len(word.group(1)) == 1:  # an initial ("A. O. Allen")
            continue
        return text[:m.start()]
    return text.rstrip(".")


def domains() -> dict[str, str]:
    """Input name -> domain (:data:`DOMAINS`), from the modules of the solvers that read it.

    An input read by a layout solver is a layout input, then network, reliability, economics,
    environment; one read only by serving solvers (and node kernels) is a serving input; the
    rest (model, compute, memory, data) describe the node.
    """
    from . import space

    out = {name: _domain_of_modules(mods) for name, mods in _solver_modules_reading().items()}
    for key, (kind, _) in space.KEYS.items():
        out[key] = _CATALOG_DOMAIN.get(kind, "node")
    for name in space._catalog_columns():
        out.setdefault(name, _catalog_column_domain(name))
    return {**out, **_NAME_DOMAIN}


def _solver_modules_reading() -> dict[str, set[str]]:
    """Input name -> short names of the solver modules whose solvers read it."""
    import dsx.solvers as solvers

    users: dict[str, set[str]] = {}
    for mod in vars(solvers).values():  # the solver modules: a small fixed set
        if not hasattr(mod, "__name__"):
            continue
        short = mod.__name__.rpartition(".")[2]
        for fn in vars(mod).values():
            if getattr(fn, "__module__", None) == mod.__name__ and getattr(fn, "inputs", None):
                for name in fn.inputs:
                    users.setdefault(name, set()).add(short)
    return users


def _domain_of_modules(mods: set[str]) -> str:
    """The first domain of :data:`_MODULE_DOMAIN` among ``mods``; else serving when only serving
    modules read it; else node."""
    domain = next((_MODULE_DOMAIN[m] for m in _MODULE_DOMAIN if m in mods), None)
    if domain is None and mods & _SERVING_MODULES and "training" not in mods:
        domain = "serving"
    return domain or "node"


def _catalog_column_domain(name: str) -> str:
    if name.startswith("scale_"):
        return "network"
    if name in ("carbon_intensity", "pue", "wue", "ewif", "embodied_carbon"):
        return "environment"
    return "node"


class GroupedHelp(argparse.HelpFormatter):
    """Shows a boolean input as ``--x, --no-x`` (its optional value is explained in the epilog)."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if isinstance(action, Flag):
            return ", ".join(action.option_strings)
        return super()._format_action_invocation(action)


class Flag(argparse.BooleanOptionalAction):
    """``--x`` / ``--no-x`` for a boolean input; ``--x true,false`` still compares both."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.nargs = "?"
        self.metavar = "BOOL"

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        if option_string and option_string.startswith("--no-"):
            if values is not None:
                parser.error(f"{option_string} takes no value")
            values = "false"
        setattr(namespace, self.dest, "true" if values is None else values)


def inputs_rows(pattern: str | None, full: bool) -> list[list[str]]:
    """Rows ``[name, domain, unit, default, meaning, reference]`` of the inputs matching ``pattern``."""
    from . import space
    from .solvers import base

    domain_of = domains()
    rows = []
    for key, (kind, _) in space.KEYS.items():
        rows.append([key, "text", "-", f"catalog id or alias from `dsx catalog {kind}`", "catalog"])
    for name, spec in base.INPUTS.items():
        meaning = spec.doc if full else first_sentence(spec.doc)
        if spec.choices:
            meaning += f" (one of {', '.join(map(str, spec.choices))})"
        rows.append([name, _unit_word(spec, "1"), _default_text(spec), meaning, spec.reference])
    for name, unit in space._catalog_columns().items():
        if name not in base.INPUTS and name not in space.KEYS:
            rows.append([name, unit or "1", "catalog", "overrides the catalog column of that name", "catalog"])
    rows = [[r[0], domain_of.get(r[0], "other"), *r[1:]] for r in rows]
    if pattern:
        rows = [r for r in rows if _row_matches(r, pattern.lower())]
    order = {d: k for k, d in enumerate((*DOMAINS, "other"))}
    return sorted(rows, key=lambda r: (order[r[1]], r[0]))


def _unit_word(spec: Any, dimensionless: str) -> str:
    """An input's unit as listed: "flag", "text" (categorical), the unit or ``dimensionless``."""
    if isinstance(spec.default, bool):
        return "flag"
    return "text" if spec.unit is None else (spec.unit or dimensionless)


def _default_text(spec: Any) -> str:
    if isinstance(spec.default, bool):
        return str(spec.default).lower()
    return f"{spec.default:g}" if isinstance(spec.default, float) else f"{spec.default}"


def _row_matches(row: list[str], pat: str) -> bool:
    """A glob (``*``, ``?``, ``[``) matches the name; plain text is looked for in name and meaning."""
    from fnmatch import fnmatch

    if any(ch in pat for ch in "*?["):
        return fnmatch(row[0].lower(), pat)
    return pat in row[0].lower() or pat in row[4].lower()


def _range_text(spec: Any) -> str:
    """``"; range [lo, hi)"`` for an input with bounds ("" without)."""
    if spec.minimum is None and spec.maximum is None:
        return ""
    lo = "" if spec.minimum is None else f"{'(' if spec.exclusive_minimum else '['}{spec.minimum:g}"
    hi = "" if spec.maximum is None else f"{spec.maximum:g}{')' if spec.exclusive_maximum else ']'}"
    return f"; range {lo or '(-inf'}, {hi or 'inf)'}"


def known_inputs() -> dict[str, tuple[str, Any]]:
    """Every Space input: name -> (help text, Input spec or None)."""
    from . import space
    from .solvers import base

    out: dict[str, tuple[str, Any]] = {}
    for key, (kind, _) in space.KEYS.items():
        out[key] = (f"catalog id or alias from `dsx catalog {kind}`", None)
    for name, spec in sorted(base.INPUTS.items()):
        unit = _unit_word(spec, "number")
        extra = (f"; one of {', '.join(map(str, spec.choices))}" if spec.choices else "") + _range_text(spec)
        default = str(spec.default).lower() if isinstance(spec.default, bool) else spec.default
        out[name] = (f"{first_sentence(spec.doc)} [{unit}; default {default}{extra}]".replace("%", "%%"), spec)
    for name, unit in sorted(space._catalog_columns().items()):
        out.setdefault(name, (f"override the catalog column [{unit or 'number'}]", None))
    return out
