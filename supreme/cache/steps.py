"""The cache hierarchy's event rows: one per step, named after the seed's participants.

The manager and the write-back tiers below it record into the same :class:`StepLog`, so every row of
a ``get``/``set``/``delete`` has one layout: flow ``cache_hierarchy`` (per call: e.g.
``trading_signal``), components ``Cache_Manager``, ``Memory_Cache_L1``, ``Redis_Cache_L2``,
``PostgreSQL_L3``, ``External_Source`` (:data:`COMPONENTS`); operations ``get``/``set``/``delete``/
``promote``/``fetch``/``flush``/``set_many`` (one row per write-behind batch); outcomes
``hit``/``miss``/``ok``/``error``/``rejected``/``journaled``; latency on the injected clock.
"""

from __future__ import annotations

from collections.abc import Callable

from supreme.events import EventLog

__all__ = ["COMPONENTS", "L1_COMPONENT", "MANAGER", "StepLog", "component_of"]

#: Seed participant name per tier.
COMPONENTS: dict[str, str] = {
    "L1": "Memory_Cache_L1", "L2": "Redis_Cache_L2", "L3": "PostgreSQL_L3", "source": "External_Source",
}
MANAGER = "Cache_Manager"
L1_COMPONENT = COMPONENTS["L1"]


def component_of(tier: str) -> str:
    """Seed participant name of ``tier`` (``Cache_<tier>`` for a tier the seed does not name)."""
    return COMPONENTS.get(tier, f"Cache_{tier}")


class StepLog:
    """Records the steps of cache operations into ``log``, timed on ``now``."""

    def __init__(self, log: EventLog, now: Callable[[], float]) -> None:
        self.log = log
        self._now = now

    def rec(self, flow: str, tier: str | None, operation: str, outcome: str, rid: str | None,
            key: str | None, t0: float, *, nbytes: int = 0, detail: str | None = None,
            answered_by: str | None = None) -> None:
        """Record one step; ``tier`` None means the manager itself (``answered_by`` fills its tier column)."""
        log = self.log
        if not log.enabled:
            return
        now = self._now()
        component = MANAGER if tier is None else component_of(tier)
        log.record(now, flow, component, operation, outcome, request_id=rid, key=key, latency=now - t0,
                   tier=answered_by if tier is None else tier, nbytes=nbytes, detail=detail)
