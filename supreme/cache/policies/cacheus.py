"""Cacheus: two scan- and churn-resistant experts, SR-LRU and CR-LFU, weighted by regret.

Reference: Rodriguez, Yusuf, Lyons, Paz, Rangaswami, Liu, Zhao & Narasimhan, "Learning Cache
Replacement with CACHEUS", FAST 2021 (Algorithms 1-3), and the authors' Python simulator.

Pseudocode::

    SR-LRU   residents in S (recently reused, MRU end last) and Q (new or demoted, victims first);
             a miss enters Q, a hit moves to S's MRU end; S over ``s_limit`` demotes its LRU key to Q
             (marked demoted).  ``s_limit + q_limit = capacity`` adapts: a hit on a demoted key
             grows S by max(1, round(new_in_history / demoted)), a history hit on a new key grows
             Q by max(1, round(demoted / new_in_history))
    CR-LFU   the least frequent resident, the most recent among equals (churn: under a flat
             frequency the newest key goes, so the older ones stay)
    evict    if both experts name the same key, evict it (no history); else with probability w_lru
             SR-LRU's victim (Q's LRU end) into the LRU history, else CR-LFU's into the LFU history;
             each history holds ``capacity // 2`` keys, oldest out first
    miss on a history key of expert E: w_E *= exp(-lr); renormalise; clamp to [0.01, 0.99];
             the key enters S with its remembered frequency
    every ``capacity`` requests, Algorithm 3: lr moves in the direction that last raised the
             period's hit ratio (by lr * |Δlr|, within [0.001, 1]); a period with a falling hit
             ratio and no lr change moves lr by x1.25 or x0.75 at random; 10 such periods reset lr
             to its start, sqrt(2 ln 2 / capacity)

Starting values as the authors': weights 0.5/0.5, ``q_limit = max(1, round(0.01 capacity))``; while
the cache fills, keys enter S until Q has any and then Q up to ``q_limit`` (not counted as new).
Departures: S, Q and the limits count in the capacity's unit (the paper counts entries); the
draws come from a ``random.Random(seed)`` (the authors seed numpy with 123), so runs are
reproducible but not the authors' or libCacheSim's sequence — compared with libCacheSim's Cacheus
within a tolerance (tests); a history hit keeps the remembered frequency (the authors' code does);
a low-priority insert (prefetch) enters at Q's LRU end, the next SR-LRU victim.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import OrderedDict
from collections.abc import Hashable

from supreme.cache.policies.base import EvictionPolicy

__all__ = ["Cacheus"]

_LR_MIN, _LR_MAX = 0.001, 1.0


class Cacheus(EvictionPolicy):
    """Cacheus (SR-LRU + CR-LFU experts, adaptive learning rate) with seeded expert draws."""

    name = "cacheus"
    spec_param = "seed"

    def __init__(self, capacity: int, seed: int = 0) -> None:
        super().__init__(capacity)
        self._seed = int(seed)
        self._rng = random.Random(self._seed)
        self.w_lru = self.w_lfu = 0.5
        self._s: OrderedDict[Hashable, None] = OrderedDict()  # LRU end first
        self._q: OrderedDict[Hashable, None] = OrderedDict()
        self._s_used = self._q_used = 0
        self._acct: dict[Hashable, int] = {}  # the size each resident is counted with in S or Q
        self._demoted: set[Hashable] = set()
        self._new: set[Hashable] = set()  # residents that entered Q as new keys (not while filling)
        self._freq: dict[Hashable, int] = {}
        self._time: dict[Hashable, int] = {}
        self._heap: list[tuple[int, int, int, Hashable]] = []  # (freq, -time, seq, key); stale skipped
        self._seq = 0
        self._lru_hist: OrderedDict[Hashable, tuple[int, bool]] = OrderedDict()  # key -> freq, was new
        self._lfu_hist: OrderedDict[Hashable, int] = OrderedDict()
        self._new_in_hist = 0
        self._now = 0
        self._hits = 0
        self._pending: tuple[bool, int, bool, bool] = (False, 1, False, False)  # to S, freq, new, limit S
        self._on_capacity()
        self.lr = self._lr_reset = self._lr_curr = min(max(self.lr_start, _LR_MIN), _LR_MAX)
        self._lr_prev = 0.0
        self._hr_prev = 0.0
        self._zero = self._nega = 0

    @property
    def spec(self) -> str:
        """``cacheus`` (seed 0) or ``cacheus:<seed>``."""
        return self.name if self._seed == 0 else f"{self.name}:{self._seed}"

    def _on_capacity(self) -> None:
        c = self._capacity
        self.lr_start = math.sqrt(2.0 * math.log(2) / c)
        self._hist_size = c // 2
        self.q_limit = min(max(1, int(0.01 * c + 0.5)), max(c - 1, 1))
        self.s_limit = c - self.q_limit

    # -- learning ------------------------------------------------------------------
    def _tick(self) -> None:
        self._now += 1
        if self._now % self._capacity == 0:
            self._update_lr()

    def _update_lr(self) -> None:
        hr = round(self._hits / self._capacity, 3)
        d_hr = round(hr - self._hr_prev, 3)
        d_lr = round(self._lr_curr, 3) - round(self._lr_prev, 3)
        sign = (d_lr * d_hr > 0) - (d_lr * d_hr < 0)
        if sign > 0:
            self.lr = min(self.lr + abs(self.lr * d_lr), _LR_MAX)
            self._zero = self._nega = 0
        elif sign < 0:
            self.lr = max(self.lr - abs(self.lr * d_lr), _LR_MIN)
            self._zero = self._nega = 0
        elif d_hr <= 0:
            if hr <= 0 and d_hr == 0:
                self._zero += 1
            if d_hr < 0:
                self._nega += 1
                self._zero += 1
            if self._zero >= 10:
                self.lr, self._zero = self._lr_reset, 0
            elif d_hr < 0:
                if self._nega >= 10:
                    self.lr, self._nega = self._lr_reset, 0
                else:
                    self._random_step()
        self._lr_prev, self._lr_curr = self._lr_curr, self.lr
        self._hr_prev = hr
        self._hits = 0

    def _random_step(self) -> None:
        if self.lr >= _LR_MAX:
            self.lr = 0.9
        elif self.lr <= _LR_MIN:
            self.lr = 0.005
        elif self._rng.random() < 0.5:
            self.lr = min(self.lr * 1.25, _LR_MAX)
        else:
            self.lr = max(self.lr * 0.75, _LR_MIN)

    def _punish(self, by_lru: bool) -> None:
        if by_lru:
            self.w_lru *= math.exp(-self.lr)
        else:
            self.w_lfu *= math.exp(-self.lr)
        total = self.w_lru + self.w_lfu
        self.w_lru, self.w_lfu = self.w_lru / total, self.w_lfu / total
        if self.w_lru >= 0.99:
            self.w_lru, self.w_lfu = 0.99, 0.01
        elif self.w_lfu >= 0.99:
            self.w_lru, self.w_lfu = 0.01, 0.99

    def _adjust_size(self, hit_in_q: bool) -> None:
        c = self._capacity
        if c < 2:
            return
        demoted, new = len(self._demoted), self._new_in_hist
        if hit_in_q:
            self.s_limit = min(c - 1, self.s_limit + max(1, int(new / max(1, demoted) + 0.5)))
            self.q_limit = c - self.s_limit
        else:
            self.q_limit = min(c - 1, self.q_limit + max(1, int(demoted / max(1, new) + 0.5)))
            self.s_limit = c - self.q_limit

    def insert(self, key: Hashable, size: int = 1, low_priority: bool = False) -> list[Hashable]:
        """As :meth:`EvictionPolicy.insert`; a re-sized resident is re-counted in S or Q."""
        out = super().insert(key, size, low_priority)
        old = self._acct.get(key)
        if old is not None and old != self._sizes[key]:
            delta = self._sizes[key] - old
            self._acct[key] = self._sizes[key]
            if key in self._s:
                self._s_used += delta
            else:
                self._q_used += delta
        return out

    # -- hooks ---------------------------------------------------------------------
    def _admit(self, key: Hashable, size: int) -> bool:
        self._tick()
        entry = self._lru_hist.pop(key, None)
        if entry is not None:
            freq, was_new = entry
            if was_new:
                self._new_in_hist -= 1
                self._adjust_size(False)
            self._punish(True)
            self._pending = (True, freq, False, True)
            return True
        freq_lfu = self._lfu_hist.pop(key, None)
        if freq_lfu is not None:
            self._punish(False)
            self._pending = (True, freq_lfu, False, True)
            return True
        full = self._used + size > self._capacity
        if not full and self._s_used + size <= self.s_limit and not self._q:
            self._pending = (True, 1, False, False)  # filling: S first, then Q up to its limit
        elif not full and self._q_used + size <= self.q_limit:
            self._pending = (False, 1, False, False)
        else:
            self._pending = (False, 1, True, True)
        return True

    def _stamp(self, key: Hashable, freq: int) -> None:
        self._freq[key] = freq
        self._time[key] = self._now
        self._seq += 1
        heapq.heappush(self._heap, (freq, -self._now, self._seq, key))
        if len(self._heap) > 4 * len(self._freq) + 64:  # drop the stale entries
            self._heap = [(f, -self._time[k], i, k) for i, (k, f) in enumerate(self._freq.items())]
            heapq.heapify(self._heap)

    def _on_hit(self, key: Hashable) -> None:
        self._tick()
        self._hits += 1
        self._stamp(key, self._freq[key] + 1)
        if key in self._s:
            self._s.move_to_end(key)
            return
        size = self._acct[key]
        if key in self._demoted:
            self._adjust_size(True)
            self._demoted.discard(key)
        self._new.discard(key)
        del self._q[key]
        self._q_used -= size
        if self._s_used + size > self.s_limit and self._s:
            self._demote()
        self._s[key] = None
        self._s_used += size

    def _demote(self) -> None:
        key = next(iter(self._s))
        del self._s[key]
        size = self._acct[key]
        self._s_used -= size
        self._q[key] = None
        self._q_used += size
        self._demoted.add(key)

    def _limit_s(self) -> None:
        while self._s and self._s_used >= self.s_limit:
            self._demote()

    def _on_insert(self, key: Hashable, low_priority: bool) -> None:
        to_s, freq, new, limit = self._pending
        self._pending = (False, 1, False, False)
        size = self._acct[key] = self._sizes[key]
        self._stamp(key, freq)
        if low_priority:
            self._q[key] = None
            self._q.move_to_end(key, last=False)
            self._q_used += size
            return
        if to_s:
            self._s[key] = None
            self._s_used += size
        else:
            self._q[key] = None
            self._q_used += size
            if new:
                self._new.add(key)
        if limit:
            self._limit_s()

    def _lfu_min(self) -> Hashable:
        heap, freq, time = self._heap, self._freq, self._time
        while True:
            f, neg_t, _, key = heap[0]
            if freq.get(key) == f and time[key] == -neg_t:
                return key
            heapq.heappop(heap)

    def _pop_victim(self) -> Hashable:
        lru = next(iter(self._q)) if self._q else next(iter(self._s))
        lfu = self._lfu_min()
        by_lru: bool | None = None  # None: both experts agree, no history
        if lru == lfu:
            victim = lru
        elif self._rng.random() < self.w_lru:
            victim, by_lru = lru, True
        else:
            victim, by_lru = lfu, False
        was_new = victim in self._new
        freq = self._freq[victim]
        self._drop(victim)
        if by_lru is None or self._hist_size <= 0:
            return victim
        if by_lru:
            if len(self._lru_hist) >= self._hist_size:
                self._new_in_hist -= self._lru_hist.popitem(last=False)[1][1]
            self._lru_hist[victim] = (freq, was_new)
            self._new_in_hist += was_new
        else:
            if len(self._lfu_hist) >= self._hist_size:
                self._lfu_hist.popitem(last=False)
            self._lfu_hist[victim] = freq
        return victim

    def _drop(self, key: Hashable) -> None:
        size = self._acct.pop(key)
        if key in self._s:
            del self._s[key]
            self._s_used -= size
        else:
            del self._q[key]
            self._q_used -= size
        self._demoted.discard(key)
        self._new.discard(key)
        del self._freq[key], self._time[key]

    def _on_remove(self, key: Hashable) -> None:
        self._drop(key)
