"""Compiled inner loops of the adaptive layer (numba, cached).

Only loops that numpy cannot express live here: the Fenwick-tree LRU stack distance (Mattson,
Gecsei, Slutz & Traiger, "Evaluation techniques for storage hierarchies", IBM Systems Journal 1970;
Bennett & Kruskal's O(n log n) tree form, 1975), and the synaptic network's batched Hebbian update
and link pruning over integer node ids (:mod:`supreme.adaptive.synapses`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

__all__ = ["drop_links", "learn", "stack_distances_codes"]


@njit(cache=True, nogil=True)
def _stack_distances(codes: np.ndarray, n_keys: int) -> np.ndarray:
    """Distinct keys since each access's previous use (-1 for a first use), O(n log n)."""
    n = len(codes)
    tree = np.zeros(n + 1, dtype=np.int64)  # Fenwick tree over positions: 1 where a key's latest use sits
    last = np.full(n_keys, -1, dtype=np.int64)
    out = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        c = codes[i]
        j = last[c]
        if j >= 0:
            s = 0
            p = i
            while p > 0:
                s += tree[p]
                p -= p & -p
            p = j + 1
            while p > 0:
                s -= tree[p]
                p -= p & -p
            out[i] = s
            p = j + 1
            while p <= n:
                tree[p] -= 1
                p += p & -p
        p = i + 1
        while p <= n:
            tree[p] += 1
            p += p & -p
        last[c] = i
    return out


def stack_distances_codes(codes: np.ndarray, n_keys: int) -> np.ndarray:
    """LRU stack distances of integer key codes in ``[0, n_keys)``."""
    return np.asarray(_stack_distances(np.ascontiguousarray(codes, dtype=np.int64), int(n_keys)))


# -- synaptic network (see supreme.adaptive.synapses for the mechanism) -------------------------
@njit(cache=True, nogil=True)
def _sort_row(i: int, dst: np.ndarray, wt: np.ndarray, c: int) -> None:
    """Stable insertion sort of node ``i``'s first ``c`` link slots, strongest first."""
    for a in range(1, c):
        d = dst[i, a]
        w = wt[i, a]
        b = a - 1
        while b >= 0 and wt[i, b] < w:
            dst[i, b + 1] = dst[i, b]
            wt[i, b + 1] = wt[i, b]
            b -= 1
        dst[i, b + 1] = d
        wt[i, b + 1] = w


@njit(cache=True, nogil=True)
def _learn(bids: np.ndarray, btimes: np.ndarray, recent: np.ndarray, istate: np.ndarray,
              fstate: np.ndarray, gains: np.ndarray, act: np.ndarray, dst: np.ndarray, wt: np.ndarray,
              cnt: np.ndarray, stamp: np.ndarray, mark: np.ndarray, top_k: int, rk: int,
              t_ids: np.ndarray, o_dst: np.ndarray, o_conf: np.ndarray, o_n: np.ndarray,
              pub_dst: np.ndarray, pub_conf: np.ndarray, pub_n: np.ndarray, eps: float) -> int:
    """Apply a batch of accesses (ids, times) to the network; return how many predictions changed.

    ``istate`` = [recent count, access sequence, batch epoch, node ids in use];
    ``fstate`` = [t_ref, t_last, has t_ref, decay rate, rescale exponent].  Every touched node's
    slots are left sorted strongest first; when its top ``rk`` (target id, confidence) differ from
    the published ones (``pub_*``: other targets, or a confidence moved by more than ``eps``) they are
    published and written to ``o_dst``/``o_conf``/``o_n``, the node ids to ``t_ids[:returned]``.
    """
    width = recent.shape[0]
    slots = dst.shape[1]
    rn = istate[0]
    seq = istate[1]
    epoch = istate[2] + 1
    istate[2] = epoch
    n_ids = istate[3]
    t_ref = fstate[0]
    t_last = fstate[1]
    has_ref = fstate[2]
    rate = fstate[3]
    lim = fstate[4]
    m = 0
    for j in range(bids.shape[0]):
        k = bids[j]
        t = btimes[j]
        if t < t_last:  # a clock that stepped back: learn as if at the last time seen
            t = t_last
        t_last = t
        if has_ref == 0.0:
            t_ref = t
            has_ref = 1.0
        expo = (t - t_ref) * rate
        if expo > lim:  # forward decay would overflow: rescale everything to a new reference time
            f = np.exp(-expo)
            for i in range(n_ids):
                act[i] *= f
                for s in range(cnt[i]):
                    wt[i, s] *= f
            t_ref = t
            expo = 0.0
        g = np.exp(expo)
        stamp[k] = seq
        seq += 1
        if rn > 0:
            prev = recent[rn - 1]
            if prev >= 0:  # the previous access got its successor: one more opportunity
                act[prev] += g
                if mark[prev] != epoch:
                    mark[prev] = epoch
                    t_ids[m] = prev
                    m += 1
            d = 0
            for a in range(rn - 1, -1, -1):
                p = recent[a]
                if p == k:
                    continue
                dup = False
                for b in range(rn - 1, a, -1):
                    if recent[b] == p:
                        dup = True
                        break
                if dup:
                    continue
                if p >= 0:
                    x = gains[d] * g
                    c = cnt[p]
                    found = -1
                    for s in range(c):
                        if dst[p, s] == k:
                            found = s
                            break
                    if found >= 0:
                        wt[p, found] += x
                    else:
                        dst[p, c] = k
                        wt[p, c] = x
                        c += 1
                        if c >= slots:  # amortised top-k: trim to the top_k strongest
                            _sort_row(p, dst, wt, c)
                            c = top_k
                        cnt[p] = c
                    if mark[p] != epoch:
                        mark[p] = epoch
                        t_ids[m] = p
                        m += 1
                d += 1
        if rn < width:
            recent[rn] = k
            rn += 1
        else:
            for a in range(width - 1):
                recent[a] = recent[a + 1]
            recent[width - 1] = k
    istate[0] = rn
    istate[1] = seq
    fstate[0] = t_ref
    fstate[1] = t_last
    fstate[2] = has_ref
    out = 0
    for q in range(m):
        i = t_ids[q]
        c = cnt[i]
        _sort_row(i, dst, wt, c)
        a_i = act[i]
        n = 0
        if a_i > 0.0:
            n = rk if c > rk else c
        changed = n != pub_n[i]
        for s in range(n):
            d = dst[i, s]
            conf = wt[i, s] / a_i
            if conf > 1.0:
                conf = 1.0
            if not changed and (d != pub_dst[i, s] or abs(conf - pub_conf[i, s]) > eps):
                changed = True
            o_dst[out, s] = d
            o_conf[out, s] = conf
        if changed:  # republish only what moved: other successors, or a confidence off by > eps
            for s in range(n):
                pub_dst[i, s] = o_dst[out, s]
                pub_conf[i, s] = o_conf[out, s]
            pub_n[i] = n
            o_n[out] = n
            t_ids[out] = i
            out += 1
    return out


@njit(cache=True, nogil=True)
def _drop_links(dead: np.ndarray, cut: float, act: np.ndarray, dst: np.ndarray, wt: np.ndarray,
                   cnt: np.ndarray, recent: np.ndarray, n_recent: int, n_ids: int) -> int:
    """Clear dead nodes, drop links to dead nodes or below ``cut``; return links dropped (order kept)."""
    dropped = 0
    for i in range(n_ids):
        if dead[i]:
            dropped += cnt[i]
            act[i] = 0.0
            cnt[i] = 0
            continue
        c = cnt[i]
        q = 0
        for s in range(c):
            if dead[dst[i, s]] or wt[i, s] < cut:
                dropped += 1
                continue
            if q != s:
                dst[i, q] = dst[i, s]
                wt[i, q] = wt[i, s]
            q += 1
        cnt[i] = q
    for a in range(n_recent):
        if recent[a] >= 0 and dead[recent[a]]:
            recent[a] = -1
    return dropped


def learn(*args: Any) -> int:
    """Run :func:`_learn` (see there for the arguments)."""
    return int(_learn(*args))


def drop_links(*args: Any) -> int:
    """Run :func:`_drop_links` (see there for the arguments)."""
    return int(_drop_links(*args))
