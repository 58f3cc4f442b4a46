"""The WebSocket_Gateway / WebSocket_Server participant: the thin socket adapter over the managers.

Per connection the adapter runs two tasks: a *receiver* that hands each text frame to
:meth:`StreamGateway.handle_text` (sans-IO: it only calls the managers and queues replies), and a
*sender* that drains the connection's bounded queue into the socket and refills it from what waited
behind it (:meth:`Connection.refill`).  Fan-out (:meth:`SubscriptionManager.publish`) never waits:
under :class:`~supreme.api.streaming.fastsend.FastSendProtocol` (what :func:`uvicorn_ws_options`
selects) it writes each update's pre-encoded frame straight to every connection with nothing queued
before it (the shared send path, :attr:`Connection.writer`), otherwise it queues.  A client whose
socket is stuck blocks nothing but its own sender; its transport pauses, its messages queue, when
its queue overflows it coalesces to the latest update per subscription, and it is closed ``4008 slow
consumer`` only when it stays behind past ``max_behind`` (see :mod:`~supreme.api.streaming.limits`).

Background tasks, started on the event loop by :meth:`StreamGateway.start` (the router's lifespan,
or lazily by the first connection): the :class:`HealthMonitor` loop, and -- when ``poll_interval`` is
given -- a pump that calls ``feed.poll()`` in a worker thread; the feed's callbacks come back to the
loop through ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket

from supreme.api.auth.service import AuthService
from supreme.api.deps import path_with_query
from supreme.api.streaming import protocol as P
from supreme.api.streaming.connections import Connection, ConnectionManager, StreamRefused
from supreme.api.streaming.fastsend import EXTENSION
from supreme.api.streaming.health import HealthMonitor
from supreme.api.streaming.limits import StreamLimits
from supreme.api.streaming.subscriptions import StreamCache, SubscriptionError, SubscriptionManager
from supreme.clock import Clock, SystemClock
from supreme.events import NULL_LOG, EventLog
from supreme.market.feed import MarketDataFeed, Update
from supreme.monitoring.metrics import Metrics

__all__ = ["StreamGateway"]

log = logging.getLogger(__name__)

_SEND_BATCH = 64


class StreamGateway:
    """Connection handling for ``/api/v1/stream``: sans-IO message handling plus the asyncio adapter."""

    def __init__(
        self,
        connections: ConnectionManager,
        subscriptions: SubscriptionManager,
        health: HealthMonitor,
        *,
        clock: Clock,
        feed: MarketDataFeed | None = None,
        poll_interval: float | None = None,
        event_log: EventLog = NULL_LOG,
        close_timeout: float = 2.0,
        max_protocol_errors: int = 20,
    ) -> None:
        if poll_interval is not None and not poll_interval > 0:
            raise ValueError(f"poll_interval must be > 0 seconds or None, got {poll_interval}")
        self.connections = connections
        self.subscriptions = subscriptions
        self.health = health
        self.clock = clock
        self.feed = feed
        self.poll_interval = poll_interval
        self.event_log = event_log
        self.close_timeout = float(close_timeout)
        self.max_protocol_errors = int(max_protocol_errors)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._handlers: set[asyncio.Task[Any]] = set()
        self.poll_errors = 0
        subscriptions.on_sent = connections.count_sent
        self._inbox: deque[Update] = deque()  # updates handed over from other threads, not yet fanned out
        self._drain_scheduled = False

    @classmethod
    def build(
        cls,
        clock: Clock | None = None,
        *,
        feed: MarketDataFeed | None = None,
        auth: AuthService | None = None,
        metrics: Metrics | None = None,
        event_log: EventLog = NULL_LOG,
        symbols: Any = None,
        queue_size: int | None = None,
        limits: StreamLimits | None = None,
        cache: StreamCache | None = None,
        cache_ttl: float | None = None,
        required_scopes: tuple[str, ...] = ("market:read",),
        allow_anonymous: bool = False,
        ping_interval: float = 20.0,
        ping_timeout: float = 10.0,
        poll_interval: float | None = None,
        timeframe: str | None = None,
        **kwargs: Any,
    ) -> StreamGateway:
        """All three managers and the adapter, wired (``clock`` defaults to :class:`SystemClock`).

        ``limits`` (default :class:`StreamLimits`) holds the caps; ``queue_size`` overrides its queue
        size.  With ``cache`` every market update is written through it before its broadcast.
        """
        clock = clock if clock is not None else SystemClock()
        connections = ConnectionManager(
            clock,
            auth,
            metrics=metrics,
            event_log=event_log,
            limits=limits,
            queue_size=queue_size,
            required_scopes=required_scopes,
            allow_anonymous=allow_anonymous,
        )
        subscriptions = SubscriptionManager(
            clock, feed, symbols=symbols, timeframe=timeframe, event_log=event_log,
            max_per_connection=connections.limits.max_subscriptions, cache=cache, cache_ttl=cache_ttl,
        )
        health = HealthMonitor(
            connections, clock, interval=ping_interval, timeout=ping_timeout, event_log=event_log
        )
        return cls(
            connections,
            subscriptions,
            health,
            clock=clock,
            feed=feed,
            poll_interval=poll_interval,
            event_log=event_log,
            **kwargs,
        )

    @classmethod
    def from_services(
        cls, services: Any, *, clock: Clock | None = None, poll_interval: float | None = 1.0, **kwargs: Any
    ) -> StreamGateway:
        """Wire to the app's ``Services`` (feed, auth, metrics, event log, and its cache manager for the
        "Cache update" step); the caps come from ``SUPREME_WS_*`` (:meth:`StreamLimits.from_env`)
        unless ``limits`` is given.

        The gateway paces its health pings and feed polls on ``clock`` (default: a
        :class:`SystemClock`), not on the services' market clock: network liveness is a matter of
        real seconds, whatever speed the replay runs at, and a hand-driven test clock must not be
        advanced by background loops.
        """
        kwargs.setdefault("limits", StreamLimits.from_env())
        kwargs.setdefault("cache", services.cache)
        return cls.build(
            clock if clock is not None else SystemClock(),
            feed=services.feed,
            auth=services.auth,
            metrics=services.metrics,
            event_log=services.event_log,
            poll_interval=poll_interval,
            **kwargs,
        )

    def _ev(
        self,
        flow: str,
        component: str,
        op: str,
        outcome: str = "ok",
        conn: Connection | None = None,
        detail: str | None = None,
        request_id: str | None = None,
        key: str | None = None,
    ) -> None:
        if self.event_log.enabled:
            self.event_log.record(
                self.clock.now(),
                flow,
                component,
                op,
                outcome,
                request_id=request_id,
                key=key if key is not None else (str(conn.id) if conn else None),
                detail=detail,
            )

    # -- sans-IO message handling --------------------------------------------------------------
    def handle_text(self, conn: Connection, text: str | bytes) -> None:
        """Act on one client frame; replies (ack, error, pong) are queued on ``conn``, never sent here."""
        self.connections.seen(conn)
        try:
            msg = P.parse_client_message(text)
        except P.ProtocolError as exc:
            self._protocol_error(conn, exc.code, str(exc), exc.request_id)
            return
        conn.protocol_errors = 0
        rid = self.event_log.next_request_id() if self.event_log.enabled else None
        if msg.op == "ping":
            conn.offer(P.pong(msg.id, self.clock.now()))
        elif msg.op == "pong":
            self._ev(
                "ws_lifecycle", "WebSocket_Gateway", "application_pong", conn=conn, detail=f"id={msg.id}"
            )
            self.health.confirm(conn, msg.id)
        else:
            self._subscription_op(conn, msg, rid)

    def _subscription_op(self, conn: Connection, msg: P.ClientMessage, rid: str | None) -> None:
        key = ",".join(msg.symbols)
        self._ev(
            "ws_streaming",
            "WebSocket_Server",
            msg.op,
            conn=conn,
            request_id=rid,
            key=key,
            detail=f"connection={conn.id} channels={','.join(msg.channels)}",
        )
        try:
            if msg.op == "subscribe":
                changed = self.subscriptions.subscribe(conn, msg.symbols, msg.channels, rid)
            else:
                changed = self.subscriptions.unsubscribe(conn, msg.symbols, msg.channels, rid)
        except SubscriptionError as exc:
            self._ev(
                "ws_streaming",
                "WebSocket_Server",
                msg.op,
                "rejected",
                conn=conn,
                request_id=rid,
                key=key,
                detail=exc.code,
            )
            conn.offer(P.error(exc.code, str(exc), msg.id))
            return
        self._ev(
            "ws_streaming",
            "Subscription_Manager",
            "confirmed",
            conn=conn,
            request_id=rid,
            key=key,
            detail=f"changed={len(changed)}",
        )
        field = "subscribed" if msg.op == "subscribe" else "unsubscribed"
        conn.offer(
            P.ack(
                msg.id,
                msg.op,
                **{field: [list(k) for k in changed], "subscriptions": len(conn.subscriptions)},
            )
        )
        self._ev("ws_streaming", "WebSocket_Server", "ack", conn=conn, request_id=rid, key=key)

    def _protocol_error(self, conn: Connection, code: str, message: str, request_id: Any) -> None:
        conn.protocol_errors += 1
        self._ev("ws_streaming", "WebSocket_Server", "client_message", "error", conn=conn, detail=code)
        conn.offer(P.error(code, message, request_id))
        if conn.protocol_errors >= self.max_protocol_errors:
            self.connections.force_close(
                conn, P.CLOSE_POLICY, f"{conn.protocol_errors} invalid messages in a row"
            )

    def publish(self, update: Update) -> int:
        """Cache ``update`` (when a cache is wired) and fan it out now (call on the event loop thread, or
        with no loop at all)."""
        if self.subscriptions.cache is not None:
            self.subscriptions.cache_update(update)
        return self.subscriptions.publish(update)

    def publish_threadsafe(self, update: Update) -> None:
        """Cache ``update`` in the calling thread (when a cache is wired), then fan it out on the
        gateway's loop (with any others handed over before the loop got to them: one batch)."""
        if self.loop is None:
            raise RuntimeError("StreamGateway is not started; await start() on the server's loop first")
        if self.subscriptions.cache is not None:
            self.subscriptions.cache_update(update)
        self._hand_over(self.loop, update)

    def _hand_over(self, loop: asyncio.AbstractEventLoop, update: Update) -> None:
        """Queue ``update`` for the loop; updates that pile up before it runs go out as one batch."""
        self._inbox.append(update)  # deque.append and the flag are safe across threads under the GIL
        if not self._drain_scheduled:
            self._drain_scheduled = True
            loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._drain_scheduled = False  # first: an update handed over from now on schedules a new drain
        batch = []
        while self._inbox:
            batch.append(self._inbox.popleft())
        if batch:
            self.subscriptions.publish_batch(batch)

    # -- background tasks ------------------------------------------------------------------------
    async def start(self) -> None:
        """Bind to the running loop and start the health monitor (and feed pump); idempotent."""
        if self.loop is not None:
            return
        loop = asyncio.get_running_loop()
        self.loop = loop

        def handoff(fn: Callable[[Update], Any], update: Update) -> None:
            if fn == self.subscriptions.publish:  # the feed's updates: batched like publish_threadsafe's
                self._hand_over(loop, update)
            else:
                loop.call_soon_threadsafe(fn, update)

        self.subscriptions.handoff = handoff
        self._tasks.append(loop.create_task(self.health.run(), name="stream-health"))
        if self.feed is not None and self.poll_interval is not None:
            self._tasks.append(
                loop.create_task(self._pump(self.feed, self.poll_interval), name="stream-pump")
            )

    async def _pump(self, feed: MarketDataFeed, interval: float) -> None:
        while True:
            try:
                # The feed fetches from the connector (maybe the network): keep it off the loop.
                await asyncio.to_thread(feed.poll)
            except Exception:
                self.poll_errors += 1
                log.exception("stream: feed poll failed; retrying in %.3f s", interval)
            await self.clock.asleep(interval)

    async def shutdown(self, code: int = P.CLOSE_GOING_AWAY, reason: str = "server shutdown") -> None:
        """Close every connection with ``code`` (1001), wait for their handlers, stop background tasks."""
        self.connections.close_all(code, reason)
        handlers = list(self._handlers)
        if handlers:
            await asyncio.wait(handlers, timeout=self.close_timeout + 1.0)
        self.health.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self.subscriptions.close()
        self.subscriptions.handoff = lambda fn, update: None  # late feed callbacks have nowhere to go
        self.loop = None

    # -- the socket adapter ---------------------------------------------------------------------
    async def serve(self, ws: WebSocket) -> None:
        """Run one WebSocket connection from upgrade to cleanup."""
        await self.start()
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            await self._serve(ws)
        finally:
            if task is not None:
                self._handlers.discard(task)

    async def _serve(self, ws: WebSocket) -> None:
        rid = self.event_log.next_request_id() if self.event_log.enabled else None
        peer = f"{ws.client.host}:{ws.client.port}" if ws.client else ""
        self._ev("ws_lifecycle", "WebSocket_Gateway", "upgrade_request", request_id=rid, key=peer)
        try:
            principal = await run_in_threadpool(
                self.connections.validate,
                dict(ws.headers),
                path_with_query(ws.scope),
                ws.query_params.get("token"),
                rid,
            )
        except StreamRefused as exc:
            # Accept, then close: a refused upgrade reaches the client as a bare HTTP 403 without the reason.
            self._ev(
                "ws_lifecycle",
                "WebSocket_Gateway",
                "refuse",
                "rejected",
                request_id=rid,
                key=peer,
                detail=f"{exc.close_code} {exc.reason}",
            )
            with contextlib.suppress(Exception):
                await ws.accept()
                await ws.close(exc.close_code, exc.reason)
            return
        await ws.accept()
        self._ev("ws_lifecycle", "WebSocket_Gateway", "switching_protocols", request_id=rid, key=peer)
        try:
            conn = self.connections.register(principal, peer)
        except StreamRefused as exc:  # the key reached its cap while this upgrade was validated
            self._ev("ws_lifecycle", "WebSocket_Gateway", "refuse", "rejected", request_id=rid, key=peer,
                     detail=f"{exc.close_code} {exc.reason}")
            with contextlib.suppress(Exception):
                await ws.close(exc.close_code, exc.reason)
            return
        done = asyncio.Event()
        conn.closer = lambda _c: done.set()
        conn.writer = ws.scope.get("extensions", {}).get(EXTENSION)  # None under another server
        client_close: list[tuple[int, str, bool]] = []
        sender = asyncio.create_task(self._sender(ws, conn, done, client_close))
        receiver = asyncio.create_task(self._receiver(ws, conn, done, client_close))
        try:
            await done.wait()
        finally:
            for t in (sender, receiver):
                t.cancel()
            await asyncio.gather(sender, receiver, return_exceptions=True)
            if conn.state == "closing" and not client_close:  # the server decided: send the close frame
                self._ev(
                    "ws_lifecycle",
                    "WebSocket_Gateway",
                    "close_frame",
                    conn=conn,
                    detail=f"{conn.close_code} {conn.close_reason}",
                )
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        ws.close(conn.close_code or P.CLOSE_NORMAL, conn.close_reason), self.close_timeout
                    )
            self.subscriptions.drop(conn)
            if client_close:
                code, reason, dropped = client_close[0]
                self.connections.unregister(conn, code, reason, dropped=dropped)
            else:
                self.connections.unregister(conn)

    async def _receiver(
        self, ws: WebSocket, conn: Connection, done: asyncio.Event, client_close: list[tuple[int, str, bool]]
    ) -> None:
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    code = int(message.get("code") or 1005)
                    reason = str(message.get("reason") or "")
                    # uvicorn reports a transport lost without a close frame as 1005 (websockets-sansio)
                    # or 1006; either is a dropped connection.  (A close frame without a status code also
                    # reads 1005 -- clients should send 1000.)
                    dropped = code in (1005, 1006, 1011, 1012)
                    self._ev(
                        "ws_lifecycle",
                        "WebSocket_Gateway",
                        "close_frame" if not dropped else "connection_lost",
                        "ok" if not dropped else "dropped",
                        conn=conn,
                        detail=f"{code} {reason}".strip(),
                    )
                    client_close.append((code, reason, dropped))
                    return
                text = message.get("text")
                if text is None:
                    text = message.get("bytes") or b""
                self.handle_text(conn, text)
        except Exception as exc:  # a broken socket ends the connection, never the server
            client_close.append((1006, f"receive failed: {type(exc).__name__}", True))
        finally:
            done.set()

    async def _sender(
        self, ws: WebSocket, conn: Connection, done: asyncio.Event, client_close: list[tuple[int, str, bool]]
    ) -> None:
        queue = conn.queue
        try:
            while True:
                text = await queue.get()
                conn.sending = True  # until written, the shared send path must not overtake it
                try:
                    await ws.send({"type": "websocket.send", "text": text})
                    n = 1
                    while n < _SEND_BATCH and not queue.empty():
                        await ws.send({"type": "websocket.send", "text": queue.get_nowait()})
                        n += 1
                finally:
                    conn.sending = False
                self.connections.mark_sent(conn, n)
                if conn.behind:  # room again: what waited behind the full queue moves in
                    conn.refill()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the client went away while we were sending
            client_close.append((1006, f"send failed: {type(exc).__name__}", True))
            done.set()
