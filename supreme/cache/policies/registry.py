"""The policy registry: names to classes, and ``make_policy``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from supreme.cache.policies.arc import ARC
from supreme.cache.policies.base import EvictionPolicy, PolicyError
from supreme.cache.policies.cacheus import Cacheus
from supreme.cache.policies.caffeine import AdaptiveWTinyLFU
from supreme.cache.policies.clock_eviction import Clock
from supreme.cache.policies.fifo import FIFO
from supreme.cache.policies.gdsf import GDSF
from supreme.cache.policies.hyperbolic import Hyperbolic
from supreme.cache.policies.lecar import LeCaR
from supreme.cache.policies.lfu import LFU
from supreme.cache.policies.lirs import LIRS
from supreme.cache.policies.lrfu import DEFAULT_HORIZON, LRFU
from supreme.cache.policies.lrfu_tracked import TrackedLRFU
from supreme.cache.policies.lru import LRU
from supreme.cache.policies.opt import OPT
from supreme.cache.policies.s3fifo import S3FIFO
from supreme.cache.policies.sieve import Sieve
from supreme.cache.policies.ttl import TTL
from supreme.cache.policies.twoq import TwoQ
from supreme.cache.policies.wtinylfu import WTinyLFU

__all__ = ["ALIASES", "POLICIES", "TRACKING", "make_policy", "normalize_name", "split_spec"]

POLICIES: dict[str, type[EvictionPolicy]] = {
    "lru": LRU,
    "fifo": FIFO,
    "lfu": LFU,
    "clock": Clock,
    "arc": ARC,
    "sieve": Sieve,
    "s3fifo": S3FIFO,
    "wtinylfu": WTinyLFU,
    "lrfu": LRFU,
    "opt": OPT,
    "twoq": TwoQ,
    "gdsf": GDSF,
    "lirs": LIRS,
    "lecar": LeCaR,
    "cacheus": Cacheus,
    "hyperbolic": Hyperbolic,
    "caffeine": AdaptiveWTinyLFU,
}

#: Other spellings accepted by :func:`make_policy` (after lower-casing and dropping ``-``/``_``).
ALIASES: dict[str, str] = {"belady": "opt", "min": "opt", "tinylfu": "wtinylfu", "secondchance": "clock",
                           "2q": "twoq", "wtinylfuadaptive": "caffeine", "adaptivewtinylfu": "caffeine"}


def normalize_name(name: str) -> str:
    """Canonical registry spelling of ``name`` (PolicyError listing valid names if unknown).

    A policy with a ``spec_param`` also takes ``"name:value"`` (``"lrfu:32"``: LRFU with
    ``horizon=32``); the canonical spelling writes the value with ``%g``.
    """
    base, kwargs = split_spec(name)
    if not kwargs:
        return base
    ((_, value),) = kwargs.items()
    return f"{base}:{value:g}"


def split_spec(name: str) -> tuple[str, dict[str, float]]:
    """``("lrfu", {"horizon": 32.0})`` for ``"LRFU:32"``; the keyword dict is empty without a suffix."""
    text = str(name).strip()
    head, sep, tail = text.partition(":")
    key = head.strip().lower().replace("-", "").replace("_", "")
    key = ALIASES.get(key, key)
    if key not in POLICIES:
        raise PolicyError(f"unknown eviction policy {name!r}; valid: {', '.join(POLICIES)}")
    if not sep:
        return key, {}
    param = POLICIES[key].spec_param
    if param is None:
        raise PolicyError(f"policy {key!r} takes no ':' parameter (got {name!r})")
    try:
        value = float(tail)
    except ValueError:
        raise PolicyError(f"bad {param} in policy spec {name!r}: {tail.strip()!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise PolicyError(f"bad {param} in policy spec {name!r}: must be a positive number")
    return key, {param: value}


#: policies that can keep the state of other members of their family, so ``retune`` to them is exact
TRACKING: dict[str, type[EvictionPolicy]] = {"lrfu": TrackedLRFU}


def make_policy(name: str, capacity: int, *, track: Sequence[str] = (), **kwargs: Any) -> EvictionPolicy:
    """Build policy ``name`` of ``capacity``; ``ttl=`` and ``clock=`` wrap it in :class:`TTL`.

    ``track``: other specs of the same family (``["lrfu:2", "lrfu:32"]`` for ``"lrfu"``) whose state
    the policy keeps too, so that ``policy.retune(spec)`` to one of them is exact; specs of another
    family, and policies that cannot track (all but LRFU), ignore it.
    """
    base, spec_kwargs = split_spec(name)
    cls = POLICIES[base]
    kwargs = {**spec_kwargs, **kwargs}
    horizons = [split_spec(t)[1].get("horizon", DEFAULT_HORIZON) for t in track if split_spec(t)[0] == base]
    if base in TRACKING and horizons:
        cls = TRACKING[base]
        kwargs["track"] = horizons
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
