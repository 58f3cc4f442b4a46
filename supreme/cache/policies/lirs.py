"""LIRS: Low Inter-reference Recency Set, recency of the *previous* reference decides who stays.

Reference: Jiang & Zhang, "LIRS: An Efficient Low Inter-reference Recency Set Replacement Policy
to Improve Buffer Cache Performance", SIGMETRICS 2002.

Pseudocode (stack S: LRU order of recently seen keys, LIR and HIR, resident or not; queue Q: the
resident HIR keys; ``Lhirs = 1 %`` of the capacity, ``Llirs`` the rest)::

    hit LIR key:            to S's top; prune S (drop HIR entries from S's bottom up to a LIR one)
    hit resident HIR in S:  becomes LIR (leaves Q); S's bottom LIR is demoted to Q's end; prune
    hit resident HIR not in S: to S's top (still HIR), S's bottom LIR demoted to Q (libCacheSim)
    miss, non-resident HIR in S: becomes LIR, S's bottom LIR demoted to Q (Q's front evicted)
    miss, new key:          LIR while the LIR set has room, else HIR at S's top and Q's end,
                            evicting Q's front (which stays in S as a non-resident ghost)
    S keeps at most 2 x capacity units: the oldest non-resident ghosts are dropped

The structure and the order of steps follow libCacheSim's ``LIRS.c``, so in object mode the two
agree request for request on cloudPhysicsIO wherever ``Lhirs >= 2``.  Departures (correctness
over imitation): a hit never evicts — where libCacheSim evicts Q's front during a hit's demotion
(and, with ``Lhirs = 1``, can evict the very key being hit while still counting it resident),
Q may run over ``Lhirs`` until the next miss trims it, so a hit stays a hit and nothing the caller
holds disappears unannounced; a new key is refused only if it fits neither set; a low-priority
insert (prefetch) enters Q at its front, not S.  ``hir_ratio`` is the spec parameter.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from supreme.cache.policies.base import EvictionPolicy, PolicyError

__all__ = ["LIRS"]


class LIRS(EvictionPolicy):
    """LIRS with stack S, resident-HIR queue Q and a bounded ghost list (libCacheSim's shape)."""

    name = "lirs"
    spec_param = "hir_ratio"

    def __init__(self, capacity: int, hir_ratio: float = 0.01) -> None:
        super().__init__(capacity)
        if not 0.0 < hir_ratio < 1.0:
            raise PolicyError(f"LIRS needs 0 < hir_ratio < 1, got {hir_ratio}")
        self._hir_ratio = float(hir_ratio)
        self._s: OrderedDict[Hashable, int] = OrderedDict()  # key -> size, bottom (oldest) first
        self._q: OrderedDict[Hashable, int] = OrderedDict()  # resident HIR keys, front first
        self._ghosts: OrderedDict[Hashable, int] = OrderedDict()  # non-resident HIR keys in S
        self._lir: set[Hashable] = set()
        self._lirs = self._hirs = self._s_used = 0
        self._out: list[Hashable] = []  # residents evicted by the current insert
        self._on_capacity()

    @property
    def spec(self) -> str:
        """``lirs`` or ``lirs:<hir_ratio>``."""
        return self.name if self._hir_ratio == 0.01 else f"{self.name}:{self._hir_ratio:g}"

    def status(self, key: Hashable) -> str:
        """``"lir"``, ``"hir"`` (resident), ``"ghost"`` (non-resident in S) or ``"absent"``."""
        if key in self._lir:
            return "lir"
        if key in self._sizes:
            return "hir"
        return "ghost" if key in self._ghosts else "absent"

    def _on_capacity(self) -> None:
        self._hir_limit = max(1, int(self._hir_ratio * self._capacity))
        self._lir_limit = self._capacity - self._hir_limit

    # -- the stack ---------------------------------------------------------------------
    def _prune(self) -> None:
        s, lir = self._s, self._lir
        while len(s) > 1:  # libCacheSim stops at S's top entry
            key = next(iter(s))
            if key in lir:
                break
            self._s_used -= s.pop(key)
            self._ghosts.pop(key, None)

    def _limit_stack(self) -> None:
        while self._s_used > 2 * self._capacity and self._ghosts:
            key, _ = self._ghosts.popitem(last=False)
            self._s_used -= self._s.pop(key)

    def _s_push(self, key: Hashable, size: int) -> None:
        if key in self._s:
            self._s.move_to_end(key)
        else:
            self._s[key] = size
            self._s_used += size

    def _demote(self, trim: bool) -> bool:
        """S's bottom LIR key to Q's end (``trim``: evict Q's front first to make room)."""
        s = self._s
        key = next(iter(s), None)
        if key is None or key not in self._lir:
            return False
        size = s.pop(key)
        self._s_used -= size
        self._lir.discard(key)
        self._lirs -= size
        if trim:
            while self._q and self._hirs + size > self._hir_limit:
                self._evict_hir()
        self._q[key] = size
        self._hirs += size
        self._prune()
        return True

    def _make_lir(self, key: Hashable, size: int, trim: bool) -> None:
        while self._lirs + size > self._lir_limit and self._demote(trim):
            pass
        if self._lirs + size <= self._lir_limit or not self._lir:
            self._lir.add(key)
            self._lirs += size
        else:  # too large for the LIR set (tiny caches, big objects): stays a resident HIR
            self._q[key] = size
            self._hirs += size

    def _evict_hir(self, account: bool = True) -> Hashable:
        """Q's front leaves the cache (a ghost if still in S); ``account``: update the base's books."""
        key, size = self._q.popitem(last=False)
        self._hirs -= size
        if key in self._s:
            self._ghosts[key] = size
        if account:
            self._sizes.pop(key)
            self._used -= size
            self._out.append(key)
        return key

    # -- hooks -------------------------------------------------------------------------
    def _on_hit(self, key: Hashable) -> None:
        size = self._sizes[key]
        if key in self._q:
            self._q.move_to_end(key)
        if key in self._lir:
            self._s.move_to_end(key)
            self._prune()
        elif key in self._s:
            self._s.move_to_end(key)
            self._hirs -= self._q.pop(key)
            self._make_lir(key, size, trim=False)
        else:
            while self._lirs + size > self._lir_limit and self._demote(trim=False):
                pass
            self._s_push(key, size)
        self._limit_stack()

    def insert(self, key: Hashable, size: int = 1, low_priority: bool = False) -> list[Hashable]:
        """Admit ``key`` (LIRS's miss path, evicting from Q); return the evicted keys."""
        if size <= 0:
            raise PolicyError(f"object size must be positive, got {size!r}")
        if key in self._sizes or size > self._capacity:
            return super().insert(key, size, low_priority)
        ghost = key in self._ghosts
        if not ghost and size > self._lir_limit and size > self._hir_limit:
            return [key]
        out: list[Hashable] = []
        self._out = out
        while self._q and self._hirs > self._hir_limit:  # Q over its share after hits
            self._evict_hir()
        if ghost and not low_priority:
            self._ghosts.pop(key)
            self._s.move_to_end(key)
            while self._lirs + size > self._lir_limit and self._demote(trim=True):
                pass
            while self._used + size > self._capacity and self._sizes:  # LIRS_evict's ghost case
                while self._q and self._hirs >= self._hir_limit:
                    self._evict_hir()
                if not self._demote(trim=True) and not self._q:
                    break
            self._sizes[key] = size
            self._used += size
            self._make_lir(key, size, trim=True)
        else:
            if ghost:
                self._ghosts.pop(key)
                self._s_used -= self._s.pop(key)
            if self._lirs + size > self._lir_limit and self._hirs + size > self._hir_limit:
                while self._q and self._hirs + size > self._hir_limit:
                    self._evict_hir()
            self._room(size)
            self._sizes[key] = size
            self._used += size
            self._on_insert(key, low_priority)
        self._limit_stack()
        self._out = []
        return out

    def _room(self, size: int) -> None:
        while self._used + size > self._capacity and self._sizes:
            if not self._q and not self._demote(trim=True):
                # a ghost left at S's bottom (a ghost hit made LIR above it) hides the LIR key to demote;
                # without pruning, a 1-entry cache held 2 entries (found by test_opt_is_optimal)
                self._prune()
                if not self._demote(trim=True):
                    break
            if self._q:
                self._evict_hir()

    def _on_insert(self, key: Hashable, low_priority: bool) -> None:
        size = self._sizes[key]
        if low_priority:
            self._q[key] = size
            self._q.move_to_end(key, last=False)
            self._hirs += size
        elif self._lirs + size <= self._lir_limit:
            self._s_push(key, size)
            self._lir.add(key)
            self._lirs += size
        else:
            self._s_push(key, size)
            self._q[key] = size
            self._hirs += size

    def _pop_victim(self) -> Hashable:
        # resize and re-sized keys: Q's front, demoting a LIR key first if Q is empty
        if not self._q:
            self._demote(trim=False)
        return self._evict_hir(account=False)

    def _on_remove(self, key: Hashable) -> None:
        size = self._sizes[key]
        if key in self._lir:
            self._lir.discard(key)
            self._lirs -= size
            self._s_used -= self._s.pop(key)
            self._prune()
            return
        if key in self._s:
            self._s_used -= self._s.pop(key)
        self._hirs -= self._q.pop(key)
