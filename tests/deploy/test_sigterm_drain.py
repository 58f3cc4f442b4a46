"""``supreme serve`` on real Redis and PostgreSQL drains on SIGTERM: no request in flight is lost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.conftest import REAL_REDIS_URL


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_sigterm_under_load_finishes_every_request_in_flight(real_redis: object, real_postgres_url: str,
                                                            tmp_path: Path) -> None:
    port = _free_port()
    events = tmp_path / "events.parquet"
    env = {**os.environ, "SUPREME_REDIS_URL": REAL_REDIS_URL, "SUPREME_DATABASE_URL": real_postgres_url}
    proc = subprocess.Popen([sys.executable, "-m", "supreme", "serve", "--port", str(port), "--log-level",
                             "warning", "--event-log", str(events)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            pytest.fail(f"server not ready: {proc.stderr.read1(4000) if proc.stderr else ''!r}")
        outcomes: Counter[str] = Counter()
        lock = threading.Lock()
        stop = threading.Event()

        def load() -> None:
            # a fresh connection per request: a refused connect means "never accepted", not "lost"
            with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=30) as client:
                while not stop.is_set():
                    try:
                        kind = str(client.get(f"{base}/ready").status_code)
                    except httpx.ConnectError:
                        kind = "refused"
                    except httpx.TransportError as exc:
                        kind = type(exc).__name__
                    with lock:
                        outcomes[kind] += 1
                    if kind == "refused":
                        return

        threads = [threading.Thread(target=load) for _ in range(6)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=40)
        stop.set()
        for t in threads:
            t.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (0, -signal.SIGTERM), proc.stderr.read() if proc.stderr else b""
    log = pd.read_parquet(events)
    served = log[(log["component"] == "API_Gateway") & (log["operation"] == "request")]
    assert len(served) > 50  # the load was real
    assert (served["detail"] == "status=200").all(), served["detail"].value_counts()  # none cut short
    # every request the server handled reached its client: nothing in flight was dropped
    assert outcomes["200"] == len(served) - 1, outcomes  # (the one /ready before the load)
