"""Cost of uncertainty: draws=1000 on a 10,000-configuration space vs a single evaluation.

    python benchmarks/bench_draws.py [--draws 1000] [--chunk 2000000]

The space: 10,000 training configurations (model x gpus x tp x pp x global_batch x region).
With draws, every variable that depends on an uncertain input gains a ``draw`` axis, so the
work grows with the draws only where it has to. Memory stays bounded by chunking: each chunk
holds at most ``--chunk`` configuration-draws, and each chunk is reduced to the 10th, 50th
and 90th percentiles of the key figures before the next one runs (what a decision needs).

Prints wall time, the cost ratio (target: no more than ~draws x a single draw) and the peak
resident memory of the process; asserts nothing.
"""

from __future__ import annotations

import argparse
import resource
import time

import xarray as xr

import dsx
from dsx import stacks
from dsx.uncertainty import DIM

KEYS = ["step_time", "time_to_train", "wall_time", "energy", "carbon", "tco"]


def space() -> dsx.Space:
    return dsx.Space(model=["llama-3.1-8b", "llama-3.1-70b"], hardware="H100",
                     gpus=[64, 128, 256, 512, 1024], tp=[1, 2, 4, 8, 16], pp=[1, 2, 4, 8, 16],
                     global_batch=[256, 512, 1024, 2048, 4096], region=["quebec", "poland", "us-average", "france"],
                     seq_len=[2048, 4096], train_tokens=1e12)


def reduced(ds: xr.Dataset) -> xr.Dataset:
    keep = ds[[k for k in KEYS if k in ds] + ["feasible"]]
    if DIM not in keep.dims:
        return keep
    return keep.quantile([0.1, 0.5, 0.9], dim=DIM)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--chunk", type=int, default=2_000_000, help="configuration-draws per chunk")
    args = ap.parse_args()
    sp = space()
    print(f"space: {sp.size:,} configurations")
    t = time.perf_counter()
    one = dsx.training(sp, outputs=KEYS)
    t1 = time.perf_counter() - t
    print(f"single evaluation: {t1:.2f} s")
    run = lambda s: stacks.evaluate(stacks.TRAINING, s)  # noqa: E731
    sampler = dsx.uncertainty.sampler(stacks.TRAINING, sp, args.draws, 0, None)
    t = time.perf_counter()
    out = stacks.chunked(lambda s: run(sampler(s.to_dataset())), sp, max(args.chunk // args.draws, 1),
                         finish=reduced)
    tn = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"draws={args.draws}: {tn:.1f} s = {tn / t1:.0f}x a single evaluation "
          f"({tn / t1 / args.draws:.2f}x per draw); peak RSS {peak:.2f} GiB; "
          f"chunks of {max(args.chunk // args.draws, 1):,} configurations")
    wt = out.wall_time.sel(quantile=[0.1, 0.9]) / one.wall_time.broadcast_like(out.wall_time.isel(quantile=0))
    print(f"80 % interval of wall time relative to the single evaluation: "
          f"{float(wt.sel(quantile=0.1).median()):.3f} - {float(wt.sel(quantile=0.9).median()):.3f} (median over configurations)")


if __name__ == "__main__":
    main()
