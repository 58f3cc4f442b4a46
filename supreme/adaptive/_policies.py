"""The policy registry as the adaptive layer uses it: live candidates, spec base names, construction."""

from __future__ import annotations

from collections.abc import Sequence

from supreme.cache.policies import POLICIES, make_policy
from supreme.cache.policies.base import EvictionPolicy

__all__ = ["available_policies", "base_name", "make"]

#: offline oracles: they need the future, so they are bounds, never candidates for a live cache
ORACLES = frozenset({"opt", "belady"})


def available_policies(include_oracles: bool = False) -> list[str]:
    """Names of the registry's eviction policies (without the offline oracles unless asked)."""
    return [n for n in sorted(POLICIES) if include_oracles or n not in ORACLES]


def base_name(spec: str) -> str:
    """The policy a registry spec names (``"lrfu"`` for ``"lrfu:32"``), without validating it."""
    return spec.partition(":")[0]


def make(name: str, capacity: int, track: Sequence[str] = ()) -> EvictionPolicy:
    """``make_policy(name, capacity, track=track)`` from the registry."""
    policy: EvictionPolicy = make_policy(name, capacity, track=track)
    return policy
