"""The shared event log (DESIGN.md rule 3).

A real run and a simulation record what happened in the same columnar schema,
one row per step of a diagram, so notebooks compare worlds by comparing
DataFrames.  Recording appends a tuple to a list (cheap, and atomic under the
GIL, so threads may share a log); :meth:`EventLog.to_frame` builds the
DataFrame on demand.  A disabled log records nothing.

Columns
-------
run_id     the run this row belongs to
world      ``"real"`` or ``"sim"``
time       clock time of the step, seconds
flow       the seed diagram (see :data:`FLOWS`), e.g. ``"cache_hierarchy"``
request_id the request the step serves (``None`` for background work)
component  participant name, e.g. ``"Cache_Manager"``, ``"Redis_Cache_L2"``
operation  what it did: ``get``, ``set``, ``promote``, ``fetch``, ``transition``…
key        cache key / symbol, if any
outcome    ``hit``, ``miss``, ``ok``, ``error``, ``rejected``, ``open``…
latency    seconds the step took (clock time)
tier       ``L1``/``L2``/``L3``/``source`` or ``None``
bytes      payload size in bytes (0 if not applicable)
detail     free text: reasons, figures behind a decision (JSON is fine)
"""

from __future__ import annotations

import itertools
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMNS", "FLOWS", "NULL_LOG", "EventLog", "new_request_id"]

COLUMNS: tuple[str, ...] = (
    "run_id", "world", "time", "flow", "request_id", "component", "operation",
    "key", "outcome", "latency", "tier", "bytes", "detail",
)

#: Flow names, one per seed diagram.
FLOWS: tuple[str, ...] = (
    "trading_signal", "cache_hierarchy", "circuit_breaker", "connection_pool",
    "ws_streaming", "ws_lifecycle", "api_key_auth", "session_auth",
    "blue_green", "autoscaling", "learning_cycle", "prefetch",
    "error_escalation", "sla_validation", "fault_injection", "request_pipeline",
)

_request_ids = itertools.count(1)


def new_request_id() -> str:
    """A process-unique request id (deterministic order, so sims stay reproducible)."""
    return f"r{next(_request_ids)}"


class EventLog:
    """Append-only, columnar-on-demand log of diagram steps."""

    __slots__ = ("_ids", "_rows", "enabled", "run_id", "world")

    def __init__(self, run_id: str | None = None, world: str = "real", enabled: bool = True,
                 max_rows: int | None = None) -> None:
        if world not in ("real", "sim"):
            raise ValueError(f"world must be 'real' or 'sim', got {world!r}")
        if max_rows is not None and max_rows < 1:
            raise ValueError(f"max_rows must be a positive integer or None, got {max_rows!r}")
        self.run_id = run_id if run_id is not None else uuid.uuid4().hex[:12]
        self.world = world
        self.enabled = enabled
        # a long-running server keeps only the newest rows; deque(maxlen) drops the oldest in O(1)
        self._rows: list[tuple[Any, ...]] | deque[tuple[Any, ...]] = (
            [] if max_rows is None else deque(maxlen=max_rows)
        )
        self._ids = itertools.count(1)

    def next_request_id(self) -> str:
        """A request id unique within this log (so a seeded simulation's ids repeat exactly)."""
        return f"{self.run_id}-{next(self._ids)}"

    def record(
        self,
        time: float,
        flow: str,
        component: str,
        operation: str,
        outcome: str = "ok",
        *,
        request_id: str | None = None,
        key: str | None = None,
        latency: float = 0.0,
        tier: str | None = None,
        nbytes: int = 0,
        detail: str | None = None,
    ) -> None:
        """Append one step (no-op when the log is disabled)."""
        if self.enabled:
            self._rows.append(
                (time, flow, request_id, component, operation, key, outcome, latency, tier, nbytes, detail)
            )

    def extend_rows(self, rows: list[tuple[Any, ...]]) -> None:
        """Append ready-made rows (the order of :meth:`record`'s fields) in one call; hot paths only."""
        if self.enabled:
            self._rows.extend(rows)

    def __len__(self) -> int:
        return len(self._rows)

    def clear(self) -> None:
        """Drop every recorded row."""
        self._rows.clear()

    def extend(self, other: EventLog) -> None:
        """Append another log's rows (keeping this log's run id and world)."""
        self._rows.extend(other._rows)

    def to_frame(self) -> pd.DataFrame:
        """The log as a DataFrame with :data:`COLUMNS`."""
        import pandas as pd

        rows = list(self._rows)
        frame = pd.DataFrame.from_records(rows, columns=list(COLUMNS[2:]))
        frame.insert(0, "world", self.world)
        frame.insert(0, "run_id", self.run_id)
        frame = frame.astype(
            {"time": "float64", "latency": "float64", "bytes": "int64"}
        )
        return frame


#: A log that is always off; the default for components given no log.
NULL_LOG = EventLog(run_id="null", enabled=False)
