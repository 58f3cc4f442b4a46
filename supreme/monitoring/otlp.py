"""The shared event log as OpenTelemetry spans: an OTLP/JSON file, or an OTLP/HTTP collector.

One trace per request: the trace id is derived from ``(run_id, request_id)`` (blake2b, so a seeded
simulation exports the same ids every time), each event-log row is one span named
``"{component} {operation}"`` under a root span named after the request's flow, and a row without a
request id (background work) is a one-span trace of its own.  World, flow, component, operation,
outcome, key, tier, bytes and detail become ``supreme.*`` attributes; the resource names the run
(``service.name`` ``supreme-real`` / ``supreme-sim``, ``service.instance.id`` the run id), so a real run
and a simulation open side by side in one trace viewer.

Time: a row's ``time`` is the end of its step and ``latency`` its duration (the event-log convention),
so a span runs from ``time - latency`` to ``time``.  Clock seconds map to Unix nanoseconds as
``origin + time``, per run: ``origin`` defaults to 0 when the times already look like Unix seconds
(a real run's :class:`~supreme.clock.SystemClock`, a replay's market clock) and to :data:`SIM_ORIGIN`
otherwise (a clock that starts at 0).  The original clock time is kept as ``supreme.time_s``.

The spans are made by the OpenTelemetry SDK (a tracer with explicit start and end times and a
deterministic id generator), encoded by its OTLP protobuf encoder, and written as OTLP/JSON: one
``ExportTraceServiceRequest`` per line (the OTLP file exporter's JSON Lines layout), enums as integers
and ids as hex, as the OTLP/JSON encoding requires.  :func:`parse_otlp_json` reads such a line back
into the protobuf message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from supreme.errors import SupremeError

if TYPE_CHECKING:
    import pandas as pd
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.sdk.trace import ReadableSpan

    from supreme.events import EventLog

__all__ = ["SIM_ORIGIN", "OtlpError", "event_spans", "export_endpoint", "parse_otlp_json",
           "to_otlp_json", "write_otlp_json"]

#: Unix seconds at which a simulation's clock time 0 is placed (2026-01-01T00:00:00Z).
SIM_ORIGIN = 1_767_225_600.0
#: Clock times at or above this are taken as Unix seconds already (1973-03-03).
_UNIX_LIKE = 1e8
_SCOPE = "supreme.events"
_ERROR_OUTCOMES = frozenset({"error", "timeout", "failed", "failure"})
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


class OtlpError(SupremeError):
    """The event log could not be exported (missing package, bad log, collector refused it)."""


def _otel() -> Any:
    """The OpenTelemetry SDK modules, or a clear error naming the packages to install."""
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from opentelemetry.sdk.trace.id_generator import IdGenerator
    except ImportError as exc:  # the dev extra has them; a base install may not
        raise OtlpError("OTLP export needs opentelemetry-sdk, opentelemetry-proto and "
                        "opentelemetry-exporter-otlp-proto-http (pip install 'supreme[otel]')") from exc
    return trace, Resource, TracerProvider, SimpleSpanProcessor, InMemorySpanExporter, IdGenerator


def _digest(text: str, size: int) -> int:
    """A stable non-zero id of ``size`` bytes (zero ids are invalid in OTLP)."""
    value = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=size).digest(), "big")
    return value or 1


def _frame(log: EventLog | pd.DataFrame) -> pd.DataFrame:
    """The log as a DataFrame with the event-log columns, checked."""
    from supreme.events import COLUMNS, EventLog

    frame = log.to_frame() if isinstance(log, EventLog) else log
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise OtlpError(f"not an event log: columns {missing} missing (expected {', '.join(COLUMNS)})")
    return frame


def _origin_ns(times: Sequence[float], origin: float | None) -> int:
    """Nanoseconds added to clock time (module docstring: Unix-like times keep their value)."""
    if origin is None:
        finite = [t for t in times if math.isfinite(t)]
        origin = 0.0 if finite and min(finite) >= _UNIX_LIKE else SIM_ORIGIN
    return round(origin * 1e9)


def _attributes(row: dict[str, Any]) -> dict[str, Any]:
    """The row's ``supreme.*`` span attributes (None and NaN left out: OTLP has no null attribute)."""
    out: dict[str, Any] = {"supreme.run_id": str(row["run_id"]), "supreme.world": str(row["world"]),
                           "supreme.flow": str(row["flow"]), "supreme.component": str(row["component"]),
                           "supreme.operation": str(row["operation"]), "supreme.outcome": str(row["outcome"]),
                           "supreme.time_s": float(row["time"]), "supreme.latency_s": float(row["latency"])}
    for name in ("request_id", "key", "tier", "detail"):
        value = row[name]
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            out[f"supreme.{name}"] = str(value)
    if row["bytes"]:
        out["supreme.bytes"] = int(row["bytes"])
    return out


def _groups(frame: pd.DataFrame) -> Iterator[tuple[str, bool, list[dict[str, Any]]]]:
    """(trace key, is a request, rows) per request in first-seen order; each background row alone."""
    by_request: dict[str, list[dict[str, Any]]] = {}
    order: list[tuple[str, bool, list[dict[str, Any]]]] = []
    records: list[dict[str, Any]] = frame.to_dict("records")  # type: ignore[assignment]
    for i, row in enumerate(records):
        rid = row["request_id"]
        if rid is None or (isinstance(rid, float) and math.isnan(rid)):
            order.append((f"{row['run_id']}\x00row\x00{i}", False, [row]))
            continue
        key = f"{row['run_id']}\x00{rid}"
        rows = by_request.get(key)
        if rows is None:
            rows = by_request[key] = []
            order.append((key, True, rows))
        rows.append(row)
    yield from order


def event_spans(log: EventLog | pd.DataFrame, *, origin: float | None = None) -> list[ReadableSpan]:
    """The event log as finished SDK spans (see the module docstring for the mapping)."""
    trace, resource_cls, provider_cls, processor_cls, memory_cls, id_cls = _otel()
    frame = _frame(log)
    if len(frame) == 0:
        return []

    class _Ids(id_cls):  # type: ignore[misc, valid-type]
        """Ids set by the exporter before each span starts (deterministic, derived from the log)."""

        trace_id = 1
        span_id = 1

        def generate_trace_id(self) -> int:
            return self.trace_id

        def generate_span_id(self) -> int:
            return self.span_id

    spans: list[ReadableSpan] = []
    for (run_id, world), part in frame.groupby(["run_id", "world"], sort=False):
        origin_ns = _origin_ns(part["time"].tolist(), origin)  # per run: a real run and a sim differ
        ids = _Ids()
        memory = memory_cls()
        provider = provider_cls(resource=resource_cls.create({
            "service.name": f"supreme-{world}", "service.instance.id": str(run_id),
            "supreme.world": str(world)}), id_generator=ids)
        provider.add_span_processor(processor_cls(memory))
        tracer = provider.get_tracer(_SCOPE)
        for key, is_request, rows in _groups(part):
            ids.trace_id = _digest(key, 16)
            _trace_spans(trace, tracer, ids, key, rows, origin_ns, is_request)
        provider.shutdown()
        spans.extend(memory.get_finished_spans())
    return spans


def _ns(t: float, origin_ns: int) -> int:
    """Clock seconds as Unix nanoseconds (never negative)."""
    return max(0, origin_ns + round(t * 1e9)) if math.isfinite(t) else origin_ns


def _trace_spans(trace: Any, tracer: Any, ids: Any, key: str, rows: list[dict[str, Any]],
                 origin_ns: int, is_request: bool) -> None:
    """One trace: a root span for a request's rows (none for a background row), a child span per row."""
    from opentelemetry.trace import Status, StatusCode

    starts = [_ns(float(r["time"]) - max(0.0, float(r["latency"] or 0.0)), origin_ns) for r in rows]
    ends = [max(s, _ns(float(r["time"]), origin_ns)) for s, r in zip(starts, rows, strict=True)]
    parent = None
    root = None
    if is_request:
        ids.span_id = _digest(f"{key}\x00root", 8)
        first = rows[0]
        root = tracer.start_span(str(first["flow"]), start_time=min(starts), attributes={
            "supreme.run_id": str(first["run_id"]), "supreme.world": str(first["world"]),
            "supreme.flow": str(first["flow"]), "supreme.request_id": str(first["request_id"]),
            "supreme.steps": len(rows)})
        parent = trace.set_span_in_context(root)
    for i, (row, start, end) in enumerate(zip(rows, starts, ends, strict=True)):
        ids.span_id = _digest(f"{key}\x00{i}", 8)
        span = tracer.start_span(f"{row['component']} {row['operation']}", context=parent,
                                 start_time=start, attributes=_attributes(row))
        if str(row["outcome"]) in _ERROR_OUTCOMES:
            span.set_status(Status(StatusCode.ERROR, str(row["detail"] or row["outcome"])))
        span.end(end_time=end)
    if root is not None:
        root.end(end_time=max(ends))


def _request(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    """The spans as one protobuf ``ExportTraceServiceRequest`` (the SDK's OTLP encoder)."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return encode_spans(spans)


def to_otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """The spans as an OTLP/JSON ``ExportTraceServiceRequest`` (hex ids, integer enums)."""
    from google.protobuf import json_format

    data = json_format.MessageToDict(_request(spans), use_integers_for_enums=True)
    for resource in data.get("resourceSpans", []):
        for scope in resource.get("scopeSpans", []):
            for span in scope.get("spans", []):
                for name in _ID_FIELDS:
                    if name in span:  # protobuf JSON writes bytes as base64; OTLP/JSON wants hex
                        span[name] = base64.b64decode(span[name]).hex()
    return data


def parse_otlp_json(line: str | dict[str, Any]) -> ExportTraceServiceRequest:
    """One OTLP/JSON line (or its dict) back into the protobuf message (strict: unknown fields fail)."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    data = json.loads(line) if isinstance(line, str) else json.loads(json.dumps(line))
    for resource in data.get("resourceSpans", []):
        for scope in resource.get("scopeSpans", []):
            for span in scope.get("spans", []):
                for name in _ID_FIELDS:
                    if span.get(name):
                        span[name] = base64.b64encode(bytes.fromhex(span[name])).decode()
    return json_format.Parse(json.dumps(data), ExportTraceServiceRequest())


def write_otlp_json(log: EventLog | pd.DataFrame, path: str | os.PathLike[str], *,
                    origin: float | None = None, batch: int = 5000) -> Path:
    """Write the log's spans as OTLP/JSON Lines, ``batch`` spans per line; returns the path."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    spans = event_spans(log, origin=origin)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for i in range(0, len(spans), batch):
            fh.write(json.dumps(to_otlp_json(spans[i:i + batch]), separators=(",", ":")))
            fh.write("\n")
    tmp.replace(out)  # a failed export never leaves half a file under the real name
    return out


def export_endpoint(log: EventLog | pd.DataFrame, endpoint: str | None = None, *,
                    origin: float | None = None, timeout: float = 10.0) -> int:
    """Send the log's spans to an OTLP/HTTP collector; returns the spans sent.

    ``endpoint`` is the collector's base URL (``/v1/traces`` is appended unless given) or None for the
    standard ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT`` variables.
    """
    _otel()
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import SpanExportResult
    except ImportError as exc:
        raise OtlpError("OTLP/HTTP export needs opentelemetry-exporter-otlp-proto-http") from exc
    if endpoint is not None and not endpoint.rstrip("/").endswith("/v1/traces"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    if endpoint is None and not (os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                                 or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")):
        raise OtlpError("no OTLP endpoint: pass one or set OTEL_EXPORTER_OTLP_ENDPOINT")
    spans = event_spans(log, origin=origin)
    exporter = OTLPSpanExporter(endpoint=endpoint, timeout=timeout)
    try:
        result = exporter.export(spans) if spans else SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    if result is not SpanExportResult.SUCCESS:
        raise OtlpError(f"the OTLP collector at {endpoint or 'the configured endpoint'} did not accept "
                        f"{len(spans)} spans")
    return len(spans)
