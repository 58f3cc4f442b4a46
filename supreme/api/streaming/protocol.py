"""Message schemas of the stream protocol: parsing client requests, building server messages.

Pure functions over JSON text (no I/O), so the socket adapter, the managers and a SimPy model share
them.  The protocol itself is documented in :mod:`supreme.api.streaming`.

Exception tree::

    SupremeError
    └── ProtocolError (ValueError)     a client message is refused; carries ``code`` and request ``id``
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

import orjson

from supreme.errors import SupremeError
from supreme.market.feed import CHANNELS

__all__ = [
    "CHANNELS",
    "CLOSE_AUTH_UNAVAILABLE",
    "CLOSE_FORBIDDEN",
    "CLOSE_GOING_AWAY",
    "CLOSE_HEALTH_TIMEOUT",
    "CLOSE_INTERNAL",
    "CLOSE_NORMAL",
    "CLOSE_POLICY",
    "CLOSE_SLOW_CONSUMER",
    "CLOSE_TOO_MANY_CONNECTIONS",
    "CLOSE_UNAUTHORIZED",
    "MAX_ITEMS",
    "OPS",
    "ClientMessage",
    "ProtocolError",
    "ack",
    "dumps",
    "error",
    "parse_client_message",
    "ping",
    "pong",
    "text_frame",
    "update_body",
    "update_frame",
    "update_text",
]

# Close codes (RFC 6455 §7.4; 4000-4999 are ours).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001  # server shutdown
CLOSE_POLICY = 1008  # too many protocol errors in a row
CLOSE_INTERNAL = 1011
CLOSE_AUTH_UNAVAILABLE = 1013  # "try again later": key store unreachable, or the server is full
CLOSE_SLOW_CONSUMER = 4008  # behind (coalescing) longer than max_behind, or control backlog overflowed
CLOSE_TOO_MANY_CONNECTIONS = 4429  # this API key already holds its cap of open streams (like HTTP 429)
CLOSE_HEALTH_TIMEOUT = 4408  # no application pong in time (like HTTP 408)
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403

OPS = ("subscribe", "unsubscribe", "ping", "pong")
#: Most symbols (or channels) one request may name.
MAX_ITEMS = 100


class ProtocolError(SupremeError, ValueError):
    """A client message is refused; ``code`` is the error code sent back, ``id`` the request id if known."""

    def __init__(self, code: str, message: str, request_id: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class ClientMessage:
    """A parsed client request."""

    op: str
    id: Any = None
    symbols: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()


def dumps(message: dict[str, Any]) -> str:
    """Compact JSON text of one message."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False, default=str)


def _names(
    raw: dict[str, Any], field: str, request_id: Any, *, default: tuple[str, ...] | None
) -> tuple[str, ...]:
    value = raw.get(field)
    if value is None:
        if default is None:
            raise ProtocolError("invalid_message", f"'{field}' is required (a list of strings)", request_id)
        return default
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ProtocolError("invalid_message", f"'{field}' must be a list of non-empty strings", request_id)
    if not value:
        raise ProtocolError("invalid_message", f"'{field}' must not be empty", request_id)
    if len(value) > MAX_ITEMS:
        raise ProtocolError(
            "invalid_message", f"'{field}' names {len(value)} items; at most {MAX_ITEMS}", request_id
        )
    return tuple(dict.fromkeys(value))  # de-duplicated, order kept


def parse_client_message(text: str | bytes) -> ClientMessage:
    """Parse one client frame; :class:`ProtocolError` names what is wrong (the connection survives)."""
    try:
        raw = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError("malformed_json", f"message is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ProtocolError("invalid_message", f"message must be a JSON object, got {type(raw).__name__}")
    request_id = raw.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, (str, int, type(None))):
        raise ProtocolError("invalid_message", "'id' must be a string or an integer")
    op = raw.get("op")
    if op not in OPS:
        raise ProtocolError("unknown_op", f"unknown op {op!r}; expected one of {list(OPS)}", request_id)
    if op in ("ping", "pong"):
        return ClientMessage(op, request_id)
    symbols = _names(raw, "symbols", request_id, default=None)
    channels = _names(raw, "channels", request_id, default=CHANNELS)
    bad = [c for c in channels if c not in CHANNELS]
    if bad:
        raise ProtocolError(
            "unknown_channel", f"unknown channel(s) {bad}; expected some of {list(CHANNELS)}", request_id
        )
    return ClientMessage(op, request_id, symbols, channels)


def ack(request_id: Any, op: str, **extra: Any) -> str:
    """``{"type":"ack","id":...,"op":...}`` plus ``extra`` fields."""
    return dumps({"type": "ack", "id": request_id, "op": op, **extra})


def error(code: str, message: str, request_id: Any = None) -> str:
    """``{"type":"error","code":...,"message":...,"id":...}``."""
    return dumps({"type": "error", "code": code, "message": message, "id": request_id})


def ping(ping_id: int, now: float) -> str:
    """The server's application-level health ping; the client answers ``{"op":"pong","id":ping_id}``."""
    return dumps({"type": "ping", "id": ping_id, "time": now})


def pong(request_id: Any, now: float) -> str:
    """The server's answer to a client ``ping``."""
    return dumps({"type": "pong", "id": request_id, "time": now})


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


_ORJSON_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def update_body(update: dict[str, Any]) -> str:
    """The shared tail of an update message: serialised once per update (orjson), spliced per subscriber.

    NaN/inf (a gap in a recording) become ``null``: strict JSON has no NaN.  What orjson refuses
    (an integer beyond 64 bits, say) goes through :func:`dumps` as before.
    """
    message = {
        "symbol": update["symbol"],
        "channel": update["channel"],
        "timestamp": update.get("timestamp"),
        "data": update.get("data"),
    }
    try:
        return orjson.dumps(message, default=str, option=_ORJSON_OPTS).decode()
    except (orjson.JSONEncodeError, TypeError):
        pass
    try:
        return dumps(message)
    except ValueError:
        return dumps(_finite(message))


def update_text(body: str, seq: int, skipped: int = 0) -> str:
    """``{"type":"update","seq":N,<body fields>}`` from :func:`update_body`'s text; a coalesced update
    also says how many older updates of its subscription it replaced (``"skipped":K``, seq jumps by K)."""
    if skipped:
        return f'{{"type":"update","seq":{seq},"skipped":{skipped},{body[1:]}'
    return f'{{"type":"update","seq":{seq},{body[1:]}'


_FIN_TEXT = 0x81  # FIN bit + opcode 1 (text); server frames are never masked (RFC 6455 §5.1)


def text_frame(payload: bytes) -> bytes:
    """One unfragmented, unmasked, uncompressed WebSocket text frame carrying ``payload`` (UTF-8)."""
    n = len(payload)
    if n < 126:
        return bytes((_FIN_TEXT, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", _FIN_TEXT, 126, n) + payload
    return struct.pack("!BBQ", _FIN_TEXT, 127, n) + payload


def update_frame(body: str, seq: int) -> bytes:
    """:func:`update_text` as one WebSocket text frame (header included), for the shared send path."""
    return text_frame(update_text(body, seq).encode())
