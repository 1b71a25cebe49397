"""Pareto-front speed on 1,000,000 configurations (2 and 3 objectives); prints seconds.

Run: python benchmarks/bench_pareto.py [n]
Not a test: nothing is asserted; the numbers depend on the machine.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import xarray as xr

from dsx.analysis import best, pareto


def dataset(n: int, seed: int = 0) -> xr.Dataset:
    """A synthetic result shaped like a sweep: hardware x gpus x tp x pp x batch (n points)."""
    rng = np.random.default_rng(seed)
    shape = {"hardware": 10, "gpus": 10, "tp": 10, "pp": 10, "global_batch": max(1, n // 10_000)}
    dims = tuple(shape)
    size = tuple(shape.values())
    gpus = np.geomspace(8, 4096, shape["gpus"])[None, :, None, None, None]
    step = rng.lognormal(0.0, 0.5, size) / gpus
    return xr.Dataset(
        {"step_time": (dims, step, {"units": "s"}),
         "capex": (("hardware", "gpus"), rng.lognormal(0, 0.2, size[:2]) * gpus[0, :, 0, 0, 0], {"units": "USD"}),
         "carbon": (dims, rng.lognormal(0, 1.0, size), {"units": "gCO2e"}),
         "feasible": (dims, rng.random(size) > 0.1)},
        coords={d: np.arange(s) for d, s in shape.items()})


def timed(label: str, fn, repeat: int = 3, front: bool = True) -> None:
    best_s = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best_s = min(best_s, time.perf_counter() - t0)
    extra = f", {int(out.sum())} on the front" if front else ""
    print(f"{label:<58s} {best_s:7.3f} s{extra}")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    ds = dataset(n)
    size = int(np.prod(list(ds.sizes.values())))
    print(f"dsx.pareto on {size:,} configurations (best of 3)")
    timed("2 objectives (step_time, capex)", lambda: pareto(ds, minimize=["step_time", "capex"]))
    timed("3 objectives (step_time, capex, carbon)", lambda: pareto(ds, minimize=["step_time", "capex", "carbon"]))
    timed("3 objectives, one front per hardware", lambda: pareto(ds, minimize=["step_time", "capex", "carbon"],
                                                                  over=["gpus", "tp", "pp", "global_batch"]))
    rng = np.random.default_rng(1)
    for k in (2, 3):
        pts = xr.Dataset({f"o{j}": ("cfg", rng.random(n)) for j in range(k)})
        timed(f"{k} objectives, independent uniform values", lambda: pareto(pts, minimize=list(pts.data_vars)))
    timed("best step_time over (tp, pp) per (hardware, gpus, batch)",
          lambda: best(ds, minimize="step_time", over=["tp", "pp"]).found, front=False)
    m = 100_000  # every point on the front: the quadratic worst case of a filter method
    plane = rng.random((m, 3))
    plane[:, 2] = 3 - plane[:, 0] - plane[:, 1]
    worst = xr.Dataset({f"o{j}": ("cfg", plane[:, j]) for j in range(3)})
    cloud = xr.Dataset({f"o{j}": ("cfg", rng.random(m)) for j in range(3)})
    timed(f"3 objectives, {m:,} uniform points", lambda: pareto(cloud, minimize=["o0", "o1", "o2"]))
    timed(f"3 objectives, all {m:,} points on the front (simplex)",
          lambda: pareto(worst, minimize=["o0", "o1", "o2"]))

if __name__ == "__main__":
    main()
