"""Policies whose hit only sets a per-key reference bit (CLOCK, SIEVE): where keys sit is theirs."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from supreme.cache.policies.base import EvictionPolicy

__all__ = ["ReferenceBitPolicy"]


class ReferenceBitPolicy(EvictionPolicy):
    """A hit sets ``_bits[key]``; subclasses create ``_bits`` and place, sweep and forget keys."""

    _bits: dict[Hashable, bool | None]

    def _on_hit(self, key: Hashable) -> None:
        self._bits[key] = True

    def _on_hits(self, keys: Sequence[Hashable]) -> None:
        # setting a bit is idempotent and moves nothing: one C-level update for the whole batch
        self._bits.update(dict.fromkeys(filter(self._sizes.__contains__, keys), True))
