"""Miss-ratio curves from stack distances: the exact LRU curve and SHARDS estimates of it.

:func:`lru_mrc` gives, in one pass, the same rows as :func:`supreme.cache.traces.miss_ratio_curve`
with ``policy="lru"`` at every size — exactly, in object mode (``ignore_size=True``).  In byte mode
the curve is LRU's by byte stack distance, which equals the LRU kernel when each object keeps one
size and none is larger than the cache (the kernel never caches an object larger than the cache, so
it does not push others down; the stack does).

:func:`shards_mrc` estimates the curve from a spatially hashed sample (:mod:`.shards`; with
``stratify=True`` re-weighted by request frequency, :mod:`.stratified`), and :func:`compare_curves`
puts an estimate beside the exact curve with the absolute error per size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from supreme.cache.mrc.bitstack import feed_unit, new_bit_state
from supreme.cache.mrc.shards import HASH_SPACE, FixedSizeSampler, hash53, scale
from supreme.cache.mrc.stack import COLD, distance_histogram, feed, new_state
from supreme.cache.mrc.stratified import stratified_weights
from supreme.cache.mrc.weighted import feed_weighted, new_weighted_state
from supreme.cache.policies import PolicyError
from supreme.cache.trace import Trace

__all__ = ["CHUNK", "compare_curves", "curve_table", "lru_distances", "lru_mrc", "shards_mrc"]

#: requests per kernel call: the progress bar moves between calls
CHUNK = 1 << 20
_COLUMNS = ["policy", "method", "size", "requests", "hits", "misses", "miss_ratio", "byte_miss_ratio"]


def _chunks(n: int, progress: bool, desc: str) -> Iterator[slice]:
    with tqdm(total=n, unit="req", unit_scale=True, desc=desc, disable=not progress or n < CHUNK,
              leave=False) as bar:
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            yield slice(start, stop)
            bar.update(stop - start)


def _check_sizes(sizes: Sequence[int] | np.ndarray) -> np.ndarray:
    arr = np.asarray(sizes)
    if arr.ndim != 1 or not len(arr) or arr.dtype.kind not in "iu" or arr.min() <= 0:
        raise PolicyError(f"cache sizes must be positive integers, got {list(np.ravel(arr))[:5]!r}")
    return arr.astype(np.int64)


def _weights(trace: Trace, ignore_size: bool) -> np.ndarray:
    return np.ones(len(trace), np.int64) if ignore_size else trace.obj_size.astype(np.int64)


def _distances(ids: np.ndarray, n_obj: int, weights: np.ndarray | None, progress: bool,
               desc: str) -> np.ndarray:
    """Stack distances of dense ``ids`` (unit weights when ``weights`` is None: the bitmap pass)."""
    out = np.empty(len(ids), np.int64)
    if weights is None:
        bits = new_bit_state(n_obj)
        for part in _chunks(len(ids), progress, desc):
            feed_unit(bits, ids[part], out[part])
        return out
    state = new_state(n_obj)
    for part in _chunks(len(ids), progress, desc):
        out[part] = feed(state, ids[part], weights[part])
    return out


def lru_distances(trace: Trace, *, ignore_size: bool = True, progress: bool = False) -> np.ndarray:
    """Each request's LRU stack distance (objects, or bytes), ``COLD`` (-1) for first requests."""
    ids, n_obj = trace.dense_ids()
    weights = None if ignore_size else trace.obj_size.astype(np.int64)
    return _distances(ids, n_obj, weights, progress, "stack distances")


def _rows(method: str, sizes: np.ndarray, requests: float, hits: np.ndarray, byte_hit: np.ndarray,
          total_bytes: float) -> pd.DataFrame:
    mr = np.clip((requests - hits) / requests, 0.0, 1.0) if requests else np.zeros(len(sizes))
    bmr = np.clip(1.0 - byte_hit / total_bytes, 0.0, 1.0) if total_bytes else np.zeros(len(sizes))
    return pd.DataFrame({"policy": "lru", "method": method, "size": sizes, "requests": requests, "hits": hits,
                         "misses": requests - hits, "miss_ratio": mr, "byte_miss_ratio": bmr})[_COLUMNS]


def _hits_at(dist: np.ndarray, weight: np.ndarray, nbytes: np.ndarray,
             sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted hits and byte hits at each size: requests of finite distance <= size."""
    order = np.argsort(dist, kind="stable")
    d = dist[order]
    cw = np.concatenate([[0.0], np.cumsum(weight[order], dtype=np.float64)])
    cb = np.concatenate([[0.0], np.cumsum((weight * nbytes)[order], dtype=np.float64)])
    k = np.searchsorted(d, sizes, side="right")
    return cw[k], cb[k]


def lru_mrc(trace: Trace, sizes: Sequence[int] | np.ndarray, *, warmup: int = 0, ignore_size: bool = True,
            progress: bool = False, distances: np.ndarray | None = None) -> pd.DataFrame:
    """The exact LRU miss-ratio curve at ``sizes`` from one stack-distance pass."""
    sizes = _check_sizes(sizes)
    if warmup < 0:
        raise PolicyError(f"warmup must be >= 0, got {warmup!r}")
    d = lru_distances(trace, ignore_size=ignore_size, progress=progress) if distances is None else distances
    d = d[warmup:]
    nbytes = trace.obj_size[warmup:]
    if ignore_size:  # distances are at most n_obj: a counting pass, O(n)
        counts, byte_counts = distance_histogram(d, nbytes, int(sizes.max()))
        cw = np.concatenate([[0], np.cumsum(counts)])
        cb = np.concatenate([[0.0], np.cumsum(byte_counts)])
        hits, byte_hit = cw[sizes + 1], cb[sizes + 1]
    else:
        reuse = d != COLD
        hits_f, byte_hit = _hits_at(d[reuse], np.ones(int(reuse.sum())), nbytes[reuse], sizes)
        hits = hits_f.astype(np.int64)
    return _rows("exact", sizes, len(d), hits, byte_hit, float(nbytes.sum()))


def _fixed_rate(trace: Trace, rate: float, weights: np.ndarray,
                progress: bool) -> tuple[np.ndarray, np.ndarray]:
    keep = np.flatnonzero(hash53(trace.obj_id) < int(rate * HASH_SPACE))
    ids, uniques = pd.factorize(trace.obj_id[keep], sort=False)
    sub_weights = weights[keep]
    unit = bool(len(sub_weights)) and bool((sub_weights == 1).all())
    out = _distances(ids.astype(np.int64), len(uniques), None if unit else sub_weights, progress,
                     "SHARDS fixed rate")
    scaled = np.full(len(trace), np.nan)
    scaled[keep] = np.where(out >= 0, (out - sub_weights) / rate + sub_weights, np.inf)
    w = np.zeros(len(trace))
    w[keep] = 1.0
    return scaled, w


def _stratified(trace: Trace, rate: float, head: int, weights: np.ndarray,
                progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """Weighted distances (inf: cold, nan: not kept) and each request's weight (its object's)."""
    codes, uniques = pd.factorize(trace.obj_id, sort=False)
    ids = codes.astype(np.int64, copy=False)
    sampled = hash53(np.asarray(uniques)) < int(rate * HASH_SPACE)  # plain SHARDS' very sample
    obj_weight = stratified_weights(np.bincount(ids, minlength=len(uniques)), sampled, rate, head)
    keep = np.flatnonzero(obj_weight[ids] > 0)
    sub, kept = pd.factorize(ids[keep], sort=False)
    sub_weight = obj_weight[np.asarray(kept)]
    own = weights[keep].astype(np.float64)
    state = new_weighted_state(len(kept))
    out = np.empty(len(keep))
    for part in _chunks(len(keep), progress, "stratified SHARDS"):
        out[part] = feed_weighted(state, sub[part], own[part], sub_weight)
    scaled = np.full(len(trace), np.nan)
    scaled[keep] = np.where(out >= 0, out, np.inf)
    w = np.zeros(len(trace))
    w[keep] = sub_weight[sub]
    return scaled, w


def _fixed_size(trace: Trace, s_max: int, weights: np.ndarray,
                progress: bool) -> tuple[np.ndarray, np.ndarray, int]:
    ids, n_obj = trace.dense_ids()
    first = np.full(n_obj, -1, np.int64)
    first[ids[::-1]] = np.arange(len(ids))[::-1]
    sampler = FixedSizeSampler(hash53(trace.obj_id[first]), s_max)
    dist = np.empty(len(ids), np.int64)
    thr = np.empty(len(ids), np.int64)
    for part in _chunks(len(ids), progress, "SHARDS fixed size"):
        dist[part], thr[part] = sampler.feed(ids[part], weights[part])
    return (*scale(dist, thr, sampler.threshold, weights), sampler.threshold)


def shards_mrc(trace: Trace, sizes: Sequence[int] | np.ndarray, *, rate: float | None = None,
               s_max: int | None = None, adjust: bool = True, stratify: bool = False, head: int = 0,
               warmup: int = 0, ignore_size: bool = True, progress: bool = False) -> pd.DataFrame:
    """The LRU curve estimated by SHARDS at a fixed ``rate`` or with at most ``s_max`` objects.

    ``stratify=True`` (fixed rate only) re-weights the same sample by request-count strata, keeping
    the ``head`` most requested objects whatever their hash (:mod:`.stratified`).
    """
    sizes = _check_sizes(sizes)
    if (rate is None) == (s_max is None):
        raise PolicyError("SHARDS needs exactly one of rate (fixed rate) or s_max (fixed size)")
    if rate is not None and not (0.0 < rate <= 1.0):
        raise PolicyError(f"SHARDS rate must be in (0, 1], got {rate!r}")
    if s_max is not None and (not isinstance(s_max, (int, np.integer)) or s_max <= 0):
        raise PolicyError(f"SHARDS s_max must be a positive integer, got {s_max!r}")
    if warmup < 0:
        raise PolicyError(f"warmup must be >= 0, got {warmup!r}")
    if not isinstance(head, (int, np.integer)) or isinstance(head, bool) or head < 0:
        raise PolicyError(f"SHARDS head must be an integer >= 0, got {head!r}")
    if head and not stratify:
        raise PolicyError("SHARDS head needs stratify=True (the take-all stratum of stratified SHARDS)")
    if stratify and rate is None:
        raise PolicyError("stratified SHARDS needs a fixed rate, not s_max")
    weights = _weights(trace, ignore_size)
    final_rate = rate if rate is not None else 0.0
    if stratify:
        scaled, w = _stratified(trace, rate, int(head), weights, progress)  # type: ignore[arg-type]
        method, final_rate = f"shards rate {rate:g} stratified" + (f" head {head}" if head else ""), 1.0
    elif rate is not None:
        scaled, w = _fixed_rate(trace, rate, weights, progress)
        method = f"shards rate {rate:g}"
    else:
        scaled, w, final_threshold = _fixed_size(trace, int(s_max), weights, progress)  # type: ignore[arg-type]
        method, final_rate = f"shards size {s_max}", final_threshold / HASH_SPACE
    scaled, w = scaled[warmup:], w[warmup:]
    nbytes = trace.obj_size[warmup:].astype(np.float64)
    hit = np.isfinite(scaled)
    hits, byte_hit = _hits_at(scaled[hit], w[hit], nbytes[hit], sizes)
    requests, total_bytes = float(w.sum()), float((w * nbytes).sum())
    if adjust and requests:  # SHARDS_adj: the expected sample size, the difference at distance 0
        expected = len(scaled) * final_rate
        hits = hits + (expected - requests)
        byte_hit = byte_hit + (expected - requests) / max(requests, 1.0) * total_bytes
        total_bytes *= expected / max(requests, 1.0)
        requests = expected
    return _rows(method, sizes, requests, hits, byte_hit, total_bytes)


def compare_curves(exact: pd.DataFrame, estimate: pd.DataFrame) -> pd.DataFrame:
    """Exact and estimated miss ratio per size, with the absolute error."""
    both = exact[["size", "miss_ratio"]].merge(estimate[["size", "miss_ratio"]], on="size",
                                                suffixes=("_exact", "_estimate"))
    both["abs_error"] = (both["miss_ratio_estimate"] - both["miss_ratio_exact"]).abs()
    return both


def curve_table(trace: Trace, sizes: Sequence[int] | np.ndarray, *, exact: bool = True,
                rate: float | None = None, s_max: int | None = None, stratify: bool = False, head: int = 0,
                warmup: int = 0, ignore_size: bool = True, progress: bool = False) -> pd.DataFrame:
    """Miss ratio per size (rows) of the exact curve and each SHARDS estimate, plus their errors.

    ``stratify`` adds stratified SHARDS at ``rate`` (with ``head``) beside plain SHARDS.
    """
    if not exact and rate is None and s_max is None:
        raise PolicyError("nothing to compute: the exact curve is off and no SHARDS rate or s_max given")
    if (stratify or head) and rate is None:
        raise PolicyError("stratified SHARDS needs a fixed rate")
    common = {"warmup": warmup, "ignore_size": ignore_size, "progress": progress}
    curves = [lru_mrc(trace, sizes, **common)] if exact else []  # type: ignore[arg-type]
    if rate is not None:
        curves.append(shards_mrc(trace, sizes, rate=rate, **common))  # type: ignore[arg-type]
        if stratify or head:
            curves.append(shards_mrc(trace, sizes, rate=rate, stratify=True, head=head,
                                     **common))  # type: ignore[arg-type]
    if s_max is not None:
        curves.append(shards_mrc(trace, sizes, s_max=s_max, **common))  # type: ignore[arg-type]
    table = pd.DataFrame({c["method"].iloc[0]: c["miss_ratio"].to_numpy() for c in curves},
                         index=pd.Index(curves[0]["size"].to_numpy(), name="size"))
    if exact:
        for est in curves[1:]:
            table[f"error {est['method'].iloc[0]}"] = compare_curves(curves[0], est)["abs_error"].to_numpy()
    return table
