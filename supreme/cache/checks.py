"""Argument checks of the cache manager: keys, TTLs and settings, refused before anything is written."""

from __future__ import annotations

from supreme.errors import SupremeError
from supreme.events import FLOWS

__all__ = ["CacheError", "check_key", "check_settings", "check_ttl"]


class CacheError(SupremeError, ValueError):
    """Bad argument to the cache manager (None value, bad TTL, non-str key)."""


def check_settings(default_ttl: float | None, journal_limit: int, flush_batch: int, flow: str) -> None:
    """Refuse a bad manager setting before anything is built."""
    if default_ttl is not None and not default_ttl > 0:
        raise CacheError(f"default_ttl must be positive or None, got {default_ttl!r}")
    if journal_limit < 1:
        raise CacheError(f"journal_limit must be at least 1, got {journal_limit}")
    if flush_batch < 1:
        raise CacheError(f"flush_batch must be at least 1, got {flush_batch}")
    if flow not in FLOWS:
        raise CacheError(f"unknown flow {flow!r}; known: {', '.join(FLOWS)}")


def check_key(key: object) -> None:
    """Cache keys are str."""
    if not isinstance(key, str):
        raise CacheError(f"cache keys are str, got {type(key).__name__}: {key!r}")


def check_ttl(ttl: float | None, default: float | None) -> float | None:
    """``ttl`` as a positive float, ``default`` when None."""
    if ttl is None:
        return default
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
        raise CacheError(f"ttl must be a positive number of seconds or None, got {ttl!r}")
    return float(ttl)
