"""Two ``supreme serve`` processes on one real Redis (and one PostgreSQL schema) act as one service:
the per-key rate limit holds across both, a nonce accepted by one is refused by the other, and a signal
computed by one is served by the other from L2 (its event log and metrics say so).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from supreme.api.auth import CreatedKey, KeyStore, sign_request
from supreme.clock import SystemClock
from supreme.db import Database
from tests.conftest import REAL_REDIS_URL

SIGNAL = "/api/v1/trading/signal"
BODY = json.dumps({"symbol": "SPX", "timeframe": "1d"}).encode()
RATE, BURST = 0.5, 12  # per key, per second / cells: small, so the hammer below meets the limit
_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(port: int, env: dict[str, str], namespace: str, events: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "supreme", "serve", "--port", str(port), "--log-level", "warning",
           "--namespace", namespace, "--rate", str(RATE), "--burst", str(BURST), "--event-log", str(events)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_ready(procs: list[subprocess.Popen[bytes]], bases: list[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    pending = set(bases)
    while pending and time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                pytest.fail(f"supreme serve exited with {proc.returncode}: {err[-3000:]}")
        for base in list(pending):
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    pending.discard(base)
            except httpx.TransportError:
                pass
        time.sleep(0.2)
    if pending:
        pytest.fail(f"servers not ready within {timeout:.0f} s: {sorted(pending)}")


def _signed(key: CreatedKey, nonce: str) -> dict[str, str]:
    headers = sign_request(key.record.key_id, key.credential, "POST", SIGNAL, BODY, int(time.time() * 1000),
                           nonce=nonce)
    return {**headers, "content-type": "application/json"}


def _metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.slow
def test_two_serve_processes_share_limits_nonces_and_the_signal_cache(real_redis: Any, real_postgres_url: str,
                                                                     namespace: str, tmp_path: Path) -> None:
    db = Database.from_url(real_postgres_url)
    try:
        store = KeyStore(db, SystemClock())
        cache_key, hammer_key = store.create("ed25519", "signal:read"), store.create("ed25519", "signal:read")
    finally:
        db.close()
    env = {**os.environ, "SUPREME_REDIS_URL": REAL_REDIS_URL, "SUPREME_DATABASE_URL": real_postgres_url,
           "SUPREME_DATA_DIR": str(tmp_path), "PYTHONPATH": str(_ROOT)}
    ports = [_free_port(), _free_port()]
    events = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    procs = [_start(p, env, namespace, e) for p, e in zip(ports, events, strict=True)]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        _wait_ready(procs, bases)
        with httpx.Client(timeout=10) as a, httpx.Client(timeout=10) as b:
            # (b) the signal cache: computed by A, then answered by B without running its engine
            first = a.post(f"{bases[0]}{SIGNAL}", content=BODY, headers=_signed(cache_key, "c1"))
            assert first.status_code == 200, first.text
            assert first.json()["meta"]["cached"] is False
            signal_key = first.json()["meta"]["cache_key"]
            assert real_redis.exists(f"{namespace}cache:{signal_key}") == 1  # A wrote it to the shared L2
            second = b.post(f"{bases[1]}{SIGNAL}", content=BODY, headers=_signed(cache_key, "c2"))
            assert second.status_code == 200, second.text
            assert second.json()["meta"]["cached"] is True
            assert second.json()["meta"]["cache_key"] == signal_key
            assert {k: v for k, v in second.json().items() if k != "meta"} == {
                k: v for k, v in first.json().items() if k != "meta"}
            b_request = second.headers["x-request-id"]
            metrics_b = b.get(f"{bases[1]}/metrics").text
            assert _metric(metrics_b, "supreme_cache_hits_total", tier="signal") == 1.0
            assert _metric(metrics_b, "supreme_cache_misses_total", tier="signal") == 0.0

            # the nonce store is shared: A's accepted request replayed at B is refused
            replay = _signed(cache_key, "c3")
            assert a.post(f"{bases[0]}{SIGNAL}", content=BODY, headers=replay).status_code == 200
            again = b.post(f"{bases[1]}{SIGNAL}", content=BODY, headers=replay)
            assert again.status_code == 401 and again.json()["error"] == "replayed_request", again.text

            # (a) one key's limit across both: BURST cells (+ RATE per second elapsed), the rest 429 JSON
            codes: Counter[int] = Counter()
            per_server: Counter[str] = Counter()
            t0 = time.monotonic()
            n = 3 * BURST
            for i in range(n):
                client, base = (a, bases[0]) if i % 2 == 0 else (b, bases[1])
                resp = client.post(f"{base}{SIGNAL}", content=BODY, headers=_signed(hammer_key, f"h{i}"))
                codes[resp.status_code] += 1
                if resp.status_code == 200:
                    per_server[base] += 1
                else:
                    assert resp.status_code == 429, resp.text
                    assert resp.headers["content-type"].startswith("application/json")
                    assert resp.json()["error"] == "rate_limited" and int(resp.headers["retry-after"]) >= 1
            elapsed = time.monotonic() - t0
        allowed = BURST + int(RATE * elapsed) + 1
        assert BURST <= codes[200] <= allowed, (codes, elapsed)  # per-process limits would allow 2 x BURST
        assert codes[429] == n - codes[200]
        assert len(per_server) == 2  # both servers admitted some of the shared budget
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
    # B's event log: that request's signal came from L2 (B's L1 had never seen it)
    log = pd.read_parquet(events[1])
    rows = log[(log["request_id"] == b_request) & (log["component"] == "Cache_Manager")
               & (log["operation"] == "get")]
    assert (rows["tier"] == "L2").any(), rows.to_string()
    assert not (log[log["request_id"] == b_request]["operation"] == "generate_signal").any()
