"""Rate_Limiter: GCRA (generic cell rate algorithm) per API key and per client address.

Source: ITU-T I.371 / ATM Forum TM 4.0, the "virtual scheduling" form of GCRA, as popularised for
HTTP APIs by brandur's *throttled* and redis-cell.  One number per key — the theoretical arrival
time (TAT) — replaces a token bucket's (tokens, last_refill) pair, so one atomic read-modify-write
suffices.  With emission interval ``T = 1/rate`` and ``burst`` cells::

    tat      = max(TAT[key], now)
    new_tat  = tat + cost * T
    allow_at = new_tat - burst * T
    if now < allow_at:  deny,  retry_after = allow_at - now        (TAT unchanged)
    else:               allow, TAT[key] = new_tat
    remaining   = floor((now + burst*T - TAT) / T)                 (cells usable right now)
    reset_after = TAT - now                                        (until fully replenished)

So ``burst`` requests pass at once, then one every ``T``.

Departures: times are integer **microseconds** (``round(now * 1e6)``) so the in-memory and the Lua
implementation agree exactly and allow/deny sequences are reproducible; ``now`` always comes from the
injected clock — the Redis script receives it as an argument rather than calling ``TIME`` — so a
simulation or a test decides time.  Redis keys expire (real time) once their TAT has passed, after which
a missing key means "full burst", which is exactly what an expired TAT means; for a clock running slower
than real time raise ``key_ttl_margin``.

Event log: with an ``event_log``, each check records one ``Rate_Limiter`` / ``check`` step (flow
``trading_signal``) with the caller's ``request_id``, the decision (``ok``/``rejected``, ``error`` when
the store was unreachable) and its latency on the clock, so the gateway need not record it itself.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from supreme.clock import Clock
from supreme.errors import SupremeError
from supreme.events import NULL_LOG, EventLog

__all__ = [
    "GCRA", "InMemoryRateLimiter", "RateLimitConfigError", "RateLimitResult", "RateLimiter",
    "RateLimiterUnavailable", "RedisRateLimiter", "rate_limit_headers", "too_many_requests",
]

_US = 1_000_000


class RateLimitConfigError(SupremeError, ValueError):
    """Invalid limiter configuration (rate <= 0, burst < 1, cost out of range)."""


class RateLimiterUnavailable(SupremeError, ConnectionError):
    """The shared limiter state (Redis) is unreachable and the limiter was told to fail closed."""


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    """Outcome of one check; times in seconds."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: float
    reset_after: float
    degraded: bool = False  # True when the store was unreachable and the limiter failed open


@dataclass(frozen=True, slots=True)
class GCRA:
    """GCRA parameters and the pure decision function (shared by both limiters)."""

    rate: float
    burst: int
    # T in microseconds, computed once: every check of the hot path reads it twice
    _t: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (isinstance(self.rate, (int, float)) and math.isfinite(self.rate) and self.rate > 0):
            raise RateLimitConfigError(
                f"rate must be a positive number of requests per second, got {self.rate!r}")
        if not isinstance(self.burst, int) or isinstance(self.burst, bool) or self.burst < 1:
            raise RateLimitConfigError(f"burst must be an integer >= 1, got {self.burst!r}")
        if _US / self.rate < 1:
            raise RateLimitConfigError(f"rate {self.rate}/s is above the 1e6/s resolution of the limiter")
        object.__setattr__(self, "_t", max(1, round(_US / self.rate)))

    @property
    def interval_us(self) -> int:
        """Emission interval T in microseconds."""
        return self._t

    def check_cost(self, cost: int) -> None:
        """Refuse costs that can never be allowed."""
        if not isinstance(cost, int) or cost < 1 or cost > self.burst:
            raise RateLimitConfigError(f"cost must be an integer in 1..burst={self.burst}, got {cost!r}")

    def decide(self, tat_us: int | None, now_us: int, cost: int = 1) -> tuple[bool, int]:
        """``(allowed, stored_tat)`` for a stored TAT (None: unseen key) at ``now_us``."""
        t = self._t
        tat = now_us if tat_us is None or tat_us < now_us else tat_us
        new_tat = tat + cost * t
        if now_us < new_tat - self.burst * t:
            return False, tat
        return True, new_tat

    def result(self, allowed: bool, tat_us: int, now_us: int, cost: int = 1,
               degraded: bool = False) -> RateLimitResult:
        """The :class:`RateLimitResult` for a decision."""
        t = self._t
        remaining = max(0, min(self.burst, (now_us + self.burst * t - tat_us) // t))
        retry = 0 if allowed else max(0, tat_us + cost * t - self.burst * t - now_us)
        return RateLimitResult(allowed=allowed, limit=self.burst, remaining=int(remaining),
                               retry_after=retry / _US, reset_after=max(0, tat_us - now_us) / _US,
                               degraded=degraded)


class RateLimiter(Protocol):
    """Anything with ``check(key, cost=1, *, request_id=None) -> RateLimitResult``."""

    def check(self, key: str, cost: int = 1, *, request_id: str | None = None) -> RateLimitResult:
        """Count one request of ``cost`` cells against ``key`` (``request_id`` labels the logged step)."""
        ...


def _now_us(clock: Clock) -> int:
    return round(clock.now() * _US)


class InMemoryRateLimiter:
    """GCRA in one process's memory, on the injected clock (thread-safe)."""

    blocking = False  # a check does no I/O: it may run on the event loop

    def __init__(self, rate: float, burst: int, clock: Clock, *, max_keys: int = 100_000,
                 name: str = "rate_limit", event_log: EventLog = NULL_LOG) -> None:
        self.gcra = GCRA(rate, burst)
        self.clock = clock
        self.max_keys = max_keys
        self.name = name
        self.event_log = event_log
        self._tat: dict[str, int] = {}
        self._lock = threading.Lock()

    def check(self, key: str, cost: int = 1, *, request_id: str | None = None) -> RateLimitResult:
        """Count one request of ``cost`` cells against ``key`` (``request_id`` labels the logged step)."""
        if type(cost) is not int or cost != 1:  # the integer 1 is always a valid cost: skip the call
            self.gcra.check_cost(cost)
        now = _now_us(self.clock)
        with self._lock:
            allowed, tat = self.gcra.decide(self._tat.get(key), now, cost)
            if allowed:
                self._tat[key] = tat
                if len(self._tat) > self.max_keys:
                    self._sweep(now)
        result = self.gcra.result(allowed, tat, now, cost)
        if self.event_log.enabled:
            _record(self.event_log, self.clock, now, key, "ok" if allowed else "rejected", request_id,
                    None, self.name)
        return result

    def _sweep(self, now: int) -> None:
        # Keys whose TAT has passed are at full burst: forgetting them changes no decision.
        for k in [k for k, v in self._tat.items() if v <= now]:
            del self._tat[k]

    def reset(self, key: str) -> None:
        """Forget ``key`` (full burst again)."""
        with self._lock:
            self._tat.pop(key, None)


_LUA = """
local now = tonumber(ARGV[1])
local t = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local margin = tonumber(ARGV[5])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + cost * t
if now < new_tat - burst * t then
  return {0, string.format('%d', tat)}
end
local px = math.floor((new_tat - now) / 1000) + margin
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', px)
return {1, string.format('%d', new_tat)}
"""


class RedisRateLimiter:
    """GCRA whose state lives in Redis, updated atomically by one Lua script (shared across processes).

    ``fail_open`` (default True): if Redis is unreachable, allow and mark the result ``degraded`` rather
    than take the API down with it; with False raise :class:`RateLimiterUnavailable`.
    """

    blocking = True  # a check is a round trip to Redis: run it off the event loop

    def __init__(self, client: Any, rate: float, burst: int, clock: Clock, *, namespace: str = "supreme:",
                 name: str = "rate_limit", fail_open: bool = True, key_ttl_margin_ms: int = 1000,
                 event_log: EventLog = NULL_LOG) -> None:
        self.gcra = GCRA(rate, burst)
        self.client = client
        self.clock = clock
        self.namespace = namespace
        self.name = name
        self.fail_open = fail_open
        self.key_ttl_margin_ms = int(key_ttl_margin_ms)
        self.event_log = event_log
        self._script = client.register_script(_LUA)

    def check(self, key: str, cost: int = 1, *, request_id: str | None = None) -> RateLimitResult:
        """Count one request of ``cost`` cells against ``key`` (atomically in Redis); ``request_id``
        labels the logged step."""
        import redis

        self.gcra.check_cost(cost)
        now = _now_us(self.clock)
        try:
            allowed_raw, tat_raw = self._script(
                keys=[f"{self.namespace}ratelimit:{self.name}:{key}"],
                args=[now, self.gcra.interval_us, self.gcra.burst, cost, max(1, self.key_ttl_margin_ms)],
            )
        except redis.RedisError as exc:
            self._record(now, key, "error", request_id,
                         f"{self.name}; store unreachable, failed {'open' if self.fail_open else 'closed'}")
            if not self.fail_open:
                raise RateLimiterUnavailable(f"rate-limit store (Redis) unreachable: {exc}") from exc
            return RateLimitResult(allowed=True, limit=self.gcra.burst, remaining=0, retry_after=0.0,
                                   reset_after=0.0, degraded=True)
        allowed = int(allowed_raw) == 1
        self._record(now, key, "ok" if allowed else "rejected", request_id)
        return self.gcra.result(allowed, int(tat_raw), now, cost)

    def _record(self, now: int, key: str, outcome: str, request_id: str | None,
                detail: str | None = None) -> None:
        if self.event_log.enabled:
            _record(self.event_log, self.clock, now, key, outcome, request_id, "L2", detail or self.name)


def _record(log: EventLog, clock: Clock, start_us: int, key: str, outcome: str, request_id: str | None,
            tier: str | None, detail: str) -> None:
    """One ``Rate_Limiter`` step, stamped at its end with its latency (callers check ``log.enabled``)."""
    end = clock.now()
    log.record(end, "trading_signal", "Rate_Limiter", "check", outcome, request_id=request_id, key=key,
               latency=max(0.0, end - start_us / _US), tier=tier, detail=detail)


def rate_limit_headers(result: RateLimitResult) -> dict[str, str]:
    """``RateLimit-Limit/Remaining/Reset`` (IETF draft) plus ``Retry-After`` when denied (whole seconds)."""
    headers = {
        "RateLimit-Limit": str(result.limit),
        "RateLimit-Remaining": str(result.remaining),
        "RateLimit-Reset": str(math.ceil(result.reset_after)),
    }
    if not result.allowed:
        headers["Retry-After"] = str(max(1, math.ceil(result.retry_after)))
    return headers


def too_many_requests(result: RateLimitResult, message: str = "rate limit exceeded") -> Any:
    """A 429 JSON response ``{"error": "rate_limited", ...}`` with ``Retry-After`` (Starlette)."""
    from starlette.responses import JSONResponse

    return JSONResponse(
        status_code=429,
        content={"error": "rate_limited", "message": message, "retry_after": result.retry_after},
        headers=rate_limit_headers(result),
    )
