"""Configurations per second: dsx (vectorized) vs mlsysim 0.1.1 (per configuration).

    python benchmarks/bench_stacks.py [--mlsysim-python PATH] [--sample N] [--repeat R]

1. compute + memory (model shape, layout, roofline, memory) over a >= 1,000,000-configuration space;
2. the whole training stack (to cost and carbon) over a >= 100,000-configuration space of
   hardware x gpus x tp x pp x global_batch x precision x region;
3. mlsysim 0.1.1 on a random sample of the same configurations, in its own environment:
   ``SingleNodeModel.solve`` (vs 1) and ``DistributedModel + EconomicsModel +
   SustainabilityModel`` (vs 2). mlsysim is never a dependency of dsx: give its interpreter
   with --mlsysim-python or MLSYSIM_PYTHON, or let this script create
   ``benchmarks/.mlsysim-venv`` (``pip install mlsysim==0.1.1``).

Also: one configuration per call (milliseconds), and the training stack beside the bare-numpy
chain of its kernels (:func:`bare_chain`), with the ratio. Times are medians of ``--repeat`` runs.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import dsx
from dsx import stacks
from dsx.solvers import compute, layout, memory, model

HERE = Path(__file__).parent

COMPUTE_MEMORY = (model.model_shape, layout.layout, compute.training_compute, memory.training_memory)

BIG = dict(  # 2 x 5 x 8 x 4 x 4 x 5 x 4 x 5 x 2 x 3 x 2 = 1,536,000 configurations (compute + memory)
    model=["llama-3.1-8b", "llama-3.1-70b"],
    hardware=["H100", "A100-80GB", "B200", "H200", "MI300X"],
    gpus=[64, 128, 256, 512, 1024, 2048, 4096, 8192],
    tp=[1, 2, 4, 8], pp=[1, 2, 4, 8],
    global_batch=[256, 512, 1024, 2048, 4096],
    micro_batch=[1, 2, 4, 8], seq_len=[1024, 2048, 4096, 8192, 16384],
    precision=["bf16", "fp8"], recompute=["none", "selective", "full"], cp=[1, 2],
)
TRAIN = dict(  # 2 x 5 x 8 x 4 x 4 x 5 x 2 x 4 x 3 = 153,600 configurations (whole training stack)
    model=["llama-3.1-8b", "llama-3.1-70b"],
    hardware=["H100", "A100-80GB", "B200", "H200", "MI300X"],
    gpus=[64, 128, 256, 512, 1024, 2048, 4096, 8192],
    tp=[1, 2, 4, 8], pp=[1, 2, 4, 8],
    global_batch=[256, 512, 1024, 2048, 4096],
    precision=["bf16", "fp8"],
    region=["quebec", "poland", "norway", "us-average"],
    seq_len=[2048, 4096, 8192], scale_out_fabric="ib-ndr", train_tokens=1e12,
)
SERVE = dict(  # 2 x 5 x 4 x 11 x 4 x 4 x 2 x 2 x 4 = 112,640 configurations (whole serving stack)
    model=["llama-3.1-8b", "llama-3.1-70b"],
    hardware=["H100", "H200", "B200", "MI300X", "A100-80GB"],
    tp=[1, 2, 4, 8], batch=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    input_len=[128, 512, 2048, 8192], output_len=[64, 256, 1024, 4096],
    precision=["bf16", "fp8"], region=["quebec", "poland"], arrival_rate=[0.0, 1.0, 5.0, 20.0],
)


def best_of(fn, repeat):
    """(median seconds over ``repeat`` runs after a warm-up, last result): the machine may be shared."""
    out = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def bare_chain(steps, ds):
    """The same kernels, called in order on plain numpy arrays: dsx without its labelled layer.

    Every input is transposed to the Dataset's dimension order and given length-1 axes (numpy
    broadcasting = xarray's), each solver's ``kernel`` runs on the arrays (categorical helpers
    in code mode, as inside a stack), and the last two steps are their numpy one-liners: a
    feasible configuration with a non-finite core outcome becomes infeasible, and every outcome
    is NaN where infeasible. No Dataset, no attributes, no dimension bookkeeping.
    """
    import inspect

    from dsx import codes
    from dsx.solvers import outcomes

    order = list(ds.dims)
    arrays = {}
    for name, var in ds.variables.items():
        data = var.transpose(*[d for d in order if d in var.dims]).values
        arrays[name] = data[()] if data.ndim == 0 else data.reshape(
            [ds.sizes[d] if d in var.dims else 1 for d in order])
    token = codes.coded_mode.set(True)
    try:
        with np.errstate(all="ignore"):
            for step in steps:
                if step is outcomes.finite_outcomes:
                    finite = np.ones((), bool)
                    for name in outcomes.CORE:
                        if name in arrays and np.asarray(arrays[name]).dtype.kind == "f":
                            finite = finite & np.isfinite(arrays[name])
                    arrays["feasible"] = arrays["feasible"] & finite
                elif step.__name__ == "mask_infeasible":  # the whole list, or the kept ones (outputs=)
                    ok = np.asarray(arrays["feasible"], bool)
                    for name in step.uses[1:]:
                        if name in arrays and np.asarray(arrays[name]).dtype.kind == "f":
                            arrays[name] = np.where(ok, arrays[name], np.nan)
                else:
                    params = inspect.signature(step).parameters
                    arrays.update(step.kernel(**{p: arrays[p] for p in params if p in arrays}))
    finally:
        codes.coded_mode.reset(token)
    return arrays


def sample_configs(axes: dict, n: int, rng) -> list[dict]:
    lists = {k: v for k, v in axes.items() if isinstance(v, list)}
    fixed = {k: v for k, v in axes.items() if not isinstance(v, list)}
    out = []
    for _ in range(n):
        c = {k: v[rng.integers(len(v))] for k, v in lists.items()}
        c.update(fixed)
        c.setdefault("micro_batch", 1)
        c.setdefault("seq_len", 2048)
        c.setdefault("model", "llama-3.1-70b")
        c.setdefault("region", "quebec")
        c["hardware"] = dsx.catalog.resolve("hardware", c["hardware"])
        out.append({k: (v.item() if hasattr(v, "item") else v) for k, v in c.items()})
    return out


def mlsysim_python(arg: str | None) -> str | None:
    cand = arg or os.environ.get("MLSYSIM_PYTHON")
    if cand:
        return cand
    venv = HERE / ".mlsysim-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        print("creating benchmarks/.mlsysim-venv with mlsysim==0.1.1 ...", file=sys.stderr)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(py), "-m", "pip", "install", "-q", "mlsysim==0.1.1"], check=True)
        except subprocess.CalledProcessError as exc:
            print(f"could not install mlsysim ({exc}); skipping the comparison", file=sys.stderr)
            return None
    return str(py)


def auto_pieces() -> None:
    """The pieces ``chunks="auto"`` cuts a 15.36 M-configuration training space into (the bench space
    with 800 ``gpus`` values), sized by the measured footprint of the (pruned) stack: no evaluation
    beyond the probe."""
    import math

    from dsx import footprint, lazy
    from dsx.prune import prune

    big = dsx.Space(**{**TRAIN, "gpus": [64 * k for k in range(1, 801)]})
    for outs in (None, ["time_to_train", "tco", "carbon"]):
        steps = stacks.TRAINING if outs is None else prune(stacks.TRAINING, set(outs) | {"feasible", "reason"})
        template = stacks.evaluate(steps, lazy._probe(big).to_dataset())
        lengths = lazy.piece_lengths(big, "auto", template)
        n, peak = math.prod(lengths.values()), footprint.of(template).working(lengths)
        print(f"chunks='auto', {'every output' if outs is None else f'outputs={outs}'}: {big.size:,} configurations "
              f"-> pieces of {n:,} ({peak / 2**20:.0f} MiB measured peak, {peak / n:.0f} B/configuration; "
              f"task target {lazy.TASK_BYTES / 2**20:.0f} MiB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mlsysim-python", default=None)
    ap.add_argument("--sample", type=int, default=200, help="mlsysim configurations to time")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    one = dsx.Space(model="llama-3.1-70b", hardware="H100", gpus=512, tp=8)
    one_serve = dsx.Space(model="llama-3.1-8b", hardware="H100")
    for label, fn in (("dsx.training", lambda: dsx.training(one)), ("dsx.serving", lambda: dsx.serving(one_serve))):
        wall, _ = best_of(fn, 20 * args.repeat)
        fn()
        cpu = []
        for _ in range(20 * args.repeat):
            t0 = time.process_time()
            fn()
            cpu.append(time.process_time() - t0)
        print(f"one configuration per call, {label}: {wall * 1e3:.2f} ms wall, {np.median(cpu) * 1e3:.2f} ms CPU "
              f"(medians of {20 * args.repeat}; CPU time is the figure to trust on a shared machine)")

    auto_pieces()

    space = dsx.Space(**BIG)
    t_build, ds_in = best_of(space.to_dataset, args.repeat)
    t_cm, _ = best_of(lambda: stacks.evaluate(COMPUTE_MEMORY, space.to_dataset()), args.repeat)
    print(f"compute+memory: {space.size:,} configurations in {t_cm:.3f} s "
          f"-> {space.size / t_cm:,.0f} configurations/s (incl. Space.to_dataset {t_build:.3f} s)")

    tspace = dsx.Space(**TRAIN)
    t_tr, ds = best_of(lambda: dsx.training(tspace), args.repeat)
    t_in, tin = best_of(tspace.to_dataset, args.repeat)
    t_bare, _ = best_of(lambda: bare_chain(stacks.TRAINING, tin), args.repeat)
    print(f"training stack: {tspace.size:,} configurations in {t_tr:.3f} s "
          f"-> {tspace.size / t_tr:,.0f} configurations/s; result {ds.nbytes / 1e6:.1f} MB "
          f"({ds.nbytes / tspace.size:.0f} B/configuration), {len(ds.data_vars)} variables")
    print(f"  bare-numpy chain of the same kernels: {t_bare:.3f} s -> {tspace.size / t_bare:,.0f} configurations/s "
          f"(+ Space.to_dataset {t_in:.3f} s); dsx / bare = {t_tr / (t_bare + t_in):.2f}")
    outs = ["time_to_train", "tco", "carbon"]
    t_out, _ = best_of(lambda: dsx.training(tspace, outputs=outs), args.repeat)
    print(f"  outputs={outs}: {t_out:.3f} s -> {tspace.size / t_out:,.0f} configurations/s (pruned stack)")

    sspace = dsx.Space(**SERVE)
    t_sv, ds = best_of(lambda: dsx.serving(sspace), args.repeat)
    print(f"serving stack:  {sspace.size:,} configurations in {t_sv:.3f} s "
          f"-> {sspace.size / t_sv:,.0f} configurations/s; result {ds.nbytes / 1e6:.1f} MB")

    py = mlsysim_python(args.mlsysim_python)
    if py is None:
        return
    rng = np.random.default_rng(0)
    configs = sample_configs(TRAIN, args.sample, rng)
    try:
        proc = subprocess.run([py, str(HERE / "mlsysim_side.py")], input=json.dumps(configs),
                              capture_output=True, text=True)
    except OSError as exc:
        print(f"cannot run mlsysim's interpreter {py!r} ({exc}); skipping the comparison", file=sys.stderr)
        return
    if proc.returncode != 0:
        print("mlsysim run failed:\n" + proc.stderr[-2000:], file=sys.stderr)
        return
    res = json.loads(proc.stdout)
    sn = float(np.median(res["single_node_us"]))
    fl = float(np.median(res["fleet_us"]))
    dsx_cm_us = t_cm / space.size * 1e6
    dsx_tr_us = t_tr / tspace.size * 1e6
    print(f"mlsysim {res['version']} SingleNodeModel.solve: {sn:,.0f} us/configuration "
          f"({1e6 / sn:,.0f}/s) on {len(configs)} sampled configurations")
    print(f"mlsysim DistributedModel+EconomicsModel+SustainabilityModel: {fl:,.0f} us/configuration "
          f"({1e6 / fl:,.0f}/s)")
    print(f"ratio compute+memory: dsx is {sn / dsx_cm_us:,.0f}x faster per configuration")
    print(f"ratio training stack (dsx does more: + reliability, water, cloud cost...): "
          f"dsx is {fl / dsx_tr_us:,.0f}x faster per configuration")


if __name__ == "__main__":
    main()
