"""Compiled trace-simulation kernels, one per policy (numba, ``cache=True``).

Each kernel replays a whole trace of *dense* ids (0..k-1, see
``Trace.dense_ids``) through one policy and writes a 0/1 hit flag per request.
They mirror the Python classes of ``supreme.cache.policies`` step for step —
same get path (hit; else skip if larger than the cache, evict until it fits,
insert), same tie-breaks, same sketch hashing — and
``tests/cache/test_kernels.py`` checks them hit for hit against those classes
on random traces and the real trace, so the two cannot drift apart silently.

Data layout: one pair of ``prev``/``nxt`` arrays holds every queue (an id is
in at most one queue at a time, recorded in ``where``); queue heads are the
newest/MRU end, tails the oldest/LRU end.  Sizes are in the capacity's unit
(1 per request when simulating object counts).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numba import njit

__all__ = ["KERNELS", "run_kernel"]


# -- intrusive doubly linked lists over arrays ---------------------------------
@njit(cache=True, inline="always")
def _push_head(q, x, prev, nxt, head, tail):
    h = head[q]
    prev[x] = -1
    nxt[x] = h
    if h >= 0:
        prev[h] = x
    else:
        tail[q] = x
    head[q] = x


@njit(cache=True, inline="always")
def _unlink(q, x, prev, nxt, head, tail):
    p = prev[x]
    n = nxt[x]
    if p >= 0:
        nxt[p] = n
    else:
        head[q] = n
    if n >= 0:
        prev[n] = p
    else:
        tail[q] = p
    prev[x] = -1
    nxt[x] = -1


def _lists(n_obj: int, n_q: int) -> tuple[np.ndarray, ...]:
    return (np.full(n_obj, -1, np.int64), np.full(n_obj, -1, np.int64),
            np.full(n_q, -1, np.int64), np.full(n_q, -1, np.int64), np.full(n_obj, -1, np.int8),
            np.zeros(n_obj, np.int64))


# -- LRU / FIFO ------------------------------------------------------------------
@njit(cache=True)
def _lru_fifo(ids, sizes, cap, hits, prev, nxt, head, tail, where, osize, promote):
    used = 0
    for i in range(ids.shape[0]):
        x = ids[i]
        if where[x] == 0:
            hits[i] = 1
            if promote:
                _unlink(0, x, prev, nxt, head, tail)
                _push_head(0, x, prev, nxt, head, tail)
            continue
        s = sizes[i]
        if s > cap:
            continue
        while used + s > cap:
            v = tail[0]
            _unlink(0, v, prev, nxt, head, tail)
            where[v] = -1
            used -= osize[v]
        _push_head(0, x, prev, nxt, head, tail)
        where[x] = 0
        osize[x] = s
        used += s


def lru(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, **_: object) -> np.ndarray:
    """LRU hit flags."""
    hits = np.zeros(len(ids), np.uint8)
    _lru_fifo(ids, sizes, cap, hits, *_lists(n_obj, 1), True)  # type: ignore[call-arg]
    return hits


def fifo(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, **_: object) -> np.ndarray:
    """FIFO hit flags."""
    hits = np.zeros(len(ids), np.uint8)
    _lru_fifo(ids, sizes, cap, hits, *_lists(n_obj, 1), False)  # type: ignore[call-arg]
    return hits


# -- CLOCK -----------------------------------------------------------------------
@njit(cache=True)
def _clock(ids, sizes, cap, hits, prev, nxt, head, tail, where, osize):
    used = 0
    ref = np.zeros(where.shape[0], np.uint8)
    for i in range(ids.shape[0]):
        x = ids[i]
        if where[x] == 0:
            hits[i] = 1
            ref[x] = 1
            continue
        s = sizes[i]
        if s > cap:
            continue
        while used + s > cap:
            v = tail[0]
            _unlink(0, v, prev, nxt, head, tail)
            if ref[v]:
                ref[v] = 0
                _push_head(0, v, prev, nxt, head, tail)
                continue
            where[v] = -1
            used -= osize[v]
        _push_head(0, x, prev, nxt, head, tail)
        where[x] = 0
        ref[x] = 0
        osize[x] = s
        used += s


def clock(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, **_: object) -> np.ndarray:
    """CLOCK hit flags."""
    hits = np.zeros(len(ids), np.uint8)
    _clock(ids, sizes, cap, hits, *_lists(n_obj, 1))
    return hits


# -- SIEVE -----------------------------------------------------------------------
@njit(cache=True)
def _sieve(ids, sizes, cap, hits, prev, nxt, head, tail, where, osize):
    used = 0
    hand = -1
    visited = np.zeros(where.shape[0], np.uint8)
    for i in range(ids.shape[0]):
        x = ids[i]
        if where[x] == 0:
            hits[i] = 1
            visited[x] = 1
            continue
        s = sizes[i]
        if s > cap:
            continue
        while used + s > cap:
            o = hand if hand >= 0 else tail[0]
            while visited[o]:
                visited[o] = 0
                o = prev[o]  # towards the head (newer)
                if o < 0:
                    o = tail[0]
            hand = prev[o]
            _unlink(0, o, prev, nxt, head, tail)
            where[o] = -1
            used -= osize[o]
        _push_head(0, x, prev, nxt, head, tail)
        where[x] = 0
        visited[x] = 0
        osize[x] = s
        used += s


def sieve(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, **_: object) -> np.ndarray:
    """SIEVE hit flags."""
    hits = np.zeros(len(ids), np.uint8)
    _sieve(ids, sizes, cap, hits, *_lists(n_obj, 1))
    return hits


# -- LFU -------------------------------------------------------------------------
@njit(cache=True)
def _lfu(ids, sizes, cap, hits, prev, nxt, where, osize):
    n = ids.shape[0]
    head = np.full(n + 2, -1, np.int64)
    tail = np.full(n + 2, -1, np.int64)
    freq = np.zeros(where.shape[0], np.int64)
    used = 0
    minf = 1
    for i in range(n):
        x = ids[i]
        f = freq[x]
        if f > 0:
            hits[i] = 1
            _unlink(f, x, prev, nxt, head, tail)
            if head[f] < 0 and minf == f:
                minf = f + 1
            freq[x] = f + 1
            _push_head(f + 1, x, prev, nxt, head, tail)
            continue
        s = sizes[i]
        if s > cap:
            continue
        while used + s > cap:
            while tail[minf] < 0:
                minf += 1
            v = tail[minf]
            _unlink(minf, v, prev, nxt, head, tail)
            freq[v] = 0
            used -= osize[v]
        freq[x] = 1
        _push_head(1, x, prev, nxt, head, tail)
        minf = 1
        osize[x] = s
        used += s


def lfu(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, **_: object) -> np.ndarray:
    """LFU hit flags."""
    hits = np.zeros(len(ids), np.uint8)
    prev, nxt, _h, _t, where, osize = _lists(n_obj, 1)
    _lfu(ids, sizes, cap, hits, prev, nxt, where, osize)
    return hits


# -- ARC -------------------------------------------------------------------------
@njit(cache=True)
def _arc_drop(q, prev, nxt, head, tail, where, osize, lsz):
    v = tail[q]
    _unlink(q, v, prev, nxt, head, tail)
    where[v] = -1
    lsz[q] -= osize[v]


@njit(cache=True)
def _arc(ids, sizes, cap, hits, prev, nxt, head, tail, where, osize):
    # queues: 0 = T1, 1 = T2, 2 = B1, 3 = B2
    lsz = np.zeros(4, np.int64)
    p = 0.0
    used = 0
    for i in range(ids.shape[0]):
        x = ids[i]
        w = where[x]
        if w == 0 or w == 1:
            hits[i] = 1
            _unlink(w, x, prev, nxt, head, tail)
            _push_head(1, x, prev, nxt, head, tail)
            if w == 0:
                lsz[0] -= osize[x]
                lsz[1] += osize[x]
                where[x] = 1
            continue
        s = sizes[i]
        if s > cap:
            continue
        ghost = -1
        drop_t1 = False
        if w == 2:
            p = min(float(cap), p + max(lsz[3] / lsz[2], 1.0))
            ghost = 2
        elif w == 3:
            p = max(0.0, p - max(lsz[2] / lsz[3], 1.0))
            ghost = 3
        elif lsz[0] + lsz[2] >= cap:
            if lsz[0] < cap:
                _arc_drop(2, prev, nxt, head, tail, where, osize, lsz)
            else:
                drop_t1 = True
        elif lsz[0] + lsz[1] + lsz[2] + lsz[3] >= 2 * cap and head[3] >= 0:
            _arc_drop(3, prev, nxt, head, tail, where, osize, lsz)
        while used + s > cap:
            if drop_t1 and head[0] >= 0:
                drop_t1 = False
                v = tail[0]
                used -= osize[v]
                _arc_drop(0, prev, nxt, head, tail, where, osize, lsz)
                continue
            t1_first = lsz[0] >= 1 and (lsz[0] > p or (ghost == 3 and lsz[0] == p))
            if (t1_first and head[0] >= 0) or head[1] < 0:
                src = 0
            else:
                src = 1
            v = tail[src]
            _unlink(src, v, prev, nxt, head, tail)
            _push_head(src + 2, v, prev, nxt, head, tail)
            where[v] = src + 2
            lsz[src] -= osize[v]
            lsz[src + 2] += osize[v]
            used -= osize[v]
            while lsz[0] + lsz[1] + lsz[2] + lsz[3] > 2 * cap and (head[2] >= 0 or head[3] >= 0):
                _arc_drop(3 if head[3] >= 0 else 2, prev, nxt, head, tail, where, osize, lsz)
        if ghost >= 0 and where[x] == ghost:
            _unlink(ghost, x, prev, nxt, head, tail)
            lsz[ghost] -= osize[x]
            _push_head(1, x, prev, nxt, head, tail)
            where[x] = 1
            lsz[1] += s
        else:
            _push_head(0, x, prev, nxt, head, tail)
            where[x] = 0
            lsz[0] += s
        osize[x] = s
        used += s


def arc(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, **_: object) -> np.ndarray:
    """ARC hit flags."""
    hits = np.zeros(len(ids), np.uint8)
    _arc(ids, sizes, cap, hits, *_lists(n_obj, 4))
    return hits


# -- S3-FIFO ---------------------------------------------------------------------
@njit(cache=True)
def _s3fifo(ids, sizes, cap, small_size, main_size, ghost_size, threshold,
            hits, prev, nxt, head, tail, where, osize):
    # queues: 0 = small, 1 = main, 2 = ghost
    lsz = np.zeros(3, np.int64)
    freq = np.zeros(where.shape[0], np.int64)
    has_evicted = False
    used = 0
    for i in range(ids.shape[0]):
        x = ids[i]
        w = where[x]
        if w == 0 or w == 1:
            hits[i] = 1
            freq[x] = min(freq[x] + 1, 3)
            continue
        s = sizes[i]
        if s > cap:
            continue
        ghost_hit = w == 2
        if ghost_hit:
            _unlink(2, x, prev, nxt, head, tail)
            where[x] = -1
            lsz[2] -= osize[x]
        while used + s > cap:
            has_evicted = True
            victim = -1
            if not (lsz[1] > main_size or head[0] < 0):
                while head[0] >= 0:
                    v = tail[0]
                    _unlink(0, v, prev, nxt, head, tail)
                    lsz[0] -= osize[v]
                    if freq[v] >= threshold:
                        _push_head(1, v, prev, nxt, head, tail)
                        where[v] = 1
                        lsz[1] += osize[v]
                        freq[v] = 0
                        continue
                    where[v] = -1
                    if osize[v] <= ghost_size:
                        while lsz[2] + osize[v] > ghost_size:
                            g = tail[2]
                            _unlink(2, g, prev, nxt, head, tail)
                            where[g] = -1
                            lsz[2] -= osize[g]
                        _push_head(2, v, prev, nxt, head, tail)
                        where[v] = 2
                        lsz[2] += osize[v]
                    victim = v
                    break
            while victim < 0:
                v = tail[1]
                f = freq[v]
                _unlink(1, v, prev, nxt, head, tail)
                if f >= 1:
                    _push_head(1, v, prev, nxt, head, tail)
                    freq[v] = min(f, 3) - 1
                    continue
                where[v] = -1
                lsz[1] -= osize[v]
                victim = v
            used -= osize[victim]
        freq[x] = 0
        osize[x] = s
        used += s
        if ghost_hit or (not has_evicted and lsz[0] >= small_size):
            _push_head(1, x, prev, nxt, head, tail)
            where[x] = 1
            lsz[1] += s
        else:
            _push_head(0, x, prev, nxt, head, tail)
            where[x] = 0
            lsz[0] += s


def s3fifo(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, small_ratio: float = 0.1,
           move_to_main_threshold: int = 2, **_: object) -> np.ndarray:
    """S3-FIFO hit flags (queue sizes computed as in the class)."""
    hits = np.zeros(len(ids), np.uint8)
    small = max(1, int(cap * small_ratio))
    main = cap - small
    _s3fifo(ids, sizes, cap, small, main, main, move_to_main_threshold, hits, *_lists(n_obj, 3))
    return hits


# -- W-TinyLFU -------------------------------------------------------------------
_SEEDS = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93],
                  dtype=np.uint64)


@njit(cache=True, inline="always")
def _mix64(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _estimate(table, seeds, x):
    mask = np.uint64(table.shape[1] - 1)
    h = np.uint64(x)
    best = 255
    for r in range(4):
        c = table[r, np.int64(_mix64(h + seeds[r]) & mask)]
        if c < best:
            best = c
    return best


@njit(cache=True)
def _increment(table, seeds, x, state, sample):
    mask = np.uint64(table.shape[1] - 1)
    h = np.uint64(x)
    for r in range(4):
        j = np.int64(_mix64(h + seeds[r]) & mask)
        if table[r, j] < 15:
            table[r, j] += 1
    state[0] += 1
    if state[0] >= sample:
        for r in range(4):
            for c in range(table.shape[1]):
                table[r, c] >>= 1
        state[0] //= 2


@njit(cache=True)
def _wtinylfu(ids, sizes, cap, window_size, main_size, protected_size, table, seeds, sample,
              hits, prev, nxt, head, tail, where, osize):
    # queues: 0 = window, 1 = probation, 2 = protected
    lsz = np.zeros(3, np.int64)
    cnt = np.zeros(3, np.int64)
    state = np.zeros(1, np.int64)
    used = 0
    for i in range(ids.shape[0]):
        x = ids[i]
        w = where[x]
        if w >= 0:
            hits[i] = 1
            _increment(table, seeds, x, state, sample)
            if w == 1:
                _unlink(1, x, prev, nxt, head, tail)
                lsz[1] -= osize[x]
                cnt[1] -= 1
                _push_head(2, x, prev, nxt, head, tail)
                where[x] = 2
                lsz[2] += osize[x]
                cnt[2] += 1
                while lsz[2] > protected_size and cnt[2] > 1:
                    d = tail[2]
                    _unlink(2, d, prev, nxt, head, tail)
                    lsz[2] -= osize[d]
                    cnt[2] -= 1
                    _push_head(1, d, prev, nxt, head, tail)
                    where[d] = 1
                    lsz[1] += osize[d]
                    cnt[1] += 1
            else:
                _unlink(w, x, prev, nxt, head, tail)
                _push_head(w, x, prev, nxt, head, tail)
            continue
        s = sizes[i]
        if s > cap:
            continue
        while used + s > cap:
            victim = -1
            while victim < 0:
                if lsz[1] + lsz[2] > main_size or head[0] < 0:
                    q = 1 if head[1] >= 0 else 2
                    if head[q] >= 0:
                        victim = tail[q]
                        _unlink(q, victim, prev, nxt, head, tail)
                        lsz[q] -= osize[victim]
                        cnt[q] -= 1
                        break
                c = tail[0]
                _unlink(0, c, prev, nxt, head, tail)
                lsz[0] -= osize[c]
                cnt[0] -= 1
                if lsz[1] + lsz[2] + osize[c] <= main_size:
                    _push_head(1, c, prev, nxt, head, tail)
                    where[c] = 1
                    lsz[1] += osize[c]
                    cnt[1] += 1
                    continue
                q = 1 if head[1] >= 0 else 2
                if head[q] < 0:
                    victim = c
                    break
                v = tail[q]
                if _estimate(table, seeds, c) > _estimate(table, seeds, v):
                    _unlink(q, v, prev, nxt, head, tail)
                    lsz[q] -= osize[v]
                    cnt[q] -= 1
                    _push_head(1, c, prev, nxt, head, tail)
                    where[c] = 1
                    lsz[1] += osize[c]
                    cnt[1] += 1
                    victim = v
                else:
                    victim = c
            where[victim] = -1
            used -= osize[victim]
        _increment(table, seeds, x, state, sample)
        _push_head(0, x, prev, nxt, head, tail)
        where[x] = 0
        lsz[0] += s
        cnt[0] += 1
        osize[x] = s
        used += s
        while lsz[0] > window_size:
            c = tail[0]
            if lsz[1] + lsz[2] + osize[c] > main_size:
                break
            _unlink(0, c, prev, nxt, head, tail)
            lsz[0] -= osize[c]
            cnt[0] -= 1
            _push_head(1, c, prev, nxt, head, tail)
            where[c] = 1
            lsz[1] += osize[c]
            cnt[1] += 1


def wtinylfu(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, window_ratio: float = 0.01,
             protected_ratio: float = 0.8, **_: object) -> np.ndarray:
    """W-TinyLFU hit flags (segment sizes and sketch width as in the class)."""
    hits = np.zeros(len(ids), np.uint8)
    window = max(1, int(cap * window_ratio))
    main = max(1, cap - window)
    protected = int(main * protected_ratio)
    width = 16
    while width < cap:
        width *= 2
    table = np.zeros((4, width), np.uint8)
    _wtinylfu(ids, sizes, cap, window, main, protected, table, _SEEDS, max(1, 10 * cap), hits,
              *_lists(n_obj, 3))
    return hits


# -- OPT -------------------------------------------------------------------------
@njit(cache=True)
def _opt(ids, sizes, cap, nxt_access, hits, osize):
    n = ids.shape[0]
    heap_p = np.empty(n + 1, np.int64)
    heap_k = np.empty(n + 1, np.int64)
    hn = 0
    prio = np.full(osize.shape[0], -1, np.int64)
    used = 0
    for t in range(n):
        x = ids[t]
        nx = nxt_access[t]
        p = nx if nx >= 0 else n + t
        if prio[x] >= 0:
            hits[t] = 1
        else:
            s = sizes[t]
            if s > cap:
                continue
            while used + s > cap:
                # pop the max, skipping stale entries
                while True:
                    top_p = heap_p[0]
                    top_k = heap_k[0]
                    hn -= 1
                    lp = heap_p[hn]
                    lk = heap_k[hn]
                    j = 0
                    while True:
                        c = 2 * j + 1
                        if c >= hn:
                            break
                        if c + 1 < hn and heap_p[c + 1] > heap_p[c]:
                            c += 1
                        if heap_p[c] <= lp:
                            break
                        heap_p[j] = heap_p[c]
                        heap_k[j] = heap_k[c]
                        j = c
                    if hn > 0:
                        heap_p[j] = lp
                        heap_k[j] = lk
                    if prio[top_k] == top_p:
                        prio[top_k] = -1
                        used -= osize[top_k]
                        break
            osize[x] = s
            used += s
        prio[x] = p
        j = hn
        hn += 1
        while j > 0:
            parent = (j - 1) // 2
            if heap_p[parent] >= p:
                break
            heap_p[j] = heap_p[parent]
            heap_k[j] = heap_k[parent]
            j = parent
        heap_p[j] = p
        heap_k[j] = x


def opt(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, next_access: np.ndarray | None = None,
        **_: object) -> np.ndarray:
    """OPT hit flags; ``next_access`` is required."""
    if next_access is None:
        raise ValueError("the OPT kernel needs next_access")
    hits = np.zeros(len(ids), np.uint8)
    _opt(ids, sizes, cap, np.asarray(next_access, np.int64), hits, np.zeros(n_obj, np.int64))
    return hits


# -- LRFU ------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _before(a, b, score, seq):
    return score[a] < score[b] or (score[a] == score[b] and seq[a] < seq[b])


@njit(cache=True)
def _heap_down(heap, hn, j, hpos, score, seq):
    x = heap[j]
    while True:
        c = 2 * j + 1
        if c >= hn:
            break
        if c + 1 < hn and _before(heap[c + 1], heap[c], score, seq):
            c += 1
        if not _before(heap[c], x, score, seq):
            break
        heap[j] = heap[c]
        hpos[heap[j]] = j
        j = c
    heap[j] = x
    hpos[x] = j


@njit(cache=True)
def _heap_up(heap, j, hpos, score, seq):
    x = heap[j]
    while j > 0:
        p = (j - 1) // 2
        if not _before(x, heap[p], score, seq):
            break
        heap[j] = heap[p]
        hpos[heap[j]] = j
        j = p
    heap[j] = x
    hpos[x] = j


@njit(cache=True)
def _lrfu_rescale(w, heap, hn, score, pscore, head, nxt):
    # the weight of a reference passed 2^64: scale it and every stored score back (exactly)
    scale = 2.0 ** -math.frexp(w)[1]
    for j in range(hn):
        score[heap[j]] *= scale
        pscore[heap[j]] *= scale
    g = head[0]
    while g >= 0:
        score[g] *= scale
        g = nxt[g]
    return w * scale


@njit(cache=True)
def _lrfu(ids, sizes, cap, step, history, hits, prev, nxt, head, tail, where, osize):
    # A min-heap on each resident's (score, seq) *as placed*: a hit only raises the key's current
    # score (O(1)), and a root whose current value is above its placed one is re-placed (sifted
    # down) when an eviction reaches it.  Placed values are <= current ones and the heap is ordered
    # on placed values, so a root whose two agree is the true minimum — the class's victim.  The
    # ghost history is queue 0 (where == 1).  Scores are sums of reference weights w; w grows by
    # ``step`` per request and is scaled back with every stored score (see policies.lrfu).
    n_obj = where.shape[0]
    score = np.zeros(n_obj, np.float64)
    seq = np.zeros(n_obj, np.int64)
    pscore = np.zeros(n_obj, np.float64)
    pseq = np.zeros(n_obj, np.int64)
    hpos = np.full(n_obj, -1, np.int64)
    heap = np.zeros(min(cap, n_obj) + 1, np.int64)
    hn = 0
    used = 0
    ghosts = 0
    w = 1.0
    counter = 0
    for i in range(ids.shape[0]):
        x = ids[i]
        if hpos[x] >= 0:
            hits[i] = 1
            w *= step
            if w > 1.8446744073709552e19:
                w = _lrfu_rescale(w, heap, hn, score, pscore, head, nxt)
            score[x] += w
            seq[x] = counter
            counter += 1
            continue
        s = sizes[i]
        if s > cap:
            continue
        while used + s > cap:
            v = heap[0]
            if pseq[v] != seq[v]:  # raised since it was placed: place it again, look again
                pscore[v] = score[v]
                pseq[v] = seq[v]
                _heap_down(heap, hn, 0, hpos, pscore, pseq)
                continue
            hn -= 1
            if hn > 0:
                heap[0] = heap[hn]
                hpos[heap[0]] = 0
                _heap_down(heap, hn, 0, hpos, pscore, pseq)
            hpos[v] = -1
            used -= osize[v]
            if history > 0:
                _push_head(0, v, prev, nxt, head, tail)
                where[v] = 1
                ghosts += 1
                if ghosts > history:
                    g = tail[0]
                    _unlink(0, g, prev, nxt, head, tail)
                    where[g] = 0
                    ghosts -= 1
        w *= step
        if w > 1.8446744073709552e19:
            w = _lrfu_rescale(w, heap, hn, score, pscore, head, nxt)
        if where[x] == 1:
            _unlink(0, x, prev, nxt, head, tail)
            where[x] = 0
            ghosts -= 1
            score[x] += w
        else:
            score[x] = w
        seq[x] = counter
        counter += 1
        pscore[x] = score[x]
        pseq[x] = seq[x]
        heap[hn] = x
        hpos[x] = hn
        hn += 1
        _heap_up(heap, hn - 1, hpos, pscore, pseq)
        osize[x] = s
        used += s


def lrfu(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, horizon: float = 8.0,
         half_life: float | None = None, history: int | None = None, **_: object) -> np.ndarray:
    """LRFU hit flags (half-life ``horizon`` x ``cap`` requests unless ``half_life`` is given)."""
    from supreme.cache.policies.lrfu import weight_step

    h = float(half_life) if half_life is not None else float(horizon) * cap
    hits = np.zeros(len(ids), np.uint8)
    prev, nxt, head, tail, where, osize = _lists(n_obj, 1)
    _lrfu(ids, sizes, cap, weight_step(h), cap if history is None else int(history), hits, prev, nxt, head,
          tail, where, osize)
    return hits


KERNELS: dict[str, Callable[..., np.ndarray]] = {
    "lru": lru, "fifo": fifo, "lfu": lfu, "clock": clock, "arc": arc, "sieve": sieve,
    "s3fifo": s3fifo, "wtinylfu": wtinylfu, "lrfu": lrfu, "opt": opt,
}


def run_kernel(policy: str, ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int,
               **kwargs: object) -> np.ndarray:
    """Hit flags (uint8 per request) of registry policy ``policy`` (``"lrfu:32"`` too) over dense ``ids``."""
    from supreme.cache.policies.registry import split_spec

    base, spec_kwargs = split_spec(policy)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    sizes = np.ascontiguousarray(sizes, dtype=np.int64)
    return KERNELS[base](ids, sizes, int(cap), int(n_obj), **{**spec_kwargs, **kwargs})
