"""The manager's statistics table, derived from the counts each part keeps (and nowhere else).

L1's come from :meth:`MemoryTier.stats` (its hits are the read buffer's, counted once), a remote
tier's from its :class:`~supreme.cache.tiers.writeback.WriteBackTier`, the source's from the
manager's own fetch counts.  One row per tier plus ``source``; ``hit_ratio`` = hits / (hits + misses).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from supreme.cache.steps import COMPONENTS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["hierarchy_stats"]


def _l1_row(s1: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "tier": "L1", "component": COMPONENTS["L1"], "hits": s1["hits"], "misses": s1["misses"],
        "sets": s1["sets"], "errors": 0, "rejected": s1["rejections"], "pending": 0,
        "evictions": s1["evictions"], "expired": s1["expirations"], "entries": s1["entries"],
    }


def _remote_row(component: str, c: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "tier": c["tier"], "component": component, "hits": c["hits"], "misses": c["misses"],
        "sets": c["sets"] + c["promotions"], "errors": c["errors"], "rejected": c["rejected"],
        "pending": c["pending"], "evictions": 0, "expired": c["expired"], "entries": None,
        "journaled": c["journaled"], "flushed": c["flushed"], "dropped": c["dropped"],
        "corrupt": c["corrupt"],
    }


def _source_row(m: Mapping[str, int]) -> dict[str, Any]:
    return {
        "tier": "source", "component": COMPONENTS["source"], "hits": m["fetches"] - m["fetch_empty"],
        "misses": m["fetch_empty"], "sets": 0, "errors": m["fetch_errors"], "rejected": m["uncacheable"],
        "pending": 0, "coalesced": m["coalesced"], "adapt_errors": m["adapt_errors"],
    }


def hierarchy_stats(l1: Mapping[str, Any], remotes: Sequence[tuple[str, Mapping[str, Any]]],
                    source: Mapping[str, int]) -> pd.DataFrame:
    """The table from L1's stats, ``(component, stats)`` per remote tier and the source's counts."""
    import pandas as pd

    rows = [_l1_row(l1), *(_remote_row(component, c) for component, c in remotes), _source_row(source)]
    frame = pd.DataFrame.from_records(rows).set_index("tier")
    lookups = frame["hits"] + frame["misses"]
    frame["hit_ratio"] = (frame["hits"] / lookups.where(lookups > 0)).astype("float64")
    return frame
