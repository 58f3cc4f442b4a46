"""Predictive prefetching: fetch what the synaptic network expects next, and measure whether it paid.

Mechanism (the seed's "Predictive Prefetching" diagram)::

    after a demand access of X:
        for (Y, c) in network.recall(X, fanout):           # best first, as of the last batch
            if c < threshold: break
            if budget for this cycle is spent or too many fetches are in flight: break
            if target.contains(Y): continue                  # peek, no metadata touched
            value = loader(Y)                                # charged as a source fetch
            target.set(Y, value, low_priority=True)          # cannot flush hot data
            outstanding[Y] = (ready_at, bytes)

    on each demand access of K (told by the layer, with hit/miss):
        K outstanding and ready and hit   -> used, timely  (a demand miss avoided)
        K outstanding and not yet ready   -> used, late    (the demand waits: still a miss)
        K outstanding, ready, but a miss  -> wasted        (evicted before use, unnoticed)
        not hit                            -> demand miss

What became of the prefetches is counted in :class:`~supreme.adaptive.prefetch_stats.PrefetchStats`
(accuracy, coverage, timeliness, waste).

Adaptive admission (beyond the diagram)
--------------------------------------
* Two predictors: the synaptic network (keys seen to follow ``X``) and a
  :class:`~supreme.adaptive.stride.StridePredictor` (the next member of a numbered sequence, e.g.
  the next candle), when given.  Every prefetch remembers its predictor; each cycle the predictors
  are ordered by their measured accuracy in the window (the better one is served first) and one
  below ``mute_below`` is muted — it then only *probes* (one candidate in ``probe_every``), so it
  is un-muted when its accuracy recovers.  This is feedback-directed prefetching (Srinath, Mutlu,
  Kim & Patt, "Feedback Directed Prefetching", HPCA 2007) per predictor.
* Per key: a key whose last ``waste_limit`` prefetches were evicted unused is not prefetched again
  until a cycle halves its count (dead-prefetch filtering, cf. Lin, Reinhardt & Burger's
  "Filtering Superfluous Prefetches", HPCA 2001 — at key rather than address granularity).

Hot path: with no predictor muted and no event log, candidates are checked in place (no candidate
list), and the budget limits are only consulted when one is set or could be reached in this call;
each outstanding prefetch is one dict entry ``key -> (ready_at, bytes, predictor)``.

Departure: a prefetched key the engine is not told was evicted is discovered lazily — at its next
demand access (a miss) or at :meth:`sweep` (run by the learning cycle) — so ``wasted`` may lag.
"""

from __future__ import annotations

import heapq
import json
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from supreme.adaptive.prefetch_stats import PrefetchStats
from supreme.adaptive.stride import StridePredictor
from supreme.adaptive.synapses import AdaptiveConfigError, SynapticNetwork
from supreme.cache.protocols import Loader, PrefetchTarget
from supreme.events import NULL_LOG, EventLog

__all__ = ["PrefetchEngine"]


def _default_size(value: Any) -> int:
    if isinstance(value, (bytes, bytearray, str)):
        return len(value)
    return 0


class PrefetchEngine:
    """Issues prefetches for confident predictions and tracks what became of them."""

    def __init__(
        self,
        network: SynapticNetwork,
        target: PrefetchTarget,
        loader: Loader,
        *,
        threshold: float = 0.4,
        fanout: int = 2,
        budget_per_cycle: int | None = None,
        max_inflight: int = 32,
        max_outstanding: int | None = None,
        latency: Callable[[str], float] | None = None,
        size_of: Callable[[Any], int] = _default_size,
        event_log: EventLog = NULL_LOG,
        stride: StridePredictor | None = None,
        waste_limit: int = 2,
        mute_below: float = 0.3,
        min_source_issued: int = 20,
        probe_every: int = 16,
        evicted_memory: int = 4096,
        early_horizon: int | None = None,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise AdaptiveConfigError(f"prefetch threshold must be in [0, 1], got {threshold}")
        if fanout < 1:
            raise AdaptiveConfigError(f"prefetch fanout must be >= 1, got {fanout}")
        if budget_per_cycle is not None and budget_per_cycle < 0:
            raise AdaptiveConfigError(f"budget_per_cycle must be >= 0, got {budget_per_cycle}")
        if max_inflight < 1:
            raise AdaptiveConfigError(f"max_inflight must be >= 1, got {max_inflight}")
        self.network = network
        if network.recall_k < fanout:
            network.recall_k = fanout  # the network keeps this many successors ready per key
        self.target = target
        self.loader = loader
        self.threshold = float(threshold)
        self.fanout = int(fanout)
        self.budget_per_cycle = budget_per_cycle
        self.max_inflight = int(max_inflight)
        self.max_outstanding = max_outstanding
        self.latency = latency
        self.size_of = size_of
        self._log = event_log
        self.stats = PrefetchStats()
        self.window = PrefetchStats()
        self._cycle_issued = 0
        # key -> (ready_at, bytes, the predictor that asked for it)
        self._outstanding: dict[str, tuple[float, int, str, int]] = {}  # ... and demand accesses at issue
        self._inflight: list[float] = []  # heap of ready_at of fetches not yet complete
        self.last_predicted: tuple[object, ...] = ()  # keys predicted after the last access
        self.stride = stride
        self.waste_limit = int(waste_limit)
        self.mute_below = float(mute_below)
        self.min_source_issued = int(min_source_issued)
        self.probe_every = max(1, int(probe_every))
        self._wasted_keys: dict[str, int] = {}  # key -> recent wasted prefetches (halved each cycle)
        # prefetched keys evicted unused, oldest first (bounded): a later demand for one was a right guess
        # key -> (predictor, demand accesses at issue), oldest first: an OrderedDict, as a plain dict
        # used as a FIFO makes next(iter(d)) skip every slot deleted since its last resize
        self._evicted: OrderedDict[str, tuple[str, int]] = OrderedDict()
        self.evicted_memory = max(0, int(evicted_memory))
        # a demand within this many accesses of the prefetch makes an evicted one a right guess
        # (default: the target's budget, the longest lead a prefetch area of at most half of it holds)
        if early_horizon is None:
            early_horizon = int(getattr(target, "budget", 256) or 256) // 2
        self.early_horizon = max(1, int(early_horizon))
        self.sources: dict[str, PrefetchStats] = {"synaptic": PrefetchStats(), "stride": PrefetchStats()}
        self.muted: set[str] = set()
        self._active: set[str] = set()  # predictors that have issued at least one prefetch
        self.order: tuple[str, ...] = ("synaptic", "stride")
        self._probe = 0
        self.skipped_admission = 0
        self.source_history: list[dict[str, Any]] = []

    # -- demand side ----------------------------------------------------------
    def on_demand(self, key: str, hit: bool, now: float) -> None:
        """Account one demand access (call before :meth:`after_access`)."""
        st, win = self.stats, self.window
        st.demand_accesses += 1
        win.demand_accesses += 1
        if not hit:
            st.demand_misses += 1
            win.demand_misses += 1
        outstanding = self._outstanding
        entry = outstanding.pop(key, None) if outstanding else None
        if entry is None:
            if not hit and self._evicted:
                self._right_too_early(key)
            return
        if entry[0] > now:
            st.late += 1
            win.late += 1
            self.sources[entry[2]].late += 1
        elif hit:
            st.timely += 1
            win.timely += 1
            self.sources[entry[2]].timely += 1
        else:
            # the guess was right but the entry was evicted first: wasted, yet not a dead prefetch
            self._waste(entry[1], key, entry[2], early=True)
        if hit and self._wasted_keys:
            self._wasted_keys.pop(key, None)

    def _waste(self, nbytes: int, key: str, source: str, early: bool = False, issued_at: int = 0) -> None:
        for s in (self.stats, self.window, self.sources[source]):
            s.wasted += 1
            s.wasted_bytes += nbytes
            s.early += early
        if early:
            return
        self._wasted_keys[key] = self._wasted_keys.get(key, 0) + 1
        if self.evicted_memory:
            evicted = self._evicted
            evicted.pop(key, None)
            evicted[key] = (source, issued_at)
            if len(evicted) > self.evicted_memory:
                evicted.popitem(last=False)

    def _right_too_early(self, key: str) -> None:
        """A demand miss on a prefetched key evicted unused: the guess was right, the entry went first."""
        found = self._evicted.pop(key, None)
        if found is None or self.stats.demand_accesses - found[1] > self.early_horizon:
            return
        source = found[0]
        for s in (self.stats, self.window, self.sources[source]):
            s.early += 1
        count = self._wasted_keys.get(key, 0)
        if count > 1:
            self._wasted_keys[key] = count - 1  # not a dead prefetch after all
        elif count:
            del self._wasted_keys[key]

    def note_evicted(self, keys: Iterable[str]) -> None:
        """The cache evicted ``keys``: unused prefetched ones among them are wasted."""
        if not self._outstanding:
            return
        for key in keys:
            entry = self._outstanding.pop(key, None)
            if entry is not None:
                self._waste(entry[1], key, entry[2], issued_at=entry[3])

    def sweep(self) -> int:
        """Find prefetched entries that left the cache unused (peeking); return how many."""
        gone = [k for k in self._outstanding if not self.target.contains(k)]
        self.note_evicted(gone)
        return len(gone)

    def pending(self, key: str, now: float) -> bool:
        """Whether ``key`` is a prefetch still in flight at ``now`` (a demand for it would wait)."""
        entry = self._outstanding.get(key)
        return entry is not None and entry[0] > now

    @property
    def all_muted(self) -> bool:
        """Every predictor that has ever prefetched is muted (prefetching does not pay: only probes)."""
        return bool(self._active) and self._active <= self.muted

    @property
    def outstanding(self) -> int:
        """Prefetched entries not yet used nor known to be evicted."""
        return len(self._outstanding)

    def is_outstanding(self, key: str) -> bool:
        """Whether ``key`` is a prefetched, not yet used entry."""
        return key in self._outstanding

    # -- prefetch side --------------------------------------------------------
    def after_access(self, key: str, now: float) -> int:
        """Prefetch confident predictions of what follows ``key``; return prefetches issued.

        The synaptic predictions are the network's :attr:`~SynapticNetwork.predictions` as of its
        last batch (they lag by less than ``network.batch`` accesses); the stride predictor learns
        from ``key`` first.
        """
        stride = self.stride.observe(key) if self.stride is not None else None
        thr = self.threshold
        entry = self.network.lookup(key)
        if entry is None:
            self.last_predicted = ()
            if stride is None or stride[1] < thr:
                return 0
            links: Sequence[tuple[Any, float]] = ()
        else:
            links, succ = entry
            if len(succ) > self.fanout:
                links = links[: self.fanout]
                succ = succ[: self.fanout]
            self.last_predicted = succ
            if links[0][1] < thr and (stride is None or stride[1] < thr):
                return 0
        return self._issue(key, now, links, stride)

    def _blocked(self) -> str | None:
        """Why no further prefetch may be issued now (cycle budget, in-flight or area limit), or None."""
        budget = self.budget_per_cycle
        if budget is not None and self._cycle_issued >= budget:
            return "cycle budget spent"
        if len(self._inflight) >= self.max_inflight:
            return "too many in flight"
        max_out = self.max_outstanding
        if max_out is not None and len(self._outstanding) >= max_out:
            return "prefetch budget full"
        return None

    def _issue(self, key: str, now: float, links: Sequence[tuple[Any, float]],
               stride: tuple[str, float] | None) -> int:
        if self.muted or self._log.enabled:
            return self._issue_general(key, now, links, stride)
        # the common case, without candidate lists: same order and outcome as _issue_general
        inflight = self._inflight
        while inflight and inflight[0] <= now:
            heapq.heappop(inflight)
        thr = self.threshold
        outstanding = self._outstanding
        contains = self.target.contains
        wasted = self._wasted_keys
        limit = self.waste_limit
        # limits only matter once set or near: skip the checks in the common unlimited case
        limited = (self.budget_per_cycle is not None or self.max_outstanding is not None
                   or len(inflight) + self.fanout + 1 >= self.max_inflight)
        blocked = self._blocked() if limited else None
        issued = cached = 0
        stop = False
        for src in self.order:
            if src == "stride":
                if stride is None:
                    continue
                options: Sequence[tuple[Any, float]] = (stride,)
            else:
                options = links
            for cand, conf in options:
                if conf < thr:
                    break  # best first
                ckey = cand if cand.__class__ is str else str(cand)
                if blocked is not None:
                    self._skip_budget(now, ckey, blocked)
                    stop = True
                    break
                if ckey in outstanding or contains(ckey):
                    cached += 1
                    continue
                if wasted and wasted.get(ckey, 0) >= limit:
                    self.skipped_admission += 1  # its recent prefetches were evicted unused
                    continue
                if self._fetch(ckey, conf, now, src):
                    issued += 1
                    if limited:
                        blocked = self._blocked()
            if stop:
                break
        if cached:
            self.stats.skipped_cached += cached
            self.window.skipped_cached += cached
        return issued

    def _issue_general(self, key: str, now: float, links: Sequence[tuple[Any, float]],
                       stride: tuple[str, float] | None) -> int:
        thr = self.threshold
        cands: list[tuple[object, float, str]] = []
        for src in self.order:
            if src == "stride":
                if stride is not None and stride[1] >= thr:
                    cands.append((stride[0], stride[1], "stride"))
            else:
                for k, c in links:
                    if c < thr:
                        break  # best first
                    cands.append((k, c, "synaptic"))
        if self.muted:
            kept: list[tuple[object, float, str]] = []
            for option in cands:
                if option[2] in self.muted:
                    self._probe += 1
                    if self._probe % self.probe_every:
                        continue  # a muted predictor only probes, to notice when it becomes useful
                kept.append(option)
            cands = kept
        logging = self._log.enabled
        if logging:
            self._log.record(now, "prefetch", "Synaptic_Network", "Get related predictions", "ok", key=key,
                             detail=json.dumps([[str(k), round(c, 4), src] for k, c, src in cands]))
        issued = 0
        inflight = self._inflight
        while inflight and inflight[0] <= now:
            heapq.heappop(inflight)
        wasted = self._wasted_keys
        budget = self.budget_per_cycle
        max_out = self.max_outstanding
        outstanding = self._outstanding
        contains = self.target.contains
        for cand, conf, src in cands:
            ckey = cand if cand.__class__ is str else str(cand)
            if budget is not None and self._cycle_issued >= budget:
                self._skip_budget(now, ckey, "cycle budget spent")
                break
            if len(inflight) >= self.max_inflight:
                self._skip_budget(now, ckey, "too many in flight")
                break
            if max_out is not None and len(outstanding) >= max_out:
                self._skip_budget(now, ckey, "prefetch budget full")
                break
            if ckey in outstanding or contains(ckey):
                self.stats.skipped_cached += 1
                self.window.skipped_cached += 1
                if logging:
                    self._log.record(now, "prefetch", "Prefetch_Engine", "Check if already cached", "cached",
                                     key=ckey)
                continue
            if wasted and wasted.get(ckey, 0) >= self.waste_limit:
                self.skipped_admission += 1  # its recent prefetches were evicted unused
                if logging:
                    self._log.record(now, "prefetch", "Prefetch_Engine", "Prefetch predicted items",
                                     "rejected", key=ckey, detail="recent prefetches of this key wasted")
                continue
            if self._fetch(ckey, conf, now, src):
                issued += 1
        return issued

    def _skip_budget(self, now: float, key: str, why: str) -> None:
        self.stats.skipped_budget += 1
        self.window.skipped_budget += 1
        if self._log.enabled:
            self._log.record(now, "prefetch", "Prefetch_Engine", "Prefetch predicted items", "rejected",
                             key=key, detail=why)

    def _fetch(self, key: str, conf: float, now: float, source: str = "synaptic") -> bool:
        logging = self._log.enabled
        if logging:
            self._log.record(now, "prefetch", "Prefetch_Engine", "Check if already cached", "not_cached",
                             key=key)
        try:
            value = self.loader(key)
        except Exception as exc:  # a speculative fetch must never break the demand path
            self.stats.errors += 1
            self.window.errors += 1
            if logging:
                self._log.record(now, "prefetch", "Data_Source", "Fetch predicted data", "error", key=key,
                                 detail=f"{type(exc).__name__}: {exc}")
            return False
        nbytes = self.size_of(value)
        latency = self.latency
        ready_at = now + latency(key) if latency is not None else now
        # register before storing: a store that evicts an outstanding prefetch reports it back
        self._outstanding[key] = (ready_at, nbytes, source, self.stats.demand_accesses)
        self.sources[source].issued += 1
        if ready_at > now:
            heapq.heappush(self._inflight, ready_at)
        self.target.set(key, value, None, True)
        self._cycle_issued += 1
        st = self.stats
        st.issued += 1
        st.fetched_bytes += nbytes
        st = self.window
        st.issued += 1
        st.fetched_bytes += nbytes
        if logging:
            self._log.record(now, "prefetch", "Data_Source", "Fetch predicted data", "ok", key=key,
                             tier="source", nbytes=nbytes, latency=ready_at - now)
            self._log.record(now, "prefetch", "Cache_Manager", "Store prefetched data", "ok", key=key,
                             nbytes=nbytes, detail=json.dumps({"confidence": round(conf, 4)}))
        return True

    # -- cycle ------------------------------------------------------------------
    def new_cycle(self) -> PrefetchStats:
        """Start a new learning-cycle window; return the window that just ended.

        Per predictor, the window's prediction accuracy ((used + early) / issued: right guesses,
        whether or not the entry lasted until its use, so a prefetch area too small to hold them
        does not mute a good predictor — sizing the area is the adapter's job) orders the predictors
        for the next cycle (the more accurate one gets the budget first) and mutes one below
        ``mute_below`` (it then only probes: one candidate in ``probe_every`` is still issued, so it
        can recover).  A predictor with fewer than ``min_source_issued`` prefetches keeps counting
        into the next cycle, so a rarely confident predictor is judged too (over several cycles).
        Per key, wasted-prefetch counts are halved (forgiveness).
        """
        ended = self.window
        self.window = PrefetchStats()
        self._cycle_issued = 0
        acc: dict[str, float] = {}
        fresh = dict(self.sources)
        for name, st in self.sources.items():
            if st.issued:
                self._active.add(name)
            if st.issued >= self.min_source_issued:
                acc[name] = st.prediction_accuracy
                if acc[name] < self.mute_below:
                    self.muted.add(name)
                else:
                    self.muted.discard(name)
                fresh[name] = PrefetchStats()
            else:  # too few prefetches to judge: keep counting into the next cycle
                acc[name] = math.nan
        self.order = tuple(sorted(self.sources, key=lambda n: -(acc[n] if acc[n] == acc[n] else 0.5)))
        self.source_history.append({"accuracy": acc, "issued": {n: s.issued for n, s in self.sources.items()},
                                    "muted": sorted(self.muted), "order": list(self.order)})
        del self.source_history[:-64]
        self.sources = fresh
        self._wasted_keys = {k: v // 2 for k, v in self._wasted_keys.items() if v > 1}
        return ended
