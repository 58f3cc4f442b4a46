"""Real-time market-data streaming over WebSocket: ``/api/v1/stream`` (seed diagrams "WebSocket Market
Data Streaming", flow ``ws_streaming``, and "WebSocket Connection Lifecycle", flow ``ws_lifecycle``).

Modules
-------
=====================  ========================================================================
``protocol``           message schemas, close codes (pure functions)
``limits``             ``StreamLimits``: queue size, behind bound, connection and subscription caps
``connections``        Connection_Manager: upgrade validation, registry, metrics, force close
``subscriptions``      Subscription_Manager: (symbol, channel) index, feed hookup, fan-out
``health``             Health_Monitor: application pings on the injected clock
``gateway``            WebSocket_Gateway / WebSocket_Server: the thin asyncio adapter
``router``             ``stream_router`` (APIRouter), ``create_stream_app``, ``StreamServer``
``fastsend``           the shared send path: uvicorn protocol with a frame writer per connection
``client``             ``StreamClient``: Python/notebook client with sequence checking
=====================  ========================================================================

The managers hold state and make decisions without I/O, so a SimPy model drives the same objects.

Connecting
----------
``GET /api/v1/stream`` with a WebSocket upgrade and one of

* API-key signature headers ``X-API-Key``, ``X-Timestamp``, ``X-Signature`` (``X-Nonce``) over
  ``GET <path?query>`` with an empty body (see :mod:`supreme.api.auth.signing`);
* ``Authorization: Bearer <session token>``;
* ``?token=<session token>`` (for browsers, which cannot set headers on a WebSocket).

The key needs scope ``market:read`` (or ``admin``).  A refused upgrade is accepted and closed at once
with a close code and a reason naming the fault: ``4401`` (missing/bad credentials, e.g.
``"invalid_session: ..."``), ``4403`` (missing scope), ``4429`` (this key already holds
``max_connections_per_key`` open streams, default 32), ``1013`` (key store unreachable or the
server-wide connection limit; try again later).  Caps: :mod:`~supreme.api.streaming.limits`.

Client -> server (JSON text frames)
-----------------------------------
::

    {"op": "subscribe",   "symbols": ["SPX"], "channels": ["ticker", "candles", "trades"], "id": 1}
    {"op": "unsubscribe", "symbols": ["SPX"], "channels": ["candles"], "id": 2}
    {"op": "ping", "id": 3}                 # application-level ping; answered by a pong
    {"op": "pong", "id": 7}                 # answer to the server's {"type": "ping", "id": 7}

``channels`` defaults to all three; ``id`` (string or integer) is echoed in the reply.  At most 100
symbols per request and ``max_subscriptions`` (500) subscriptions per connection: a subscribe that
would exceed it is refused whole with a ``too_many_subscriptions`` error frame, and the connection
keeps what it had.  Subscribing is all-or-nothing: one unknown
symbol refuses the whole request.

Server -> client
----------------
::

    {"type": "ack", "id": 1, "op": "subscribe", "subscribed": [["SPX", "candles"]], "subscriptions": 1}
    {"type": "ack", "id": 2, "op": "unsubscribe", "unsubscribed": [["SPX", "candles"]], "subscriptions": 0}
    {"type": "error", "code": "unknown_symbol", "message": "...", "id": 1}
    {"type": "update", "seq": 1, "symbol": "SPX", "channel": "candles", "timestamp": 1546300800000,
     "data": [1546214400000, 2498.9, 2509.2, 2482.8, 2506.9, 3.4e9]}
    {"type": "ping", "id": 7, "time": 1700000000.0}
    {"type": "pong", "id": 3, "time": 1700000000.0}

Error codes: ``malformed_json``, ``invalid_message``, ``unknown_op``, ``unknown_channel``,
``unknown_symbol``, ``too_many_subscriptions``.  A bad message never closes the connection, unless 20
arrive in a row (then ``1008``).

``update.data`` is the ccxt shape: an OHLCV row for ``candles``, a trade dict for ``trades``, a ticker
dict for ``ticker``; ``timestamp`` (ms) is when the item became visible.  ``seq`` counts the updates
of one subscription (connection x symbol x channel) from 1 without holes; a resubscription starts
again at 1.  The ack of a subscribe is queued before its first update.

Slow consumers: coalesce, then disconnect
-----------------------------------------
Each connection has a bounded send queue (256 messages by default), drained by its own sender task.
Fan-out never waits: an update's frame is encoded once and written straight to every socket with
nothing queued before it (the shared send path, :mod:`~supreme.api.streaming.fastsend`); otherwise,
or while a socket is paused, it is queued.  When a client's queue is full, a burst does not close
it: it *coalesces* -- only the latest update per subscription is kept (control messages wait in a
small FIFO backlog) and sent when the queue has room again, as
``{"type":"update","seq":N,"skipped":K,...}``: its ``seq`` jumps by ``K`` past the ``K`` older
updates it replaced.  The hole is announced, never silent (candles
and trades are not idempotent snapshots: a client that needs every one backfills the ``K`` over REST).
A client that stays behind longer than ``max_behind`` (10 s) is closed with ``4008 slow consumer``,
as is one whose control backlog overflows.  Without a ``skipped`` field ``seq`` never skips; the
client checks it (:class:`~supreme.api.streaming.client.StreamClient` records an unannounced hole as a
:class:`Gap` and counts announced ones in ``coalesced``).

Health and closing
------------------
* Protocol level: WebSocket ping/pong frames by uvicorn (``ws_ping_interval`` / ``ws_ping_timeout``,
  see :func:`~supreme.api.streaming.router.uvicorn_ws_options`).
* Application level: the Health_Monitor sends ``{"type":"ping"}`` every ``ping_interval`` (20 s) and
  closes with ``4408 health timeout`` when no ``pong`` arrives within ``ping_timeout`` (10 s); the
  connection is unregistered and counted as dropped.
* A client's close frame is answered, its subscriptions are removed and it is unregistered (not
  dropped); a transport lost without a close frame (1006) counts as dropped.
* Server shutdown closes every connection with ``1001 server shutdown``
  (:class:`~supreme.api.streaming.router.StreamServer`).

Metrics (``supreme.monitoring.Metrics``): ``ws_connections`` (current), ``ws_connections_opened_total``,
``ws_dropped_total``, ``ws_messages_sent_total``, and ``ws_send_queue_depth`` / ``ws_send_queue_depth_max``
(read at scrape time).
"""

from __future__ import annotations

from supreme.api.streaming.client import Gap, StreamClient, StreamClientError, signed_headers
from supreme.api.streaming.connections import Connection, ConnectionManager, StreamRefused
from supreme.api.streaming.gateway import StreamGateway
from supreme.api.streaming.health import HealthMonitor, HealthReport
from supreme.api.streaming.limits import StreamLimits
from supreme.api.streaming.protocol import ClientMessage, ProtocolError, parse_client_message
from supreme.api.streaming.router import (
    STREAM_PATH,
    ServerThread,
    StreamServer,
    create_stream_app,
    stream_router,
    uvicorn_ws_options,
)
from supreme.api.streaming.subscriptions import SubscriptionError, SubscriptionManager

__all__ = [
    "STREAM_PATH",
    "ClientMessage",
    "Connection",
    "ConnectionManager",
    "Gap",
    "HealthMonitor",
    "HealthReport",
    "ProtocolError",
    "ServerThread",
    "StreamClient",
    "StreamClientError",
    "StreamGateway",
    "StreamLimits",
    "StreamRefused",
    "StreamServer",
    "SubscriptionError",
    "SubscriptionManager",
    "create_stream_app",
    "parse_client_message",
    "signed_headers",
    "stream_router",
    "uvicorn_ws_options",
]
