"""Traces of any length in bounded memory: chunks through a policy's resumable kernel.

:func:`simulate_stream` reads ``(obj_id, obj_size)`` chunks (:func:`stream_chunks`: an oracleGeneral
file, plain or zstd, is read chunk by chunk and never held whole), maps object ids to dense ids in
a compiled hash table, and feeds each chunk to one :class:`~supreme.cache.kernels.resume.Resumable`
that grows with the objects seen.  Memory is the policy's state and the id table — proportional to
the distinct objects, independent of the trace length — plus one chunk (LFU's count queues also
grow with the requests fed: a queue per possible count).

``limit`` stops after that many requests; ``sample`` keeps the requests of objects whose hash falls
below ``sample · 2^53`` (SHARDS fixed-rate sampling, the hash of :mod:`supreme.cache.mrc.shards`)
and simulates a cache of ``sample · size``: the miss ratio of the sample estimates the full one
(Waldspurger et al., FAST 2015; "miniature simulation", ATC 2017).  Other formats are loaded whole
and then fed in chunks (the same answer, without the memory bound).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numba import njit, types
from numba.typed import Dict

from supreme.cache.kernels.resume import RESUMABLE, Resumable
from supreme.cache.mrc.shards import HASH_SPACE, hash53
from supreme.cache.policies import PolicyError, normalize_name, split_spec

__all__ = ["StreamResult", "simulate_stream", "stream_chunks"]


@njit(cache=True)
def _densify(obj: np.ndarray, table: Dict, start: int) -> tuple[np.ndarray, int]:
    """Dense ids of ``obj`` (new ids from ``start`` on, in order of first use); the next free id."""
    out = np.empty(len(obj), np.int64)
    nxt = start
    for i in range(len(obj)):
        k = obj[i]
        j = table.get(k, -1)
        if j < 0:
            j = nxt
            table[k] = j
            nxt += 1
        out[i] = j
    return out, nxt


@dataclass(frozen=True)
class StreamResult:
    """Figures of one streamed run (``requests``: fed to the cache, after sampling)."""

    policy: str
    size: int
    read: int  # requests read from the trace
    requests: int
    hits: int
    objects: int
    sample: float
    state_bytes: int

    @property
    def misses(self) -> int:
        """Requests not served from the cache."""
        return self.requests - self.hits

    @property
    def miss_ratio(self) -> float:
        """Misses per request fed; sampled, misses over the expected sample (NaN when nothing was read).

        The sampled estimate is SHARDS-adj (Waldspurger et al. §4.3): a sample that drew more or
        fewer requests than ``sample x read`` (a hot object in or out) is corrected as if the
        difference were hits, which removes most of the bias heavy hitters cause.
        """
        if self.sample >= 1.0:
            return self.misses / self.requests if self.requests else float("nan")
        expected = self.sample * self.read
        return min(1.0, self.misses / expected) if expected > 0 else float("nan")


def stream_chunks(path: str | os.PathLike[str], format: str = "auto",
                  chunk: int = 1 << 20) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(obj_id uint64, obj_size int64)`` chunks of a trace file (oracleGeneral streamed)."""
    from supreme.cache.traces.formats import detect_format, load
    from supreme.cache.traces.oracle import iter_oracle_general

    if detect_format(path, format).format == "oraclegeneral":
        for _, rec in iter_oracle_general(path):
            yield rec["obj_id"].astype(np.uint64), rec["obj_size"].astype(np.int64)
        return
    trace = load(path, format)
    for i in range(0, len(trace), chunk):
        yield trace.obj_id[i:i + chunk].astype(np.uint64), trace.obj_size[i:i + chunk].astype(np.int64)


def simulate_stream(chunks: Iterator[tuple[np.ndarray, np.ndarray]], policy: str, size: int, *,
                    limit: int | None = None, sample: float | None = None,
                    ignore_size: bool = True) -> StreamResult:
    """Replay ``chunks`` through ``policy`` at ``size`` (objects, or bytes unless ``ignore_size``)."""
    name = normalize_name(policy)
    if split_spec(name)[0] not in RESUMABLE:
        raise PolicyError(f"policy {name!r} cannot be streamed (it needs the whole trace); "
                          f"streamable: {', '.join(RESUMABLE)}")
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size <= 0:
        raise PolicyError(f"cache size must be a positive integer, got {size!r}")
    if limit is not None and limit <= 0:
        raise PolicyError(f"limit must be a positive integer, got {limit!r}")
    if sample is not None and not 0.0 < sample <= 1.0:
        raise PolicyError(f"sample must be a rate in (0, 1], got {sample!r}")
    rate = 1.0 if sample is None else float(sample)
    cap = max(1, round(size * rate))
    threshold = np.uint64(int(rate * HASH_SPACE))
    table = Dict.empty(key_type=types.uint64, value_type=types.int64)
    n_ids = read = fed = hits = 0
    # only LFU sizes anything by the request count (a queue per possible count)
    counted = split_spec(name)[0] == "lfu"
    cache = Resumable(name, cap, 1, 1 if counted else 1 << 62)
    for obj, sizes in chunks:
        if limit is not None:
            obj, sizes = obj[: limit - read], sizes[: limit - read]
        read += len(obj)
        if rate < 1.0:
            keep = hash53(obj).astype(np.uint64) < threshold
            obj, sizes = obj[keep], sizes[keep]
        if len(obj):
            dense, n_ids = _densify(np.ascontiguousarray(obj, np.uint64), table, n_ids)
            cache.grow(2 * n_ids, 2 * (fed + len(dense)) if counted else cache.max_requests)  # doubling
            hits += int(cache.feed(dense, None if ignore_size else sizes).sum())
            fed += len(dense)
        if limit is not None and read >= limit:
            break
    return StreamResult(name, int(size), read, fed, hits, n_ids, rate, cache.memory_bytes() + 16 * n_ids)
