"""The policy registry: names to classes, and ``make_policy``."""

from __future__ import annotations

from typing import Any

from supreme.cache.policies.arc import ARC
from supreme.cache.policies.base import EvictionPolicy, PolicyError
from supreme.cache.policies.clock import Clock
from supreme.cache.policies.fifo import FIFO
from supreme.cache.policies.lfu import LFU
from supreme.cache.policies.lru import LRU
from supreme.cache.policies.opt import OPT
from supreme.cache.policies.s3fifo import S3FIFO
from supreme.cache.policies.sieve import Sieve
from supreme.cache.policies.ttl import TTL
from supreme.cache.policies.wtinylfu import WTinyLFU

__all__ = ["ALIASES", "POLICIES", "make_policy", "normalize_name"]

POLICIES: dict[str, type[EvictionPolicy]] = {
    "lru": LRU,
    "fifo": FIFO,
    "lfu": LFU,
    "clock": Clock,
    "arc": ARC,
    "sieve": Sieve,
    "s3fifo": S3FIFO,
    "wtinylfu": WTinyLFU,
    "opt": OPT,
}

#: Other spellings accepted by :func:`make_policy` (after lower-casing and dropping ``-``/``_``).
ALIASES: dict[str, str] = {"belady": "opt", "min": "opt", "tinylfu": "wtinylfu", "secondchance": "clock"}


def normalize_name(name: str) -> str:
    """Canonical registry name for ``name`` (PolicyError listing valid names if unknown)."""
    key = str(name).strip().lower().replace("-", "").replace("_", "")
    key = ALIASES.get(key, key)
    if key not in POLICIES:
        raise PolicyError(f"unknown eviction policy {name!r}; valid: {', '.join(POLICIES)}")
    return key


def make_policy(name: str, capacity: int, **kwargs: Any) -> EvictionPolicy:
    """Build policy ``name`` of ``capacity``; ``ttl=`` and ``clock=`` wrap it in :class:`TTL`."""
    cls = POLICIES[normalize_name(name)]
    ttl = kwargs.pop("ttl", None)
    clock = kwargs.pop("clock", None)
    try:
        policy = cls(capacity, **kwargs)
    except TypeError as exc:
        raise PolicyError(f"bad options for policy {name!r}: {exc}") from exc
    if ttl is not None:
        if clock is None:
            raise PolicyError("a ttl needs a clock (pass clock=supreme.clock.SystemClock() or a ManualClock)")
        return TTL(policy, clock, ttl)
    return policy
