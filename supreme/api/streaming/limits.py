"""The stream's caps and bounds, with defaults, from keyword arguments or ``SUPREME_WS_*`` variables.

==============================  =======  =====================================================  =========
setting (environment variable)  default  what happens at the cap                                 code
==============================  =======  =====================================================  =========
``queue_size``                  256      send queue per connection; when full, updates are      --
(``SUPREME_WS_QUEUE_SIZE``)              *coalesced* (latest per subscription), not dropped
``max_behind``                  10 s     a connection coalescing for longer is closed           ``4008``
(``SUPREME_WS_MAX_BEHIND``)
``max_backlog``                 64       control messages (acks, errors, pings) waiting         ``4008``
(``SUPREME_WS_MAX_BACKLOG``)             behind a full queue; one more closes the connection
``max_connections``             10000    open streams on this server; the upgrade is refused    ``1013``
(``SUPREME_WS_MAX_CONNECTIONS``)
``max_connections_per_key``     32       open streams of one API key; the upgrade is refused    ``4429``
(``SUPREME_WS_MAX_CONNECTIONS_PER_KEY``)
``max_subscriptions``           500      subscriptions of one connection; the subscribe is      error
(``SUPREME_WS_MAX_SUBSCRIPTIONS``)       refused with an ``too_many_subscriptions`` error       frame
                                         frame, the connection and its subscriptions stay
==============================  =======  =====================================================  =========

Anonymous connections (allowed only in tests, benchmarks and models) have no per-key cap.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from supreme.config import ConfigError

__all__ = ["ENV_PREFIX", "StreamLimits"]

ENV_PREFIX = "SUPREME_WS_"


@dataclass(frozen=True)
class StreamLimits:
    """Caps and bounds of ``/api/v1/stream`` (see the module table)."""

    queue_size: int = 256
    max_behind: float = 10.0
    max_backlog: int = 64
    max_connections: int = 10_000
    max_connections_per_key: int = 32
    max_subscriptions: int = 500

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "max_behind":
                ok = isinstance(value, (int, float)) and math.isfinite(value) and value > 0
            else:
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
            if not ok:
                what = "number of seconds" if f.name == "max_behind" else "integer"
                raise ConfigError(f"stream limit {f.name} must be a positive {what}, got {value!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: float) -> StreamLimits:
        """Defaults, replaced by ``SUPREME_WS_<NAME>`` variables, replaced by ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict[str, float] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = float(raw) if f.name == "max_behind" else int(raw)
            except ValueError:
                raise ConfigError(f"{ENV_PREFIX}{f.name.upper()} must be a number, got {raw!r}") from None
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
