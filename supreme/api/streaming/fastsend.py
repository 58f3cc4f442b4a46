"""The shared send path of the broadcast: pre-encoded WebSocket frames written straight to each socket.

The ASGI ``websocket.send`` path costs, per subscriber and message, a task wake-up (the connection's
sender), Starlette's and uvicorn's checks, and a frame built by the sans-IO protocol -- for the same
bytes every subscriber gets.  The fan-out instead encodes each update frame once
(:func:`~supreme.api.streaming.protocol.update_frame`; one per distinct ``seq``, which subscribers
that joined together share) and hands the *same* ``bytes`` to every connection's
:class:`FrameWriter`, which calls ``transport.write`` without awaiting anything (what
``websockets.broadcast()`` does for its own connections).

:class:`FastSendProtocol` is uvicorn's ``websockets-sansio`` protocol that offers such a writer to
the app as the ASGI scope extension ``"supreme.frame_writer"`` (:data:`EXTENSION`); the stream
gateway picks it up on accept.  Under any other server the extension is absent and every message
takes the ASGI path, unchanged.  The writer refuses (returns ``False``, and the message goes to the
connection's queue, where it may coalesce) whenever a direct write could be wrong or unbounded:
before the handshake, after a close frame was sent or the transport closes, with a compression
extension negotiated, or while the transport is paused above its high-water mark -- the slow
consumer is then handled by the queue exactly as before.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from supreme.api.streaming.protocol import text_frame

__all__ = ["EXTENSION", "FastSendProtocol", "FrameWriter", "text_frame"]

#: ASGI scope extension key under which :class:`FastSendProtocol` offers its :class:`FrameWriter`.
EXTENSION = "supreme.frame_writer"


#: the uvicorn protocol attributes :class:`FrameWriter` reads (uvicorn 0.55's sans-IO implementation)
_STATE = ("close_sent", "disconnected", "writable", "conn", "transport")


class FrameWriter:
    """Writes pre-encoded frames to one uvicorn WebSocket connection, or refuses (``False``)."""

    __slots__ = ("_protocol", "written")

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol
        self.written = 0

    def __call__(self, frame: bytes) -> bool:
        """Write ``frame`` now if the connection is open and its transport is not paused (``b""``
        only asks)."""
        p = self._protocol
        if (
            p.close_sent
            or p.disconnected
            or not p.writable.is_set()
            or p.conn.state is not State.OPEN
            or p.transport.is_closing()
        ):
            return False
        if not frame:
            return True
        p.transport.write(frame)
        self.written += 1
        return True


class FastSendProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-IO WebSocket protocol plus a :class:`FrameWriter` in the scope's extensions."""

    def handle_connect(self, event: Any) -> None:
        """Accept as uvicorn does, then offer the frame writer (the app task has not run yet)."""
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is None or self.close_sent:  # refused at the HTTP level: no app, no writer
            return
        if self.response.headers.get("Sec-WebSocket-Extensions"):
            return  # a negotiated extension (deflate) transforms frames: keep the protocol's path
        if not all(hasattr(self, name) for name in _STATE):
            return  # a uvicorn whose protocol state looks different: every message takes the ASGI path
        scope["extensions"][EXTENSION] = FrameWriter(self)
