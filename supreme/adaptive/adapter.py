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

``P`` starts at ``B/16`` (``B/8`` cost a small cache a window of demand slots where prefetching
cannot help) and stays within ``[B/32, B/2]`` while prefetching is on (the floor keeps measuring
it), and falls to 0 while every predictor of the engine is muted (only probes are issued then, measured as
low-priority inserts into the demand area); it returns to the floor when one is un-muted.  It also
falls to 0 when, *at the floor*, a prefetch slot still earns fewer hits than the last demand slots
(an accurate predictor with negligible coverage: one slot of a small cache is worth more to demand
entries); prefetches then land low-priority in the demand area, where their hits are still counted,
and ``P`` returns to the floor when they earn more — or, to re-measure fairly, after 2, 4, … 32
cycles at 0 (exponential back-off after each failed re-measure).  This is
utility-based partitioning (Qureshi & Patt, "Utility-Based Cache Partitioning", MICRO 2006) with two
partitions and shadow ("ghost") estimates of the demand side.

(b) Eviction policy — persistent shadow caches, a priced significance test, a good default
------------------------------------------------------------------------------------------
Every candidate policy (registry names) is simulated as a key-only shadow over the demand stream at
the demand size ``C``: :class:`~supreme.adaptive.shadow.ShadowBank` feeds each access once to every
candidate's persistent compiled state, spatially sampled on large caches (the module explains
both), so the layer's cost per access does not grow with the cache size.

Switching rule (per cycle)::

    best  = argmax_p mean(d_p) - switch_t * se(d_p)     (a lower bound: not the luckiest estimate)
    d_i   = hit_best(i) - hit_current(i)     for each sampled access i of the window (paired)
    t     = mean(batch means of d) / (sd(batch means) / sqrt(B))     B = 8 contiguous batches
    need  = max(switch_margin, switch_margin_rel * miss_current,
                switch_cost * C / (switch_payback_windows * window accesses))
    switch iff sampled >= min_window and mean(d) >= need and t >= switch_t
               for switch_patience consecutive cycles

The margin is relative (a fraction of the current miss ratio) with a small absolute floor, and a
switch is priced: the new policy relearns the old one's metadata (the simulation replays the recent
demand tail into it first, ``SimCache``: 0-0.5 misses per slot measured on ``zipf_shifting``, 0.2-1.1
cold) and a transient gain fades, so the gain must repay ``switch_cost`` misses per slot within
``switch_payback_windows`` windows.

A window with fewer than ``min_window`` sampled accesses is not judged and carries over into the
next cycle (a cache serving 60 requests a minute is judged every few cycles, not never).
Batch means (the remedy for autocorrelated simulation output) keep one lucky burst from triggering
a switch; the paired test needs far fewer accesses than two independent ratios, so patience is 1.
No switch out of the current family before the shadows have seen ``switch_warmup_fills`` fills:
every shadow starts cold, and a cold-start lead (S3-FIFO's, over a young LRFU) fades.

Free moves within a family (``retune_in_place``): a switch into LRFU builds a
:class:`~supreme.cache.policies.lrfu_tracked.TrackedLRFU` keeping every key's score at every LRFU
candidate horizon, so moving between horizons is exact and costs no miss (the target's
``retune_policy``).  Such a move needs no price, no significance and no patience: each cycle the
cache follows the family member with the best hit ratio over the last ``retune_batches`` batch
means (one window), by more than ``retune_margin``.  Members of the current family never rest.
After a hot set moves, a short horizon leads within a window and the old set is forgotten at once
(its short-horizon scores have decayed, which an in-place change of the decay rate does not give).
In the first window, with every shadow cold and the cache on its start policy, the same rule is
also applied after ``early_retune_fills`` demand sizes of accesses and again at each doubling.

History (``history_decay`` > 0, the default): the batch means of up to ``history_windows`` earlier
windows at the same demand size enter ``best``, ``mean(d)`` and ``t`` with weight ``decay^age``
(a weighted mean, and the weighted variance over Kish's effective sample size).  A candidate that
is ahead window after window by a little is then recognised although no single window is
significant, and an old regime fades within a few windows.  Shadows do not follow the cache's
switches (only the current policy's smaller twin is rebuilt), so their history stays valid across
switches; a resize starts it afresh.

Resting losers: a candidate significantly *behind* the current policy (weighted gain at most
``-switch_margin`` with ``t <= -switch_t``) is left out of the decision for 2 cycles, then 4, 8 … up to
``dormant_max_cycles`` while it keeps losing when re-checked (successive elimination with
re-checks, as in bandit algorithms).  Its older windows stay in the history with their decaying
weights, each candidate is compared with the current policy on the windows it was replayed in,
and only a candidate judged in this window may win.  Resting shadows are still fed (a stale state
could not be judged on waking).  ``dormant_max_cycles=0`` judges every candidate always.

Candidates: besides the classic policies, LRFU (:mod:`supreme.cache.policies.lrfu`) at half-lives
of 2 to 32 cache sizes.  Choosing among them is how the adapter learns *how fast popularity moves*:
bursts around volatile symbols want a long memory (16-32), a candle walk a short one (LRU-like).

Start policy: a live cache starts on ``start_policy`` when it is a candidate, logged as an ordinary
switch: LRFU at horizon 8 (tracked), so the first windows can move along the horizons for free;
S3-FIFO (Yang et al., SOSP 2023) was the start before horizons could be retuned in place.

(c) Prefetch threshold
----------------------
Accuracy (used / issued) in the window below ``acc_low`` raises the confidence threshold by
``threshold_step``; above ``acc_high`` *and* with the prefetch area not full lowers it; bounded to
``[threshold_min, threshold_max]``.  Needs ``min_issued`` prefetches in the window to act.

Every adaptation is an event (flow ``learning_cycle``, component ``Cache_Adapter``) whose
``detail`` is JSON with the reason and the figures behind it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from supreme.adaptive import _policies, family
from supreme.adaptive.analyzer import AnalysisReport
from supreme.adaptive.prefetch import PrefetchEngine
from supreme.adaptive.prefetch_rules import PrefetchRules
from supreme.adaptive.prefetch_stats import PrefetchStats
from supreme.adaptive.shadow import ShadowBank, lower_bound, paired_gain
from supreme.adaptive.synapses import AdaptiveConfigError
from supreme.cache.protocols import AdaptationTarget, SwitchResult
from supreme.events import NULL_LOG, EventLog

__all__ = ["DEFAULT_CANDIDATES", "Adaptation", "AdapterSettings", "CacheAdapter"]

#: recency, frequency, adaptive recency/frequency, scan-resistant FIFO, lazy promotion, admission filter,
#: and decayed frequency at half-lives of 2..32 cache sizes (the shadows learn the half-life)
DEFAULT_CANDIDATES: tuple[str, ...] = ("lru", "lfu", "arc", "s3fifo", "sieve", "wtinylfu",
                                       "lrfu:2", "lrfu:4", "lrfu", "lrfu:16", "lrfu:32")


@dataclass
class AdapterSettings:
    """Knobs of the adapter (see the module docstring for the rules)."""

    candidates: tuple[str, ...] | None = None  # None: DEFAULT_CANDIDATES present in the registry
    shadow_rate: float = 0.1
    min_shadow_capacity: int = 256
    switch_margin: float = 0.002  # absolute floor of the hit-ratio gain a switch needs
    switch_margin_rel: float = 0.02  # ... and at least this fraction of the current miss ratio
    switch_cost: float = 0.15  # misses a warm switch costs per demand slot (measured 0-0.5, median 0.06)
    switch_payback_windows: float = 8.0  # the gain must repay the switch within this many windows
    switch_patience: int = 1
    switch_t: float = 2.0
    min_window: int = 200
    history_decay: float = 0.8  # weight of each older window's shadow batches (0: this window only)
    history_windows: int = 8  # windows of shadow batches kept for the decision (at one demand size)
    dormant_max_cycles: int = 16  # longest rest of a candidate far behind (0: replay every candidate always)
    start_policy: str | None = "lrfu"  # None: keep the target's policy until a shadow wins
    retune_in_place: bool = True  # move between tracked members of a family (LRFU horizons) in place
    retune_margin: float = 0.0  # hit-ratio lead a family member needs for an in-place move
    retune_batches: int = 8  # ... over the most recent batches (8: one window)
    switch_warmup_fills: float = 16.0  # shadow fills before a switch out of the family (cold-start bias)
    early_retune_fills: float = 2.0  # first window: a free in-family retune after this many fills (0: off)
    adapt_policy: bool = True
    adapt_budget: bool = True
    adapt_threshold: bool = True
    budget_init_frac: float = 1 / 16
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


class CacheAdapter(PrefetchRules):
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
        # candidates the target's policy can retune to in place (set when the adapter builds it)
        self._family_of = candidates if s.retune_in_place else []
        self._tracked: list[str] = []
        self._fills = 0.0  # shadow fills seen (the cold-start bias fades with them)
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
        if self.shadows is not None and self.shadows.sampled >= s.min_window:
            self.shadows.reset_window()  # a window too short to judge carries over into the next
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
        self._fills += bank.sampled / max(1.0, bank.rate * bank.capacity)
        self._rest_losers(bank)
        need, cost = self._required_gain(bank, ratios, best)
        free = best in self._free_moves()
        warm = free or self._fills >= s.switch_warmup_fills
        if best == self.current_policy or not (gain >= need and t >= s.switch_t and warm):
            self._streak_name, self._streak = None, 0
            return self._retune_to_leader(bank, now)
        self._streak = self._streak + 1 if best == self._streak_name else 1
        self._streak_name = best
        if self._streak < s.switch_patience:
            return []
        figures: dict[str, Any] = {
            "from": self.current_policy, "to": best, "gain": gain, "margin": s.switch_margin,
            "margin_rel": s.switch_margin_rel, "required_gain": need, "switch_cost_misses": cost,
            "t_stat": t if math.isfinite(t) else 1e9, "t_min": s.switch_t,
            "cycles": self._streak, "sampled": bank.sampled, "rate": bank.rate,
            **{f"hit_ratio.{n}": r for n, r in sorted(ratios.items())},
        }
        self._streak_name, self._streak = None, 0
        if self.target is None:
            figures["reason"] = "shadow beat the current policy; no adaptable target, recommendation only"
            return [self._emit(now, "recommend_policy", "ok", figures)]
        figures["reason"] = (f"shadow {best} beat {figures['from']} by {gain:.4f} hit ratio "
                             f"(>= {need:.4f}: margin and switch cost; t={t:.2f} >= {s.switch_t}) "
                             f"for {s.switch_patience} cycle(s)")
        return [self._switch(best, now, figures)]

    def _free_moves(self) -> list[str]:
        """Members of the current policy's family the live policy can retune to in place ([]: none)."""
        return family.members(self.current_policy, self._tracked)

    def _retune_to_leader(self, bank: ShadowBank, now: float) -> list[Adaptation]:
        """Follow this window's leader among the current policy's tracked family (a free, exact move)."""
        s = self.settings
        fam = self._free_moves()
        if not fam or self.target is None:
            return []
        ratios = family.recent_ratios(self._hist, fam, s.retune_batches) or bank.hit_ratios()
        lead = family.leader(ratios, fam, self.current_policy, s.retune_margin)
        if lead is None:
            return []
        return [self._switch(lead, now, {
            "from": self.current_policy, "to": lead, "gain": ratios[lead] - ratios[self.current_policy],
            "required_gain": s.retune_margin, "switch_cost_misses": 0.0, "sampled": bank.sampled,
            "reason": f"{lead} led {self.current_policy}'s family this window; an in-place retune is free",
            **{f"hit_ratio.{n}": ratios[n] for n in fam if n in ratios}})]

    def early_check_at(self, done: int = 0) -> int:
        """Accesses into the first window at which :meth:`early_retune` is next due (-1: no more).

        The first after ``early_retune_fills`` demand sizes, then at twice the accesses of the last.
        """
        s = self.settings
        if (self.shadows is None or s.early_retune_fills <= 0 or self._hist
                or not self._free_moves()):
            return -1
        return 2 * done if done else max(s.min_window, round(s.early_retune_fills * self.shadows.capacity))

    def early_retune(self, now: float) -> list[Adaptation]:
        """Mid first window: every shadow started cold with the cache, and an in-family move is free."""
        bank = self.shadows
        if bank is None or bank.sampled < 1 or self._hist:
            return []
        made = self._retune_to_leader(bank, now)
        self.history.extend(made)
        return made

    def _required_gain(self, bank: ShadowBank, ratios: dict[str, float], best: str) -> tuple[float, float]:
        """(hit-ratio gain a switch needs, the switch's priced cost in misses).

        The gain must reach the absolute margin, ``switch_margin_rel`` of the current miss ratio
        (a relative margin: 0.01 is a lot at a 5 % miss ratio and noise at 60 %), and repay the
        switch — ``switch_cost`` misses per demand slot, the metadata the new policy relearns — within
        ``switch_payback_windows`` windows of this window's length.
        """
        s = self.settings
        cur = ratios.get(self.current_policy, math.nan)
        miss = 1.0 - cur if math.isfinite(cur) else 1.0
        free = best in self._free_moves()
        cost = 0.0 if free else s.switch_cost * bank.capacity
        horizon = s.switch_payback_windows * bank.sampled / bank.rate  # raw accesses
        price = cost / horizon if horizon > 0 else math.inf
        return max(s.switch_margin, s.switch_margin_rel * miss, price), cost

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
        self._paired = paired = {n: paired_gain(hist, n, cur, s.history_decay)
                                 for n in sorted({n for h in hist for n in h})}
        # only shadows replayed in this window may win: a dormant one's figures are stale
        ratios = {n: paired[n][0] for n in means}
        self._replayed = list(ratios)
        best = max(sorted(ratios), key=lambda n: lower_bound(paired[n][1], paired[n][2], s.switch_t))
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
            free = self._free_moves()  # free moves: always judged
            for name in self._replayed:  # judged on this window's replay only
                if name == self.current_policy or name not in bank.shadows or name in free:
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
        if name in self._free_moves() and self.target.retune_policy(name):
            result = SwitchResult(True, 0, 0)
            figures["in_place"] = True
        else:
            track = family.members(name, self._family_of)
            result = self.target.switch_policy(name, track=track)
            self._tracked = track if result.switched else self._tracked
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
