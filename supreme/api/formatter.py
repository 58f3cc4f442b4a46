"""Response_Formatter of the "Complete Request Processing Pipeline": a signal dict -> the response body.

The signal is cached as :meth:`Signal.to_dict` (plain JSON), so a hit and a miss format the same
way; the formatter adds the request's provenance (``meta``) and records its step.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from supreme.clock import Clock
from supreme.events import NULL_LOG, EventLog

__all__ = ["ResponseFormatter"]


def _iso(ms: int) -> str:
    # whole seconds, truncated (floor) as pandas' strftime did
    return _iso_seconds(ms // 1000)


@functools.lru_cache(maxsize=4096)
def _iso_seconds(seconds: int) -> str:
    # requests of the same second share the string: strftime is a third of the formatter's cost
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ResponseFormatter:
    """Builds :class:`~supreme.api.schemas.SignalResponse` bodies and logs the step."""

    def __init__(self, clock: Clock, event_log: EventLog = NULL_LOG, flow: str = "request_pipeline") -> None:
        self.clock = clock
        self.event_log = event_log
        self.flow = flow

    def signal(self, signal: dict[str, Any], *, request_id: str, cached: bool, cache_key: str,
               market_time_ms: int) -> dict[str, Any]:
        """The response body for ``signal`` (a :meth:`Signal.to_dict` dict)."""
        t0 = self.clock.now()
        body = dict(signal)
        body["meta"] = {
            "request_id": request_id,
            "cached": cached,
            "cache_key": cache_key,
            "market_time": market_time_ms,
            "as_of_iso": _iso(int(signal["as_of"])),
        }
        t1 = self.clock.now()
        self.event_log.record(t1, self.flow, "Response_Formatter", "format", "ok", request_id=request_id,
                              key=signal.get("symbol"), latency=t1 - t0, detail="cached" if cached else None)
        return body
