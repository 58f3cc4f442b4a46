"""Policy families the live cache can move within in place: which candidates, and which one leads.

A family is the candidates sharing a registry base (``"lrfu:2"`` … ``"lrfu:32"``) whose policy can
keep every member's state (:data:`~supreme.cache.policies.registry.TRACKING`).  Moving between
members is then exact and costs no misses, so the adapter follows the window's leader instead of
pricing a switch (see :class:`~supreme.adaptive.adapter.CacheAdapter`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from supreme.adaptive._policies import base_name
from supreme.cache.policies.registry import TRACKING

__all__ = ["leader", "members", "recent_ratios"]


def members(name: str, candidates: Sequence[str]) -> list[str]:
    """Candidates of ``name``'s family, ``name`` first, if it has two or more and can track them; else []."""
    base = base_name(name)
    if base not in TRACKING:
        return []
    fam = [name, *(c for c in candidates if c != name and base_name(c) == base)]
    return fam if len(fam) > 1 else []


def leader(ratios: Mapping[str, float], fam: Sequence[str], current: str, margin: float) -> str | None:
    """The member with the best hit ratio if it beats ``current`` by more than ``margin``; else None."""
    now = ratios.get(current, math.nan)
    judged = [n for n in fam if math.isfinite(ratios.get(n, math.nan))]
    if not judged or not math.isfinite(now):
        return None
    best = max(sorted(judged), key=lambda n: ratios[n])
    return best if best != current and ratios[best] - now > margin else None


def recent_ratios(hist: Sequence[Mapping[str, np.ndarray]], fam: Sequence[str],
                  batches: int) -> dict[str, float]:
    """Mean hit ratio of each member over the last ``batches`` batch means (windows holding them all)."""
    windows = [h for h in hist if all(n in h for n in fam)]
    if not windows or batches < 1:
        return {}
    return {n: float(np.concatenate([h[n] for h in windows])[-batches:].mean()) for n in fam}
