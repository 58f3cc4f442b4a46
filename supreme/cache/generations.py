"""Per-key write generations: how a miss path knows a ``set``/``delete`` overlapped its read.

Every write bumps its key's generation under the key's lock; a fill or promotion notes the
generation before it reads and stores only if it is unchanged (see :mod:`supreme.cache.manager`).
A key's state lives only while a flight or write uses it, so the registry stays bounded.
"""

from __future__ import annotations

import threading

__all__ = ["KeyGenerations", "KeyState"]


class KeyState:
    """A key's write generation, the lock ordering its writes, and how many calls use it."""

    __slots__ = ("gen", "lock", "users")

    def __init__(self) -> None:
        self.gen = 0
        self.lock = threading.Lock()
        self.users = 0


class KeyGenerations:
    """The registry of keys in use by a flight or a write."""

    __slots__ = ("_keys", "_lock")

    def __init__(self) -> None:
        self._keys: dict[str, KeyState] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._keys)

    def enter(self, key: str) -> tuple[KeyState, int]:
        """Register a flight or write on ``key``; return its state and the generation seen now."""
        with self._lock:
            st = self._keys.get(key)
            if st is None:
                st = self._keys[key] = KeyState()
            st.users += 1
            return st, st.gen

    def exit(self, key: str, st: KeyState) -> None:
        """The flight or write on ``key`` is over."""
        with self._lock:
            st.users -= 1
            if st.users == 0:  # nobody holds a generation to compare against: keep the dict bounded
                del self._keys[key]

    def bump(self, st: KeyState) -> None:
        """A write happened: any read in flight for the key must not store what it read."""
        with self._lock:
            st.gen += 1
