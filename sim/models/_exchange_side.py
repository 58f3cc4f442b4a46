"""The fault-injection model's External_Source as an exchange: ccxt-style errors and rate limits.

The source the model's cache manager falls back to is an exchange connector whose calls fail inside
``faults.exchange.error_*`` windows (``ExchangeUnavailable`` with probability ``error_rate``, the
seeded scenario RNG) and inside ``faults.ratelimit.down_*`` windows (every call answered with a rate
limit, as ccxt's ``RateLimitExceeded``, which the real ``CcxtConnector`` maps to
``ExchangeUnavailable`` too).  Each fetch goes through the real resilience code the real world
uses: :func:`supreme.builders.exchange_retry` (full-jitter backoff on the simulated clock, the
``exchange`` circuit breaker).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.models.fault_injection import _Model

__all__ = ["ExchangeSide"]


class ExchangeSide:
    """Fetches through ``exchange_retry``; the Chaos_Engine's exchange windows decide the failures."""

    def __init__(self, model: _Model) -> None:
        from supreme.builders import exchange_retry

        self.model = model
        self.retry = exchange_retry(model.clock, event_log=model.ctx.log, seed=int(model.sc["seed"]))
        self.breaker = self.retry.breaker
        self.calls = self.failures = 0

    def _once(self, key: str) -> Any:
        from supreme.market.connector import ExchangeUnavailable

        m = self.model
        self.calls += 1
        now = m.ctx.env.now
        if m.target_down("ratelimit"):
            m.bridge.wait(m.sc["io.refused"])
            self.failures += 1
            m.ctx.step("Exchange", "fetch", "rate_limited", key=key)
            raise ExchangeUnavailable(f"sim: fetch({key}) failed: RateLimitExceeded: 429 Too Many Requests")
        if m.chaos.affects("exchange") and m.chaos.fails("exchange", now, m.ctx.rng):
            m.bridge.wait(m.sc["io.refused"])
            self.failures += 1
            m.ctx.step("Exchange", "fetch", "error", key=key)
            raise ExchangeUnavailable(f"sim: fetch({key}) failed: ExchangeNotAvailable: 503")
        return m._source(key)

    def fetch(self, key: str) -> Any:
        """The source call: the exchange through the retry and its breaker."""
        return self.retry.call(self._once, key)
