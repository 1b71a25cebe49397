"""``dsx audit --help`` grouped by domain with boolean flags, whole first sentences, and
``dsx inputs [PATTERN]`` (in process: these only build the parser)."""

from __future__ import annotations

import re

import pytest

from dsx import cli, cli_inputs
from dsx.solvers import base


def _help(capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        cli.main(["audit", "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def _section(text: str, domain: str) -> str:
    """The lines of one ``<domain> inputs:`` group of the help."""
    start = text.index(f"\n{domain} inputs:\n")
    end = text.find("\n\n", start + 2)
    return text[start:end if end > 0 else None]


def test_audit_help_is_grouped_by_domain(capsys):
    text = _help(capsys)
    heads = [text.index(f"\n{d} inputs:\n") for d in ("node", "layout", "network", "reliability", "economics",
                                                         "environment")]
    assert heads == sorted(heads), "the domain groups follow DOMAINS"
    placed = {"node": ["--hardware", "--matmul-efficiency", "--flash-attention"],
              "layout": ["--tp", "--pp", "--global-batch", "--zero"],
              "network": ["--scale-out-fabric", "--link-efficiency"],
              "reliability": ["--gpu-interruption-rate", "--restart-time"],
              "economics": ["--cloud-price", "--fleet-utilization"],
              "environment": ["--region", "--pue"],
              "serving": ["--input-len", "--spec-tokens", "--batch"]}
    for domain, options in placed.items():
        section = _section(text, domain)
        for option in options:
            assert re.search(rf"^  {option}\b", section, re.M), f"{option} not under '{domain} inputs'"


def test_booleans_are_flags(capsys):
    text = _help(capsys)
    assert "--flash-attention, --no-flash-attention" in text
    assert "--sequence-parallel, --no-sequence-parallel" in text
    parser = cli._parser(cli._known())
    assert parser.parse_args(["audit", "--no-flash-attention"]).in_flash_attention == "false"
    assert parser.parse_args(["audit", "--flash-attention"]).in_flash_attention == "true"
    # a comparison of both values still works, and a value after --no-x is refused
    assert parser.parse_args(["audit", "--dropout", "true,false"]).in_dropout == "true,false"
    with pytest.raises(cli._Fail, match="--no-dropout takes no value"):  # one line, exit 2 in main()
        parser.parse_args(["audit", "--no-dropout", "true"])
    assert parser.parse_args(["audit"]).in_flash_attention is None  # unset: the solver default


@pytest.mark.parametrize("text, first", [
    ("Efficiency, e.g. 0.8 vs. 0.9 (Smith et al. 2020). More.", "Efficiency, e.g. 0.8 vs. 0.9 (Smith et al. 2020)"),
    ("Rate (i.e. per hour). Default 1.", "Rate (i.e. per hour)"),
    ("A. O. Allen's formula. Next.", "A. O. Allen's formula"),
    ("No period at the end", "No period at the end"),
])
def test_first_sentence(text, first):
    assert cli_inputs.first_sentence(text) == first


def test_help_strings_are_not_cut_at_abbreviations():
    cut = []
    for name, spec in base.INPUTS.items():
        first = cli_inputs.first_sentence(spec.doc)
        last = re.search(r"([A-Za-z.]+)$", first)
        if first.count("(") != first.count(")") or (last and last.group(1).lower() in cli_inputs._ABBREVIATIONS):
            cut.append(f"{name}: {first!r}")
    assert not cut, "\n".join(cut)


def test_inputs_table(capsys):
    assert cli.main(["inputs"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header == ["name", "domain", "unit", "default", "meaning", "reference"]
    names = {line.split()[0] for line in out.splitlines()[2:] if line and not line.startswith(" ")}
    assert set(base.INPUTS) <= names and {"model", "hardware", "region"} <= names
    row = next(line for line in out.splitlines() if line.startswith("matmul_efficiency "))
    assert re.match(r"matmul_efficiency\s+node\s+1\s+0\.8\s+Achieved fraction", row), row
    assert cli.main(["inputs", "*_slo"]) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines()[2:] if not line.startswith(" ")]
    assert rows == ["tpot_slo", "ttft_slo"]
    assert cli.main(["inputs", "flash", "--full"]) == 0
    out = capsys.readouterr().out
    assert "flash_attention" in out and "flag" in out and "Dao et al. 2022" in out
    assert cli.main(["inputs", "no-such-input"]) == 2
    assert "nothing matches 'no-such-input'" in capsys.readouterr().err
