"""Cache adapter: turns a learning cycle's evidence into three bounded, logged adaptations.

(a) Budget split — demand entries vs prefetched-but-unused entries, total fixed
-------------------------------------------------------------------------------
The cache's budget ``B`` is split into a demand area ``B - P`` and a prefetch area ``P``.  Each cycle
compares two marginal utilities, both in "demand hits per slot per access":

* demand:   ``(hits(C) - hits(C - Δ)) / Δ / accesses`` from two shadow copies of the current policy,
  at the demand size ``C`` and at ``C - Δ`` (``Δ = C/8``) — the hits the last ``Δ`` slots earn;
* prefetch: ``used prefetches / mean prefetch-area occupancy / accesses`` — the hits a prefetch
  slot earned on average (an over-estimate of its marginal value, so growth is conservative:
  ``P`` moves by ``B/16`` only when one utility exceeds the other by more than 10 %).

``P`` stays within ``[B/32, B/2]`` while prefetching is on (the floor keeps measuring it), and falls
to 0 while every predictor of the engine is muted (only probes are issued then, measured as
low-priority inserts into the demand area); it returns to the floor when one is un-muted.  It also
falls to 0 when, *at the floor*, a prefetch slot still earns fewer hits than the last demand slots
(an accurate predictor with negligible coverage: one slot of a small cache is worth more to demand
entries); prefetches then land low-priority in the demand area, where their hits are still counted,
and ``P`` returns to the floor when they earn more — or, to re-measure fairly, after 2, 4, … 32
cycles at 0 (exponential back-off after each failed re-measure).  This is
utility-based partitioning (Qureshi & Patt, "Utility-Based Cache Partitioning", MICRO 2006) with two
partitions and shadow ("ghost") estimates of the demand side.

(b) Eviction policy — replayed shadow caches, a significance test, a good default
---------------------------------------------------------------------------------
Every candidate policy (registry names) is simulated as a key-only shadow over the demand stream at
the demand size ``C``.  The hot path only appends the key to a list; once per cycle the
:class:`ShadowBank` *replays* the window, preceded by the tail of earlier windows as warm-up, through
every candidate in one batch — the compiled trace kernels of :mod:`supreme.cache.kernels` (numba,
hit-for-hit equal to the policy classes; the classes themselves if the kernels are missing).
Replaying costs ~40 ns per sampled access per candidate instead of 0.5-10 µs per access per
candidate for live Python shadows, and removes all warm-state bookkeeping on resize and switch.

Large caches are *spatially sampled* (SHARDS: Waldspurger, Park, Garthwaite & Ahmad, "Efficient MRC
Construction with SHARDS", FAST 2015; miniature simulation: Waldspurger et al., USENIX ATC 2017): a key
takes part iff ``hash(key) < R · 2^64`` (a fixed, seed-free hash, so the same keys every window) and
each shadow has capacity ``R · C`` with ``R = max(rate, min_shadow_capacity / C)`` — the minimum
sample size keeps small shadows from degenerating (``R = 1``, exact, below ``min_shadow_capacity``).

Switching rule (per cycle)::

    best  = argmax_p hit_ratio(shadow p)
    d_i   = hit_best(i) - hit_current(i)     for each sampled access i of the window (paired)
    t     = mean(batch means of d) / (sd(batch means) / sqrt(B))     B = 8 contiguous batches
    switch iff sampled >= min_window and mean(d) >= switch_margin and t >= switch_t
               for switch_patience consecutive cycles

Batch means (the standard remedy for autocorrelated simulation output) keep one lucky burst from
triggering a switch; the paired test needs far fewer accesses than comparing two independent
ratios, so the patience defaults to one cycle — less switching lag than the old 2-cycle streak.

History (``history_decay`` > 0, the default): the batch means of up to ``history_windows`` earlier
windows at the same demand size enter ``best``, ``mean(d)`` and ``t`` with weight ``decay^age``
(a weighted mean, and the weighted variance over Kish's effective sample size).  A candidate that
is ahead window after window by a little is then recognised although no single window is
significant, and an old regime fades within a few windows.  Shadows are replayed from scratch each
window, so their history stays valid across switches; a resize starts it afresh.

Resting losers: a candidate significantly *behind* the current policy (weighted gain at most
``-switch_margin`` with ``t <= -switch_t``) is not replayed for 2 cycles, then 4, 8 … up to
``dormant_max_cycles`` while it keeps losing when re-checked (successive elimination with
re-checks, as in bandit algorithms).  Its older windows stay in the history with their decaying
weights, each candidate is compared with the current policy on the windows it was replayed in,
and only a candidate replayed in this window may win.  On ``bench_adaptive`` this removes 10-30 %
of the replay work and changes no miss ratio; it can delay a switch (notebook 04's shorter
zipf_shifting run: 0.435 instead of 0.432).  ``dormant_max_cycles=0`` replays every candidate always.

Replay cost: with sampling (``R < 1``) the warm-up keeps only its sampled keys (and their
positions) from one window to the next, so each cycle hashes and factorises only the new window.

Candidates: besides the classic policies, LRFU (:mod:`supreme.cache.policies.lrfu`) at five
half-lives, 2 to 32 cache sizes apart by factors of two.  Choosing among them is how the adapter
learns *how fast popularity moves*: bursts around volatile symbols want a long memory (16-32), a
candle walk a short one (LRU-like), and the shadows measure which on the live stream.  LRFU keeps a
ghost history of evicted keys' decayed counts, so a symbol whose burst returns comes back with its
weight.

Start policy: a live cache starts on ``start_policy`` (S3-FIFO: Yang et al., "FIFO Queues are All You
Need for Cache Eviction", SOSP 2023 — robust across the workloads here and cheap per access) when it
is a candidate, instead of waiting for LRU to lose; this is logged as an ordinary switch.

(c) Prefetch threshold
----------------------
Accuracy (used / issued) in the window below ``acc_low`` raises the confidence threshold by
``threshold_step``; above ``acc_high`` *and* with the prefetch area not full lowers it; bounded to
``[threshold_min, threshold_max]``.  Needs ``min_issued`` prefetches in the window to act.

Every adaptation is an event (flow ``learning_cycle``, component ``Cache_Adapter``) whose
``detail`` is JSON with the reason and the figures behind it.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from supreme.adaptive import _policies
from supreme.adaptive.analyzer import AnalysisReport
from supreme.adaptive.prefetch import PrefetchEngine, PrefetchStats
from supreme.adaptive.synapses import AdaptiveConfigError
from supreme.cache.protocols import AdaptationTarget
from supreme.events import NULL_LOG, EventLog

__all__ = ["DEFAULT_CANDIDATES", "Adaptation", "AdapterSettings", "CacheAdapter", "ShadowBank"]

_SMALLER = "__current_smaller__"

#: recency, frequency, adaptive recency/frequency, scan-resistant FIFO, lazy promotion, admission filter,
#: and decayed frequency at half-lives of 2..32 cache sizes (the shadows learn the half-life)
DEFAULT_CANDIDATES: tuple[str, ...] = ("lru", "lfu", "arc", "s3fifo", "sieve", "wtinylfu",
                                       "lrfu:2", "lrfu:4", "lrfu", "lrfu:16", "lrfu:32")


class ShadowBank:
    """Key-only shadow caches of candidate policies, replayed in batch over a spatially sampled stream."""

    def __init__(
        self,
        candidates: Sequence[str],
        capacity: int,
        current: str,
        *,
        rate: float = 0.1,
        min_shadow_capacity: int = 256,
        warmup: int | None = None,
        max_window: int = 1 << 17,
        batches: int = 8,
        use_kernels: bool = True,
    ) -> None:
        if not candidates:
            raise AdaptiveConfigError("ShadowBank needs at least one candidate policy")
        if not 0.0 < rate <= 1.0:
            raise AdaptiveConfigError(f"shadow sampling rate must be in (0, 1], got {rate}")
        if min_shadow_capacity < 2:
            raise AdaptiveConfigError(f"min_shadow_capacity must be >= 2, got {min_shadow_capacity}")
        if batches < 2:
            raise AdaptiveConfigError(f"shadow batches must be >= 2, got {batches}")
        self.candidates = list(dict.fromkeys(candidates))
        self.base_rate = float(rate)
        self.min_shadow_capacity = int(min_shadow_capacity)
        self.current = current
        self.fixed_warmup = warmup
        self.max_window = int(max_window)
        self.batches = int(batches)
        self.use_kernels = bool(use_kernels)
        self.capacity = 0
        self.rate = 1.0
        self.shadows: dict[str, int] = {}  # name -> shadow capacity (the smaller twin under _SMALLER)
        self._window: list[Hashable] = []  # every demand key of this window; sampling happens in batch
        self._warm: list[Hashable] = []  # tail of earlier windows, replayed first to warm the shadows
        self._flags: dict[str, np.ndarray] | None = None  # per sampled window access: 1 = shadow hit
        # sampled warm-up keys and their positions in _warm, valid for _warm_rate (SHARDS only)
        self._warm_keys: list[Hashable] = []
        self._warm_pos = np.zeros(0, np.int64)
        self._warm_rate = math.nan
        self._win_pos: np.ndarray | None = None  # positions of the sampled window keys (last replay)
        self._win_len = -1  # window length when _win_pos was taken
        self._sampled = 0
        self.replays = 0
        self.dormant: set[str] = set()  # candidates not replayed for now (the adapter rests losers)
        self.resize(capacity)

    # -- geometry --------------------------------------------------------------------
    def resize(self, capacity: int) -> None:
        """Follow a new demand size (shadows hold no state between replays, so this is free)."""
        if capacity < 1:
            raise AdaptiveConfigError(f"shadow capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.rate = min(1.0, max(self.base_rate, self.min_shadow_capacity / self.capacity))
        cap = max(2, round(self.rate * self.capacity))
        small = max(1, cap - max(1, cap // 8))
        self.shadows = dict.fromkeys(self.candidates, cap)
        self.shadows[self.current] = cap
        self.shadows[_SMALLER] = small
        self.dormant.clear()
        self._flags = None

    @property
    def shadow_capacity(self) -> int:
        """Capacity of each full-size shadow (``rate`` x demand size)."""
        return self.shadows[self.current]

    @property
    def delta(self) -> int:
        """Slots between the full-size and the smaller shadow of the current policy."""
        return self.shadow_capacity - self.shadows[_SMALLER]

    @property
    def warmup(self) -> int:
        """Raw accesses of earlier windows replayed before the window (about 8 shadow fills)."""
        if self.fixed_warmup is not None:
            return int(self.fixed_warmup)
        return int(min(1 << 16, max(1024, math.ceil(8 * self.shadow_capacity / self.rate))))

    # -- hot path --------------------------------------------------------------------
    def access(self, key: Hashable) -> None:
        """Feed one demand access (O(1): appended; shadows are replayed once per window)."""
        self._window.append(key)
        self._flags = None

    @property
    def appender(self) -> Callable[[Hashable], None]:
        """``list.append`` of the window: the layer's hot path calls it directly (stable per bank)."""
        return self._window.append

    # -- evaluation --------------------------------------------------------------------
    def _evaluate(self) -> dict[str, np.ndarray]:
        if self._flags is not None:
            return self._flags
        window = self._window[-self.max_window:]
        flags: dict[str, np.ndarray] = {}
        if not window:
            self._sampled = 0
            self._win_pos = np.zeros(0, np.int64)
            self._flags = {name: np.zeros(0, np.uint8) for name in self.shadows}
            return self._flags
        if self.rate < 1.0:
            # SHARDS: a key takes part iff hash(key) < rate * 2^64, the same keys in every window;
            # the warm-up keeps only its sampled keys, so only the window is hashed here
            warm = self._warm_sampled_keys()
            wcodes, wuniq = pd.factorize(np.asarray(window, dtype=object), sort=False)
            keep = self._keep_mask(wuniq)
            pos = np.flatnonzero(keep[wcodes])
            self._win_pos = pos
            self._win_len = len(self._window)
            win_arr = np.asarray(window, dtype=object)[pos] if len(pos) else np.zeros(0, dtype=object)
            seq = np.concatenate([np.asarray(warm, dtype=object), win_arr]) if warm else win_arr
            n_warm = len(warm)
        else:
            seq = np.asarray(self._warm + window, dtype=object)
            n_warm = len(self._warm)
        codes, uniques = pd.factorize(seq, sort=False)
        codes = codes.astype(np.int64, copy=False)
        self._sampled = len(codes) - n_warm
        n_obj = len(uniques)
        for name, cap in self.shadows.items():
            if name in self.dormant:
                continue
            policy = self.current if name == _SMALLER else name
            flags[name] = _replay(policy, codes, cap, n_obj, self.use_kernels)[n_warm:]
        self.replays += 1
        self._flags = flags
        return flags

    def _keep_mask(self, uniques: Any) -> np.ndarray:
        """SHARDS membership of each distinct key at the current rate (a fixed, seed-free hash)."""
        hashed = pd.util.hash_array(np.asarray([str(u) for u in uniques], dtype=object), categorize=False)
        return np.asarray(hashed < np.uint64(int(self.rate * float(1 << 64)) - 1))

    def _warm_sampled_keys(self) -> list[Hashable]:
        """The sampled keys of the warm-up (kept with their positions; re-derived if the rate moved)."""
        if self._warm_rate != self.rate:
            if self._warm:
                codes, uniq = pd.factorize(np.asarray(self._warm, dtype=object), sort=False)
                self._warm_pos = np.flatnonzero(self._keep_mask(uniq)[codes])
            else:
                self._warm_pos = np.zeros(0, np.int64)
            self._warm_keys = [self._warm[i] for i in self._warm_pos.tolist()]
            self._warm_rate = self.rate
        return self._warm_keys

    @property
    def sampled(self) -> int:
        """Sampled demand accesses in the window (the shadows' sample size)."""
        self._evaluate()
        return self._sampled

    def hit_ratios(self) -> dict[str, float]:
        """Hit ratio of each candidate over the sampled window (NaN if empty)."""
        flags = self._evaluate()
        n = self._sampled
        return {name: (float(f.sum()) / n if n else math.nan)
                for name, f in flags.items() if name != _SMALLER}

    def advantage(self, name: str) -> tuple[float, float]:
        """(hit-ratio gain of ``name`` over the current policy, its t statistic by batch means).

        Both shadows saw the same accesses, so the per-access difference is paired; accesses are
        autocorrelated, so the standard error comes from ``batches`` contiguous batch means.
        """
        flags = self._evaluate()
        n = self._sampled
        if not n or name not in flags:
            return math.nan, math.nan
        diff = flags[name].astype(np.int8) - flags[self.current].astype(np.int8)
        gain = float(diff.mean())
        b = self.batches
        per = n // b
        if per < 1:
            return gain, math.nan
        means = diff[: per * b].reshape(b, per).mean(axis=1)
        sd = float(means.std(ddof=1))
        if sd == 0.0:
            return gain, (math.inf if gain > 0 else 0.0 if gain == 0 else -math.inf)
        return gain, float(means.mean()) / (sd / math.sqrt(b))

    def batch_means(self) -> dict[str, np.ndarray] | None:
        """Per candidate, the hit ratio of each of ``batches`` contiguous batches of the window.

        None when the window has fewer sampled accesses than batches.
        """
        flags = self._evaluate()
        per = self._sampled // self.batches
        if per < 1:
            return None
        return {name: f[: per * self.batches].reshape(self.batches, per).mean(axis=1)
                for name, f in flags.items() if name != _SMALLER}

    def marginal_hits_per_slot(self) -> float:
        """Demand hits per slot per access earned by the current policy's last ``delta`` slots."""
        flags = self._evaluate()
        if not self._sampled:
            return math.nan
        extra = int(flags[self.current].sum()) - int(flags[_SMALLER].sum())
        return extra / self.delta / self._sampled

    def reset_window(self) -> None:
        """Start a new window; its predecessor's tail becomes the warm-up of the next replay."""
        keep = self.warmup
        window = self._window
        if self.rate < 1.0 and self._warm_rate == self.rate and self._win_pos is not None \
                and len(window) == self._win_len and len(window) <= self.max_window:
            # carry the sampled positions over instead of hashing the warm-up again
            pos = np.concatenate([self._warm_pos, self._win_pos + len(self._warm)])
            keys = self._warm_keys + [window[i] for i in self._win_pos.tolist()]
            drop = len(self._warm) + len(window) - keep if keep else len(self._warm) + len(window)
            if drop > 0:
                first = int(np.searchsorted(pos, drop))
                pos = pos[first:] - drop
                keys = keys[first:]
            self._warm_pos, self._warm_keys = pos, keys
        else:
            self._warm_rate = math.nan
        self._warm = (self._warm + window)[-keep:] if keep else []
        if not keep:
            self._warm_pos, self._warm_keys = np.zeros(0, np.int64), []
        window.clear()
        self._win_pos = None
        self._flags = None

    def set_current(self, name: str) -> None:
        """The cache now runs ``name`` (its smaller twin follows it at the next replay)."""
        self.shadows[name] = self.shadow_capacity
        self.current = name
        self.dormant.discard(name)
        self._flags = None


def _replay(policy: str, codes: np.ndarray, cap: int, n_obj: int, use_kernels: bool = True) -> np.ndarray:
    """Hit flags of ``policy`` (a registry spec) at ``cap`` over ``codes``: the kernel, else the class."""
    kernel = _kernels().get(_policies.base_name(policy)) if use_kernels else None
    if kernel is not None:
        try:
            flags = kernel(policy, codes, np.ones(len(codes), np.int64), cap, n_obj)
            return np.asarray(flags, dtype=np.uint8)
        except Exception:
            pass
    pol = _policies.make(policy, cap)
    req = pol.request
    return np.fromiter((req(c) for c in codes.tolist()), dtype=np.uint8, count=len(codes))


@functools.cache
def _kernels() -> dict[str, Callable[..., np.ndarray]]:
    """Base policy name -> ``run_kernel`` (called with the full spec), if the kernels are there."""
    try:
        from supreme.cache.kernels import KERNELS, run_kernel
    except Exception:
        return {}
    return dict.fromkeys(KERNELS, run_kernel)


def _paired_gain(hist: list[dict[str, np.ndarray]], name: str, current: str,
                 decay: float) -> tuple[float, float, float]:
    """(weighted hit ratio, weighted gain over ``current``, its t) of ``name`` over its windows.

    ``hist``: per window (oldest first) the batch hit ratios per candidate; a window counts for
    ``name`` when it was replayed there.  Weights are ``decay^age``; the t statistic uses the
    weights' effective sample size (Kish).
    """
    last = len(hist) - 1
    sel = [(last - i, h[name], h[current]) for i, h in enumerate(hist) if name in h]
    if not sel:
        return math.nan, math.nan, math.nan
    vals = np.concatenate([v for _, v, _ in sel])
    base = np.concatenate([c for _, _, c in sel])
    ages = np.repeat(np.array([age for age, _, _ in sel], float), [len(v) for _, v, _ in sel])
    w = np.power(decay, ages)
    w_sum = float(w.sum())
    d = vals - base
    gain = float(w @ d) / w_sum
    ratio = float(w @ vals) / w_sum
    n_eff = w_sum * w_sum / float(w @ w)
    var = float(w @ (d - gain) ** 2) / w_sum * n_eff / max(n_eff - 1.0, 1e-9)
    if var <= 0.0:
        return ratio, gain, (math.inf if gain > 0 else 0.0 if gain == 0 else -math.inf)
    return ratio, gain, gain / math.sqrt(var / n_eff)


@dataclass
class AdapterSettings:
    """Knobs of the adapter (see the module docstring for the rules)."""

    candidates: tuple[str, ...] | None = None  # None: DEFAULT_CANDIDATES present in the registry
    shadow_rate: float = 0.1
    min_shadow_capacity: int = 256
    switch_margin: float = 0.01
    switch_patience: int = 1
    switch_t: float = 2.0
    min_window: int = 200
    history_decay: float = 0.8  # weight of each older window's shadow batches (0: this window only)
    history_windows: int = 8  # windows of shadow batches kept for the decision (at one demand size)
    dormant_max_cycles: int = 16  # longest rest of a candidate far behind (0: replay every candidate always)
    start_policy: str | None = "s3fifo"  # None: keep the target's policy until a shadow wins
    adapt_policy: bool = True
    adapt_budget: bool = True
    adapt_threshold: bool = True
    budget_init_frac: float = 1 / 8
    budget_min_frac: float = 1 / 32
    budget_max_frac: float = 1 / 2
    budget_step_frac: float = 1 / 16
    budget_tolerance: float = 0.1
    acc_low: float = 0.25
    acc_high: float = 0.6
    threshold_step: float = 0.05
    threshold_min: float = 0.1
    threshold_max: float = 0.95
    min_issued: int = 20


@dataclass
class Adaptation:
    """One change (or recommendation) made at a learning cycle."""

    time: float
    operation: str
    outcome: str
    detail: dict[str, Any] = field(default_factory=dict)


class CacheAdapter:
    """Applies budget, policy and threshold adaptations to a target cache and a prefetch engine."""

    def __init__(
        self,
        target: AdaptationTarget | None,
        engine: PrefetchEngine | None = None,
        *,
        settings: AdapterSettings | None = None,
        current_policy: str = "lru",
        capacity: int | None = None,
        event_log: EventLog = NULL_LOG,
        now: float = 0.0,
    ) -> None:
        self.settings = s = settings or AdapterSettings()
        self.target = target
        self.engine = engine
        self._log = event_log
        if target is not None:
            current_policy = target.policy_name
            capacity = target.budget
        if capacity is None or capacity < 1:
            raise AdaptiveConfigError(f"CacheAdapter needs a positive capacity, got {capacity!r}")
        self.budget = int(capacity)
        self.prefetch_budget = 0
        self._budget_off = False  # the prefetch area was given up for low utility (not for muting)
        self._off_cycles = 0  # cycles spent at 0 since then
        self._off_wait = 2  # cycles at 0 before the next re-measure at the floor (doubles on failure)
        self._probed = False  # the area was given up at least once (later give-ups are failed re-measures)
        if engine is not None and target is not None and s.adapt_budget:
            self.prefetch_budget = self._clamp_budget(round(self.budget * s.budget_init_frac))
            target.set_prefetch_budget(self.prefetch_budget)
        present = _policies.available_policies()
        candidates = (list(s.candidates) if s.candidates else
                      [c for c in DEFAULT_CANDIDATES if _policies.base_name(c) in present])
        self.shadows: ShadowBank | None = None
        if s.adapt_policy or (engine is not None and s.adapt_budget):
            self.shadows = ShadowBank(candidates if s.adapt_policy else [current_policy],
                                      self.budget - self.prefetch_budget, current_policy,
                                      rate=s.shadow_rate, min_shadow_capacity=s.min_shadow_capacity)
        self.current_policy = current_policy
        self._streak_name: str | None = None
        self._streak = 0
        self._hist: list[dict[str, np.ndarray]] = []  # per window: batch hit ratios per candidate
        self._hist_capacity = -1
        self._paired: dict[str, tuple[float, float, float]] = {}  # last cycle: name -> (ratio, gain, t)
        self._replayed: list[str] = []  # candidates replayed in the last window
        self._asleep: dict[str, int] = {}  # name -> its last rest in cycles (doubles while it loses)
        self._wake_at: dict[str, int] = {}
        self._cycle = 0
        self.history: list[Adaptation] = []
        if (s.adapt_policy and s.start_policy and target is not None and s.start_policy in candidates
                and s.start_policy != current_policy):
            self.history.append(self._switch(s.start_policy, now, {
                "from": current_policy, "to": s.start_policy, "reason": "start from the best-known default"}))

    def attach_target(self, target: AdaptationTarget, now: float = 0.0) -> list[Adaptation]:
        """Give an adapter built without a target one (as if it had been passed to the constructor).

        Takes the target's policy and budget, sets the initial prefetch budget, re-sizes the shadows
        and makes the start-policy switch; returns the adaptations made (also in ``history``).
        """
        if self.target is not None:
            raise AdaptiveConfigError("this CacheAdapter already has a target")
        s = self.settings
        budget = int(target.budget)
        if budget < 1:
            raise AdaptiveConfigError(f"CacheAdapter needs a positive capacity, got {budget!r}")
        self.target = target
        self.budget = budget
        self.current_policy = target.policy_name
        self.prefetch_budget = 0
        self._budget_off, self._off_cycles, self._off_wait, self._probed = False, 0, 2, False
        if self.engine is not None and s.adapt_budget:
            self.prefetch_budget = self._clamp_budget(round(self.budget * s.budget_init_frac))
            target.set_prefetch_budget(self.prefetch_budget)
        bank = self.shadows
        candidates: list[str] = []
        if bank is not None:
            if s.adapt_policy:
                candidates = list(bank.candidates)
            else:
                bank.candidates = [self.current_policy]
            bank.current = self.current_policy
            bank.resize(self.budget - self.prefetch_budget)
        made: list[Adaptation] = []
        if (s.adapt_policy and s.start_policy and s.start_policy in candidates
                and s.start_policy != self.current_policy):
            made.append(self._switch(s.start_policy, now, {
                "from": self.current_policy, "to": s.start_policy,
                "reason": "start from the best-known default"}))
        self.history.extend(made)
        return made

    def _clamp_budget(self, entries: int) -> int:
        s = self.settings
        lo = max(1, math.floor(self.budget * s.budget_min_frac))
        hi = max(lo, math.floor(self.budget * s.budget_max_frac))
        return int(min(hi, max(lo, entries)))

    def observe(self, key: Hashable) -> None:
        """Hot path: feed one demand access to the shadows."""
        if self.shadows is not None:
            self.shadows.access(key)

    # -- the cycle -----------------------------------------------------------------
    def adapt(self, report: AnalysisReport, window: PrefetchStats | None, now: float) -> list[Adaptation]:
        """Decide and apply this cycle's adaptations; return them (each is also logged)."""
        out: list[Adaptation] = []
        s = self.settings
        if self.shadows is not None and s.adapt_policy:
            out.extend(self._adapt_policy(now))
        if self.engine is not None and window is not None:
            occupancy = float(report.inputs.get("prefetch_occupancy", math.nan))
            if s.adapt_budget and self.target is not None and self.shadows is not None:
                out.extend(self._adapt_budget(window, occupancy, now))
            if s.adapt_threshold:
                out.extend(self._adapt_threshold(window, occupancy, now))
        if self.shadows is not None:
            self.shadows.reset_window()
        if self._log.enabled:
            self._log.record(now, "learning_cycle", "Cache_Adapter", "Apply adaptations", "ok",
                             detail=json.dumps({"count": len(out)}))
            self._log.record(now, "learning_cycle", "Cache_Manager", "Adaptations applied", "ok",
                             detail=json.dumps({"count": len(out)}))
        self.history.extend(out)
        return out

    def _emit(self, now: float, operation: str, outcome: str, detail: dict[str, Any]) -> Adaptation:
        clean = {k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else
                     (None if isinstance(v, float) else v)) for k, v in detail.items()}
        if self._log.enabled:
            self._log.record(now, "learning_cycle", "Cache_Adapter", operation, outcome,
                             detail=json.dumps(clean, sort_keys=True))
        return Adaptation(now, operation, outcome, clean)

    def _adapt_policy(self, now: float) -> list[Adaptation]:
        s = self.settings
        bank = self.shadows
        assert bank is not None
        if bank.sampled < s.min_window:
            return []
        ratios, best, gain, t = self._evidence(bank)
        self._rest_losers(bank)
        if best == self.current_policy or not (gain >= s.switch_margin and t >= s.switch_t):
            self._streak_name, self._streak = None, 0
            return []
        self._streak = self._streak + 1 if best == self._streak_name else 1
        self._streak_name = best
        if self._streak < s.switch_patience:
            return []
        figures: dict[str, Any] = {
            "from": self.current_policy, "to": best, "gain": gain, "margin": s.switch_margin,
            "t_stat": t if math.isfinite(t) else 1e9, "t_min": s.switch_t,
            "cycles": self._streak, "sampled": bank.sampled, "rate": bank.rate,
            **{f"hit_ratio.{n}": r for n, r in sorted(ratios.items())},
        }
        self._streak_name, self._streak = None, 0
        if self.target is None:
            figures["reason"] = "shadow beat the current policy; no adaptable target, recommendation only"
            return [self._emit(now, "recommend_policy", "ok", figures)]
        figures["reason"] = (f"shadow {best} beat {figures['from']} by {gain:.4f} hit ratio "
                             f"(t={t:.2f} >= {s.switch_t}) for {s.switch_patience} cycle(s)")
        return [self._switch(best, now, figures)]

    def _evidence(self, bank: ShadowBank) -> tuple[dict[str, float], str, float, float]:
        """(hit ratio per candidate, the best one, its gain over the current policy, the gain's t).

        With ``history_decay`` > 0 the batch means of up to ``history_windows`` windows at the current
        demand size enter with weight ``decay^age`` (age 0: this window): a candidate that is ahead in
        window after window is recognised although no single window is significant, and an old
        regime fades.  The t statistic uses the weights' effective sample size (Kish).
        """
        s = self.settings
        means = bank.batch_means() if s.history_decay > 0 else None
        if means is None:
            self._replayed = []  # no history: nothing is judged for a rest
            ratios = bank.hit_ratios()
            best = max(sorted(ratios), key=lambda n: ratios[n])
            gain, t = bank.advantage(best)
            return ratios, best, gain, t
        if self._hist_capacity != bank.capacity:  # shadows of another size: not comparable
            self._hist.clear()
            self._hist_capacity = bank.capacity
            self._asleep.clear()
        self._hist.append(means)
        del self._hist[: -max(1, s.history_windows)]
        cur = self.current_policy
        hist = [h for h in self._hist if cur in h]
        self._paired = paired = {n: _paired_gain(hist, n, cur, s.history_decay)
                                 for n in sorted({n for h in hist for n in h})}
        # only shadows replayed in this window may win: a dormant one's figures are stale
        ratios = {n: paired[n][0] for n in means}
        self._replayed = list(ratios)
        best = max(sorted(ratios), key=lambda n: paired[n][1])
        _, gain, t = paired[best]
        return ratios, best, gain, t

    def _rest_losers(self, bank: ShadowBank) -> None:
        """Stop replaying, for a while, candidates significantly behind the current policy.

        A candidate whose weighted gain over the current policy is at most ``-switch_margin`` with
        ``t <= -switch_t`` sleeps 2 cycles, then 4, 8 … up to ``dormant_max_cycles`` while it keeps
        losing on waking (a successive-elimination bandit with re-checks): the replay cost goes
        to the candidates that could still win, and a regime change is noticed within the sleep.
        """
        s = self.settings
        self._cycle += 1
        if s.dormant_max_cycles > 0:
            for name in self._replayed:  # judged on this window's replay only
                if name == self.current_policy or name not in bank.shadows:
                    continue
                _, gain, t = self._paired[name]
                if gain <= -s.switch_margin and t <= -s.switch_t:
                    sleep = min(s.dormant_max_cycles, 2 * self._asleep.get(name, 1))
                    self._asleep[name] = sleep
                    self._wake_at[name] = self._cycle + sleep
                    bank.dormant.add(name)
                else:
                    self._asleep.pop(name, None)
        for name in [n for n in bank.dormant if self._wake_at.get(n, 0) <= self._cycle]:
            bank.dormant.discard(name)

    def _switch(self, name: str, now: float, figures: dict[str, Any]) -> Adaptation:
        assert self.target is not None
        result = self.target.switch_policy(name)
        figures.update(migrated=result.migrated, lost=result.lost)
        if not result.switched:
            figures["reason"] = "switch aborted: the new policy would have lost resident entries"
            adaptation = self._emit(now, "switch_policy", "rejected", figures)
        else:
            self.current_policy = name
            if self.shadows is not None:
                self.shadows.set_current(name)
            adaptation = self._emit(now, "switch_policy", "ok", figures)
        return adaptation

    def _adapt_budget(self, window: PrefetchStats, occupancy: float, now: float) -> list[Adaptation]:
        s = self.settings
        bank = self.shadows
        assert bank is not None and self.target is not None
        n = window.demand_accesses
        old = self.prefetch_budget
        engine = self.engine
        if engine is not None and engine.all_muted:
            # only probes are issued: give the prefetch area back to demand entries (to 0 — the
            # floor is for measuring, and probes are measured as low-priority demand inserts)
            return self._set_budget(0, "every predictor is muted: prefetching does not pay", now, {})
        if old == 0 and engine is not None and not self._budget_off:
            return self._set_budget(self._clamp_budget(0), "a predictor is un-muted: prefetch area back",
                                    now, {})
        if old == 0 and self._budget_off:
            # given up for low utility: re-measure at the floor now and then (exponential back-off),
            # since low-priority prefetches in the demand area may be judged unfairly by its policy
            self._off_cycles += 1
            if self._off_cycles >= self._off_wait:
                self._budget_off = False
                self._off_cycles = 0
                return self._set_budget(self._clamp_budget(0), "re-measuring the prefetch area at its floor",
                                        now, {"cycles_off": self._off_wait})
        if n == 0 or bank.sampled < s.min_window:
            return []
        md = bank.marginal_hits_per_slot()
        mp = window.timely / max(occupancy, 1.0) / n
        step = max(1, round(self.budget * s.budget_step_frac))
        floor = self._clamp_budget(0)
        if mp > md * (1 + s.budget_tolerance) and mp > 0:
            new = floor if old == 0 else self._clamp_budget(old + step)
            why = "prefetch slots earn more hits than the last demand slots"
            self._budget_off = False
            self._off_wait = 2
        elif mp < md * (1 - s.budget_tolerance):
            if old <= floor:
                # the floor is for measuring; prefetches still land, low-priority, in the demand area,
                # where their hits keep being counted (a return to the floor when they earn more)
                if not self._budget_off and self._off_cycles == 0 and self._probed:
                    self._off_wait = min(2 * self._off_wait, 32)  # a failed re-measure: wait longer
                new, self._budget_off, self._probed = 0, True, True
                why = "even at the floor, prefetch slots earn fewer hits than the last demand slots"
            else:
                new = self._clamp_budget(old - step)
                why = "the last demand slots earn more hits than prefetch slots"
        else:
            return []
        return self._set_budget(new, why, now, {
            "prefetch_hits_per_slot": mp, "demand_marginal_hits_per_slot": md,
            "prefetch_occupancy": occupancy, "timely": window.timely, "accesses": n,
        })

    def _set_budget(self, new: int, why: str, now: float, figures: dict[str, Any]) -> list[Adaptation]:
        old = self.prefetch_budget
        if new == old or self.target is None or self.shadows is None:
            return []
        self.prefetch_budget = new
        self.target.set_prefetch_budget(new)
        self.shadows.resize(self.budget - new)
        return [self._emit(now, "resize", "ok", {
            "reason": why, "prefetch_budget_from": old, "prefetch_budget_to": new,
            "demand_size_to": self.budget - new, "budget": self.budget, **figures,
        })]

    def _adapt_threshold(self, window: PrefetchStats, occupancy: float, now: float) -> list[Adaptation]:
        s = self.settings
        engine = self.engine
        assert engine is not None
        if window.issued < s.min_issued:
            return []
        # a window counts uses of entries prefetched in the window before, so its ratio can pass 1
        acc = min(1.0, window.accuracy)
        old = engine.threshold
        room = self.prefetch_budget == 0 or not (occupancy >= 0.9 * self.prefetch_budget)
        if acc < s.acc_low:
            new, why = min(s.threshold_max, old + s.threshold_step), f"accuracy {acc:.3f} < {s.acc_low}"
        elif acc > s.acc_high and room:
            new = max(s.threshold_min, old - s.threshold_step)
            why = f"accuracy {acc:.3f} > {s.acc_high} and prefetch budget not full"
        else:
            return []
        new = round(new, 6)
        if new == old:
            return []
        engine.threshold = new
        return [self._emit(now, "set_threshold", "ok", {
            "reason": why, "threshold_from": old, "threshold_to": new, "accuracy": acc,
            "issued": window.issued, "used": window.used, "wasted": window.wasted,
            "prefetch_occupancy": occupancy, "prefetch_budget": self.prefetch_budget,
        })]
