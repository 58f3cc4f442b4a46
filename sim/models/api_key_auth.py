"""API key authentication (seed diagram "API Key Authentication Flow"), driving the real AuthService.

The real :class:`~supreme.api.auth.service.AuthService` (key cache on the simulated clock), its
:class:`~supreme.api.auth.keys.KeyStore` on :class:`supreme.db.Database` (SQLite ``:memory:``), the
replay guard and the session store (fakeredis), and requests signed by the real client helper
:func:`~supreme.api.auth.signing.sign_request` with Ed25519 keys.  Simulated: the network between
client and gateway, and the I/O time of the database and of Redis (latency draws, as SimPy timeouts
through :class:`sim.models.circuit_breaker.IoBridge`)::

    Client.request -> API_Gateway.validate_key -> Cache_Manager.get (miss | hit)
      miss: Database.lookup -> Cache_Manager.set        (the service caches the key as it loads it)
    Auth_Service.validate_signature -> Auth_Service.check_permissions
    login:  Session_Store.create -> API_Gateway.issue_session -> Client.response (token + session)
    other:  API_Gateway.process -> Client.response
    refused: BadSignature (tampered), ReplayedRequest (resent), InsufficientScope -> Client.response rejected

Departures: the real service caches the key record right after the database lookup, i.e. before the
signature check (the diagram caches the auth result at the end); key ids are random, so the log's
``key`` column names clients (``client0``…) instead, keeping a seeded run's log identical.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import simpy

from sim.bridge import BridgeClock, IoBridge
from sim.latency import latency_model
from sim.models._context import SimContext, count_steps
from sim.scenario import load_defaults, make_scenario

__all__ = ["DEFAULTS", "FLOW", "NAME", "AuthWorld", "run", "simulate", "summarize"]

NAME = "api_key_auth"
FLOW = "api_key_auth"

DEFAULTS: dict[str, Any] = load_defaults(NAME)

REQUIRED = ("signal:read",)


class _SimRedis:
    """A redis-py client whose every command (and pipeline execute) waits a simulated latency."""

    def __init__(self, client: Any, wait: Callable[[], None]) -> None:
        self._client = client
        self._wait = wait

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr
        if name == "pipeline":
            def pipeline(*args: Any, **kwargs: Any) -> Any:
                pipe = attr(*args, **kwargs)
                real = pipe.execute

                def execute(*a: Any, **k: Any) -> Any:
                    self._wait()
                    return real(*a, **k)

                pipe.execute = execute
                return pipe
            return pipeline

        def command(*args: Any, **kwargs: Any) -> Any:
            self._wait()
            return attr(*args, **kwargs)
        return command


class AuthWorld:
    """Everything both auth models share: env, bridge, the real AuthService and the clients' keys."""

    def __init__(self, model: str, flow: str, sc: Mapping[str, Any]) -> None:
        import fakeredis

        from supreme.api.auth.keys import KeyStore
        from supreme.api.auth.nonces import ReplayGuard
        from supreme.api.auth.service import AuthService
        from supreme.api.auth.sessions import SessionStore
        from supreme.db import Database

        self.sc = sc
        self.ctx = ctx = SimContext(model, flow, sc)
        self.bridge = IoBridge(ctx.env)
        self.clock = clock = BridgeClock(ctx.env, self.bridge)
        self.net = latency_model(sc["net.median"], sc["net.p99"])
        db_lat = latency_model(sc["db.median"], sc["db.p99"])
        redis_lat = latency_model(sc["redis.median"], sc["redis.p99"])
        bridge = self.bridge

        class SimDatabase(Database):
            """SQLite in memory; a statement run by a request waits a database latency first."""

            def execute(self, statement: str, params: Any = ()) -> list[tuple[Any, ...]]:
                if bridge.in_worker():
                    bridge.wait(db_lat.sample(ctx.rng))
                return super().execute(statement, params)

        def redis_wait() -> None:
            if bridge.in_worker():
                bridge.wait(redis_lat.sample(ctx.rng))

        redis = _SimRedis(fakeredis.FakeRedis(server=fakeredis.FakeServer()), redis_wait)
        self.db = SimDatabase("sqlite:///:memory:")
        self.store = KeyStore(self.db, clock)
        sessions = SessionStore(redis, clock, namespace="sim:", ttl=sc["session.ttl"],
                                refresh_window=sc["session.refresh_window"], event_log=ctx.log)
        self.auth = AuthService(self.store, clock, replay=ReplayGuard(redis, "sim:"), sessions=sessions,
                                recv_window_ms=sc["auth.recv_window_ms"], cache_ttl=sc["auth.cache_ttl"],
                                event_log=ctx.log)
        n, unscoped = int(sc["clients"]), int(sc["clients.unscoped"])
        if n < 1 or not 0 <= unscoped <= n:
            raise ValueError(f"need clients >= 1 and 0 <= clients.unscoped <= clients, got {n}/{unscoped}")
        self.keys: list[tuple[str, str]] = []  # (key_id, private PEM)
        self.alias: dict[str, str] = {}
        for i in range(n):
            scopes = "stream:read" if i >= n - unscoped else "signal:read stream:read"
            created = self.store.create("ed25519", scopes, label=f"client{i}")
            self.keys.append((created.record.key_id, created.credential))
            self.alias[created.record.key_id] = f"client{i}"

    def signed(self, client: int, path: str, body: bytes, nonce: str) -> dict[str, str]:
        """Headers of a request signed now by ``client`` with the real client helper."""
        from supreme.api.auth.signing import sign_request

        key_id, pem = self.keys[client]
        return sign_request(key_id, pem, "POST" if body else "GET", path, body,
                            timestamp_ms=int(np.floor(self.clock.now() * 1000.0)), nonce=nonce)

    def network(self) -> simpy.Timeout:
        """One client<->gateway network delay."""
        return self.ctx.env.timeout(self.net.sample(self.ctx.rng))

    def respond(
        self, rid: str, name: str, t0: float, outcome: str = "ok", **detail: Any
    ) -> Generator[simpy.Event, Any, None]:
        """The network back to client ``name``, then its response row (latency since ``t0``)."""
        yield self.network()
        self.ctx.step("Client", "response", outcome, frm="API_Gateway", request_id=rid, key=name,
                      latency=self.ctx.env.now - t0, **detail)

    def process(self, rid: str, name: str, t0: float, **detail: Any) -> Generator[simpy.Event, Any, None]:
        """The gateway serves the request and the client gets an ok response."""
        self.ctx.step("API_Gateway", "process", request_id=rid, key=name)
        yield from self.respond(rid, name, t0, **detail)

    def refuse(self, rid: str, name: str, t0: float, exc: Exception) -> Generator[simpy.Event, Any, None]:
        """The gateway refuses the request with ``exc`` and the client gets a rejected response."""
        self.ctx.step("API_Gateway", "refuse", "rejected", request_id=rid, key=name, error=type(exc).__name__)
        yield from self.respond(rid, name, t0, "rejected", error=type(exc).__name__)

    def frame(self) -> pd.DataFrame:
        """The log with key ids replaced by client names (key ids are random)."""
        df = self.ctx.frame()
        df["key"] = df["key"].map(lambda k: self.alias.get(k, k) if isinstance(k, str) else k)
        return df

    def finish(self, until: float) -> pd.DataFrame:
        """Run the environment to ``until`` and return the log."""
        try:
            self.ctx.env.run(until=until)
        finally:
            self.bridge.close()
            self.db.close()
        return self.frame()


def _client(w: AuthWorld, i: int) -> Generator[simpy.Event, Any, None]:
    from supreme.api.auth.errors import AuthError

    ctx, sc = w.ctx, w.sc
    name = f"client{i}"
    last: tuple[dict[str, str], str, bytes] | None = None
    n = 0
    while True:
        yield ctx.env.timeout(ctx.rng.exponential(1.0 / sc["load.rate"]))
        n += 1
        rid = ctx.request_id()
        login = n == 1
        path = "/v1/session" if login else f"/v1/signals/SPX?n={n}"
        body = b'{"symbol":"SPX"}' if not login else b""
        draw = ctx.rng.random()
        if last is not None and not login and draw < sc["load.replayed"]:
            headers, path, body = last
            kind = "replayed"
        else:
            headers = w.signed(i, path, body, nonce=f"{i}-{n}")
            kind = "signed"
            if not login and draw < sc["load.replayed"] + sc["load.tampered"]:
                body = body.replace(b"SPX", b"XPS")
                kind = "tampered"
            last = (headers, path, body)
        method = "POST" if body else "GET"
        ctx.step("Client", "request", request_id=rid, key=name, path=path.split("?")[0], kind=kind)
        t0 = ctx.env.now
        yield w.network()
        try:
            if login:
                issued = yield from w.bridge.call(w.auth.login, headers, method, path, body, rid)
                yield from w.respond(rid, name, t0, session_expires=issued.info.expires_at)
                continue
            yield from w.bridge.call(w.auth.authenticate, headers, method, path, body, REQUIRED, rid)
        except AuthError as exc:
            yield from w.refuse(rid, name, t0, exc)
            continue
        yield from w.process(rid, name, t0)


ClientProcess = Callable[[AuthWorld, int], Generator[simpy.Event, Any, None]]


def simulate(model: str, flow: str, sc: Mapping[str, Any], client: ClientProcess) -> pd.DataFrame:
    """Build the world, start ``client(world, i)`` for every key and run ``duration`` s; the log."""
    w = AuthWorld(model, flow, sc)
    for i in range(len(w.keys)):
        w.ctx.env.process(client(w, i))
    return w.finish(sc["duration"])


def run(scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Signed requests from several clients through the real AuthService; returns the event log."""
    return simulate(NAME, FLOW, make_scenario(DEFAULTS, scenario), _client)


def summarize(log: pd.DataFrame) -> dict[str, Any]:
    """Responses by outcome, key-cache hit ratio, database lookups and refusals by reason."""
    comp, op = log["component"], log["operation"]
    resp = log[(comp == "Client") & (op == "response")]
    cache = log[(comp == "Cache_Manager") & (op == "get")]
    refused = log[(comp == "API_Gateway") & (op == "refuse")]
    reasons = refused["detail"].dropna().map(lambda d: json.loads(d).get("error"))
    return {
        "requests": count_steps(log, "Client", "request"),
        "ok": int((resp["outcome"] == "ok").sum()),
        "rejected": int((resp["outcome"] == "rejected").sum()),
        "cache_hit_ratio": float((cache["outcome"] == "hit").mean()) if len(cache) else None,
        "db_lookups": count_steps(log, "Database", "lookup"),
        "sessions_issued": count_steps(log, "API_Gateway", "issue_session"),
        **{f"refused_{k}": int(v) for k, v in sorted(reasons.value_counts().items())},
    }
