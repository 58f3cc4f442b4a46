"""A loopback TCP proxy that can cut, refuse and slow connections to a real server.

Placed between a client and Redis/PostgreSQL so a test, the CLI or a notebook can make *its own*
connections fail without touching the shared server or anyone else's connections.

Why real threads and real time here: the proxy is I/O plumbing, not a studied component.  Bytes
must keep flowing while the code under test blocks in a socket call, so the accept loop and each
connection's pump run in daemon threads, waiting with ``select`` timeouts of ``POLL`` seconds;
injected latency is a real sleep (``SystemClock``) in the pump.  Everything is bounded: at most
``max_connections`` live pairs, threads exit within ``POLL`` of :meth:`TcpProxy.close`, and
``close`` joins them (with a timeout).  Fault *windows* are decided on the injected clock by
:class:`~supreme.resilience.fault_schedule.FaultSchedule`, which only flips the proxy's switches.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from supreme.clock import SystemClock

__all__ = ["POLL", "ProxyStats", "TcpProxy"]

POLL = 0.05  # seconds a blocked thread waits before re-checking for close()
_BUF = 65536
_REAL = SystemClock()  # injected latency is real by nature: it delays real bytes


def _hard_close(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), so the peer sees a reset at once, like a dropped link."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


@dataclass
class ProxyStats:
    """Counters since the proxy started."""

    accepted: int = 0
    refused: int = 0
    dropped: int = 0
    upstream_failed: int = 0
    bytes_up: int = 0
    bytes_down: int = 0


class _Pair:
    """One client socket and its upstream socket, pumped by one thread."""

    def __init__(self, proxy: TcpProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._pump, name="tcpproxy-pump", daemon=True)

    def _pump(self) -> None:
        socks = [self.client, self.upstream]
        try:
            while not self.closed.is_set() and not self.proxy._stop.is_set():
                readable, _, _ = select.select(socks, [], [], POLL)
                for s in readable:
                    data = s.recv(_BUF)
                    if not data:
                        return
                    delay = self.proxy.latency
                    if delay > 0:
                        _REAL.sleep(delay)
                    if s is self.client:
                        self.upstream.sendall(data)
                        self.proxy.stats.bytes_up += len(data)
                    else:
                        self.client.sendall(data)
                        self.proxy.stats.bytes_down += len(data)
        except (OSError, ValueError):
            return  # a socket was closed under us (drop_all/close): that is the point
        finally:
            self.close()
            self.proxy._forget(self)

    def close(self, hard: bool = False) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for s in (self.client, self.upstream):
            if hard:
                _hard_close(s)
            else:
                with contextlib.suppress(OSError):
                    s.close()


class TcpProxy:
    """Forward ``listen`` -> ``target``; switches: :meth:`refuse`, :meth:`drop_all`, ``latency``."""

    def __init__(self, target_host: str, target_port: int, *, listen_host: str = "127.0.0.1",
                 listen_port: int = 0, max_connections: int = 64, connect_timeout: float = 1.0,
                 latency: float = 0.0) -> None:
        if not listen_host.startswith("127.") and listen_host not in ("localhost", "::1"):
            raise ValueError(f"TcpProxy listens on loopback only, got {listen_host!r}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        if latency < 0:
            raise ValueError(f"latency must be >= 0 seconds, got {latency}")
        self.target = (target_host, int(target_port))
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.latency = float(latency)
        self.stats = ProxyStats()
        self._refusing = False
        self._stop = threading.Event()
        self._pairs: set[_Pair] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server((listen_host, listen_port), backlog=max_connections)
        self._listener.settimeout(POLL)
        self.host, self.port = self._listener.getsockname()[:2]
        self._acceptor = threading.Thread(target=self._accept_loop, name="tcpproxy-accept", daemon=True)
        self._acceptor.start()

    # -- switches ------------------------------------------------------------------------------
    @property
    def refusing(self) -> bool:
        """True while new connections are reset on arrival."""
        return self._refusing

    def refuse(self, on: bool = True) -> None:
        """Reset every new connection (``on``) or accept again (``False``)."""
        self._refusing = on

    def drop_all(self) -> int:
        """Reset every live connection; returns how many were cut."""
        with self._lock:
            pairs = list(self._pairs)
            self._pairs.clear()
        for p in pairs:
            p.close(hard=True)
        self.stats.dropped += len(pairs)
        return len(pairs)

    def outage(self) -> int:
        """The server looks down: drop live connections and refuse new ones."""
        self.refuse(True)
        return self.drop_all()

    def restore(self) -> None:
        """The server is back: accept again, no added latency."""
        self.refuse(False)
        self.latency = 0.0

    @contextlib.contextmanager
    def down(self) -> Iterator[TcpProxy]:
        """``with proxy.down(): ...`` — an outage for the block's duration."""
        self.outage()
        try:
            yield self
        finally:
            self.restore()

    @property
    def connections(self) -> int:
        """Live forwarded connections."""
        with self._lock:
            return len(self._pairs)

    # -- addresses -----------------------------------------------------------------------------
    def url(self, real_url: str) -> str:
        """``real_url`` with its host and port replaced by the proxy's (userinfo/path/query kept)."""
        parts = urlsplit(real_url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{self.host}:{self.port}" if userinfo else f"{self.host}:{self.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    # -- plumbing ------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # listener closed
            if self._refusing:
                self.stats.refused += 1
                _hard_close(client)
                continue
            with self._lock:
                full = len(self._pairs) >= self.max_connections
            if full:
                self.stats.refused += 1
                _hard_close(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=self.connect_timeout)
            except OSError:
                self.stats.upstream_failed += 1
                _hard_close(client)
                continue
            for s in (client, upstream):
                s.settimeout(None)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = _Pair(self, client, upstream)
            with self._lock:
                self._pairs.add(pair)
            self.stats.accepted += 1
            pair.thread.start()

    def _forget(self, pair: _Pair) -> None:
        with self._lock:
            self._pairs.discard(pair)

    def close(self, timeout: float = 2.0) -> None:
        """Stop accepting, cut every connection, join the threads."""
        if self._stop.is_set():
            return
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            pairs = list(self._pairs)
            self._pairs.clear()
        for p in pairs:
            p.close(hard=True)
        self._acceptor.join(timeout)
        for p in pairs:
            if p.thread.is_alive() and p.thread is not threading.current_thread():
                p.thread.join(timeout)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"TcpProxy({self.host}:{self.port} -> {self.target[0]}:{self.target[1]}, "
                f"refusing={self._refusing}, connections={self.connections})")
