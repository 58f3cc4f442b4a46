"""One-pass LRU miss-ratio curve vs per-size LRU runs, and SHARDS' error, on a seeded Zipf trace.

Run: ``.venv/bin/python benchmarks/bench_mrc.py [--requests N] [--objects K] [--alpha A] [--relabel K]``.
Default: 10M requests over 1M objects, Zipf(1.0), seed 42.  Prints, measured in the same run:

* the exact one-pass LRU curve (:func:`supreme.cache.mrc.lru_mrc`) at 100 log-spaced sizes, against
  3 per-size LRU runs of the compiled kernel (:func:`supreme.cache.traces.simulate`), both from the
  trace in memory (each including its id remapping), and whether the curve equals those 3 runs;
* SHARDS at fixed rate 0.01 (adjusted), stratified SHARDS at that rate (without and with a take-all
  head of ``--head`` objects, :mod:`supreme.cache.mrc.stratified`) and fixed size: requests through
  the stack pass, time, speed-up over the exact curve, mean and max absolute error of the miss
  ratio over the 100 sizes against the exact curve;
* with ``--relabel K``: the fixed-rate estimators again over K seeded random relabellings of the
  object ids (the same trace shape and exact curve, another draw of sampled objects), MAE mean/max.

Sizes run from 0.1 % of the objects to all of them (``auto_sizes``).  Best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from supreme.cache.mrc import compare_curves, lru_mrc, shards_mrc
from supreme.cache.mrc.shards import HASH_SPACE, hash53
from supreme.cache.mrc.stratified import stratified_weights
from supreme.cache.trace import Trace
from supreme.cache.traces import auto_sizes, simulate


def zipf(n: int, n_obj: int, alpha: float, seed: int) -> Trace:
    """``n`` requests over ``n_obj`` objects, object ``k`` with probability proportional to 1/k^alpha."""
    rng = np.random.default_rng(seed)
    w = 1.0 / np.arange(1, n_obj + 1) ** alpha
    return Trace.from_ids(rng.choice(n_obj, size=n, p=w / w.sum()))


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The shortest wall time of ``repeat`` calls, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def relabel(trace: Trace, seed: int) -> Trace:
    """The same requests with the object ids permuted at random (a different SHARDS sample)."""
    perm = np.random.default_rng(seed).permutation(int(trace.obj_id.max()) + 1)
    return Trace.from_ids(perm[trace.obj_id])


def kept_requests(trace: Trace, kw: dict[str, Any]) -> int:
    """Requests the estimator ``kw`` sends through its stack pass."""
    if "s_max" in kw:
        return len(trace)  # fixed size hashes every request; those above the threshold skip the tree
    ids, uniques = pd.factorize(trace.obj_id, sort=False)
    sampled = hash53(np.asarray(uniques)) < int(kw["rate"] * HASH_SPACE)
    if not kw.get("stratify"):
        return int(sampled[ids].sum())
    weight = stratified_weights(np.bincount(ids), sampled, kw["rate"], kw.get("head", 0))
    return int((weight[ids] > 0).sum())


def main() -> None:
    """Print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=10_000_000)
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--points", type=int, default=100)
    ap.add_argument("--rate", type=float, default=0.01)
    ap.add_argument("--s-max", type=int, default=10_000)
    ap.add_argument("--head", type=int, default=100, help="take-all head of stratified SHARDS")
    ap.add_argument("--relabel", type=int, default=0, help="repeat the rate estimates over K relabellings")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    small = zipf(5000, 500, args.alpha, seed=1)  # compile (or load) the kernels outside the timings
    lru_mrc(small, [10, 100])
    shards_mrc(small, [10, 100], s_max=100)
    shards_mrc(small, [10, 100], rate=0.5, stratify=True, head=3)
    simulate(small, "lru", 10)

    t0 = time.perf_counter()
    trace = zipf(args.requests, args.objects, args.alpha, seed=42)
    print(f"Zipf({args.alpha}) trace: {len(trace):,} requests over {args.objects:,} objects "
          f"(generated in {time.perf_counter() - t0:.1f} s)")
    sizes = auto_sizes(trace, args.points)
    probe = [sizes[len(sizes) // 4], sizes[len(sizes) // 2], sizes[3 * len(sizes) // 4]]

    t_curve, exact = best_of(lambda: lru_mrc(trace, sizes), args.repeat)
    t_runs, runs = best_of(lambda: [simulate(trace, "lru", s) for s in probe], args.repeat)
    at_probe = exact.set_index("size").loc[probe, "hits"].tolist()
    rate = len(trace) / t_curve
    print(f"\none-pass LRU curve at {len(sizes)} sizes: {t_curve:8.2f} s  ({rate:,.0f} req/s)")
    print(f"3 per-size LRU runs (sizes {probe}): {t_runs:8.2f} s  ({t_runs / 3:.2f} s per size)")
    print(f"curve time / 3 runs: {t_curve / t_runs:.2f}  (target < 1)")
    print(f"curve equals the 3 runs hit for hit: {at_probe == [r.hits for r in runs]}")

    at_rate: list[dict[str, Any]] = [{"rate": args.rate}, {"rate": args.rate, "stratify": True},
                                     {"rate": args.rate, "stratify": True, "head": args.head}]
    print(f"\n{'method':<36}{'requests':>11}{'time s':>9}{'speed-up':>10}{'MAE':>9}{'max err':>9}")
    print(f"{'exact':<36}{len(trace):>11,}{t_curve:>9.2f}{1.0:>10.1f}{0.0:>9.4f}{0.0:>9.4f}")
    for kw in [*at_rate, {"s_max": args.s_max}]:
        dt, est = best_of(lambda kw=kw: shards_mrc(trace, sizes, **kw), args.repeat)  # type: ignore[misc]
        err = compare_curves(exact, est)["abs_error"]
        name = est["method"].iloc[0]
        print(f"{name:<36}{kept_requests(trace, kw):>11,}{dt:>9.2f}{t_curve / dt:>10.1f}{err.mean():>9.4f}"
              f"{err.max():>9.4f}")

    if args.relabel:
        maes: dict[str, list[float]] = {}
        for k in range(args.relabel):
            other = relabel(trace, seed=k + 1)
            for kw in at_rate:
                est = shards_mrc(other, sizes, **kw)
                mae = compare_curves(exact, est)["abs_error"].mean()
                maes.setdefault(est["method"].iloc[0], []).append(mae)
        print(f"\nover {args.relabel} relabellings (seeds 1..{args.relabel}) of the object ids:")
        print(f"{'method':<36}{'MAE mean':>10}{'MAE max':>9}  per relabelling")
        for name, vals in maes.items():
            each = " ".join(f"{v:.4f}" for v in vals)
            print(f"{name:<36}{np.mean(vals):>10.4f}{np.max(vals):>9.4f}  {each}")


if __name__ == "__main__":
    main()
