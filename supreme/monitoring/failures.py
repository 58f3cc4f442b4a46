"""One clear log line per kind of back-end failure, a count for the rest, one line when it is over.

A dead back-end fails every call that needs it; logging each failure with its traceback buries the
one fact an operator needs (``nonce store (Redis) failed: ConnectionError: …``) under a
thousand copies of it.  :class:`FailureLog` logs the **first** failure of each kind (the exception's
class) as one WARNING line without a traceback (the traceback goes to DEBUG), counts the repeats
without logging them, and logs one line with the counts when the next call succeeds — so an outage
shows as two lines however long it lasts, and a second outage after a recovery is logged again.

The healthy path costs one truth test (:meth:`FailureLog.succeeded` on an empty count table).
"""

from __future__ import annotations

import logging

__all__ = ["FailureLog"]


class FailureLog:
    """Failures of one back-end (``what``, e.g. ``"nonce store (Redis)"``), logged once per kind."""

    __slots__ = ("_counts", "logger", "what")

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.logger = logger
        self.what = what
        self._counts: dict[str, int] = {}

    def failed(self, exc: BaseException) -> int:
        """Count ``exc``, log it if first of its kind since the last success; the count of its kind."""
        kind = type(exc).__name__
        n = self._counts.get(kind, 0) + 1
        self._counts[kind] = n
        if n == 1:
            self.logger.warning("%s failed: %s: %s (repeats are counted, not logged, until it answers)",
                                self.what, kind, exc)
            self.logger.debug("%s failure traceback", self.what, exc_info=exc)
        return n

    def succeeded(self) -> None:
        """The back-end answered: if it had been failing, log the counts once and start afresh."""
        if self._counts:
            counts = ", ".join(f"{kind} x{n}" for kind, n in sorted(self._counts.items()))
            self._counts = {}
            self.logger.warning("%s answers again after %s", self.what, counts)

    def counts(self) -> dict[str, int]:
        """Failures per kind since the last success (empty when healthy)."""
        return dict(self._counts)

    @property
    def failing(self) -> bool:
        """True between a failure and the next success."""
        return bool(self._counts)
