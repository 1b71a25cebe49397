"""Pareto-front speed on 1,000,000 configurations (2 and 3 objectives); prints seconds.

Run: python benchmarks/bench_pareto.py [n]
     python benchmarks/bench_pareto.py --compare    # dsx against moocore, paretoset, pymoo
Not a test: nothing is asserted; the numbers depend on the machine.

``--compare`` times the bare kernels on 1e4 and 1e5 points with k = 2, 3, 4 objectives, for
uniform points (few on the front) and points on a simplex (every point on the front: the
worst case of a filter method), and checks that every library finds the same front. The other
libraries are not dependencies of dsx: install them in a separate environment
(``pip install moocore paretoset pymoo``); a missing one is reported and skipped. A library
that took more than ``BUDGET`` seconds at 1e4 points is not run at 1e5 (its quadratic
worst case would take about 100 times as long); the line says so.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import xarray as xr

from dsx.analysis import best, pareto, pareto_kernel


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

BUDGET = 3.0  # seconds at 1e4 points above which a library is not run at 1e5


def _libraries() -> dict:
    libs = {"dsx": lambda p: pareto_kernel(p)}
    try:
        import moocore

        libs["moocore"] = lambda p: np.asarray(moocore.is_nondominated(p, keep_weakly=True))
    except ImportError:
        print("moocore: not installed (pip install moocore)")
    try:
        from paretoset import paretoset

        libs["paretoset"] = lambda p: np.asarray(paretoset(p, sense=["min"] * p.shape[1], distinct=False))
    except ImportError:
        print("paretoset: not installed (pip install paretoset)")
    try:
        from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

        def pymoo_front(p: np.ndarray) -> np.ndarray:
            out = np.zeros(len(p), bool)
            out[NonDominatedSorting().do(p, only_non_dominated_front=True)] = True
            return out

        libs["pymoo"] = pymoo_front
    except ImportError:
        print("pymoo: not installed (pip install pymoo)")
    return libs


def compare() -> None:
    libs = _libraries()
    rng = np.random.default_rng(0)
    for fn in libs.values():  # compile once (numba, caches) outside the timings
        for k in (2, 3, 4):
            fn(rng.random((300, k)))
    slow: set = set()
    print(f"{'points':>8s} {'k':>2s} {'shape':<8s} {'front':>7s}  " + "  ".join(f"{n:>10s}" for n in libs))
    for n in (10_000, 100_000):
        for k in (2, 3, 4):
            for shape in ("uniform", "simplex"):
                p = rng.random((n, k))
                if shape == "simplex":  # sum of objectives constant: no point dominates another
                    p /= p.sum(axis=1, keepdims=True)
                ref, cells = None, []
                for name, fn in libs.items():
                    if (name, k, shape) in slow:
                        cells.append(f"{'skipped':>10s}")
                        continue
                    t0 = time.perf_counter()
                    got = fn(p)
                    dt = time.perf_counter() - t0
                    ref = got if ref is None else ref
                    agree = "" if np.array_equal(got, ref) else "!"
                    cells.append(f"{dt:9.3f}s{agree}")
                    if n == 10_000 and dt > BUDGET:
                        slow.add((name, k, shape))
                print(f"{n:>8,} {k:>2d} {shape:<8s} {int(ref.sum()):>7,}  " + "  ".join(cells))
    print("('!': a front different from dsx's; 'skipped': over %.0f s at 1e4 points)" % BUDGET)


if __name__ == "__main__":
    if "--compare" in sys.argv[1:]:
        compare()
    else:
        main()
