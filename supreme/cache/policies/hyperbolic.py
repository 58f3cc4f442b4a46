"""Hyperbolic caching: evict the sampled key with the lowest request rate since it entered.

Reference: Blankstein, Sen & Freedman, "Hyperbolic Caching: Flexible Caching for Web
Applications", USENIX ATC 2017.

Pseudocode::

    priority(key) = hits_since_insert(key) / requests_since_insert(key)    (1 hit = the insert)
    evict:  draw 64 held keys uniformly (with replacement), evict the lowest priority
            (the first drawn among equals)

No structure is kept in priority order: priorities decay at different rates, so they are compared
only when sampled.  The sample size and the ``1e8 * freq / age`` score follow libCacheSim's
``Hyperbolic.c``; the draws come from a ``random.Random(seed)``, not libCacheSim's generator, so
the two are compared within a tolerance (tests).  Departures: an age below one request counts as
one (a key inserted without a lookup, as the L1 tier may); a low-priority insert (prefetch)
starts with no hit, priority 0, so an unused prefetch is the first victim any sample holding it
picks; sizes count in the capacity's unit, the priority ignores them (the paper's cost-unaware
form).  ``seed`` is the spec parameter (``"hyperbolic:3"``).
"""

from __future__ import annotations

import random
from collections.abc import Hashable

from supreme.cache.policies.base import EvictionPolicy, PolicyError

__all__ = ["Hyperbolic"]


class Hyperbolic(EvictionPolicy):
    """Sampled hyperbolic priority (hits / age), seeded."""

    name = "hyperbolic"
    spec_param = "seed"

    def __init__(self, capacity: int, seed: int = 0, samples: int = 64) -> None:
        super().__init__(capacity)
        if not (isinstance(samples, int) and samples >= 1):
            raise PolicyError(f"hyperbolic needs samples >= 1, got {samples!r}")
        self._seed, self._samples = int(seed), samples
        self._rng = random.Random(self._seed)
        self._keys: list[Hashable] = []  # held keys, for O(1) uniform draws
        self._pos: dict[Hashable, int] = {}
        self._freq: dict[Hashable, int] = {}
        self._born: dict[Hashable, int] = {}
        self._now = 0

    @property
    def spec(self) -> str:
        """``hyperbolic`` (seed 0) or ``hyperbolic:<seed>``."""
        return self.name if self._seed == 0 else f"{self.name}:{self._seed}"

    def priority(self, key: Hashable) -> float:
        """Hits since insertion over requests since insertion (KeyError if absent)."""
        return self._freq[key] / max(1, self._now - self._born[key])

    def _admit(self, key: Hashable, size: int) -> bool:
        self._now += 1  # every request is a hit or an admission: the clock of every age
        return True

    def _on_hit(self, key: Hashable) -> None:
        self._now += 1
        self._freq[key] += 1

    def _on_insert(self, key: Hashable, low_priority: bool) -> None:
        self._pos[key] = len(self._keys)
        self._keys.append(key)
        self._freq[key] = 0 if low_priority else 1
        self._born[key] = self._now

    def _pop_victim(self) -> Hashable:
        now, freq, born = self._now, self._freq, self._born
        best, best_score = None, float("inf")
        for key in self._rng.choices(self._keys, k=self._samples):
            score = 1.0e8 * freq[key] / max(1, now - born[key])
            if score < best_score:
                best, best_score = key, score
        assert best is not None  # the base only asks while keys are held
        self._forget(best)
        return best

    def _forget(self, key: Hashable) -> None:
        pos, last = self._pos.pop(key), self._keys.pop()
        if last != key:  # swap-remove: the last key fills the hole
            self._keys[pos] = last
            self._pos[last] = pos
        del self._freq[key], self._born[key]

    def _on_remove(self, key: Hashable) -> None:
        self._forget(key)
