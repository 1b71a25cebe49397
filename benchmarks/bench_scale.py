"""Scale: per-call overhead, configurations/s from 1e3 up to --max (default 1e6), and a sweep on a dask cluster.

    python benchmarks/bench_scale.py [--max 1e7] [--cluster 1e8] [--workers 2]
    python benchmarks/bench_scale.py --best 1e8        # the lazy 1e8 run reduced by dsx.best
    python benchmarks/bench_scale.py --resume 1e9      # a killed zarr run, rerun to completion

1. One configuration per call (an interactive use): milliseconds per ``dsx.training`` /
   ``dsx.serving`` call, and the share spent building the input Dataset and the result.
2. Configurations per second of the whole training stack at 1e3 … ``--max`` configurations,
   for a dense space (every axis long) and a sparse one (one long axis, the others fixed),
   beside the bare-numpy chain of the same kernels and the ratio dsx / bare.
3. ``--cluster N``: an N-configuration training sweep on a ``LocalCluster`` (``--workers``
   processes), ``chunks="auto"``, written to zarr from the workers (``store=``), then
   ``dsx.best`` and ``dsx.pareto`` on the lazy result: wall time of each step and the peak
   resident memory of the client and of each worker.

4. ``--best N``: ``dsx.best`` of an N-configuration ``dsx.training(space, chunks="auto")`` on a
   LocalCluster: tasks counted per worker (dask's task stream), peak memory of the client and
   of each worker, wall time. Nothing but the optima reaches the client.
5. ``--resume N``: the N-configuration run written to zarr (``store=``) in a child process
   (its own LocalCluster), killed with SIGKILL (the whole process group: client, scheduler and
   workers, as a pre-emption would) once ``--kill-at`` of the pieces are marked done; then the
   same call again, which must skip the finished pieces and complete. The resumed store is
   checked against pieces recomputed in this process (bit for bit, ``--check`` pieces chosen
   at random) and every piece must be marked before the rename.

Prints figures; asserts nothing. Needs the dask extra (``pip install -e '.[dask]'``).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

import dsx
from dsx.stacks import TRAINING, evaluate

SEED = dict(model="llama-3.1-70b", hardware="H100", gpus=512, tp=8)


def per_call(repeat: int = 50) -> None:
    space = dsx.Space(**SEED)
    serve = dsx.Space(model="llama-3.1-8b", hardware="H100")
    for label, fn in (("training", lambda: dsx.training(space)), ("serving", lambda: dsx.serving(serve))):
        fn()
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        total = (time.perf_counter() - t0) / repeat
        print(f"  one configuration, dsx.{label:<9s} {total * 1e3:7.2f} ms per call")
    t0 = time.perf_counter()
    for _ in range(repeat):
        ds = space.to_dataset()
    build_in = (time.perf_counter() - t0) / repeat
    t0 = time.perf_counter()
    for _ in range(repeat):
        evaluate(TRAINING, ds)
    stack = (time.perf_counter() - t0) / repeat
    print(f"    of which: Space.to_dataset {build_in * 1e3:.2f} ms, the solvers and the result Dataset "
          f"{stack * 1e3:.2f} ms")


def space_of(n: int, dense: bool) -> dsx.Space:
    """About n configurations: dense (six axes of similar length) or sparse (one long axis)."""
    if not dense:
        return dsx.Space(**{**SEED, "gpus": list(range(8, 8 + 8 * n, 8))})
    k = max(2, round(n ** (1 / 6)))
    return dsx.Space(model="llama-3.1-70b", hardware="H100", gpus=list(range(64, 64 + 64 * k, 64)),
                     tp=[1, 2, 4, 8, 16, 32, 64][: min(k, 7)], global_batch=list(range(256, 256 + 256 * k, 256)),
                     seq_len=list(range(1024, 1024 + 1024 * k, 1024)), pp=list(range(1, k + 1)),
                     micro_batch=list(range(1, k + 1)), train_tokens=1e12)


def rates(top: float) -> None:
    """Configurations/s of dsx.training (three outputs: the pruned stack) beside the bare-numpy chain
    of the same kernels (bench_stacks.bare_chain, on the same input Dataset), medians."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_stacks import bare_chain

    from dsx.prune import prune

    outputs = ["time_to_train", "tco", "carbon"]
    steps = prune(TRAINING, set(outputs))
    n = 1_000
    while n <= top:
        for dense in (False, True):
            space = space_of(n, dense)
            repeat = 5 if space.size < 1e6 else 1
            times, bare = [], []
            for _ in range(repeat):
                t0 = time.perf_counter()
                dsx.training(space, outputs=outputs)
                times.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                bare_chain(steps, space.to_dataset())
                bare.append(time.perf_counter() - t0)
            t, b = float(np.median(times)), float(np.median(bare))
            kind = "dense " if dense else "sparse"
            print(f"  {kind} {space.size:>12,} configurations  dsx {t:8.3f} s {space.size / t:>12,.0f} /s   "
                  f"bare numpy {b:8.3f} s {space.size / b:>12,.0f} /s   dsx/bare {t / b:5.2f}")
        n *= 10


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM on Linux; ru_maxrss elsewhere), in MB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cluster(n: float, workers: int) -> None:
    from dask.distributed import Client, LocalCluster

    k = max(2, round(n ** (1 / 7)))
    space = dsx.Space(model="llama-3.1-70b", hardware=["H100", "A100-80GB", "B200", "H200"][: min(k, 4)],
                      gpus=list(range(64, 64 + 64 * k, 64)), tp=[1, 2, 4, 8][: min(k, 4)],
                      pp=list(range(1, k + 1)), global_batch=list(range(256, 256 + 256 * k, 256)),
                      seq_len=list(range(1024, 1024 + 1024 * k, 1024)), micro_batch=list(range(1, k + 1)),
                      train_tokens=1e12)
    outputs = ["time_to_train", "tco", "carbon"]
    where = Path(tempfile.mkdtemp())
    with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=":0") as lc, Client(lc) as client:
        print(f"  {space.size:,} configurations on a LocalCluster of {workers} workers")
        t0 = time.perf_counter()
        lazy = dsx.training(space, chunks="auto", outputs=outputs)
        print(f"    lazy result built in {time.perf_counter() - t0:.2f} s "
              f"({np.prod([len(c) for c in lazy.chunks.values()]):,} pieces)")
        t0 = time.perf_counter()
        dsx.training(space, chunks="auto", outputs=outputs, store=where / "sweep.zarr")
        print(f"    written to zarr from the workers in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        b = dsx.best(lazy, minimize="time_to_train", over=["tp", "pp", "micro_batch"])
        print(f"    dsx.best in the graph: {time.perf_counter() - t0:.1f} s, {int(b.found.sum())} optima")
        t0 = time.perf_counter()
        front = dsx.pareto(lazy, minimize=["time_to_train", "tco", "carbon"])
        print(f"    dsx.pareto in the graph: {time.perf_counter() - t0:.1f} s (mask stays lazy: "
              f"{type(front.data).__name__})")
        peaks = client.run(_peak_mb)
        print(f"    peak resident memory: client {_peak_mb():,.0f} MB; workers "
              + ", ".join(f"{v:,.0f} MB" for v in peaks.values()))
    shutil.rmtree(where, ignore_errors=True)


def big_space(n: float) -> dsx.Space:
    """About n training configurations: four GPUs x four TP degrees x five axes of equal length."""
    m = max(2, round((n / 16) ** (1 / 5)))
    return dsx.Space(model="llama-3.1-70b", hardware=["H100", "A100-80GB", "B200", "H200"],
                     gpus=list(range(64, 64 + 64 * m, 64)), tp=[1, 2, 4, 8], pp=list(range(1, m + 1)),
                     global_batch=list(range(256, 256 + 256 * m, 256)),
                     seq_len=list(range(1024, 1024 + 1024 * m, 1024)), micro_batch=list(range(1, m + 1)),
                     train_tokens=1e12)


OUTPUTS = ["time_to_train", "tco", "carbon"]


def best_run(n: float, workers: int) -> None:
    """dsx.best of a lazy N-configuration result on a LocalCluster: where the tasks ran, memory."""
    from collections import Counter

    from dask.distributed import Client, LocalCluster, get_task_stream

    space = big_space(n)
    with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=":0") as lc, Client(lc) as client:
        t0 = time.perf_counter()
        lazy = dsx.training(space, chunks="auto", outputs=OUTPUTS)
        pieces = int(np.prod([len(c) for c in lazy.chunks.values()]))
        print(f"  {space.size:,} configurations, {pieces:,} pieces, LocalCluster of {workers} workers; "
              f"lazy result built in {time.perf_counter() - t0:.2f} s")
        t0 = time.perf_counter()
        with get_task_stream(client) as stream:
            b = dsx.best(lazy, minimize="time_to_train", over=["tp", "pp", "micro_batch"])
        wall = time.perf_counter() - t0
        where = Counter(t["worker"] for t in stream.data if "dsx-reduce" in str(t["key"]))
        print(f"    dsx.best in the graph: {wall:.1f} s ({space.size / wall:,.0f} configurations/s), "
              f"{int(b.found.sum()):,} optima of {b.found.size:,} groups, result {b.nbytes / 1e6:.2f} MB")
        print(f"    reduction tasks per worker: " + ", ".join(f"{w}: {c}" for w, c in sorted(where.items())))
        peaks = client.run(_peak_mb)
        print(f"    peak resident memory: client {_peak_mb():,.0f} MB; workers "
              + ", ".join(f"{v:,.0f} MB" for v in peaks.values()))


_CHILD = """
import sys
sys.path.insert(0, {here!r})
import dsx
from bench_scale import big_space, OUTPUTS
from dask.distributed import Client, LocalCluster
if __name__ == "__main__":
    with LocalCluster(n_workers={workers}, threads_per_worker=1, dashboard_address=":0") as lc, Client(lc):
        dsx.training(big_space({n!r}), chunks="auto", outputs=OUTPUTS, store=sys.argv[1])
"""


def resume_run(n: float, workers: int, kill_at: float, check: int) -> None:
    """A zarr run killed part way (SIGKILL of its process group), rerun; compared piece by piece."""
    import os
    import signal
    import subprocess
    import sys

    from dsx.lazy import pieces_of
    from dsx.stacks import TRAINING, evaluate

    space = big_space(n)
    plan = pieces_of(dsx.training(space, chunks="auto", outputs=OUTPUTS))
    total = len(plan.keys())
    where = Path(tempfile.mkdtemp(dir=os.environ.get("DSX_BENCH_DIR")))
    target = where / "sweep.zarr"
    done = where / "sweep.zarr.partial" / ".dsx-done"
    script = _CHILD.format(here=str(Path(__file__).parent), workers=workers, n=n)
    print(f"  {space.size:,} configurations, {total:,} pieces, store {target}")
    t0 = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", script, str(target)], start_new_session=True)
    while child.poll() is None and (len(os.listdir(done)) if done.is_dir() else 0) < kill_at * total:
        time.sleep(0.5)
    first = time.perf_counter() - t0
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    marked = len(os.listdir(done)) if done.is_dir() else 0
    print(f"    first run SIGKILLed after {first:.1f} s with {marked:,} of {total:,} pieces marked done")
    t0 = time.perf_counter()
    rerun = subprocess.run([sys.executable, "-c", script, str(target)], start_new_session=True)
    second = time.perf_counter() - t0
    print(f"    rerun: exit {rerun.returncode} in {second:.1f} s; store complete: {target.is_dir()}, "
          f"partial left: {(where / 'sweep.zarr.partial').exists()}")
    stored = xr.open_zarr(target, zarr_format=2)
    rng = np.random.default_rng(0)
    keys = plan.keys()
    bad = 0
    for i in rng.choice(len(keys), size=min(check, len(keys)), replace=False):
        key = keys[i]
        sub = plan.space(key)
        want = evaluate(TRAINING, sub.to_dataset())
        at = {a: plan.cuts[a][j] for a, j in zip(plan.split, key[1:])}
        for name in OUTPUTS:
            got = stored[name].isel({a: s for a, s in at.items() if a in stored[name].dims}).values
            ref = want[name].transpose(*[d for d in stored[name].dims if d in want[name].dims]).values
            bad += not np.array_equal(np.broadcast_to(ref, got.shape), got, equal_nan=True)
    print(f"    {min(check, len(keys))} pieces recomputed here and compared with the resumed store "
          f"(outputs {', '.join(OUTPUTS)}): {bad} differ")
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    print(f"    store size {size / 1e9:.2f} GB; total wall {first + second:.0f} s")
    shutil.rmtree(where, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max", type=float, default=1e6, help="largest space of the rate table")
    ap.add_argument("--cluster", type=float, default=0, help="configurations of the LocalCluster sweep (0: skip)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--best", type=float, default=0, help="configurations of the lazy dsx.best run (0: skip)")
    ap.add_argument("--resume", type=float, default=0, help="configurations of the killed zarr run (0: skip)")
    ap.add_argument("--kill-at", type=float, default=0.4, help="share of pieces done when the run is killed")
    ap.add_argument("--check", type=int, default=8, help="pieces recomputed to check the resumed store")
    args = ap.parse_args()
    if args.best or args.resume:
        if args.best:
            print("lazy dsx.best on a LocalCluster")
            best_run(args.best, args.workers)
        if args.resume:
            print("zarr run killed part way, then resumed")
            resume_run(args.resume, args.workers, args.kill_at, args.check)
        return
    if args.cluster:  # first, so that the client's peak memory is the sweep's alone
        print("dask cluster")
        cluster(args.cluster, args.workers)
    print("per-call overhead (mean of 50 calls)")
    per_call()
    print("whole training stack, outputs time_to_train, tco, carbon (median of 5 below 1e6, else 1 run)")
    rates(args.max)


if __name__ == "__main__":
    main()
