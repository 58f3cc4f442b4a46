"""The manager as the adapter's :class:`~supreme.cache.protocols.AdaptationTarget`, over its L1.

The seed's learning cycle (``Cache_Adapter`` → ``Cache_Manager``: "Apply adaptations" /
"Adaptations applied"): ``policy_name``, ``budget``, ``switch_policy(name)`` and
``set_prefetch_budget(n)`` (plus ``resize(capacity)``).  The mechanics (migration least valuable
first, prefetch area, abort rather than lose) are :class:`~supreme.cache.tiers.memory.MemoryTier`'s,
under its lock after draining its read buffer.  Each one records a row (flow ``learning_cycle``,
component ``Cache_Manager``, operation ``apply_adaptation``, outcome ``ok``/``rejected``, ``detail``
JSON with the L1 shape ``before`` and ``after``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from supreme.cache.protocols import SwitchResult
from supreme.cache.steps import MANAGER
from supreme.cache.tiers.memory import Adjustment, MemoryTier
from supreme.events import EventLog

__all__ = ["L1Adaptation"]


class L1Adaptation:
    """AdaptationTarget methods for a class with an ``l1`` MemoryTier, a ``_log`` and a ``_now`` clock."""

    l1: MemoryTier
    _log: EventLog
    _now: Callable[[], float]

    def switch_policy(self, name: str, capacity: int | None = None,
                      track: Sequence[str] = ()) -> SwitchResult:
        """Replace L1's policy by ``name``, migrating its residents (aborted rather than lose one)."""
        adj = self.l1.switch_policy(name, capacity, track)
        self._record_adaptation("switch_policy", adj, {"to": name})
        return SwitchResult(adj.applied, adj.migrated, adj.lost)

    def retune_policy(self, name: str) -> bool:
        """Make L1's policy ``name`` in place when it tracks that spec (exact; nothing migrates)."""
        adj = self.l1.retune_policy(name)
        self._record_adaptation("retune_policy", adj, {"to": name})
        return adj.applied

    @property
    def policy_name(self) -> str:
        """Registry name of L1's eviction policy."""
        return self.l1.policy_name

    def set_prefetch_budget(self, entries: int) -> None:
        """Reserve ``entries`` of L1's budget for prefetched-but-unused entries (the demand area shrinks)."""
        self._record_adaptation("set_prefetch_budget", self.l1.set_prefetch_budget(entries),
                                {"prefetch_budget": entries})

    @property
    def budget(self) -> int:
        """L1's total capacity, shared by demand and prefetched entries."""
        return self.l1.budget

    def resize(self, capacity: int) -> list[Any]:
        """Change L1's total capacity (the demand area takes the change); return the evicted keys."""
        adj = self.l1.resize_budget(capacity)
        self._record_adaptation("resize", adj, {"budget": capacity})
        return adj.evicted

    def _record_adaptation(self, what: str, adj: Adjustment, asked: dict[str, Any]) -> None:
        log = self._log
        if not log.enabled:
            return
        detail = {"adaptation": what, **asked, "applied": adj.applied, "migrated": adj.migrated,
                  "lost": adj.lost, "evicted": len(adj.evicted), "before": adj.before, "after": adj.after}
        log.record(self._now(), "learning_cycle", MANAGER, "apply_adaptation",
                   "ok" if adj.applied else "rejected", tier="L1", detail=json.dumps(detail, sort_keys=True))
