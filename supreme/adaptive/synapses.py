"""Synaptic network: a bounded, decaying graph of "key B tends to follow key A".

Mechanism (Hebbian learning with forward decay)
-----------------------------------------------
Hebb's rule ("cells that fire together wire together"; D. O. Hebb, *The Organization of
Behavior*, 1949) applied to a stream of cache accesses: when key ``k`` is accessed, every
distinct key ``p`` among the previous ``W`` accesses (the window) strengthens the link
``p → k`` by ``gamma^(d-1)``, where ``d`` is ``p``'s distance back in the window (1 = the access just
before).  Each access of ``p`` that gets a successor adds 1 to ``p``'s *activation*.  Both decay
exponentially with a configurable half-life ``h`` on the injected clock.

Decay is applied lazily with *forward decay* (Cormode, Shkapenyuk, Srivastava & Xu, "Forward
Decay: A Practical Time Decay Model for Streaming Systems", ICDE 2009): an increment ``x`` at time
``t`` is stored as ``x * g(t)`` with ``g(t) = 2^((t - t_ref)/h)``, and the true value at ``now`` is
``stored / g(now)``.  Updates are therefore O(1) — nothing is rescanned when time passes.  When
``g`` grows large the whole network is rescaled once (amortised O(1)).

Pseudocode::

    record(k, t):
        g = 2 ** ((t - t_ref) / h)
        node(window[-1]).activation += g             # the previous access got its successor
        for d, p in enumerate(distinct keys of window, newest first, start=1):
            if p != k: node(p).links[k] += gamma**(d-1) * g   # top-k successors kept per node
        window.append(k)
        if #nodes > max_keys: drop the least recently used nodes

    predict(k, n):  confidence(k → j) = min(1, links[j] / activation(k))   # decay cancels

``confidence`` is thus a decayed estimate of "how often ``j`` followed ``k`` within the window,
discounted by distance", in [0, 1].  An access counts as an opportunity for ``k``'s links once its
successor arrives, so a deterministic successor has confidence exactly 1.

Batched, integer-coded learning (the hot path)
----------------------------------------------
:meth:`record` maps the key to a small integer node id (one dict lookup; a new key takes a free id)
and appends the id and the time to two preallocated ``array`` buffers — nothing else.  Every
``batch`` accesses (and before any exact query) :meth:`flush` applies the buffer in one compiled
pass (:func:`supreme.adaptive._fast.learn`) over flat arrays: activation per node, and per node
``2·top_k`` link slots (target id, stored weight).  The pass leaves every node it touched sorted
strongest first and republishes its top ``recall_k`` successors (target ids and confidences, in
arrays) — only for nodes whose successors changed or whose confidence moved by more than 1/64 since
it was last published (published confidences are within 1/64 of the exact ones).  A key's Python
entry (``((successor, confidence), ...)``, successor keys: tuples of atoms, which the garbage
collector stops tracking) is built from those arrays when :meth:`lookup` first reads it after a
republish: the hot path reads one key per access, while a batch republishes most of the nodes it
touched, so building every republished entry at once cost about three times as much.

* :meth:`predict` is exact: it flushes first.
* :meth:`lookup` / :meth:`recall` / :attr:`predictions` (the first used by the prefetch engine and the layer
  on every access)
  are the predictions *as of the last flush*: they lag by at most ``batch - 1`` accesses.  A link
  learnt inside the current batch is not predicted until the batch is applied.  ``batch=1`` gives
  immediate learning (used by the hand-counted tests).

Bounds and departures
---------------------
* at most ``2·top_k - 1`` successors per key: new successors are added freely and, when ``2·top_k``
  is reached, one sort trims the node to its ``top_k`` strongest (amortised, no scan per link);
* at most ``max_keys`` source keys after every flush: when a batch takes the network over, the least
  recently accessed nodes are dropped down to ``max_keys - max_keys // 8`` at once, in one compiled
  pass that also drops every link *to* them (their ids are then reused) — eviction and the link
  purge are amortised over ``max_keys / 8`` new keys.  (The dict version kept links to evicted keys;
  a key that fell out of the ``max_keys`` most recent is cold, so predicting it was rarely useful.)
  Between flushes the network may hold up to ``batch - 1`` more nodes;
* :meth:`prune` drops links whose decayed weight fell below ``min_weight``, and nodes with no links
  left, a decayed activation below it and no surviving link pointing to them (run by the learning
  cycle);
* self-links ``k → k`` are not learnt: a key that repeats is already cached when it repeats;
* ties between equally strong links keep the older link first (stable sorts).
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Hashable

import numpy as np

from supreme.adaptive import _fast
from supreme.errors import SupremeError
from supreme.events import NULL_LOG, EventLog

__all__ = ["AdaptiveConfigError", "SynapticNetwork"]

_LN2 = math.log(2.0)
#: rescale all stored weights when g(t) would exceed 2**_RESCALE_EXP (floats reach 2**1023)
_RESCALE_EXP = 400.0
#: a published confidence is refreshed once it is off by more than this (or the successors change)
_REPUBLISH_EPS = 1.0 / 64
#: stamp of an unused node id (never the least recently used)
_FREE = np.iinfo(np.int64).max

Prediction = list[tuple[Hashable, float]]
#: a published entry's links: a tuple of (successor, confidence) pairs — tuples of atoms, which the
#: garbage collector stops tracking, so a large network adds little to every collection's scan
Links = tuple[tuple[Hashable, float], ...]
#: a key's published predictions: its links and their successor keys
Entry = tuple[Links, tuple[Hashable, ...]]
_UNBUILT = object()  # lookup: the entry was republished and not built since


class AdaptiveConfigError(SupremeError, ValueError):
    """A parameter of the adaptive layer is out of range; the message names it."""


class SynapticNetwork:
    """Weighted key → successor links with Hebbian strengthening and exponential decay."""

    def __init__(
        self,
        *,
        window: int = 3,
        distance_decay: float = 0.5,
        half_life: float = 600.0,
        top_k: int = 8,
        max_keys: int = 50_000,
        min_weight: float = 0.05,
        event_log: EventLog = NULL_LOG,
        batch: int = 64,
        recall_k: int = 2,
    ) -> None:
        if window < 1:
            raise AdaptiveConfigError(f"window must be >= 1, got {window}")
        if not 0.0 < distance_decay <= 1.0:
            raise AdaptiveConfigError(f"distance_decay must be in (0, 1], got {distance_decay}")
        if not half_life > 0:
            raise AdaptiveConfigError(f"half_life must be > 0 seconds, got {half_life}")
        if top_k < 1:
            raise AdaptiveConfigError(f"top_k must be >= 1, got {top_k}")
        if max_keys < 1:
            raise AdaptiveConfigError(f"max_keys must be >= 1, got {max_keys}")
        if min_weight < 0:
            raise AdaptiveConfigError(f"min_weight must be >= 0, got {min_weight}")
        if batch < 1:
            raise AdaptiveConfigError(f"batch must be >= 1, got {batch}")
        if recall_k < 1:
            raise AdaptiveConfigError(f"recall_k must be >= 1, got {recall_k}")
        self.window = int(window)
        self.half_life = float(half_life)
        self.top_k = int(top_k)
        self.max_keys = int(max_keys)
        self.min_weight = float(min_weight)
        self.batch = int(batch)
        self._log = event_log
        self._rate = _LN2 / self.half_life
        self._gains = np.array([distance_decay**d for d in range(window)], dtype=np.float64)
        # key <-> node id
        self._ids: dict[Hashable, int] = {}
        self._keys: list[Hashable | None] = []
        self._free: list[int] = []
        # node arrays (grown by doubling)
        self._cap = 0
        self._act = np.zeros(0, np.float64)
        self._dst = np.zeros((0, 2 * self.top_k), np.int64)
        self._wt = np.zeros((0, 2 * self.top_k), np.float64)
        self._cnt = np.zeros(0, np.int64)
        self._stamp = np.zeros(0, np.int64)
        self._mark = np.zeros(0, np.int64)
        # what :attr:`predictions` holds per node (-1: nothing published yet)
        self._recall_k = int(recall_k)
        self._pub_n = np.zeros(0, np.int64)
        self._pub_dst = np.zeros((0, self._recall_k), np.int64)
        self._pub_conf = np.zeros((0, self._recall_k), np.float64)
        self._grow(1024)
        self._recent = np.full(self.window, -1, np.int64)
        self._istate = np.zeros(4, np.int64)  # recent count, access sequence, batch epoch, ids in use
        self._fstate = np.array([0.0, -math.inf, 0.0, self._rate, _RESCALE_EXP * _LN2])
        # the batch buffer
        self._bids = array("q")
        self._btimes = array("d")
        self._t_ids = np.zeros(0, np.int64)
        self._outputs(self.batch)
        # key -> (its top ``recall_k`` successors with confidence, their keys) or None, as of the
        # last flush: built on first lookup after the node was republished (see :meth:`lookup`)
        self._built: dict[Hashable, Entry | None] = {}
        self.accesses = 0
        self.flushes = 0

    # -- storage ------------------------------------------------------------
    def _grow(self, cap: int) -> None:
        old = self._cap
        slots = 2 * self.top_k

        def grown(a: np.ndarray, fill: float | int, shape: tuple[int, ...]) -> np.ndarray:
            out = np.full(shape, fill, dtype=a.dtype)
            out[:old] = a[:old]
            return out

        self._act = grown(self._act, 0.0, (cap,))
        self._dst = grown(self._dst, 0, (cap, slots))
        self._wt = grown(self._wt, 0.0, (cap, slots))
        self._cnt = grown(self._cnt, 0, (cap,))
        self._stamp = grown(self._stamp, _FREE, (cap,))
        self._mark = grown(self._mark, 0, (cap,))
        self._pub_n = grown(self._pub_n, -1, (cap,))
        self._pub_dst = grown(self._pub_dst, 0, (cap, self._recall_k))
        self._pub_conf = grown(self._pub_conf, 0.0, (cap, self._recall_k))
        self._cap = cap

    def _outputs(self, n: int) -> None:
        rows = max(1, n * (self.window + 1))
        self._t_ids = np.zeros(rows, np.int64)
        self._o_dst = np.zeros((rows, self._recall_k), np.int64)
        self._o_conf = np.zeros((rows, self._recall_k), np.float64)
        self._o_n = np.zeros(rows, np.int64)

    def _new_id(self, key: Hashable) -> int:
        if self._free:
            i = self._free.pop()
            self._keys[i] = key
        else:
            i = len(self._keys)
            if i >= self._cap:
                self._grow(2 * self._cap)
            self._keys.append(key)
        self._ids[key] = i
        self._built[key] = None  # a new node has nothing published: its first lookup is a dict hit
        return i

    @property
    def recall_k(self) -> int:
        """Successors kept per key in :attr:`predictions` (raising it re-derives them all)."""
        return self._recall_k

    @recall_k.setter
    def recall_k(self, k: int) -> None:
        if k < 1:
            raise AdaptiveConfigError(f"recall_k must be >= 1, got {k}")
        if int(k) != self._recall_k:
            self.flush()
            self._recall_k = int(k)
            self._outputs(self.batch)
            self._pub_dst = np.zeros((self._cap, self._recall_k), np.int64)
            self._pub_conf = np.zeros((self._cap, self._recall_k), np.float64)
            self._refresh_all()

    # -- learning -----------------------------------------------------------
    def record(self, key: Hashable, now: float) -> None:
        """Learn from one access of ``key`` at clock time ``now`` (buffered; see the module docstring)."""
        i = self._ids.get(key)
        if i is None:
            i = self._new_id(key)
        bids = self._bids
        bids.append(i)
        self._btimes.append(now)
        self.accesses += 1
        if len(bids) >= self.batch:
            self.flush()
        if self._log.enabled:
            self._log.record(now, "learning_cycle", "Synaptic_Network", "Record access pattern",
                             "recorded", key=str(key), detail="Pattern recorded")

    def flush(self) -> int:
        """Apply the buffered accesses now (one compiled pass); return how many were applied."""
        n = len(self._bids)
        if not n:
            return 0
        if n * (self.window + 1) > len(self._t_ids):
            self._outputs(n)
        self._istate[3] = len(self._keys)
        # copies, not np.frombuffer views: a view the compiled call keeps alive (numba may hold its
        # meminfo past the call) would make clearing the buffers below raise BufferError
        ids = np.array(self._bids, dtype=np.int64)
        times = np.array(self._btimes, dtype=np.float64)
        m = _fast.learn(ids, times, self._recent, self._istate, self._fstate, self._gains, self._act,
                        self._dst, self._wt, self._cnt, self._stamp, self._mark, self.top_k,
                        self._recall_k, self._t_ids, self._o_dst, self._o_conf, self._o_n,
                        self._pub_dst, self._pub_conf, self._pub_n, _REPUBLISH_EPS)
        del self._bids[:]
        del self._btimes[:]
        self.flushes += 1
        if m:
            self._publish(m)
        if len(self._ids) > self.max_keys:
            self._evict(len(self._ids) - self.max_keys + self.max_keys // 8)
        return n

    def _publish(self, m: int) -> None:
        """Forget the built entries of the ``m`` nodes the last pass republished (rebuilt on lookup)."""
        keys = self._keys
        pop = self._built.pop
        for i in self._t_ids[:m].tolist():
            pop(keys[i], None)

    def lookup(self, key: Hashable) -> Entry | None:
        """Published predictions of ``key`` as of the last flush, or None — O(1), may lag."""
        entry = self._built.get(key, _UNBUILT)
        if entry is _UNBUILT:
            return self._build(key)
        return entry  # type: ignore[return-value]

    def _build(self, key: Hashable) -> Entry | None:
        # an entry is built when it is first read after its node was republished: the hot path
        # reads one key's predictions per access, while a batch republishes most of the nodes it
        # touched (building them all eagerly cost ~2.5 µs per access)
        i = self._ids.get(key)
        if i is None:
            return None
        n = int(self._pub_n[i])
        entry: Entry | None = None
        if n > 0:
            keys = self._keys
            ds = self._pub_dst[i].tolist()
            cs = self._pub_conf[i].tolist()
            if n == 1:  # the common shapes spelt out
                a = keys[ds[0]]
                entry = (((a, cs[0]),), (a,))
            elif n == 2:
                a, b = keys[ds[0]], keys[ds[1]]
                entry = (((a, cs[0]), (b, cs[1])), (a, b))
            else:
                succ = tuple([keys[d] for d in ds[:n]])
                entry = (tuple(zip(succ, cs[:n], strict=True)), succ)
        self._built[key] = entry
        return entry

    @property
    def predictions(self) -> dict[Hashable, Entry]:
        """Every key's published predictions as of the last flush (O(keys); hot paths use lookup)."""
        lookup = self.lookup
        return {key: e for key in list(self._ids) if (e := lookup(key)) is not None}

    def _refresh_all(self) -> None:
        self._built.clear()
        n_ids = len(self._keys)
        self._republish(np.flatnonzero(self._stamp[:n_ids] != _FREE))

    def _republish(self, ids: np.ndarray) -> None:
        """Re-derive :attr:`predictions` of nodes ``ids`` from the arrays (rows are kept sorted)."""
        if not len(ids):
            return
        self._pub_n[ids] = -1  # the compiled pass republishes these at their next touch
        rk = self._recall_k
        act = self._act[ids]
        n = np.minimum(self._cnt[ids], rk)
        n[act <= 0.0] = 0
        safe = np.where(act > 0.0, act, 1.0)
        conf = np.minimum(self._wt[ids, :rk] / safe[:, None], 1.0)
        keys = self._keys
        preds = self._built
        for i, c, ds, cs in zip(ids.tolist(), n.tolist(), self._dst[ids, :rk].tolist(), conf.tolist(),
                                strict=True):
            if c:
                succ = tuple([keys[d] for d in ds[:c]])
                preds[keys[i]] = (tuple(zip(succ, cs[:c], strict=True)), succ)
            else:
                preds[keys[i]] = None

    def _forget(self, dead: np.ndarray, cut: float = -1.0) -> int:
        """Free the node ids flagged in ``dead`` and drop links to them (and links below ``cut``)."""
        n_ids = len(self._keys)
        dropped = _fast.drop_links(dead, cut, self._act, self._dst, self._wt, self._cnt, self._recent,
                                   int(self._istate[0]), n_ids)
        idx = np.flatnonzero(dead[:n_ids])
        self._stamp[idx] = _FREE
        keys = self._keys
        self._pub_n[idx] = -1
        for i in idx.tolist():
            key = keys[i]
            del self._ids[key]
            keys[i] = None
            self._built.pop(key, None)
            self._free.append(i)
        return dropped

    def _evict(self, count: int) -> None:
        n_ids = len(self._keys)
        count = min(count, len(self._ids))
        oldest = np.argpartition(self._stamp[:n_ids], count - 1)[:count]
        dead = np.zeros(self._cap, np.uint8)
        dead[oldest] = 1
        self._forget(dead)

    # -- queries ------------------------------------------------------------
    def recall(self, key: Hashable, k: int = 2) -> Prediction:
        """Up to ``k`` (at most :attr:`recall_k`) successors as of the last flush — O(1), may lag."""
        entry = self.lookup(key)
        return [] if entry is None else list(entry[0][:k])

    def predict(self, key: Hashable, k: int = 3) -> list[tuple[Hashable, float]]:
        """Up to ``k`` likely successors of ``key`` with confidence in [0, 1], best first (exact)."""
        self.flush()
        i = self._ids.get(key)
        if i is None:
            return []
        a = float(self._act[i])
        c = min(int(self._cnt[i]), k)
        if a <= 0.0 or not c:
            return []
        keys = self._keys
        pairs = zip(self._dst[i, :c].tolist(), self._wt[i, :c].tolist(), strict=True)
        return [(keys[d], min(1.0, w / a)) for d, w in pairs]

    def _decay(self, now: float) -> float:
        t_ref = self._fstate[0]
        return math.exp(-(now - t_ref) * self._rate)

    def weight(self, src: Hashable, dst: Hashable, now: float) -> float:
        """Decayed weight of the link ``src → dst`` at ``now`` (0 if absent)."""
        self.flush()
        i, j = self._ids.get(src), self._ids.get(dst)
        if i is None or j is None or not self._fstate[2]:
            return 0.0
        c = int(self._cnt[i])
        hit = np.flatnonzero(self._dst[i, :c] == j)
        return float(self._wt[i, hit[0]]) * self._decay(now) if len(hit) else 0.0

    def activation(self, key: Hashable, now: float) -> float:
        """Decayed activation (access count) of ``key`` at ``now``."""
        self.flush()
        i = self._ids.get(key)
        if i is None or not self._fstate[2]:
            return 0.0
        return float(self._act[i]) * self._decay(now)

    def prune(self, now: float) -> int:
        """Drop links decayed below ``min_weight`` and cold empty nodes; return links dropped."""
        self.flush()
        if not self._fstate[2]:
            return 0
        cut = self.min_weight / self._decay(now)
        n_ids = len(self._keys)
        live = self._stamp[:n_ids] != _FREE
        dead = np.zeros(self._cap, np.uint8)
        # a node dies with no links left above the cut, a decayed activation below it, and no
        # surviving link pointing to it (nor a place in the learning window)
        strong = (self._wt[:n_ids] >= cut) & (np.arange(self._dst.shape[1]) < self._cnt[:n_ids, None])
        dead[:n_ids] = live & ~strong.any(axis=1) & (self._act[:n_ids] < cut)
        dead[self._dst[:n_ids][strong]] = 0
        dead[self._recent[self._recent >= 0]] = 0
        before = self._cnt[:n_ids].copy()
        dropped = self._forget(dead, cut)
        self._republish(np.flatnonzero((self._cnt[:n_ids] != before) & (self._stamp[:n_ids] != _FREE)))
        return dropped

    # -- size ---------------------------------------------------------------
    def __len__(self) -> int:
        if self._bids:
            self.flush()
        return len(self._ids)

    def __contains__(self, key: object) -> bool:
        return key in self._ids

    def n_links(self) -> int:
        """Number of links held."""
        self.flush()
        return int(self._cnt[: len(self._keys)].sum())

    def successors(self, key: Hashable) -> int:
        """Number of successor links of ``key``."""
        self.flush()
        i = self._ids.get(key)
        return 0 if i is None else int(self._cnt[i])

    def memory_bytes(self) -> int:
        """Estimate of the bytes held (arrays, maps, buffers; keys are shared with the cache)."""
        arrays = (self._act, self._dst, self._wt, self._cnt, self._stamp, self._mark, self._t_ids,
                  self._o_dst, self._o_conf, self._o_n)
        total = sum(a.nbytes for a in arrays) + sys.getsizeof(self._ids) + sys.getsizeof(self._keys)
        total += sys.getsizeof(self._built) + 120 * len(self._built)
        return total + self._bids.itemsize * self._bids.buffer_info()[1] * 2
