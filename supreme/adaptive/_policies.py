"""Late-bound access to the policy registry (other policies land in supreme.cache.policies over time)."""

from __future__ import annotations

from supreme.cache.policies.base import EvictionPolicy, PolicyError

__all__ = ["available_policies", "base_name", "make"]

#: offline oracles: they need the future, so they are bounds, never candidates for a live cache
ORACLES = frozenset({"opt", "belady"})


def available_policies(include_oracles: bool = False) -> list[str]:
    """Names of the eviction policies present in the registry right now."""
    try:
        from supreme.cache.policies import POLICIES
    except ImportError:
        names = ["lru"]
    else:
        names = sorted(POLICIES)
    return [n for n in names if include_oracles or n not in ORACLES]


def base_name(spec: str) -> str:
    """The policy a registry spec names (``"lrfu"`` for ``"lrfu:32"``), without validating it."""
    return spec.partition(":")[0]


def make(name: str, capacity: int) -> EvictionPolicy:
    """``make_policy(name, capacity)`` from the registry, or LRU while the registry is not there yet."""
    try:
        from supreme.cache.policies import make_policy
    except ImportError:
        if name != "lru":
            raise PolicyError(f"eviction policy {name!r} is not available (no registry yet)") from None
        from supreme.cache.policies.lru import LRU

        return LRU(capacity)
    policy: EvictionPolicy = make_policy(name, capacity)
    return policy
