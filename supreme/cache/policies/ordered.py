"""Policies kept in insertion-ordered dicts whose first key goes first.

:class:`OrderedPolicy` is one such queue (FIFO, LRU, CLOCK's ring): a new key enters at the back;
the departure they share: a low-priority insert (prefetch) enters at the front, the eviction end, so
an unused prefetch is the next victim.  :func:`drop_from_either` serves the policies made of
several sized queues (S3-FIFO, W-TinyLFU).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import ClassVar

from supreme.cache.policies.base import EvictionPolicy

__all__ = ["OrderedPolicy", "drop_from_either"]


class OrderedPolicy(EvictionPolicy):
    """Keys in eviction order (first = next victim); subclasses decide what a hit does."""

    #: the value a new key gets in ``_order`` (CLOCK keeps its reference bit there)
    _fresh: ClassVar[bool | None] = None

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._order: OrderedDict[Hashable, bool | None] = OrderedDict()

    def _on_insert(self, key: Hashable, low_priority: bool) -> None:
        self._order[key] = self._fresh
        if low_priority:
            self._order.move_to_end(key, last=False)

    def _pop_victim(self) -> Hashable:
        return self._order.popitem(last=False)[0]

    def _on_remove(self, key: Hashable) -> None:
        del self._order[key]


def drop_from_either(key: Hashable, size: int, first: OrderedDict[Hashable, None], first_used: int,
                     second: OrderedDict[Hashable, None], second_used: int) -> tuple[int, int]:
    """Delete ``key`` (of ``size``) from ``first`` if it is there, else from ``second``; return both
    queues' new total sizes."""
    if key in first:
        del first[key]
        return first_used - size, second_used
    del second[key]
    return first_used, second_used - size
