"""The Health_Monitor participant: application-level pings on the injected clock.

Every ``interval`` seconds each open connection without an outstanding ping is sent
``{"type":"ping","id":N,"time":t}`` (through its send queue, so a ping also tests that the client
keeps up); the client answers ``{"op":"pong","id":N}``.  A ping unanswered after ``timeout`` seconds
force-closes the connection (``4408 health timeout``), which the gateway then unregisters as dropped.

Protocol-level WebSocket ping/pong frames are separate: the server (uvicorn's ``ws_ping_interval`` /
``ws_ping_timeout``) answers and sends them; this monitor checks that the *application* on the other
side is alive, which a TCP-level keepalive cannot.

:meth:`HealthMonitor.check` is pure bookkeeping at a given time, so a SimPy model calls it on
``env.now``; :meth:`HealthMonitor.run` is the asyncio loop on the clock's ``asleep``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from supreme.api.streaming import protocol as P
from supreme.api.streaming.connections import Connection, ConnectionManager
from supreme.clock import Clock
from supreme.events import NULL_LOG, EventLog

__all__ = ["HealthMonitor", "HealthReport"]

FLOW = "ws_lifecycle"


@dataclass
class HealthReport:
    """What one :meth:`HealthMonitor.check` did."""

    time: float
    pinged: list[int] = field(default_factory=list)
    timed_out: list[int] = field(default_factory=list)


class HealthMonitor:
    """Sends application pings and force-closes connections that do not answer in time."""

    def __init__(
        self,
        connections: ConnectionManager,
        clock: Clock,
        *,
        interval: float = 20.0,
        timeout: float = 10.0,
        event_log: EventLog = NULL_LOG,
    ) -> None:
        if not interval > 0 or not timeout > 0:
            raise ValueError(f"interval and timeout must be > 0 seconds, got {interval}/{timeout}")
        self.connections = connections
        self.clock = clock
        self.interval = float(interval)
        self.timeout = float(timeout)
        self.event_log = event_log
        self._last_ping: dict[int, float] = {}
        self._stopped = False
        self.pings = 0
        self.timeouts = 0

    def _ev(
        self,
        now: float,
        component: str,
        op: str,
        outcome: str = "ok",
        conn: Connection | None = None,
        detail: str | None = None,
        latency: float = 0.0,
    ) -> None:
        if self.event_log.enabled:
            self.event_log.record(
                now,
                FLOW,
                component,
                op,
                outcome,
                key=str(conn.id) if conn else None,
                detail=detail,
                latency=latency,
            )

    def check(self, now: float | None = None) -> HealthReport:
        """Ping connections that are due, force-close those whose ping went unanswered too long."""
        now = self.clock.now() if now is None else now
        report = HealthReport(now)
        live = {c.id for c in self.connections.connections}
        for cid in [cid for cid in self._last_ping if cid not in live]:
            del self._last_ping[cid]
        for conn in self.connections.connections:
            if not conn.open:
                continue
            if conn.ping_sent_at is not None:
                if now - conn.ping_sent_at >= self.timeout:
                    self.timeouts += 1
                    report.timed_out.append(conn.id)
                    self._ev(
                        now,
                        "Health_Monitor",
                        "detect_timeout",
                        "timeout",
                        conn,
                        detail=f"ping {conn.ping_id} unanswered for {now - conn.ping_sent_at:.3f} s",
                    )
                    self.connections.force_close(
                        conn, P.CLOSE_HEALTH_TIMEOUT, f"health timeout: no pong within {self.timeout:g} s"
                    )
                continue
            last = self._last_ping.get(conn.id, conn.opened_at)
            if now - last >= self.interval:
                conn.ping_id += 1
                conn.ping_sent_at = now
                self._last_ping[conn.id] = now
                self.pings += 1
                self._ev(now, "Health_Monitor", "health_check", conn=conn)
                self._ev(
                    now, "Connection_Manager", "send_health_ping", conn=conn, detail=f"id={conn.ping_id}"
                )
                conn.offer(P.ping(conn.ping_id, now), now)  # also bounds how long a consumer stays behind
                report.pinged.append(conn.id)
        return report

    def confirm(self, conn: Connection, ping_id: Any = None, now: float | None = None) -> bool:
        """A pong arrived; True when it answers the outstanding ping (an id-less pong answers any)."""
        now = self.clock.now() if now is None else now
        if conn.ping_sent_at is None or (ping_id is not None and ping_id != conn.ping_id):
            self._ev(now, "Connection_Manager", "health_confirmed", "ignored", conn, detail=f"id={ping_id}")
            return False
        rtt = now - conn.ping_sent_at
        conn.ping_sent_at = None
        self._ev(
            now, "Connection_Manager", "health_confirmed", conn=conn, detail=f"id={conn.ping_id}", latency=rtt
        )
        return True

    def next_due(self, now: float | None = None) -> float:
        """Seconds until the next check could act (for a caller that sleeps between checks)."""
        now = self.clock.now() if now is None else now
        due = [self.interval]
        for conn in self.connections.connections:
            if not conn.open:
                continue
            if conn.ping_sent_at is not None:
                due.append(conn.ping_sent_at + self.timeout - now)
            else:
                due.append(self._last_ping.get(conn.id, conn.opened_at) + self.interval - now)
        return max(0.0, min(due))

    async def run(self, resolution: float | None = None) -> None:
        """Check forever on the clock (until :meth:`stop`); sleeps at most ``resolution`` between checks."""
        step = resolution if resolution is not None else min(self.interval, self.timeout) / 4
        self._stopped = False
        while not self._stopped:
            self.check()
            await self.clock.asleep(min(step, max(self.next_due(), step / 10)))

    def stop(self) -> None:
        """End :meth:`run` after its current sleep."""
        self._stopped = True
