"""Single flight: concurrent callers for one key share a single execution.

After Go's ``golang.org/x/sync/singleflight``: the first caller (the leader) runs
the function; callers arriving while it runs wait on an event and receive the
leader's result, or its exception.  The key is released in a ``finally`` before
waiters are woken, so a raising function never leaves a key stuck.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

__all__ = ["SingleFlight"]

T = TypeVar("T")


class _Call(Generic[T]):
    __slots__ = ("done", "error", "value", "waiters")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.waiters = 0


class SingleFlight(Generic[T]):
    """Deduplicate concurrent calls per key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[Hashable, _Call[T]] = {}

    def do(self, key: Hashable, fn: Callable[[], T]) -> tuple[T, bool]:
        """Run ``fn`` once for concurrent callers of ``key``; return ``(result, shared)``.

        ``shared`` is True for callers that received another caller's result.
        """
        with self._lock:
            call = self._calls.get(key)
            if call is not None:
                call.waiters += 1
                leader = False
            else:
                call = self._calls[key] = _Call()
                leader = True
        if not leader:
            call.done.wait()
            if call.error is not None:
                raise call.error
            return call.value, True
        try:
            call.value = fn()
        except BaseException as exc:
            call.error = exc
            raise
        finally:
            with self._lock:
                del self._calls[key]
            call.done.set()
        return call.value, False

    def in_flight(self) -> int:
        """Number of keys being fetched now."""
        with self._lock:
            return len(self._calls)
