"""Session-based authorization (seed diagram "Session-Based Authorization"), driving the real AuthService.

Each client logs in once with a signed request (the real ``AuthService.login``), then sends bearer
requests (``AuthService.authenticate_session``).  Sessions expire after ``session.ttl`` seconds of
simulated time and are refreshed on the way by the real service; the client swaps in the new token
from the response.  A client silent for longer than ``session.refresh_window`` finds its session dead
and logs in again.  Same world as :mod:`sim.models.api_key_auth` (SQLite ``:memory:`` key store,
fakeredis session store, simulated network and I/O times)::

    Client.request -> API_Gateway.validate_session -> Cache_Manager.get (hit | miss -> Session_Store)
    valid:   Session_Store.validate ok -> Auth_Service.check_permissions -> API_Gateway.process
             -> Client.response
    expired: Session_Store.validate refreshable -> Database.lookup (key still active?)
             -> Session_Store.refresh (create) -> Cache_Manager.set -> Auth_Service.check_permissions
             -> API_Gateway.process -> Client.response (new token)
    dead:    API_Gateway.refuse (InvalidSession) -> Client.response rejected -> Client.login again
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

import pandas as pd
import simpy

from sim.models._context import count_steps
from sim.models.api_key_auth import REQUIRED, AuthWorld, simulate
from sim.scenario import load_defaults, make_scenario

__all__ = ["DEFAULTS", "FLOW", "NAME", "run", "summarize"]

NAME = "session_auth"
FLOW = "session_auth"

DEFAULTS: dict[str, Any] = load_defaults(NAME)


def _client(w: AuthWorld, i: int) -> Generator[simpy.Event, Any, None]:
    from supreme.api.auth.errors import AuthError

    ctx, sc = w.ctx, w.sc
    name = f"client{i}"
    token: str | None = None
    n = 0
    while True:
        gap = ctx.rng.exponential(1.0 / sc["load.rate"])
        if n and sc["load.pause_every"] and n % sc["load.pause_every"] == 0:
            gap += sc["load.pause"]
            ctx.step("Client", "pause", key=name, seconds=gap)
        yield ctx.env.timeout(gap)
        n += 1
        rid = ctx.request_id()
        t0 = ctx.env.now
        if token is None:
            headers = w.signed(i, "/v1/session", b"", nonce=f"{i}-{n}")
            ctx.step("Client", "login", request_id=rid, key=name)
            yield w.network()
            try:
                issued = yield from w.bridge.call(w.auth.login, headers, "GET", "/v1/session", b"", rid)
            except AuthError as exc:
                yield from w.respond(rid, name, t0, "rejected", error=type(exc).__name__)
                continue
            token = issued.token
            yield from w.respond(rid, name, t0, login=True, expires_at=issued.info.expires_at)
            continue
        ctx.step("Client", "request", request_id=rid, key=name)
        yield w.network()
        try:
            principal = yield from w.bridge.call(w.auth.authenticate_session, token, REQUIRED, rid)
        except AuthError as exc:
            yield from w.refuse(rid, name, t0, exc)
            token = None  # dead or unknown session: log in again
            continue
        fresh = principal.new_session
        if fresh is None:
            yield from w.process(rid, name, t0)
        else:
            token = fresh.token
            yield from w.process(rid, name, t0, new_token=True, expires_at=fresh.info.expires_at)


def run(scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Clients on bearer sessions that expire and refresh in simulated time; returns the event log."""
    sc = make_scenario(DEFAULTS, scenario)
    df = simulate(NAME, FLOW, sc, _client)
    df.attrs["session_ttl"] = sc["session.ttl"]
    return df


def summarize(log: pd.DataFrame) -> dict[str, Any]:
    """Requests, refreshes, re-logins, cache hit ratio of the session cache."""
    comp, op = log["component"], log["operation"]
    resp = log[(comp == "Client") & (op == "response")]
    cache = log[(comp == "Cache_Manager") & (op == "get") & (log["flow"] == "session_auth")]
    return {
        "requests": count_steps(log, "Client", "request"),
        "logins": count_steps(log, "Client", "login"),
        "ok": int((resp["outcome"] == "ok").sum()),
        "rejected": int((resp["outcome"] == "rejected").sum()),
        "refreshes": count_steps(log, "Session_Store", "refresh", "ok"),
        "session_cache_hit_ratio": float((cache["outcome"] == "hit").mean()) if len(cache) else None,
    }
