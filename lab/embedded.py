"""The cache hierarchy on the embedded defaults (or the real servers when configured), cold for each run.

L2 is fakeredis unless ``SUPREME_REDIS_URL`` is set; L3 is a fresh SQLite file in a private temporary
folder unless ``SUPREME_DATABASE_URL`` is set.  On real servers every key lives under a fresh random
namespace, so two runs never share entries and the numbers of a run do not depend on earlier runs.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supreme.cache import CacheManager, MemoryTier, RedisTier, SqlTier
from supreme.clock import Clock
from supreme.config import Settings, load_settings
from supreme.events import NULL_LOG, EventLog

__all__ = ["SharedTiers", "backend_names", "shared_tiers"]

log = logging.getLogger(__name__)


@dataclass
class SharedTiers:
    """One L2 and one L3 shared by any number of managers (e.g. several service replicas)."""

    l2: RedisTier
    l3: SqlTier
    settings: Settings
    managers: list[CacheManager] = field(default_factory=list)

    def manager(
        self,
        clock: Clock,
        *,
        l1_policy: str = "lru",
        l1_capacity: int = 64,
        event_log: EventLog = NULL_LOG,
        **kwargs: Any,
    ) -> CacheManager:
        """A manager with its own L1 over the shared L2/L3."""
        l1 = MemoryTier(l1_policy, clock=clock, capacity=l1_capacity)
        m = CacheManager(l1, self.l2, self.l3, clock=clock, event_log=event_log, **kwargs)
        self.managers.append(m)
        return m


def backend_names(settings: Settings | None = None) -> dict[str, str]:
    """Which back-end serves each remote tier: ``fakeredis``/``redis`` and ``sqlite``/``postgresql``."""
    s = settings or load_settings()
    return {"L2": "fakeredis" if s.uses_fakeredis else "redis", "L3": s.database_kind}


@contextmanager
def shared_tiers(clock: Clock, settings: Settings | None = None) -> Iterator[SharedTiers]:
    """Fresh, empty L2/L3 tiers for one run; closed (and the temporary SQLite removed) on exit."""
    s = settings or load_settings()
    ns = f"supreme:exp:{uuid.uuid4().hex[:12]}:"
    with tempfile.TemporaryDirectory(prefix="supreme-exp-") as tmp:
        l2 = RedisTier.from_url(s.redis_url, namespace=ns)
        # PostgreSQL when configured; otherwise a fresh SQLite file, so every run starts cold
        url = s.database_url if s.database_kind == "postgresql" else f"sqlite:///{Path(tmp) / 'l3.db'}"
        l3 = SqlTier(url, clock=clock, namespace=ns)
        tiers = SharedTiers(l2, l3, s)
        try:
            yield tiers
        finally:
            if s.redis_url is not None:
                _purge_redis(l2, ns)
            if s.database_kind == "postgresql":
                _purge_sql(l3, ns)
            for m in tiers.managers:
                m.l1.close()
            l2.close()
            l3.close()


def _purge_redis(l2: RedisTier, ns: str) -> None:
    """Delete this run's keys (only ours: the namespace is fresh and random)."""
    try:
        keys = list(l2.client.scan_iter(match=ns + "*", count=1000))
        if keys:
            l2.client.delete(*keys)
    except Exception as exc:  # a down server leaves this run's keys behind: say so, do not fail the run
        log.warning("could not delete the run's Redis keys under %r: %s", ns, exc)


def _purge_sql(l3: SqlTier, ns: str) -> None:
    """Delete this run's rows from the shared L3 table."""
    try:
        l3.database().execute(f"DELETE FROM {l3.table} WHERE key LIKE ?", (ns + "%",))
    except Exception as exc:  # as above: reported, not raised
        log.warning("could not delete the run's L3 rows under %r: %s", ns, exc)
