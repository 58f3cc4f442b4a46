"""The Subscription_Manager participant: who listens to which (symbol, channel), and fan-out.

State and decisions only: :meth:`SubscriptionManager.publish` turns one feed update into one message
per subscriber, never blocking, and returns: written at once through the connection's shared send
path when nothing waits before it (``Connection.send_direct``: one pre-encoded frame per ``seq``, the
same bytes for every subscriber at that ``seq``), queued otherwise (``Connection.offer_update``); a
subscriber whose queue is full coalesces (keeps the latest update per subscription, see
:mod:`~supreme.api.streaming.connections`), the others are not delayed.  The update body is
serialised once (orjson) and only the sequence number is spliced per subscriber.  Updates handed over
from another thread that pile up before the loop runs them go out together
(:meth:`SubscriptionManager.publish_batch`): each connection on the shared path gets its frames of
the batch in one write, so an overloaded server spends one system call per subscriber per batch
rather than per update, and catches up.

"Cache update" (the diagram's ``Market_Data_Feed -> Cache_Manager``): with a ``cache`` (the app's
:class:`~supreme.cache.manager.CacheManager`), every update the feed hands over is written to all
tiers as ``stream:{symbol}:{channel}:latest`` = ``{"timestamp", "data"}`` *before* it is broadcast
-- in the feed's thread, so tier I/O never runs on the event loop -- and recorded as a
``Market_Data_Feed``/``cache_update`` step (the manager records its own ``set``).  A cache failure is
recorded (outcome ``error``), logged once per kind, and never holds the broadcast back.

The first client subscription of a (symbol, channel) subscribes the manager to the
:class:`~supreme.market.feed.MarketDataFeed`; the last one leaving unsubscribes it.  The feed may poll
in another thread: its callback goes through :attr:`SubscriptionManager.handoff`, which the socket
adapter sets to ``loop.call_soon_threadsafe`` so :meth:`publish` always runs on the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, Protocol

from supreme.api.streaming import protocol as P
from supreme.api.streaming.connections import Connection
from supreme.clock import Clock
from supreme.errors import SupremeError
from supreme.events import NULL_LOG, EventLog
from supreme.market.feed import CHANNELS, MarketDataFeed, Subscription, Update
from supreme.monitoring.failures import FailureLog

__all__ = ["StreamCache", "SubscriptionError", "SubscriptionManager", "cache_key"]

FLOW = "ws_streaming"
COMPONENT = "Subscription_Manager"
Key = tuple[str, str]
#: connection id -> (connection, its frames of one batch, their (key, body, seq)), in order
_Staged = dict[int, tuple[Connection, list[bytes], list[tuple[Key, str, int]]]]

_log = logging.getLogger(__name__)


class StreamCache(Protocol):
    """The slice of the cache manager the stream writes through (``CacheManager.set`` fits it)."""

    def set(self, key: str, value: Any, ttl: float | None = None, low_priority: bool = False, *,
            request_id: str | None = None, flow: str | None = None) -> None:
        """Write ``value`` to every tier."""
        ...


def cache_key(symbol: str, channel: str) -> str:
    """The cache key of a stream's latest update."""
    return f"stream:{symbol}:{channel}:latest"


class SubscriptionError(SupremeError, ValueError):
    """A subscription request is refused; ``code`` is the protocol error code (e.g. ``unknown_symbol``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _direct(fn: Callable[[Update], Any], update: Update) -> None:
    fn(update)


class SubscriptionManager:
    """Index of subscribers per (symbol, channel), fed by a market-data feed (or by :meth:`publish`)."""

    def __init__(
        self,
        clock: Clock,
        feed: MarketDataFeed | None = None,
        *,
        symbols: Collection[str] | Callable[[], Collection[str]] | None = None,
        timeframe: str | None = None,
        event_log: EventLog = NULL_LOG,
        max_per_connection: int = 500,
        cache: StreamCache | None = None,
        cache_ttl: float | None = None,
    ) -> None:
        self.clock = clock
        self.feed = feed
        self.cache = cache
        self.cache_ttl = cache_ttl
        self.cache_errors = 0
        self._cache_failures = FailureLog(_log, "stream cache update")
        if symbols is None and feed is not None:
            symbols = lambda: feed.connector.symbols  # noqa: E731 - read live: a connector may add markets
        self._symbols = symbols
        if timeframe is None and feed is not None:
            frames = getattr(feed.connector, "timeframes", None) or ["1m"]
            timeframe = frames[0]
        self.timeframe = timeframe or "1m"
        self.event_log = event_log
        self.max_per_connection = int(max_per_connection)
        self._subs: dict[Key, dict[int, Connection]] = {}
        self._feed_subs: dict[Key, Subscription] = {}
        #: How feed callbacks reach :meth:`publish`: direct by default; ``call_soon_threadsafe`` in a server.
        self.handoff: Callable[[Callable[[Update], Any], Update], Any] = _direct
        self.published = 0
        self.delivered = 0
        self.rejected = 0
        self.sent_direct = 0  # deliveries written through the shared send path (not queued)
        #: Told how many messages one publish wrote directly (the gateway counts them in the metrics).
        self.on_sent: Callable[[int], Any] | None = None

    def _ev(
        self,
        op: str,
        outcome: str = "ok",
        *,
        key: str | None = None,
        detail: str | None = None,
        component: str = COMPONENT,
        request_id: str | None = None,
    ) -> None:
        if self.event_log.enabled:
            self.event_log.record(
                self.clock.now(), FLOW, component, op, outcome, key=key, detail=detail, request_id=request_id
            )

    def _ev_keys(self, op: str, conn: Connection, keys: list[Key], request_id: str | None) -> None:
        self._ev(op, key=",".join(f"{s}:{c}" for s, c in keys), detail=f"connection={conn.id}",
                 request_id=request_id)

    def known_symbols(self) -> Collection[str] | None:
        """Symbols a client may subscribe to (``None``: anything)."""
        return self._symbols() if callable(self._symbols) else self._symbols

    # -- subscribe / unsubscribe -------------------------------------------------------------
    def subscribe(
        self,
        conn: Connection,
        symbols: Iterable[str],
        channels: Iterable[str] = CHANNELS,
        request_id: str | None = None,
    ) -> list[Key]:
        """Register ``conn`` for every symbol x channel (all or nothing); returns the keys newly added."""
        symbols, channels = list(symbols), list(channels)
        bad_channels = [c for c in channels if c not in CHANNELS]
        if bad_channels:
            raise SubscriptionError(
                "unknown_channel", f"unknown channel(s) {bad_channels}; expected some of {list(CHANNELS)}"
            )
        known = self.known_symbols()
        if known is not None:
            unknown = [s for s in symbols if s not in known]
            if unknown:
                self._ev(
                    "register",
                    "rejected",
                    key=",".join(unknown),
                    detail="unknown symbol",
                    request_id=request_id,
                )
                raise SubscriptionError(
                    "unknown_symbol", f"unknown symbol(s) {unknown}; available: {sorted(known)[:20]}"
                )
        wanted = [(s, c) for s in symbols for c in channels if (s, c) not in conn.subscriptions]
        if len(conn.subscriptions) + len(wanted) > self.max_per_connection:
            raise SubscriptionError(
                "too_many_subscriptions",
                f"connection {conn.id} would hold {len(conn.subscriptions) + len(wanted)} "
                f"subscriptions; at most {self.max_per_connection}",
            )
        for key in wanted:
            conn.subscriptions[key] = 0
            subscribers = self._subs.setdefault(key, {})
            subscribers[conn.id] = conn
            if self.feed is not None and key not in self._feed_subs:
                self._feed_subs[key] = self.feed.subscribe(
                    key[0], key[1], self._from_feed, timeframe=self.timeframe
                )
        self._ev_keys("register", conn, wanted, request_id)
        return wanted

    def unsubscribe(
        self,
        conn: Connection,
        symbols: Iterable[str],
        channels: Iterable[str] = CHANNELS,
        request_id: str | None = None,
    ) -> list[Key]:
        """Remove ``conn``'s subscriptions of symbols x channels; returns the keys removed."""
        keys = [(s, c) for s in symbols for c in channels]
        removed = [k for k in keys if self._remove(conn, k)]
        self._ev_keys("remove", conn, removed, request_id)
        return removed

    def drop(self, conn: Connection) -> int:
        """Remove every subscription of ``conn`` (it closed); returns how many."""
        removed = [k for k in list(conn.subscriptions) if self._remove(conn, k)]
        if removed:
            self._ev("remove_all", detail=f"connection={conn.id} subscriptions={len(removed)}")
        return len(removed)

    def _remove(self, conn: Connection, key: Key) -> bool:
        if conn.subscriptions.pop(key, None) is None:
            return False
        conn.forget(key)
        subscribers = self._subs.get(key)
        if subscribers is not None:
            subscribers.pop(conn.id, None)
            if not subscribers:
                del self._subs[key]
                feed_sub = self._feed_subs.pop(key, None)
                if feed_sub is not None and self.feed is not None:
                    self.feed.unsubscribe(feed_sub)
        return True

    def subscribers(self, symbol: str, channel: str) -> list[Connection]:
        """Connections subscribed to ``symbol``/``channel``."""
        return list(self._subs.get((symbol, channel), {}).values())

    @property
    def keys(self) -> list[Key]:
        """(symbol, channel) pairs with at least one subscriber."""
        return list(self._subs)

    # -- fan-out --------------------------------------------------------------------------------
    def _from_feed(self, update: Update) -> None:
        if self.cache is not None:
            self.cache_update(update)
        self.handoff(self.publish, update)

    def cache_update(self, update: Update, request_id: str | None = None) -> bool:
        """Write ``update`` through the cache manager (all tiers); False (recorded, logged once per
        kind) when the cache refused it -- the broadcast goes on regardless."""
        assert self.cache is not None
        key = cache_key(update["symbol"], update["channel"])
        t0 = self.clock.now()
        try:
            self.cache.set(key, {"timestamp": update.get("timestamp"), "data": update.get("data")},
                           ttl=self.cache_ttl, request_id=request_id, flow=FLOW)
        except (SupremeError, OSError, ValueError, TypeError) as exc:  # a cache fault never stops the stream
            self.cache_errors += 1
            self._cache_failures.failed(exc)
            self._ev("cache_update", "error", key=key, detail=f"{type(exc).__name__}: {exc}"[:200],
                     component="Market_Data_Feed", request_id=request_id)
            return False
        self._cache_failures.succeeded()
        if self.event_log.enabled:
            self.event_log.record(self.clock.now(), FLOW, "Market_Data_Feed", "cache_update", "ok", key=key,
                                  latency=self.clock.now() - t0, request_id=request_id)
        return True

    def publish(self, update: Update) -> int:
        """Fan ``update`` out to each subscriber of its symbol/channel; returns how many accepted it."""
        return self.publish_batch((update,))

    def publish_batch(self, updates: Sequence[Update]) -> int:
        """Fan ``updates`` out in order (ones that waited for the loop together); a connection on the
        shared send path gets all its frames of the batch in one write, one system call instead of
        one per update.  Returns the deliveries accepted."""
        staged: _Staged = {}
        queued: set[int] = set()  # connections taking the queued way for this batch (order)
        accepted = sum(self._fan_out(u, staged, queued) for u in updates)
        direct = 0
        for conn, frames, items in staged.values():
            assert conn.writer is not None
            if conn.writer(frames[0] if len(frames) == 1 else b"".join(frames)):
                conn.sent += len(frames)
                direct += len(frames)
            else:  # the socket refused since it was asked (not on one loop callback): queue them
                now = self.clock.now()
                for key, body, seq in items:
                    conn.offer_update(key, body, now, seq)
        self.sent_direct += direct
        if direct and self.on_sent is not None:
            self.on_sent(direct)
        return accepted

    def _fan_out(self, update: Update, staged: _Staged, queued: set[int]) -> int:
        key = (update["symbol"], update["channel"])
        subscribers = self._subs.get(key)
        self.published += 1
        if not subscribers:
            return 0
        body = P.update_body(update)
        now = self.clock.now()
        accepted = 0
        frames: dict[int, bytes] = {}  # seq -> encoded frame, shared by the subscribers at that seq
        for conn in list(subscribers.values()):
            entry = staged.get(conn.id)
            if entry is None and conn.id not in queued:
                if conn.direct_ready():
                    entry = staged[conn.id] = (conn, [], [])
                else:
                    queued.add(conn.id)
            if entry is not None:
                seq = conn.next_seq(key)
                frame = frames.get(seq)
                if frame is None:
                    frame = frames[seq] = P.update_frame(body, seq)
                entry[1].append(frame)
                entry[2].append((key, body, seq))
                accepted += 1
            elif conn.offer_update(key, body, now):
                accepted += 1
            else:
                self.rejected += 1
        self.delivered += accepted
        if self.event_log.enabled:
            self._ev(
                "broadcast",
                "ok" if accepted == len(subscribers) else "partial",
                key=f"{key[0]}:{key[1]}",
                detail=f"subscribers={len(subscribers)} queued={accepted}",
            )
        return accepted

    def close(self) -> None:
        """Unsubscribe from the feed (server shutdown)."""
        if self.feed is not None:
            for sub in self._feed_subs.values():
                self.feed.unsubscribe(sub)
        self._feed_subs.clear()
