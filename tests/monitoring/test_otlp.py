"""The event log as OpenTelemetry spans: OTLP/JSON that parses back into the OTLP protobuf schema.

The done-criterion of issue 20: one real run (the FastAPI route on fakeredis + SQLite) and one simulated
run (the SimPy trading_signal model) of the signal flow, exported together, parse back with
opentelemetry-proto's ``json_format.Parse`` into ``ExportTraceServiceRequest``; the request id is the
trace, each step a span, world/flow/component attributes, clock time as span timestamps.  The OTLP/HTTP
path is checked against a real HTTP server on a local port that decodes what it receives.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import fakeredis
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from sim.models import trading_signal
from supreme.api.app import create_app
from supreme.api.auth.signing import sign_request
from supreme.api.services import Services
from supreme.cli import main
from supreme.clock import ManualClock
from supreme.config import Settings
from supreme.events import EventLog
from supreme.monitoring.otlp import SIM_ORIGIN, OtlpError, export_endpoint, parse_otlp_json, write_otlp_json

SCENARIO = {"requests": 8, "clients": 1, "symbols": "SPX,IXIC", "load.rate": 50.0, "seed": 4}


def _real_run(tmp_path: Path, namespace: str) -> pd.DataFrame:
    """Eight signed requests through the real app; its event log."""
    sc = {**trading_signal.DEFAULTS, **SCENARIO}
    settings = Settings(redis_url=None, database_url=f"sqlite:///{tmp_path / 'real.db'}", data_dir=tmp_path)
    svc = Services.from_settings(settings, ManualClock(1000.0), redis_client=fakeredis.FakeRedis(),
                                 namespace=namespace, symbols=["SPX", "IXIC"],
                                 replay_start=float(sc["market.start"]))
    try:
        key = svc.auth.store.create("ed25519", "signal:read")
        client = TestClient(create_app(svc))
        for i, symbol in enumerate(["SPX", "IXIC", "SPX", "IXIC", "SPX", "SPX", "IXIC", "SPX"]):
            raw = f'{{"symbol": "{symbol}", "timeframe": "1d"}}'.encode()
            headers = sign_request(key.record.key_id, key.credential, "POST", trading_signal.PATH, raw,
                                   int(svc.clock.now() * 1000), nonce=f"n{i}")
            headers["content-type"] = "application/json"
            assert client.post(trading_signal.PATH, content=raw, headers=headers).status_code == 200
            svc.clock.advance(0.25)
        return svc.event_log.to_frame()
    finally:
        svc.close()


def _hex_to_b64(data: dict[str, Any]) -> dict[str, Any]:
    """OTLP/JSON ids are hex; protobuf's JSON mapping reads bytes as base64 (the OTLP spec says so)."""
    for rs in data["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for name in ("traceId", "spanId", "parentSpanId"):
                    if name in span:
                        assert len(span[name]) == {"traceId": 32}.get(name, 16)
                        int(span[name], 16)  # hex, as OTLP/JSON requires
                        span[name] = base64.b64encode(bytes.fromhex(span[name])).decode()
    return data


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: json_format.MessageToDict(kv.value) for kv in kvs}


def _value(v: dict[str, Any]) -> Any:
    return next(iter(v.values()))


def test_real_and_sim_signal_flow_export_parses_back_into_the_otlp_schema(tmp_path: Path,
                                                                           namespace: str) -> None:
    real = _real_run(tmp_path, namespace)
    sim = trading_signal.run(SCENARIO)
    assert set(real["world"]) == {"real"} and set(sim["world"]) == {"sim"}
    both = pd.concat([real, sim], ignore_index=True)
    path = write_otlp_json(both, tmp_path / "traces.jsonl")

    requests = []
    for line in path.read_text().splitlines():
        req = ExportTraceServiceRequest()
        json_format.Parse(json.dumps(_hex_to_b64(json.loads(line))), req)  # strict: unknown fields fail
        requests.append(req)
    by_world: dict[str, list[Any]] = {}
    for req in requests:
        for rs in req.resource_spans:
            res = {k: _value(v) for k, v in _attrs(rs.resource.attributes).items()}
            assert res["service.name"] == f"supreme-{res['supreme.world']}"
            for ss in rs.scope_spans:
                assert ss.scope.name == "supreme.events"
                by_world.setdefault(res["supreme.world"], []).extend(ss.spans)
    assert set(by_world) == {"real", "sim"}

    for world, frame in (("real", real), ("sim", sim)):
        spans = by_world[world]
        rids = frame["request_id"].dropna().unique()
        background = int(frame["request_id"].isna().sum())
        assert len(spans) == len(frame) + len(rids)  # a span per row, a root per request
        assert len(rids) >= 8
        roots = {s.trace_id: s for s in spans if not s.parent_span_id}
        for rid in rids:
            run_id = frame.loc[frame["request_id"] == rid, "run_id"].iloc[0]
            trace_id = hashlib.blake2b(f"{run_id}\x00{rid}".encode(), digest_size=16).digest()
            root = roots[trace_id]
            steps = [s for s in spans if s.trace_id == trace_id and s.parent_span_id]
            rows = frame[frame["request_id"] == rid]
            assert len(steps) == len(rows)
            assert all(s.parent_span_id == root.span_id for s in steps)
            assert root.start_time_unix_nano == min(s.start_time_unix_nano for s in steps)
            assert root.end_time_unix_nano == max(s.end_time_unix_nano for s in steps)
            names = sorted(s.name for s in steps)
            assert names == sorted(f"{c} {o}" for c, o in zip(rows["component"], rows["operation"],
                                                                   strict=True))
        assert len(roots) == len(rids) + background
        # clock time -> span time: end = origin + time, start = end - latency (ns, rounded)
        origin = 0.0 if frame["time"].min() >= 1e8 else SIM_ORIGIN
        for span in spans:
            a = {k: _value(v) for k, v in _attrs(span.attributes).items()}
            if "supreme.component" not in a:
                continue
            assert a["supreme.world"] == world and a["supreme.flow"] and a["supreme.component"]
            assert span.end_time_unix_nano == round(origin * 1e9) + round(float(a["supreme.time_s"]) * 1e9)
            assert abs((span.end_time_unix_nano - span.start_time_unix_nano) / 1e9
                       - float(a["supreme.latency_s"])) < 1e-6
    # the same components appear in both worlds (side by side in a viewer)
    comps = {w: {s.name for s in by_world[w] if " " in s.name} for w in by_world}
    assert {"Cache_Manager get", "API_Gateway generate_signal", "Strategy_Engine apply_trading_logic"} <= (
        comps["real"] & comps["sim"])


def test_export_is_deterministic_and_parse_helper_agrees(tmp_path: Path) -> None:
    a = write_otlp_json(trading_signal.run(SCENARIO), tmp_path / "a.jsonl", batch=50)
    b = write_otlp_json(trading_signal.run(SCENARIO), tmp_path / "b.jsonl", batch=50)
    assert a.read_bytes() == b.read_bytes()
    lines = a.read_text().splitlines()
    assert len(lines) > 1  # 50 spans per line
    total = 0
    for line in lines:
        req = parse_otlp_json(line)
        total += sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
        assert json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["kind"] == 1  # integer enum
    log = trading_signal.run(SCENARIO)
    assert total == len(log) + log["request_id"].nunique()


def test_errors_and_background_rows(tmp_path: Path) -> None:
    log = EventLog(run_id="bg", world="real")
    log.record(10.0, "cache_hierarchy", "Redis_Cache_L2", "set", "error", key="k", latency=0.5,
               detail="ConnectionError")
    log.record(11.0, "cache_hierarchy", "Cache_Manager", "flush", "ok")
    req = parse_otlp_json(write_otlp_json(log, tmp_path / "bg.jsonl").read_text())
    spans = list(req.resource_spans[0].scope_spans[0].spans)
    assert len(spans) == 2 and len({s.trace_id for s in spans}) == 2  # each background row its own trace
    err = next(s for s in spans if s.name == "Redis_Cache_L2 set")
    assert err.status.code == 2 and err.status.message == "ConnectionError"
    assert err.start_time_unix_nano == round((SIM_ORIGIN + 9.5) * 1e9)  # small times: a sim-like origin
    # an explicit origin and an empty log
    req = parse_otlp_json(write_otlp_json(log, tmp_path / "o.jsonl", origin=0.0).read_text())
    assert req.resource_spans[0].scope_spans[0].spans[0].end_time_unix_nano == 10_000_000_000
    assert write_otlp_json(EventLog(), tmp_path / "empty.jsonl").read_text() == ""


def test_bad_input_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(OtlpError, match="not an event log: columns"):
        write_otlp_json(pd.DataFrame({"time": [1.0]}), tmp_path / "x.jsonl")
    assert not (tmp_path / "x.jsonl").exists()
    with pytest.raises(ValueError, match="batch"):
        write_otlp_json(EventLog(), tmp_path / "x.jsonl", batch=0)
    bad = tmp_path / "log.txt"
    bad.write_text("x")
    assert main(["events", "export", str(bad), "--otlp", str(tmp_path / "o.jsonl")]) == 2
    assert "an event log is .parquet or .csv" in capsys.readouterr().err
    assert main(["events", "export", str(tmp_path / "none.parquet"), "--otlp", "o.jsonl"]) == 2
    assert "no such event log" in capsys.readouterr().err
    assert main(["replay", "--sample", "walk", "--otlp", str(tmp_path / "o.jsonl")]) == 2
    assert "add --pipeline" in capsys.readouterr().err


def test_cli_sim_run_and_events_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, direct = tmp_path / "ev.csv", tmp_path / "direct.jsonl"
    assert main(["sim", "run", "trading_signal", "--set", "requests=6", "--out", str(out),
                 "--otlp", str(direct)]) == 0
    assert "OTLP/JSON spans written" in capsys.readouterr().out
    assert main(["events", "export", str(out), "--otlp", str(tmp_path / "again.jsonl")]) == 0
    a = parse_otlp_json(direct.read_text())
    b = parse_otlp_json((tmp_path / "again.jsonl").read_text())
    names = [sorted(s.name for ss in r.resource_spans[0].scope_spans for s in ss.spans) for r in (a, b)]
    assert names[0] == names[1] and len(names[0]) > 6


class _Collector(BaseHTTPRequestHandler):
    """A minimal OTLP/HTTP receiver: decodes each POST body as ExportTraceServiceRequest."""

    received: list[tuple[str, ExportTraceServiceRequest]]
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        req = ExportTraceServiceRequest()
        req.ParseFromString(body)
        self.received.append((self.path, req))
        self.send_response(self.status)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def collector() -> Iterator[tuple[str, type[_Collector]]]:
    handler = type("H", (_Collector,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_endpoint_export_reaches_a_collector(tmp_path: Path, collector: tuple[str, Any]) -> None:
    url, handler = collector
    log = trading_signal.run(SCENARIO)
    n = export_endpoint(log, url, timeout=5.0)
    assert n == len(log) + log["request_id"].nunique()
    [(path, req)] = handler.received
    assert path == "/v1/traces"
    got = [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    ref = parse_otlp_json(write_otlp_json(log, tmp_path / "ref.jsonl").read_text())
    want = [s for rs in ref.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert got == want  # the file and the wire carry the same spans


def test_endpoint_refusal_is_an_error(collector: tuple[str, Any]) -> None:
    url, handler = collector
    handler.status = 400  # not retryable: the exporter gives up at once
    with pytest.raises(OtlpError, match="did not accept"):
        export_endpoint(trading_signal.run({**SCENARIO, "requests": 2}), url, timeout=2.0)


def test_cli_replay_pipeline_exports_its_event_log(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from tests.replay.conftest import walk_frame, write_csv

    path = write_csv(walk_frame(2100, seed=3), tmp_path / "AAA.csv")
    otlp = tmp_path / "replay.jsonl"
    assert main(["replay", str(path), "--pipeline", "--out", str(tmp_path / "out"), "--no-progress",
                 "--otlp", str(otlp)]) == 0
    assert "OTLP/JSON spans written" in capsys.readouterr().out
    events = pd.read_parquet(tmp_path / "out" / "events.parquet")
    req = parse_otlp_json(otlp.read_text())
    spans = [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert len(spans) == len(events) + events["request_id"].nunique()
    # market time is Unix seconds already: span times are the candles' own (2022-01-01 onwards)
    assert min(s.start_time_unix_nano for s in spans) >= 1_640_995_200 * 10**9
    assert main(["replay", str(path), "--pipeline", "--no-events", "--otlp", str(otlp)]) == 2
    assert "--no-events" in capsys.readouterr().err
