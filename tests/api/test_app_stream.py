"""The main app mounts the WebSocket stream: served by uvicorn on loopback, as `supreme serve` runs it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from supreme.api.app import create_app
from supreme.api.streaming import ServerThread
from supreme.clock import ManualClock
from tests.api.test_app import build_services, signed


def test_main_app_streams_to_a_logged_in_session(tmp_path: Path, clock: ManualClock) -> None:
    svc = build_services(tmp_path, clock)
    app = create_app(svc)
    key = svc.auth.store.create("ed25519", "signal:read,market:read", label="stream")
    try:
        with ServerThread(app, app.state.stream_gateway) as server:
            base = f"http://127.0.0.1:{server.port}"
            raw, headers = signed(svc, key, {}, path="/api/v1/auth/session", nonce="login-1")
            login = httpx.post(f"{base}/api/v1/auth/session", content=raw, headers=headers, timeout=10)
            assert login.status_code == 200, login.text
            token = login.json()["token"]

            async def session() -> tuple[dict[str, object], dict[str, object], int | None]:
                async with connect(f"{server.url}?token={token}", open_timeout=10) as ws:
                    await ws.send(json.dumps({"op": "subscribe", "symbols": ["SPX"],
                                              "channels": ["ticker"], "id": 7}))
                    ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    await ws.send("not json")
                    error = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    await ws.send(json.dumps({"op": "ping", "id": 8}))  # still alive after the bad message
                    pong = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    return ack, error, pong.get("id")  # type: ignore[return-value]

            ack, error, pong_id = asyncio.run(session())
            assert ack["type"] == "ack" and ack["id"] == 7
            assert error["type"] == "error"
            assert pong_id == 8

            async def anonymous() -> int | None:
                try:
                    async with connect(server.url, open_timeout=10) as ws:
                        await asyncio.wait_for(ws.recv(), 10)
                except ConnectionClosed as closed:
                    return closed.rcvd.code if closed.rcvd else None
                return None

            assert asyncio.run(anonymous()) == 4401
    finally:
        svc.close()


def test_stream_can_be_left_out(tmp_path: Path, clock: ManualClock) -> None:
    svc = build_services(tmp_path, clock)
    try:
        app = create_app(svc, stream=False)
        assert not hasattr(app.state, "stream_gateway")
        assert all(getattr(r, "path", "") != "/api/v1/stream" for r in app.routes)
    finally:
        svc.close()

