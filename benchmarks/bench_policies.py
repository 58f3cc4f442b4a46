"""Trace-simulation throughput per policy: our kernels, our Python classes, libCacheSim.

Run: ``.venv/bin/python benchmarks/bench_policies.py [--requests N] [--python-requests N] [--stream N]``.

``--stream N`` (e.g. 10,000,000) writes a seeded Zipf oracleGeneral file of N requests chunk by chunk
and times the whole streamed run (:func:`supreme.cache.traces.scale.simulate_stream`: read, id
mapping, LRU kernel) against libCacheSim's ``process_trace`` on the same file, with the peak RSS.
A seeded Zipf trace (alpha 1.0, 100k objects, 1M requests) and the cloudPhysicsIO
sample; cache size 10 % of the objects, object sizes ignored.  Policies without a kernel (GDSF,
LIRS, LeCaR, Hyperbolic, Cacheus) run their Python class once over the whole trace (its rate in the python
column).  libCacheSim is timed in the same run on the same requests (written to a temporary
oracleGeneral file, read through its C reader); figures are requests/second.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from supreme.cache.kernels import KERNELS
from supreme.cache.policies import POLICIES
from supreme.cache.trace import Trace, load_trace, save_trace
from supreme.cache.traces import simulate

LCS = {"lru": "LRU", "fifo": "FIFO", "lfu": "LFU", "clock": "Clock", "arc": "ARC", "sieve": "Sieve",
       "s3fifo": "S3FIFO", "wtinylfu": "WTinyLFU", "opt": "Belady", "twoq": "TwoQ", "gdsf": "GDSF",
       "lirs": "LIRS", "lecar": "LeCaR", "hyperbolic": "Hyperbolic", "cacheus": "Cacheus"}


def zipf(n: int, n_obj: int, alpha: float, seed: int) -> Trace:
    rng = np.random.default_rng(seed)
    w = 1.0 / np.arange(1, n_obj + 1) ** alpha
    return Trace.from_ids(rng.choice(n_obj, size=n, p=w / w.sum()))


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def libcachesim_rate(path: str, name: str, size: int, n: int) -> tuple[float, float]:
    import libcachesim as lcs

    def run() -> float:
        reader = lcs.TraceReader(path, lcs.TraceType.ORACLE_GENERAL_TRACE,
                                 lcs.ReaderInitParam(ignore_obj_size=True))
        return float(getattr(lcs, LCS[name])(cache_size=size).process_trace(reader)[0])

    dt, mr = best_of(run)
    return n / dt, float(mr)  # type: ignore[arg-type]


def bench(label: str, trace: Trace, size: int, python_n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(save_trace(trace, Path(tmp) / "t.oracleGeneral.bin"))
        short = Trace(trace.time[:python_n], trace.obj_id[:python_n], trace.obj_size[:python_n])
        print(f"\n{label}: {len(trace):,} requests, {len(np.unique(trace.obj_id)):,} objects, size {size}")
        print(f"{'policy':<10}{'kernel req/s':>14}{'python req/s':>14}{'libCacheSim':>14}"
              f"{'kernel/lcs':>12}{'miss(ours)':>12}{'miss(lcs)':>11}")
        for name in POLICIES:
            twin = LCS.get(name)
            l_rate, l_mr = libcachesim_rate(path, name, size, len(trace)) if twin else (0.0, float("nan"))
            if name not in KERNELS:  # a class-only policy: one run of its Python class, whole trace
                dt, res = best_of(lambda n=name: simulate(trace, n, size), repeat=1)
                print(f"{name:<10}{'-':>14}{len(trace) / dt:>14,.0f}{l_rate:>14,.0f}{'-':>12}"
                      f"{res.miss_ratio:>12.4f}{l_mr:>11.4f}")  # type: ignore[attr-defined]
                continue
            simulate(short, name, size)  # compile or load the numba cache first
            dt, res = best_of(lambda n=name: simulate(trace, n, size))
            k_rate = len(trace) / dt
            p_dt, _ = best_of(lambda n=name: simulate(short, n, size, engine="python"), repeat=1)
            p_rate = len(short) / p_dt
            ratio = f"{k_rate / l_rate:>12.2f}" if l_rate else f"{'-':>12}"
            print(f"{name:<10}{k_rate:>14,.0f}{p_rate:>14,.0f}{l_rate:>14,.0f}{ratio}"
                  f"{res.miss_ratio:>12.4f}{l_mr:>11.4f}")  # type: ignore[attr-defined]


def write_zipf_file(path: Path, n: int, n_obj: int, seed: int, chunk: int = 1 << 20) -> None:
    """A Zipf(1.0) oracleGeneral file of ``n`` requests, written chunk by chunk (never held whole)."""
    from supreme.cache.trace import ORACLE_DTYPE

    rng = np.random.default_rng(seed)
    w = 1.0 / np.arange(1, n_obj + 1)
    p = w / w.sum()
    with path.open("wb") as fh:
        for i in range(0, n, chunk):
            m = min(chunk, n - i)
            rec = np.zeros(m, ORACLE_DTYPE)
            rec["time"] = np.arange(i, i + m) // 1000
            rec["obj_id"] = rng.choice(n_obj, size=m, p=p).astype(np.uint64) + np.uint64(1)
            rec["obj_size"] = 1
            rec["next"] = -1
            fh.write(rec.tobytes())


def bench_stream(n: int, n_obj: int) -> None:
    """The whole streamed command path on an ``n``-request file vs libCacheSim's process_trace."""
    import resource

    from supreme.cache.traces.scale import simulate_stream, stream_chunks

    size = n_obj // 10
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "zipf.oracleGeneral.bin"
        write_zipf_file(path, n, n_obj, seed=7)
        simulate_stream(stream_chunks(path), "lru", size, limit=1000)  # load the compiled code first
        t0 = time.perf_counter()
        res = simulate_stream(stream_chunks(path), "lru", size)
        ours = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        l_rate, l_mr = libcachesim_rate(str(path), "lru", size, n)
    print(f"\nstreamed LRU over {n:,} requests ({n_obj:,} objects, size {size}): {n / ours:,.0f} requests/s "
          f"({ours:.2f} s), libCacheSim process_trace {l_rate:,.0f} requests/s; "
          f"ours/lcs {n / ours / l_rate:.2f}; "
          f"miss {res.miss_ratio:.4f} vs {l_mr:.4f}; peak RSS {rss:,.0f} MiB (before libCacheSim ran)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--objects", type=int, default=100_000)
    ap.add_argument("--python-requests", type=int, default=200_000,
                    help="prefix of the trace replayed through the Python classes (they are slow)")
    ap.add_argument("--stream", type=int, default=0, help="also time a streamed run over this many requests")
    args = ap.parse_args()
    if args.stream:
        bench_stream(args.stream, args.objects * 10)
        return
    z = zipf(args.requests, args.objects, 1.0, seed=42)
    bench("Zipf(1.0)", z, args.objects // 10, args.python_requests)
    cloud = Path(__file__).resolve().parents[2] / "shared" / "traces" / "cloudPhysicsIO.oracleGeneral.bin"
    if cloud.exists():
        bench("cloudPhysicsIO", load_trace(cloud), 5000, args.python_requests)
    else:
        print(f"\n(cloudPhysicsIO not found at {cloud}; skipped)")
    print("\nkernel time includes id remapping (np.unique) and result counting; libCacheSim's includes "
          "reading the binary trace.")


if __name__ == "__main__":
    main()
