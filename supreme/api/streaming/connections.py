"""The Connection_Manager participant: validate, register, force-close and unregister stream connections.

State and decisions only (h11's habit): no socket is touched here.  A :class:`Connection` holds its
bounded send queue (``asyncio.Queue(maxsize)``, used only through ``put_nowait``/``get_nowait`` here,
so it needs no running loop) and its per-subscription sequence counters.  The socket adapter
(:mod:`supreme.api.streaming.gateway`) drains the queue and installs :attr:`Connection.closer`, the
one hook through which a decision to close reaches the socket; a SimPy model installs its own.

Slow consumers: the fan-out never waits for a client.  When an update does not fit in the queue the
connection starts *coalescing*: it keeps only the latest update per subscription
(:attr:`Connection.pending`, bounded by the number of subscriptions), and control messages (acks,
errors, pings) wait in a small FIFO backlog.  The sender refills the queue as it drains -- backlog
first, then the latest update of each subscription, whose ``seq`` jumps and which says how many
older updates it replaced (``"skipped": K``), so a client always knows what it missed.  A burst
larger than the queue therefore costs a subscriber intermediate updates, never the connection.
Only a consumer that stays behind longer than ``max_behind`` seconds (on the clock), or whose
control backlog overflows, is force-closed with ``4008 slow consumer``.

Exception tree::

    SupremeError
    └── StreamRefused     the upgrade is refused; carries ``close_code`` (4401/4403/4429/1013) and ``reason``
"""

from __future__ import annotations

import asyncio
import itertools
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from supreme.api.auth.errors import AuthError, MissingCredentials
from supreme.api.auth.service import AuthService, Principal
from supreme.api.streaming import protocol as P
from supreme.api.streaming.limits import StreamLimits
from supreme.clock import Clock
from supreme.errors import SupremeError
from supreme.events import NULL_LOG, EventLog
from supreme.monitoring.metrics import Metrics

__all__ = ["Connection", "ConnectionManager", "StreamRefused"]

FLOW = "ws_lifecycle"
COMPONENT = "Connection_Manager"
Key = tuple[str, str]


class StreamRefused(SupremeError):
    """The WebSocket upgrade is refused; ``close_code`` and ``reason`` go to the client."""

    def __init__(self, close_code: int, reason: str, code: str = "unauthorized") -> None:
        super().__init__(reason)
        self.close_code = close_code
        self.reason = reason
        self.code = code


@dataclass(eq=False)
class Connection:
    """One registered client: its send queue, subscriptions with sequence numbers, and health state."""

    id: int
    key_id: str | None
    peer: str
    opened_at: float
    queue: asyncio.Queue[str]
    subscriptions: dict[Key, int] = field(default_factory=dict)  # (symbol, channel) -> last seq
    state: str = "open"  # open -> closing -> closed
    close_code: int | None = None
    close_reason: str = ""
    dropped: bool = False
    last_seen: float = 0.0
    ping_id: int = 0
    ping_sent_at: float | None = None  # an application ping awaiting its pong
    enqueued: int = 0
    sent: int = 0
    protocol_errors: int = 0
    max_behind: float = StreamLimits.max_behind
    max_backlog: int = StreamLimits.max_backlog
    #: Control messages waiting behind a full queue (FIFO, at most ``max_backlog``).
    backlog: deque[str] = field(default_factory=deque, repr=False)
    #: The latest update per subscription waiting behind a full queue: key -> (body, seq, skipped).
    pending: dict[Key, tuple[str, int, int]] = field(default_factory=dict, repr=False)
    behind_since: float | None = None  # when the queue last overflowed without being caught up
    coalesced: int = 0  # updates replaced by a newer one of the same subscription, in total
    #: Called once when the manager decides to close: ``closer(connection)``; the adapter sends the frame.
    closer: Callable[[Connection], Any] | None = field(default=None, repr=False)
    #: The shared send path: writes pre-encoded frame bytes now, or refuses (``False``); set by the adapter.
    writer: Callable[[bytes], bool] | None = field(default=None, repr=False)
    sending: bool = False  # the adapter's sender holds a message taken from the queue, not yet written

    @property
    def open(self) -> bool:
        """True until a close was decided."""
        return self.state == "open"

    @property
    def behind(self) -> bool:
        """True while messages wait outside the queue (the consumer is coalescing)."""
        return bool(self.backlog or self.pending)

    def next_seq(self, key: Key) -> int:
        """The next sequence number of subscription ``key`` (1, 2, ...)."""
        seq = self.subscriptions[key] + 1
        self.subscriptions[key] = seq
        return seq

    def _put(self, text: str) -> bool:
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            return False
        self.enqueued += 1
        return True

    def _fall_behind(self, now: float | None) -> bool:
        """Mark the overflow; False (and a ``4008`` close) once it has lasted past ``max_behind``."""
        if now is None:
            return True
        if self.behind_since is None:
            self.behind_since = now
        elif now - self.behind_since > self.max_behind:
            self.request_close(P.CLOSE_SLOW_CONSUMER,
                               f"slow consumer: behind for {now - self.behind_since:.1f} s "
                               f"(> {self.max_behind:g} s), {self.coalesced} updates coalesced", dropped=True)
            return False
        return True

    def offer(self, text: str, now: float | None = None) -> bool:
        """Queue a control message (ack, error, ping); behind a full queue it waits in the backlog.
        False when the connection is closing, or closes (``4008``) because the backlog is full or the
        consumer has been behind past ``max_behind`` (checked when ``now`` is given)."""
        if self.state != "open":
            return False
        if not self.behind and self._put(text):
            return True
        if len(self.backlog) >= self.max_backlog:
            self.request_close(P.CLOSE_SLOW_CONSUMER,
                               f"slow consumer: {len(self.backlog)} control messages waiting", dropped=True)
            return False
        if not self._fall_behind(now):
            return False
        self.backlog.append(text)
        return True

    def offer_update(self, key: Key, body: str, now: float | None = None, seq: int | None = None) -> bool:
        """Queue the next update of subscription ``key`` (``body`` from :func:`protocol.update_body`;
        ``seq`` if already taken); behind a full queue it replaces the subscription's pending update.
        False when closing/closed."""
        if self.state != "open":
            return False
        seq = self.next_seq(key) if seq is None else seq
        if not self.behind and self._put(P.update_text(body, seq)):
            return True
        if not self._fall_behind(now):
            return False
        old = self.pending.get(key)
        skipped = 0 if old is None else old[2] + 1
        self.coalesced += old is not None
        self.pending[key] = (body, seq, skipped)
        return True

    def direct_ready(self) -> bool:
        """True when an update may go through :attr:`writer` now: nothing waits before it (queue empty,
        sender idle, not coalescing) and the writer accepts (``writer(b"")`` probes, writing nothing)."""
        if self.writer is None or self.state != "open" or self.sending or self.behind:
            return False
        return self.queue.empty() and self.writer(b"")

    def forget(self, key: Key) -> None:
        """Drop the pending update of ``key`` (unsubscribed: nothing of it may follow the ack)."""
        self.pending.pop(key, None)

    def refill(self) -> int:
        """Move waiting messages into the queue while it has room: the backlog first (acks precede the
        updates they announce), then each subscription's latest update; returns how many moved."""
        moved = 0
        while self.backlog and self._put(self.backlog[0]):
            self.backlog.popleft()
            moved += 1
        while self.pending and not self.backlog:
            key = next(iter(self.pending))
            body, seq, skipped = self.pending[key]
            if not self._put(P.update_text(body, seq, skipped)):
                break
            del self.pending[key]
            moved += 1
        if not self.behind:
            self.behind_since = None
        return moved

    def next_message(self) -> str | None:
        """The next text to send, refilling from the backlog and pending updates; None when idle."""
        try:
            return self.queue.get_nowait()
        except asyncio.QueueEmpty:
            if not self.refill():
                return None
            return self.queue.get_nowait()

    def request_close(self, code: int, reason: str, *, dropped: bool) -> bool:
        """Decide to close (first decision wins); tells the adapter through :attr:`closer`."""
        if self.state != "open":
            return False
        self.state = "closing"
        self.close_code, self.close_reason, self.dropped = code, reason, dropped
        if self.closer is not None:
            self.closer(self)
        return True


class _QueueDepthCollector(Collector):
    """``ws_send_queue_depth`` (sum over connections) and ``ws_send_queue_depth_max``, read at scrape."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.managers: weakref.WeakSet[ConnectionManager] = weakref.WeakSet()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depths = [d for m in list(self.managers) for d in m.queue_depths().values()]
        yield GaugeMetricFamily(
            f"{self.prefix}_ws_send_queue_depth",
            "Messages waiting in WebSocket send queues (all connections)",
            value=float(sum(depths)),
        )
        yield GaugeMetricFamily(
            f"{self.prefix}_ws_send_queue_depth_max",
            "Deepest WebSocket send queue",
            value=float(max(depths, default=0)),
        )


_collectors: weakref.WeakKeyDictionary[Metrics, _QueueDepthCollector] = weakref.WeakKeyDictionary()


def _watch_queues(metrics: Metrics, manager: ConnectionManager) -> None:
    collector = _collectors.get(metrics)
    if collector is None:
        collector = _QueueDepthCollector(metrics.prefix)
        metrics.registry.register(collector)
        _collectors[metrics] = collector
    collector.managers.add(manager)


class ConnectionManager:
    """Validates upgrades, keeps the registry of open connections, and feeds the WebSocket metrics."""

    def __init__(
        self,
        clock: Clock,
        auth: AuthService | None = None,
        *,
        metrics: Metrics | None = None,
        event_log: EventLog = NULL_LOG,
        limits: StreamLimits | None = None,
        queue_size: int | None = None,
        required_scopes: Iterable[str] = ("market:read",),
        allow_anonymous: bool = False,
        max_connections: int | None = None,
    ) -> None:
        if queue_size is not None and queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if auth is None and not allow_anonymous:
            raise ValueError("ConnectionManager needs an AuthService, or allow_anonymous=True")
        limits = limits if limits is not None else StreamLimits()
        if queue_size is not None:
            limits = replace(limits, queue_size=int(queue_size))
        if max_connections is not None:
            limits = replace(limits, max_connections=int(max_connections))
        self.limits = limits
        self.clock = clock
        self.auth = auth
        self.metrics = metrics
        self.event_log = event_log
        self.queue_size = limits.queue_size
        self.required_scopes = tuple(required_scopes)
        self.allow_anonymous = allow_anonymous
        self.max_connections = limits.max_connections
        self.max_per_key = limits.max_connections_per_key
        self._connections: dict[int, Connection] = {}
        self._per_key: dict[str | None, int] = {}
        self._ids = itertools.count(1)
        self.opened = 0
        self.closed = 0
        self.dropped = 0
        if metrics is not None:
            _watch_queues(metrics, self)

    def _ev(
        self,
        op: str,
        outcome: str = "ok",
        *,
        component: str = COMPONENT,
        key: str | None = None,
        detail: str | None = None,
        request_id: str | None = None,
    ) -> None:
        if self.event_log.enabled:
            self.event_log.record(
                self.clock.now(), FLOW, component, op, outcome, key=key, detail=detail, request_id=request_id
            )

    # -- upgrade ------------------------------------------------------------------------------
    def validate(
        self,
        headers: Mapping[str, str],
        path_with_query: str,
        token: str | None = None,
        request_id: str | None = None,
    ) -> Principal | None:
        """Authenticate the upgrade request (signature headers, bearer header or ``?token=``).

        Returns the principal (``None`` for an anonymous connection when allowed); raises
        :class:`StreamRefused` with the close code to send.
        """
        if len(self._connections) >= self.max_connections:
            self._ev("validate", "rejected", detail="connection limit", request_id=request_id)
            raise StreamRefused(
                P.CLOSE_AUTH_UNAVAILABLE,
                f"connection limit reached ({self.max_connections}); try again later",
                "too_many_connections",
            )
        headers = dict(headers)
        if token and not any(k.lower() == "authorization" for k in headers):
            headers["Authorization"] = f"Bearer {token}"
        try:
            if self.auth is None:
                raise MissingCredentials("no auth service configured")
            principal = self.auth.authenticate(
                headers, "GET", path_with_query, b"", self.required_scopes, request_id
            )
        except AuthError as exc:
            if isinstance(exc, MissingCredentials) and self.allow_anonymous:
                self._ev("validate", "ok", detail="anonymous", request_id=request_id)
                return None
            close = {403: P.CLOSE_FORBIDDEN, 503: P.CLOSE_AUTH_UNAVAILABLE}.get(
                exc.status, P.CLOSE_UNAUTHORIZED
            )
            self._ev("validate", "rejected", detail=f"{exc.code}: {exc}", request_id=request_id)
            raise StreamRefused(close, f"{exc.code}: {exc}"[:120], exc.code) from exc
        self._check_key_cap(principal.key_id, request_id)
        self._ev("validate", "ok", key=principal.key_id, request_id=request_id)
        return principal

    def _check_key_cap(self, key_id: str | None, request_id: str | None = None) -> None:
        """:class:`StreamRefused` (``4429``) when ``key_id`` already holds its cap of open streams."""
        if key_id is None:  # anonymous streams (tests, models) have only the server-wide cap
            return
        held = self._per_key.get(key_id, 0)
        if held >= self.max_per_key:
            self._ev("validate", "rejected", key=key_id, detail="per-key connection limit",
                     request_id=request_id)
            raise StreamRefused(
                P.CLOSE_TOO_MANY_CONNECTIONS,
                f"too many streams for key {key_id}: {held} open, at most {self.max_per_key}",
                "too_many_connections_for_key",
            )

    # -- registry -----------------------------------------------------------------------------
    def register(self, principal: Principal | None, peer: str = "") -> Connection:
        """Add an accepted connection (after ``101 Switching Protocols``); :class:`StreamRefused`
        (``4429``) if its key reached its cap meanwhile (validation runs off the loop, so two upgrades
        of one key can pass it together; registering is the decision that counts)."""
        now = self.clock.now()
        key_id = principal.key_id if principal else None
        self._check_key_cap(key_id)
        conn = Connection(
            next(self._ids),
            key_id,
            peer,
            now,
            asyncio.Queue(maxsize=self.queue_size),
            last_seen=now,
            max_behind=self.limits.max_behind,
            max_backlog=self.limits.max_backlog,
        )
        self._connections[conn.id] = conn
        self._per_key[key_id] = self._per_key.get(key_id, 0) + 1
        self.opened += 1
        self._ev("register", key=str(conn.id), detail=peer)
        if self.metrics is not None:
            self.metrics.ws_connected()
        self._ev("increment_connections", component="Metrics_Collector", key=str(conn.id))
        return conn

    def unregister(
        self, conn: Connection, code: int | None = None, reason: str = "", *, dropped: bool | None = None
    ) -> bool:
        """Remove ``conn`` (idempotent); a close not asked for by the client counts as dropped."""
        if self._connections.pop(conn.id, None) is None:
            return False
        left = self._per_key.get(conn.key_id, 1) - 1
        if left > 0:
            self._per_key[conn.key_id] = left
        else:
            self._per_key.pop(conn.key_id, None)
        if conn.state == "open":  # the client closed (or vanished) first
            conn.close_code, conn.close_reason = code, reason
            conn.dropped = bool(dropped)
        elif dropped is not None:
            conn.dropped = conn.dropped or dropped
        conn.state = "closed"
        conn.subscriptions.clear()
        conn.pending.clear()
        conn.backlog.clear()
        self.closed += 1
        self._ev("unregister", key=str(conn.id), detail=f"code={conn.close_code} {conn.close_reason}".strip())
        if conn.dropped:
            self.dropped += 1
            self._ev(
                "record_dropped",
                "dropped",
                component="Metrics_Collector",
                key=str(conn.id),
                detail=conn.close_reason,
            )
        if self.metrics is not None:
            self.metrics.ws_disconnected(dropped=conn.dropped)
        self._ev("decrement_connections", component="Metrics_Collector", key=str(conn.id))
        return True

    def force_close(self, conn: Connection, code: int, reason: str) -> bool:
        """The server decides to end ``conn`` (health timeout, slow consumer): counted as dropped."""
        done = conn.request_close(code, reason, dropped=True)
        if done:
            self._ev("force_close", "dropped", key=str(conn.id), detail=f"{code} {reason}")
        return done

    def close_all(self, code: int = P.CLOSE_GOING_AWAY, reason: str = "server shutdown") -> int:
        """Ask every open connection to close (server shutdown); not counted as dropped."""
        n = 0
        for conn in list(self._connections.values()):
            if conn.request_close(code, reason, dropped=False):
                n += 1
        self._ev("close_all", detail=f"connections={n} code={code}")
        return n

    def mark_sent(self, conn: Connection, n: int = 1) -> None:
        """The adapter wrote ``n`` messages of ``conn`` to its socket."""
        conn.sent += n
        if self.metrics is not None:
            self.metrics.ws_message_sent(n)

    def count_sent(self, n: int) -> None:
        """``n`` messages went out through the shared send path (each connection counted its own)."""
        if self.metrics is not None and n:
            self.metrics.ws_message_sent(n)

    def seen(self, conn: Connection) -> None:
        """The client sent something (any frame proves the connection is alive)."""
        conn.last_seen = self.clock.now()

    def get(self, conn_id: int) -> Connection | None:
        """The open connection ``conn_id``, if registered."""
        return self._connections.get(conn_id)

    @property
    def connections(self) -> list[Connection]:
        """Registered connections."""
        return list(self._connections.values())

    def __len__(self) -> int:
        return len(self._connections)

    def per_key(self, key_id: str | None) -> int:
        """Open connections of ``key_id``."""
        return self._per_key.get(key_id, 0)

    def queue_depths(self) -> dict[int, int]:
        """Messages waiting per connection."""
        return {cid: c.queue.qsize() for cid, c in list(self._connections.items())}
