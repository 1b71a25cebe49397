"""Categorical outputs are int8 codes with CF flag labels, decoded to text wherever shown (issue 12 item 4).

Every label a kernel can emit is declared (the check lists and label tuples feed
:func:`dsx.codes.tables`); an undeclared one fails loudly, naming the output and the label.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import dsx
from dsx import codes
from dsx.solvers import outcomes, serving_ops, training
from dsx.solvers.base import PROVIDERS, first_reason, solver
from dsx.stacks import evaluate

TRAIN = dict(model=["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b"], hardware=["H100", "MI300X", "L4"],
             gpus=[8, 512], tp=[1, 8], pp=[1, 4], precision=["bf16", "fp8"])
SERVE = dict(model=["llama-3.1-8b", "llama-3.1-70b"], hardware=["H100", "L4"], tp=[1, 8], batch=[1, 512],
             arrival_rate=[0.0, 50.0], precision=["bf16", "fp8"])


def test_every_declared_check_and_label_has_a_code():
    table = codes.tables()
    for code, _ in (*training.CHECKS, *serving_ops.CHECKS):
        assert code in table["reason"], code
    assert outcomes.NOT_COMPUTABLE in table["reason"] and table["reason"][0] == ""
    assert set(training.LABELS) <= set(table["bottleneck"])
    for name in ("bound", "prefill_bound", "decode_bound"):
        assert table[name] == ("", "compute", "memory")
    assert all(len(t) <= 127 for t in table.values())


@pytest.mark.parametrize("run, axes", [(dsx.training, TRAIN), (dsx.serving, SERVE)])
def test_no_solver_output_is_text_and_codes_decode_to_declared_labels(run, axes):
    ds = run(dsx.Space(**axes))
    text = [n for n in ds.data_vars if n in PROVIDERS and ds[n].dtype.kind in "OUS"]
    assert not text, f"solver outputs stored as text: {text}"
    for name in codes.tables():
        if name in ds:
            var = ds[name]
            assert var.dtype == np.int8 and codes.is_coded(var)
            assert var.attrs["flag_meanings"].split() == list(codes.tables()[name][1:])
            assert var.attrs["flag_values"].tolist() == list(range(1, len(codes.tables()[name])))
            decoded = dsx.decode(ds)[name]
            assert set(np.unique(decoded.values)) <= set(codes.tables()[name])
            assert "flag_meanings" not in decoded.attrs and decoded.attrs["units"] == ""


def test_decoded_result_equals_the_text_the_kernels_give():
    """The kernels called directly give text; the stack's codes decode to the same text."""
    ds = dsx.training(dsx.Space(model="llama-3.1-70b", hardware="H100", gpus=[8, 512], tp=[1, 8]))
    reason = dsx.decode(ds).reason
    assert reason.sel(gpus=8, tp=1).item() == "oom" and reason.sel(gpus=512, tp=8).item() == ""
    assert str(first_reason([("oom", False), ("tp_exceeds_heads", True)])) == "oom"  # text outside a stack
    assert dsx.decode(ds).bottleneck.dtype.kind == "U" and ds.dsx.decode().identical(dsx.decode(ds))


def test_shown_results_read_as_text():
    ds = dsx.training(dsx.Space(model="llama-3.1-70b", hardware="H100", gpus=[8, 512], tp=8))
    table = ds.dsx.to_frame(["reason", "bottleneck"])
    assert set(table["reason"]) == {"oom", ""} and set(table["bottleneck"]) <= set(training.LABELS)
    best = dsx.best(ds, minimize="time_to_train", over="gpus", include=["reason", "bound"])
    assert best.reason.item() == "" and best.bound.item() in ("compute", "memory")
    from dsx import report

    one = report.as_json(ds.sel(gpus=512))
    assert one["reason"] == "" and one["bottleneck"] in training.LABELS


def test_an_undeclared_label_fails_naming_the_output_and_the_label():
    @solver({"reason": ("", "first failing check")})
    def made_up(x):
        return {"reason": first_reason([("made_up_check", x > 1)])}

    ds = xr.Dataset({"x": ("n", np.arange(3.0))})
    with pytest.raises(RuntimeError, match="'reason'.*'made_up_check'.*declare"):
        evaluate((made_up,), ds)

    @solver({"bound": ("", "roofline bound")})
    def odd_bound(x):
        return {"bound": np.where(x > 1, "compute", "network")}

    with pytest.raises(RuntimeError, match="'bound'.*'network'"):
        evaluate((odd_bound,), ds)


def test_codes_cannot_be_mixed_with_text_inside_a_kernel():
    @solver({"reason": ("", "first failing check")})
    def mixes(x):
        return {"reason": np.where(x > 0, first_reason([("oom", x > 1)]), "oom")}

    with pytest.raises(TypeError, match="returned by the kernel as is"):
        evaluate((mixes,), xr.Dataset({"x": ("n", np.arange(3.0))}))


def test_encode_and_decode_round_trip_over_large_arrays():
    table = codes.tables()["reason"]
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(table), 10_000)
    text = np.asarray(table)[idx]
    coded = codes.encode("reason", text)
    assert coded.dtype == np.int8 and (coded == idx).all()
    var = xr.Variable(("n",), coded, codes.attrs("reason"))
    assert (codes.decode_variable(var).values == text).all()


def test_result_bytes_per_configuration_shrink():
    ds = dsx.training(dsx.Space(**TRAIN))
    size = int(np.prod(list(ds.sizes.values())))
    text = dsx.decode(ds)
    coded_reason, text_reason = ds.reason.nbytes, text.reason.nbytes
    print(f"reason {text_reason / size:.1f} -> {coded_reason / size:.1f} B/configuration; "
          f"result {text.nbytes / size:.0f} -> {ds.nbytes / size:.0f} B/configuration")
    assert coded_reason * 20 < text_reason and ds.nbytes < text.nbytes


def test_reason_codes_are_appended_never_renumbered():
    """A stored result's codes keep their meaning: the first 21 labels are the table as first published,
    and the checks added since (reported in the middle of CHECKS) take the next codes."""
    first = ("", "precision_unsupported", "model_parallel_exceeds_gpus", "gpus_not_divisible", "tp_exceeds_heads",
             "tp_not_dividing_heads", "pp_exceeds_layers", "layers_not_divisible", "ep_exceeds_experts",
             "experts_not_divisible", "dp_exceeds_batch", "batch_not_divisible", "context_exceeds_max",
             "interleave_not_divisible", "oom", "no_scale_up_link", "no_scale_out_link", "cnn_not_servable",
             "kv_does_not_fit", "batch_exceeds_kv_capacity", "unstable_queue", "not_computable")
    table = codes.tables()["reason"]
    assert table[:22] == first
    assert table.index("dp_micro_batch_exceeds_batch") == 22 and table.index("seq_not_divisible_by_cp") == 23
    assert set(table) == {"", *codes.REASONS}  # every check's label is pinned in REASONS
