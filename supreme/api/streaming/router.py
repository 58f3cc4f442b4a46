"""The ``/api/v1/stream`` endpoint: an ``APIRouter`` for the main app, a standalone app, and a server runner.

Main app, one line (the router's lifespan starts the gateway's tasks and closes connections with 1001)::

    app.include_router(stream_router(StreamGateway.from_services(services)))

Server shutdown: uvicorn closes open WebSockets with 1012 *before* the app's lifespan shutdown runs,
so to close them with ``1001 going away`` run the server as :class:`StreamServer` (a ``uvicorn.Server``
whose ``shutdown`` first calls :meth:`StreamGateway.shutdown`).  :func:`uvicorn_ws_options` gives the
protocol-level ping settings (``ws_ping_interval`` / ``ws_ping_timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

import uvicorn
from fastapi import APIRouter, FastAPI, WebSocket

from supreme.api.streaming.fastsend import FastSendProtocol
from supreme.api.streaming.gateway import StreamGateway

__all__ = [
    "STREAM_PATH",
    "ServerThread",
    "StreamServer",
    "create_stream_app",
    "stream_router",
    "uvicorn_ws_options",
]

STREAM_PATH = "/api/v1/stream"
T = TypeVar("T")


def stream_router(gateway: StreamGateway, path: str = STREAM_PATH) -> APIRouter:
    """An ``APIRouter`` with the WebSocket endpoint; its lifespan starts and stops ``gateway``."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.shutdown()

    router = APIRouter(lifespan=lifespan)

    @router.websocket(path)
    async def stream(websocket: WebSocket) -> None:
        """Market-data stream (protocol: :mod:`supreme.api.streaming`)."""
        await gateway.serve(websocket)

    return router


def create_stream_app(gateway: StreamGateway, path: str = STREAM_PATH) -> FastAPI:
    """A FastAPI app holding only the stream endpoint (tests, or when the main app is absent)."""
    app = FastAPI(title="Supreme stream")
    app.include_router(stream_router(gateway, path))
    app.state.stream_gateway = gateway
    return app


def uvicorn_ws_options(
    ping_interval: float | None = 20.0, ping_timeout: float | None = 20.0
) -> dict[str, Any]:
    """uvicorn settings for the stream: protocol pings, no per-message deflate (CPU per subscriber), and
    the sans-IO protocol with the shared send path
    (:class:`~supreme.api.streaming.fastsend.FastSendProtocol`)."""
    return {
        "ws": FastSendProtocol,
        "ws_ping_interval": ping_interval,
        "ws_ping_timeout": ping_timeout,
        "ws_per_message_deflate": False,
    }


class StreamServer(uvicorn.Server):
    """``uvicorn.Server`` that closes stream connections with 1001 before uvicorn's own shutdown."""

    def __init__(self, config: uvicorn.Config, gateway: StreamGateway) -> None:
        super().__init__(config)
        self.gateway = gateway

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Close streams (1001), then shut uvicorn down."""
        await self.gateway.shutdown()
        await super().shutdown(sockets)


class ServerThread:
    """A :class:`StreamServer` on loopback in a background thread (tests, benchmarks, notebooks).

    ``with ServerThread(app, gateway) as srv: srv.url`` -- the port is chosen by the OS.
    """

    def __init__(
        self,
        app: Any,
        gateway: StreamGateway,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        start_timeout: float = 10.0,
        gc_tuning: bool = False,
        **config: Any,
    ) -> None:
        if gc_tuning:  # as ``supreme serve`` does before it runs (process-wide: off by default here)
            from supreme.api.gc_tuning import tune_for_server

            tune_for_server()
        options = {**uvicorn_ws_options(ping_interval, ping_timeout), "log_level": "warning", **config}
        self.server = StreamServer(
            uvicorn.Config(app, host=host, port=port, lifespan="on", **options), gateway
        )
        self.gateway = gateway
        self.host = host
        self.start_timeout = start_timeout
        self._thread = threading.Thread(target=self.server.run, name="stream-server", daemon=True)
        self.port = 0

    def start(self) -> ServerThread:
        """Start and wait until the socket listens."""
        self._thread.start()
        waiter = threading.Event()  # never set: its wait() is a bounded pause without reading a clock
        for _ in range(int(self.start_timeout / 0.01)):
            if self.server.started or not self._thread.is_alive():
                break
            waiter.wait(0.01)
        if not self.server.started:
            raise RuntimeError(f"stream server did not start within {self.start_timeout} s")
        sock = self.server.servers[0].sockets[0]
        self.port = int(sock.getsockname()[1])
        return self

    @property
    def url(self) -> str:
        """``ws://host:port/api/v1/stream``."""
        return f"ws://{self.host}:{self.port}{STREAM_PATH}"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The server's event loop."""
        if self.gateway.loop is None:
            raise RuntimeError("the gateway has not started on the server loop yet")
        return self.gateway.loop

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run ``coro`` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down (streams closed with 1001) and join the thread."""
        self.server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.server.force_exit = True
            self._thread.join(timeout)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
