"""README stays true: its Python example runs, and CI runs exactly its test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_quick_start_has_exactly_two_setup_commands_and_ci_runs_the_test_one():
    bash = [b.strip() for b in _blocks("bash")]
    assert bash[0] == "pip install -e . && dsx audit"
    assert bash[1] == 'pip install -e ".[test]" && pytest'
    ci = (ROOT / ".ci" / "run").read_text()
    assert bash[1] in ci.splitlines()


def test_python_example_runs():
    code = _blocks("python")[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # the README's own example, as a user runs it
    ds = namespace["ds"]
    assert ds.sizes["hardware"] * ds.sizes["gpus"] * ds.sizes["tp"] * ds.sizes["pp"] == 81
    assert "region" in ds.carbon.dims and "region" not in ds.capex.dims
