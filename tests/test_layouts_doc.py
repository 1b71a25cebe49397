"""docs/layouts-70b.md holds the table benchmarks/layouts_70b.py computes, and the figures its prose quotes."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("layouts_70b", ROOT / "benchmarks" / "layouts_70b.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ds(gen):
    return gen.space()


def test_doc_table_is_current(gen, ds):
    """The page's table is the generator's output at this commit (python benchmarks/layouts_70b.py --write)."""
    text = gen.table(ds)
    print(text)
    assert text in gen.DOC.read_text()


def test_doc_figures_are_current(gen, ds):
    """Figures quoted in the page's prose, as printed there (rounded as the page rounds them)."""
    fig = gen.figures(ds)
    print(fig)
    doc = gen.DOC.read_text()
    quoted = {"zero1_tp4_pp2_weights_GB": "17.6 GB", "zero1_tp4_pp2_gradients_GB": "35.3 GB",
              "zero1_tp4_pp2_activations_GB": "49 GB", "zero1_tp4_pp2_memory_GB": "110 GB",
              "zero1_tp4_pp2_full_recompute_step_s": "5.86 s", "zero2_layer_reduce_scatter_ms": "12.4 ms",
              "zero3_tp4_layer_gather_ms": "6.7 ms", "zero3_backward_reshard_tp4_pp2_step_s": "4.47 s"}
    for name, text in quoted.items():
        value, unit = text.split()
        digits = len(value.split(".")[1]) if "." in value else 0
        assert f"{fig[name]:.{digits}f} {unit}" == text, (name, fig[name], text)
        assert text in doc, text
    both = fig["zero3_tp4_layer_gather_ms"] + fig["zero3_tp4_layer_reduce_scatter_ms"]
    assert f"{both:.1f} ms" == "19.5 ms" and "19.5 ms" in doc
