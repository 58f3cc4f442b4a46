"""Real-time market-data streaming over WebSocket: ``/api/v1/stream`` (seed diagrams "WebSocket Market
Data Streaming", flow ``ws_streaming``, and "WebSocket Connection Lifecycle", flow ``ws_lifecycle``).

Modules
-------
=====================  ========================================================================
``protocol``           message schemas, close codes (pure functions)
``connections``        Connection_Manager: upgrade validation, registry, metrics, force close
``subscriptions``      Subscription_Manager: (symbol, channel) index, feed hookup, fan-out
``health``             Health_Monitor: application pings on the injected clock
``gateway``            WebSocket_Gateway / WebSocket_Server: the thin asyncio adapter
``router``             ``stream_router`` (APIRouter), ``create_stream_app``, ``StreamServer``
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
``"invalid_session: ..."``), ``4403`` (missing scope), ``1013`` (key store unreachable or connection
limit; try again later).

Client -> server (JSON text frames)
-----------------------------------
::

    {"op": "subscribe",   "symbols": ["SPX"], "channels": ["ticker", "candles", "trades"], "id": 1}
    {"op": "unsubscribe", "symbols": ["SPX"], "channels": ["candles"], "id": 2}
    {"op": "ping", "id": 3}                 # application-level ping; answered by a pong
    {"op": "pong", "id": 7}                 # answer to the server's {"type": "ping", "id": 7}

``channels`` defaults to all three; ``id`` (string or integer) is echoed in the reply.  At most 100
symbols per request and 500 subscriptions per connection.  Subscribing is all-or-nothing: one unknown
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

Slow consumers: disconnect, not gap markers
-------------------------------------------
Each connection has a bounded send queue (256 messages by default), drained by its own sender task;
fan-out only enqueues.  A client whose queue overflows is closed with ``4008 slow consumer``.  We chose
disconnect over skipping with ``gap`` markers because candles and trades are not idempotent
snapshots -- a silent hole would corrupt a client's indicators; a close is explicit, and the client
reconnects and backfills over REST.  So within one connection ``seq`` never skips; the client still
checks it (:class:`~supreme.api.streaming.client.StreamClient` records any :class:`Gap`).

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
