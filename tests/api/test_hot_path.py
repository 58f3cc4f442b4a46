"""The signal route's hot path: in-memory limits for an in-process store, the no-hop (inline) admission
and L1 answer, the orjson response, and Ed25519 through libsodium (keys and signatures unchanged)."""

from __future__ import annotations

import base64
import json

import fakeredis
import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from supreme.api.app import create_app
from supreme.api.auth import BadSignature, CreatedKey, ReplayedRequest, sign_request
from supreme.api.auth.keys import Verifier
from supreme.api.pipeline import SignalCall
from supreme.api.ratelimit import InMemoryRateLimiter, RedisRateLimiter
from supreme.api.schemas import SignalResponse
from supreme.api.services import Services
from supreme.builders import build_limiters, in_process_redis
from supreme.clock import ManualClock
from tests.api.test_app import SIGNAL, assert_error, post_signal

BODY = {"symbol": "SPX", "timeframe": "1d"}


@pytest.fixture
def key(svc: Services) -> CreatedKey:
    return svc.auth.store.create("ed25519", "signal:read", label="hot")


def _login(client: TestClient, svc: Services, key: CreatedKey) -> str:
    path = "/api/v1/auth/session"
    headers = sign_request(key.record.key_id, key.credential, "POST", path, b"", int(svc.clock.now() * 1000),
                           nonce="login")
    resp = client.post(path, headers=headers)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["token"])


# -- limiters ------------------------------------------------------------------------------------------------
def test_in_process_store_keeps_limits_in_memory_and_a_server_client_in_redis(clock: ManualClock) -> None:
    fake = fakeredis.FakeRedis()
    assert in_process_redis(fake)
    ip, key = build_limiters(clock, ip_rate=1, ip_burst=2, key_rate=1, key_burst=3, redis=fake)
    assert isinstance(ip, InMemoryRateLimiter) and isinstance(key, InMemoryRateLimiter)
    assert [ip.check("a").allowed for _ in range(3)] == [True, True, False]  # the same GCRA decisions
    server = redis.Redis(host="127.0.0.1", port=1)  # never contacted: building registers the script only
    assert not in_process_redis(server)
    ip, key = build_limiters(clock, ip_rate=1, ip_burst=2, key_rate=1, key_burst=3, redis=server)
    assert isinstance(ip, RedisRateLimiter) and isinstance(key, RedisRateLimiter)
    assert not InMemoryRateLimiter.blocking and RedisRateLimiter.blocking


# -- inline admission and answer ---------------------------------------------------------------------------
def _call(svc: Services, headers: dict[str, str]) -> SignalCall:
    return SignalCall("rid-1", "127.0.0.1", headers, "POST", SIGNAL, json.dumps(BODY).encode())


def test_admit_local_only_for_a_cached_active_session(svc: Services, key: CreatedKey,
                                                      clock: ManualClock) -> None:
    pipeline = svc.pipeline
    issued = svc.auth.login(sign_request(key.record.key_id, key.credential, "POST", "/login", b"",
                                         int(clock.now() * 1000), nonce="a"), "POST", "/login", b"")
    bearer = {"Authorization": f"Bearer {issued.token}"}
    admission = pipeline.admit_local(_call(svc, bearer))
    assert admission is not None and admission.principal.key_id == key.record.key_id
    assert admission.key_limit is not None and admission.key_limit.allowed
    # a signature by a cached key, nonces in this process's fakeredis: inline, replays still refused
    raw = json.dumps(BODY).encode()
    sig = sign_request(key.record.key_id, key.credential, "POST", SIGNAL, raw, int(clock.now() * 1000), "b")
    signed = pipeline.admit_local(_call(svc, sig))
    assert signed is not None and signed.principal.method == "signature"
    with pytest.raises(ReplayedRequest):
        pipeline.admit_local(_call(svc, sig))
    # ... but never when the nonce store is a server (a round trip): then admit runs in a thread
    real_nonces = svc.auth.replay.client
    svc.auth.replay.client = redis.Redis(host="127.0.0.1", port=1)  # never contacted by the check
    try:
        assert not svc.auth.answers_locally(sig)
        assert pipeline.admit_local(_call(svc, sig)) is None
    finally:
        svc.auth.replay.client = real_nonces
    # an unknown token, or no credentials: left to admit (which gives the 401)
    assert pipeline.admit_local(_call(svc, {"Authorization": "Bearer nope"})) is None
    assert pipeline.admit_local(_call(svc, {})) is None
    # once the key's cached record expires the key must be read from the database: not inline
    clock.advance(svc.auth.cache_ttl + 1)
    assert pipeline.admit_local(_call(svc, bearer)) is None
    assert pipeline.admit(_call(svc, bearer)).principal.key_id == key.record.key_id
    assert pipeline.admit_local(_call(svc, bearer)) is not None  # cached again
    # past the session's lifetime (refresh would write Redis): not inline
    clock.advance(svc.auth.sessions.ttl + 1)
    assert pipeline.admit_local(_call(svc, bearer)) is None


def test_admit_local_never_inline_over_a_redis_limiter(svc: Services, key: CreatedKey,
                                                       clock: ManualClock) -> None:
    issued = svc.auth.login(sign_request(key.record.key_id, key.credential, "POST", "/login", b"",
                                         int(clock.now() * 1000), nonce="a"), "POST", "/login", b"")
    server = RedisRateLimiter(fakeredis.FakeRedis(), 10.0, 10, clock)
    pipeline = type(svc.pipeline)(
        clock=svc.clock, market_clock=svc.market_clock, event_log=svc.event_log, auth=svc.auth,
        cache=svc.cache, feed=svc.feed, engine=svc.engine, ip_limiter=server, key_limiter=None)
    assert pipeline.admit_local(_call(svc, {"authorization": f"Bearer {issued.token}"})) is None


def test_answer_local_is_answer_on_an_l1_hit_and_none_otherwise(svc: Services) -> None:
    log = svc.event_log
    log.enabled = True
    pipeline = svc.pipeline
    assert pipeline.answer_local("r0", "SPX", "1d") is None  # nothing cached yet, nothing logged
    assert not [r for r in log.to_frame().itertuples() if r.request_id == "r0"]
    first = pipeline.answer("r1", "SPX", "1d")
    assert first["meta"]["cached"] is False
    inline = pipeline.answer_local("r2", "SPX", "1d")
    threaded = pipeline.answer("r3", "SPX", "1d")
    assert inline is not None
    for body in (inline, threaded):
        assert body["meta"]["cached"] is True
    assert {k: v for k, v in inline.items() if k != "meta"} == {
        k: v for k, v in threaded.items() if k != "meta"}
    frame = log.to_frame()
    rows = {rid: [(r.component, r.operation, r.outcome) for r in frame.itertuples() if r.request_id == rid]
            for rid in ("r2", "r3")}
    assert rows["r2"] == rows["r3"] and ("API_Gateway", "check_signal_cache", "hit") in rows["r2"]
    with pytest.raises(Exception, match="unknown symbol"):
        pipeline.answer_local("r4", "NOPE", "1d")  # the market check comes first, as in answer


# -- the route end to end ----------------------------------------------------------------------------------
def test_session_hit_body_matches_the_response_model_and_keeps_headers(svc: Services,
                                                                       key: CreatedKey) -> None:
    client = TestClient(create_app(svc))
    token = _login(client, svc, key)
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    miss = client.post(SIGNAL, json=BODY, headers=headers)
    hit = client.post(SIGNAL, json=BODY, headers=headers)
    for resp in (miss, hit):
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == "application/json"
        assert int(resp.headers["ratelimit-limit"]) == 1000 and "ratelimit-remaining" in resp.headers
        assert resp.headers["x-request-id"]
        body = resp.json()
        assert body == SignalResponse.model_validate(body).model_dump(mode="json")  # no field more or less
    assert miss.json()["meta"]["cached"] is False and hit.json()["meta"]["cached"] is True
    # what the hot path leaves to FastAPI's handler answers the same: another JSON content type
    other = client.post(SIGNAL, content=json.dumps(BODY).encode(),
                        headers={**headers, "content-type": "application/json; charset=utf-8"})
    assert other.status_code == 200, other.text
    assert {k: v for k, v in other.json().items() if k != "meta"} == {
        k: v for k, v in hit.json().items() if k != "meta"}
    assert "ratelimit-limit" in other.headers
    assert_error(client.post(SIGNAL, content=b"", headers=headers), 422, "validation_error")
    # bad input after a good session is still the JSON refusal, never a 5xx
    assert_error(client.post(SIGNAL, content=b"{not json", headers=headers), 400, "malformed_json")
    assert_error(client.post(SIGNAL, json={**BODY, "extra": 1}, headers=headers), 422, "validation_error")
    assert_error(client.post(SIGNAL, json={**BODY, "symbol": "NOPE"}, headers=headers), 422, "unknown_symbol")
    # an unauthenticated invalid body is still a 401 (admission before field validation)
    assert_error(client.post(SIGNAL, json={**BODY, "extra": 1}), 401, "missing_credentials")


# -- Ed25519 through libsodium -----------------------------------------------------------------------------
def test_cryptography_signed_requests_verify_and_bad_signatures_are_refused(svc: Services,
                                                                            key: CreatedKey) -> None:
    client = TestClient(create_app(svc))
    assert post_signal(client, svc, key, BODY).status_code == 200  # signed by cryptography's private key
    raw = json.dumps(BODY).encode()
    headers = sign_request(key.record.key_id, key.credential, "POST", SIGNAL, raw,
                           int(svc.clock.now() * 1000), nonce="tamper")
    headers["content-type"] = "application/json"
    body = assert_error(client.post(SIGNAL, content=raw.replace(b"1d", b"1h"), headers=headers),
                        401, "bad_signature")
    assert "Ed25519" in body["message"]
    for bad in (b"\0" * 64, b"\1" * 10, b""):
        h = {**headers, "X-Nonce": f"b{len(bad)}", "X-Signature": base64.b64encode(bad).decode()}
        resp = client.post(SIGNAL, content=raw, headers=h)
        assert 400 <= resp.status_code < 500 and resp.json()["error"], resp.text


def test_verifier_accepts_cryptography_keys_and_raw_bytes() -> None:
    private = Ed25519PrivateKey.generate()
    message = b"1700000000000\nPOST\n/api/v1/trading/signal\n\nabc"
    signature = private.sign(message)
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    for public in (private.public_key(), raw):
        verifier = Verifier("ak_test", public=public)
        verifier.verify(signature, message)
        for bad_sig, bad_msg in ((signature, message + b"x"), (signature[:-1] + bytes([signature[-1] ^ 1]),
                                                               message), (signature[:32], message)):
            with pytest.raises(BadSignature, match="ak_test"):
                verifier.verify(bad_sig, bad_msg)
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(BadSignature):
        Verifier("ak_other", public=other).verify(signature, message)
