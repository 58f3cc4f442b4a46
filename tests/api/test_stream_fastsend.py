"""The broadcast's shared send path: orjson bodies, frames encoded once, written straight to the sockets."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from supreme.api.streaming import StreamGateway, StreamLimits
from supreme.api.streaming import protocol as P
from supreme.api.streaming.fastsend import FastSendProtocol
from supreme.api.streaming.router import uvicorn_ws_options
from supreme.clock import ManualClock
from tests.api import test_stream_server as server_tests
from tests.api.test_stream_server import Env, run, trade, until

make_env = server_tests.make_env  # the real-socket server fixture, shared


def parse_frames(data: bytes) -> list[Frame]:
    """What a real websockets client makes of ``data`` arriving after its handshake."""
    client = ClientProtocol(parse_uri("ws://localhost/"), state=State.OPEN)
    client.receive_data(data)
    return [e for e in client.events_received() if isinstance(e, Frame)]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_text_frames_of_every_length_class_parse_as_one_text_message(size: int) -> None:
    payload = ("x" * size).encode()
    frames = parse_frames(P.text_frame(payload) + P.text_frame(b'"next"'))
    assert [(f.opcode, f.fin, len(f.data)) for f in frames] == [
        (Opcode.TEXT, True, size),
        (Opcode.TEXT, True, 6),
    ]
    assert frames[0].data == payload


def test_update_body_is_orjson_with_nan_as_null_numpy_values_and_a_fallback() -> None:
    body = P.update_body(
        {
            "symbol": "A",
            "channel": "candles",
            "timestamp": np.int64(5),
            "data": [1, np.float64(2.5), float("nan"), float("inf")],
        }
    )
    assert json.loads(body) == {
        "symbol": "A",
        "channel": "candles",
        "timestamp": 5,
        "data": [1, 2.5, None, None],
    }
    huge = P.update_body({"symbol": "A", "channel": "trades", "data": {"id": 2**70}})  # beyond orjson
    assert json.loads(huge)["data"] == {"id": 2**70}
    text = P.update_frame(body, 7)
    (frame,) = parse_frames(text)
    assert json.loads(bytes(frame.data)) == {"type": "update", "seq": 7, **json.loads(body)}


def writers(n: int) -> tuple[list[list[bytes]], list[Callable[[bytes], bool]]]:
    """``n`` frame sinks that accept everything (stand-ins for sockets in the sans-IO unit tests)."""
    sinks: list[list[bytes]] = [[] for _ in range(n)]

    def make(sink: list[bytes]) -> Callable[[bytes], bool]:
        def write(frame: bytes) -> bool:
            if frame:  # b"" only asks whether a write would be taken
                sink.append(frame)
            return True

        return write

    return sinks, [make(s) for s in sinks]


def test_one_publish_encodes_a_frame_per_seq_and_shares_its_bytes() -> None:
    gw = StreamGateway.build(ManualClock(0.0), allow_anonymous=True, queue_size=4)
    conns = [gw.connections.register(None) for _ in range(4)]
    sinks, ws = writers(4)
    for c, w in zip(conns, ws, strict=True):
        c.writer = w
    for c in conns[:3]:
        gw.subscriptions.subscribe(c, ["A"], ["trades"])
    gw.publish(trade("A", 0))  # conns 0-2 at seq 1
    gw.subscriptions.subscribe(conns[3], ["A"], ["trades"])
    assert gw.publish(trade("A", 1)) == 4  # conns 0-2 at seq 2, conn 3 at seq 1
    assert sinks[0][1] is sinks[1][1] is sinks[2][1]  # the same bytes object: encoded once
    assert sinks[3][0] is not sinks[0][1]
    assert [json.loads(bytes(parse_frames(s[-1])[0].data))["seq"] for s in sinks] == [2, 2, 2, 1]
    assert gw.subscriptions.sent_direct == 7 and all(c.queue.empty() for c in conns)


def test_the_shared_path_steps_aside_whenever_something_waits_before_the_update() -> None:
    gw = StreamGateway.build(ManualClock(0.0), allow_anonymous=True, queue_size=2)
    conn = gw.connections.register(None)
    gw.subscriptions.subscribe(conn, ["A"], ["trades"])
    sinks, (write,) = writers(1)
    gw.publish(trade("A", 0))  # no writer: the queued way
    assert conn.queue.qsize() == 1 and gw.subscriptions.sent_direct == 0
    conn.queue.get_nowait()
    conn.writer = write
    conn.offer(P.pong(1, 0.0))  # an ack/pong queued first must go first
    gw.publish(trade("A", 1))
    gw.publish(trade("A", 2))  # queue (2) full: coalesces
    assert conn.behind and sinks[0] == []
    conn.queue.get_nowait()
    conn.queue.get_nowait()
    gw.publish(trade("A", 3))  # the pending update must go first: this one coalesces too
    assert sinks[0] == [] and conn.pending
    conn.refill()
    conn.queue.get_nowait()
    assert not conn.behind
    gw.publish(trade("A", 4))
    # no hole: seq 1 queued, 2 queued, 3 and 4 coalesced into 4 (skipped 1), 5 direct
    assert [json.loads(bytes(f.data))["seq"] for f in parse_frames(b"".join(sinks[0]))] == [5]
    conn.sending = True  # the sender holds a message taken from the queue
    gw.publish(trade("A", 5))
    assert len(sinks[0]) == 1 and conn.queue.qsize() == 1
    conn.queue.get_nowait()
    conn.sending = False
    conn.writer = lambda frame: False  # transport paused / closing
    gw.publish(trade("A", 6))
    assert conn.queue.qsize() == 1 and conn.subscriptions[("A", "trades")] == 7
    conn.queue.get_nowait()
    conn.request_close(P.CLOSE_NORMAL, "bye", dropped=False)
    conn.writer = write
    assert gw.publish(trade("A", 7)) == 0 and len(sinks[0]) == 1


def test_a_batch_is_one_write_per_connection_in_order_across_keys() -> None:
    gw = StreamGateway.build(ManualClock(0.0), allow_anonymous=True, queue_size=64)
    conns = [gw.connections.register(None) for _ in range(3)]
    sinks, ws = writers(3)
    for c, w in zip(conns, ws, strict=True):
        c.writer = w
        gw.subscriptions.subscribe(c, ["A", "B"], ["trades"])
    conns[2].offer(P.pong(1, 0.0))  # something waits: the whole batch takes the queue, in order
    batch = [trade("A" if k % 3 else "B", k) for k in range(9)]
    assert gw.subscriptions.publish_batch(batch) == 27
    for sink in sinks[:2]:
        assert len(sink) == 1  # one system call for nine updates
        msgs = [json.loads(bytes(f.data)) for f in parse_frames(sink[0])]
        assert [m["data"]["k"] for m in msgs] == list(range(9))
        assert [m["seq"] for m in msgs if m["symbol"] == "A"] == list(range(1, 7))
    assert sinks[2] == [] and conns[2].queue.qsize() == 10
    conns[2].queue.get_nowait()
    texts = [json.loads(conns[2].queue.get_nowait()) for _ in range(9)]
    assert [m["data"]["k"] for m in texts] == list(range(9))
    assert gw.subscriptions.sent_direct == 18


def test_uvicorn_runs_the_fast_send_protocol() -> None:
    assert uvicorn_ws_options()["ws"] is FastSendProtocol


# -- over real sockets ----------------------------------------------------------------------------------
def test_a_burst_goes_out_through_the_shared_path_complete_and_in_order(make_env: Callable[..., Env]) -> None:
    env = make_env(limits=StreamLimits(queue_size=16))
    n = 400

    async def burst() -> None:
        for k in range(n):  # one loop callback, 25x the queue: no sender runs meanwhile
            env.gateway.publish(trade("A", k))

    async def scenario() -> None:
        clients = [env.client() for _ in range(3)]
        for c in clients:
            await c.connect()
            await c.subscribe(["A"], ["trades"])
        assert await until(lambda: len(env.gateway.connections) == 3)
        assert all(c.writer is not None for c in env.gateway.connections.connections)  # FastSendProtocol's
        env.server.call(burst())
        for k in range(n, 2 * n):  # from this thread: what piles up before the loop runs is one batch
            env.gateway.publish_threadsafe(trade("A", k))
        for c in clients:
            ks = [(await c.next_update(timeout=20) or {})["data"]["k"] for _ in range(2 * n)]
            assert ks == list(range(2 * n)) and c.gaps == [] and c.coalesced == 0
            await c.close()

    run(scenario())
    assert env.gateway.subscriptions.sent_direct == 3 * 2 * n
    assert env.gateway.connections.dropped == 0
    sent = env.metrics.registry.get_sample_value("supreme_ws_messages_sent_total")
    assert sent is not None and sent >= 3 * 2 * n  # direct sends are counted with the queued ones (acks)
