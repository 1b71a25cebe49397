"""Writing a lazy result to zarr from the tasks: equal to the eager result, resumable after a
kill, atomic on completion, and never touching a folder dsx did not write."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import dsx
import dsx.store as store_module
from dsx.errors import DsxInputError

pytest.importorskip("zarr")

SPACE = dict(model="llama-3.1-70b", hardware=["H100", "A100-80GB"], gpus=[256, 512, 1024, 2048], tp=[2, 8],
             pp=[1, 4], region=["quebec", "poland"])
OUTPUTS = ["step_time", "time_to_train", "tco", "carbon", "memory_per_gpu"]

SCRIPT = """
import sys, dsx
space = dsx.Space(**{space!r})
dsx.training(space, chunks={{"gpus": 1, "region": 1}}, outputs={outputs!r}, store=sys.argv[1])
"""


def same(eager, stored) -> None:
    for name in eager.data_vars:
        a, b = eager[name], stored[name].transpose(*eager[name].dims)
        if a.dtype.kind in "OU":
            assert (a.values.astype(str) == b.values.astype(str)).all(), name
        else:
            assert np.array_equal(a.values, b.values, equal_nan=True), name


def test_store_equals_eager_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "result.zarr"
    got = dsx.training(dsx.Space(**SPACE), chunks={"gpus": 2, "region": 1}, outputs=OUTPUTS, store=target)
    same(dsx.training(dsx.Space(**SPACE), outputs=OUTPUTS), got)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.zarr"]
    assert not any(p.name.startswith(".dsx") for p in target.iterdir())


def test_killed_run_resumes_and_completes(tmp_path, monkeypatch):
    target = tmp_path / "result.zarr"
    partial = tmp_path / "result.zarr.partial"
    script = SCRIPT.format(space=SPACE, outputs=OUTPUTS)
    proc = subprocess.Popen([sys.executable, "-c", script, str(target)])
    done = partial / ".dsx-done"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (done.is_dir() and any(done.iterdir())):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if target.exists():
        pytest.skip("the run finished before it could be killed")
    assert (partial / ".dsx-partial").is_file()
    before = len(list(done.iterdir()))
    assert before >= 1
    written = []
    real = store_module._write_piece

    def counting(piece, index, *args):
        if not (Path(args[-1]) / ".dsx-done" / store_module._piece_id(index)).exists():
            written.append(index)
        return real(piece, index, *args)

    monkeypatch.setattr(store_module, "_write_piece", counting)
    got = dsx.training(dsx.Space(**SPACE), chunks={"gpus": 1, "region": 1}, outputs=OUTPUTS, store=target)
    assert len(written) == 8 - before  # 4 gpus x 2 regions pieces; the finished ones were kept
    same(dsx.training(dsx.Space(**SPACE), outputs=OUTPUTS), got)
    assert not partial.exists()


def test_a_partial_folder_that_is_not_dsxs_is_refused_and_kept(tmp_path):
    partial = tmp_path / "result.zarr.partial"
    partial.mkdir()
    (partial / "notes.txt").write_text("mine")
    with pytest.raises(DsxInputError, match="not an unfinished dsx store"):
        dsx.training(dsx.Space(**SPACE), chunks={"gpus": 1}, outputs=OUTPUTS, store=tmp_path / "result.zarr")
    assert (partial / "notes.txt").read_text() == "mine"


def test_a_partial_of_another_evaluation_is_refused(tmp_path):
    partial = tmp_path / "result.zarr.partial"
    partial.mkdir()
    (partial / ".dsx-partial").write_text(json.dumps({"fingerprint": "0" * 16}))
    with pytest.raises(DsxInputError, match="another evaluation"):
        dsx.training(dsx.Space(**SPACE), chunks={"gpus": 1}, outputs=OUTPUTS, store=tmp_path / "result.zarr")
    assert os.listdir(partial) == [".dsx-partial"]


def test_an_existing_store_is_never_replaced(tmp_path):
    target = tmp_path / "result.zarr"
    target.mkdir()
    with pytest.raises(DsxInputError, match="exists"):
        dsx.training(dsx.Space(**SPACE), chunks={"gpus": 1}, outputs=OUTPUTS, store=target)
    assert target.is_dir() and not any(target.iterdir())
