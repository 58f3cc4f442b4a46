"""A Python client of the stream (``websockets`` library): subscribe, iterate updates, collect a DataFrame.

::

    async with StreamClient("ws://127.0.0.1:8000/api/v1/stream", token=session_token) as client:
        await client.subscribe(["SPX"], ["candles"])
        frame = await client.collect(n=100, seconds=30)

A background reader routes every server message: acks and errors resolve the request that asked,
application pings are answered with pongs, updates go to an internal queue in arrival order.  Each
update's ``seq`` is checked against the last one of its (symbol, channel): a jump is recorded in
:attr:`StreamClient.gaps` (and logged), so a notebook sees lost data instead of silently plotting
around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from supreme.api.auth.signing import sign_request
from supreme.clock import Clock, SystemClock
from supreme.errors import SupremeError
from supreme.market.feed import CHANNELS

__all__ = ["Gap", "StreamClient", "StreamClientError", "signed_headers"]

log = logging.getLogger(__name__)


class StreamClientError(SupremeError):
    """The server refused a request (``code`` from its error message) or closed the stream."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True, slots=True)
class Gap:
    """Updates of ``symbol``/``channel`` that never arrived: expected ``expected``, got ``got``."""

    symbol: str
    channel: str
    expected: int
    got: int


def signed_headers(url: str, key_id: str, credential: Any, clock: Clock | None = None) -> dict[str, str]:
    """API-key signature headers for the upgrade request ``GET <path?query>`` of ``url``."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    now_ms = round((clock or SystemClock()).now() * 1000)
    return sign_request(key_id, credential, "GET", target, b"", now_ms, secrets.token_hex(8))


class StreamClient:
    """An async client of ``/api/v1/stream`` with sequence checking."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        key_id: str | None = None,
        credential: Any = None,
        clock: Clock | None = None,
        answer_pings: bool = True,
        max_buffer: int = 100_000,
        open_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.token = token
        self.headers = dict(headers or {})
        self.key_id, self.credential = key_id, credential
        self.clock = clock if clock is not None else SystemClock()
        self.answer_pings = answer_pings
        self.open_timeout = open_timeout
        self.ws: ClientConnection | None = None
        self._updates: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=max_buffer)
        self._pending: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        self._last_seq: dict[tuple[str, str], int] = {}
        self.gaps: list[Gap] = []
        self.duplicates = 0
        self.coalesced = 0  # updates the server replaced by a newer one (announced by "skipped")
        self.errors: list[dict[str, Any]] = []
        self.pings_answered = 0
        self.received = 0
        self.close_code: int | None = None
        self.close_reason: str = ""

    # -- connection -----------------------------------------------------------------------------
    async def connect(self) -> StreamClient:
        """Open the WebSocket (credentials in headers) and start the reader."""
        headers = dict(self.headers)
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.key_id is not None:
            headers.update(signed_headers(self.url, self.key_id, self.credential, self.clock))
        self.ws = await connect(
            self.url,
            additional_headers=headers,
            open_timeout=self.open_timeout,
            compression=None,
            max_queue=1024,
        )
        self._reader = asyncio.create_task(self._read(self.ws))
        return self

    async def close(self) -> None:
        """Close the WebSocket (code 1000) and stop the reader."""
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def __aenter__(self) -> StreamClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                self._route(json.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            self.close_code, self.close_reason = ws.close_code, ws.close_reason or ""
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(
                        StreamClientError("closed", f"stream closed: {self.close_code} {self.close_reason}")
                    )
            with contextlib.suppress(asyncio.QueueFull):
                self._updates.put_nowait(None)  # end of stream

    def _route(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "update":
            self._check_seq(msg)
            self.received += 1
            try:
                self._updates.put_nowait(msg)
            except asyncio.QueueFull:
                log.warning("stream client buffer full; dropping update %s", msg.get("seq"))
            return
        if kind == "ping" and self.answer_pings and self.ws is not None:
            self.pings_answered += 1
            task = asyncio.ensure_future(self._send({"op": "pong", "id": msg.get("id")}))
            self._tasks.add(task)  # keep a reference until done (the loop holds only weak ones)
            task.add_done_callback(self._tasks.discard)
            return
        if kind == "error":
            self.errors.append(msg)
        fut = self._pending.pop(msg.get("id"), None)
        if fut is not None and not fut.done():
            fut.set_result(msg)

    def _check_seq(self, msg: dict[str, Any]) -> None:
        key = (msg["symbol"], msg["channel"])
        seq = int(msg["seq"])
        last = self._last_seq.get(key, 0)
        if seq <= last:
            self.duplicates += 1
            log.warning("stream %s/%s: seq %d repeated or out of order (last %d)", *key, seq, last)
            return
        skipped = msg.get("skipped")
        if isinstance(skipped, int) and skipped > 0 and seq == last + 1 + skipped:
            self.coalesced += skipped  # the server announced it: a slow read, not a lost update
        elif seq != last + 1:
            gap = Gap(key[0], key[1], last + 1, seq)
            self.gaps.append(gap)
            log.warning(
                "stream %s/%s: %d update(s) missing (expected seq %d, got %d)",
                *key,
                seq - last - 1,
                last + 1,
                seq,
            )
        self._last_seq[key] = seq

    async def _send(self, message: dict[str, Any]) -> None:
        if self.ws is None:
            raise StreamClientError("not_connected", "call connect() first")
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(json.dumps(message))

    async def request(self, op: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        """Send ``{"op": op, "id": n, **fields}`` and wait for the reply (raises on an error reply)."""
        request_id = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = fut
        await self._send({"op": op, "id": request_id, **fields})
        reply = await asyncio.wait_for(fut, timeout)
        if reply.get("type") == "error":
            raise StreamClientError(str(reply.get("code")), str(reply.get("message")))
        return reply

    # -- protocol ---------------------------------------------------------------------------------
    async def subscribe(
        self, symbols: Iterable[str], channels: Iterable[str] = CHANNELS, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Subscribe and wait for the ack (new subscriptions start at seq 1)."""
        ack = await self.request("subscribe", timeout, symbols=list(symbols), channels=list(channels))
        for symbol, channel in ack.get("subscribed", []):
            self._last_seq[(symbol, channel)] = 0
        return ack

    async def unsubscribe(
        self, symbols: Iterable[str], channels: Iterable[str] = CHANNELS, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Unsubscribe and wait for the ack."""
        ack = await self.request("unsubscribe", timeout, symbols=list(symbols), channels=list(channels))
        for symbol, channel in ack.get("unsubscribed", []):
            self._last_seq.pop((symbol, channel), None)
        return ack

    async def ping(self, timeout: float = 10.0) -> dict[str, Any]:
        """Application-level ping; returns the server's pong."""
        return await self.request("ping", timeout)

    # -- updates ----------------------------------------------------------------------------------
    async def next_update(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next update, or ``None`` once the stream ended (or ``timeout`` seconds passed)."""
        try:
            item = await asyncio.wait_for(self._updates.get(), timeout)
        except TimeoutError:
            return None
        if item is None:
            self._updates.put_nowait(None)  # stay ended for later callers
        return item

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            item = await self.next_update()
            if item is None:
                return
            yield item

    async def collect(self, n: int | None = None, seconds: float | None = None) -> pd.DataFrame:
        """Up to ``n`` updates or ``seconds`` of them (whichever first) as a DataFrame.

        Columns: ``symbol, channel, seq, timestamp, data, received_at`` (client clock, seconds).
        """
        if n is None and seconds is None:
            raise ValueError("collect() needs n or seconds (or both)")
        deadline = None if seconds is None else self.clock.now() + seconds
        rows: list[dict[str, Any]] = []
        while n is None or len(rows) < n:
            remaining = None if deadline is None else deadline - self.clock.now()
            if remaining is not None and remaining <= 0:
                break
            item = await self.next_update(remaining)
            if item is None:
                break
            rows.append(
                {
                    "symbol": item["symbol"],
                    "channel": item["channel"],
                    "seq": item["seq"],
                    "timestamp": item.get("timestamp"),
                    "data": item.get("data"),
                    "received_at": self.clock.now(),
                }
            )
        frame = pd.DataFrame.from_records(
            rows, columns=["symbol", "channel", "seq", "timestamp", "data", "received_at"]
        )
        frame.attrs["gaps"] = [asdict(g) for g in self.gaps]
        return frame
