"""``supreme events export``: an event log written by ``sim run --out`` or ``replay --pipeline`` as OTLP.

The log's rows become OpenTelemetry spans (one trace per request, each step a span, world, flow and
component as ``supreme.*`` attributes; see :mod:`supreme.monitoring.otlp`): ``--otlp FILE`` writes
OTLP/JSON Lines, ``--otlp-endpoint URL`` sends them to an OTLP/HTTP collector (the standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` variable is used when the option is ``-`` ).  ``sim run`` and
``replay --pipeline`` take the same two options for the run they make.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_otlp", "export_otlp", "register"]


def add_otlp(parser: argparse.ArgumentParser) -> None:
    """The OTLP options: ``--otlp FILE``, ``--otlp-endpoint URL``, ``--otlp-origin SECONDS``."""
    group = parser.add_argument_group("OpenTelemetry export")
    group.add_argument("--otlp", type=Path, metavar="FILE",
                       help="write the event log as OTLP/JSON spans (one ExportTraceServiceRequest per line)")
    group.add_argument("--otlp-endpoint", metavar="URL",
                       help="send the spans to this OTLP/HTTP collector (/v1/traces is appended); '-' "
                            "uses OTEL_EXPORTER_OTLP_ENDPOINT")
    group.add_argument("--otlp-origin", type=float, metavar="SECONDS",
                       help="Unix seconds of clock time 0 (default: 0 for Unix-like times, "
                            "2026-01-01T00:00:00Z for a simulation's clock)")


def export_otlp(args: argparse.Namespace, log: Any) -> list[str]:
    """Export ``log`` as the OTLP options ask; returns one line per export done, for the summary."""
    from supreme.monitoring.otlp import export_endpoint, write_otlp_json

    done = []
    if getattr(args, "otlp", None) is not None:
        path = write_otlp_json(log, args.otlp, origin=args.otlp_origin)
        done.append(f"OTLP/JSON spans written to {path}")
    endpoint = getattr(args, "otlp_endpoint", None)
    if endpoint is not None:
        n = export_endpoint(log, None if endpoint == "-" else endpoint, origin=args.otlp_origin)
        done.append(f"{n} spans sent to {endpoint if endpoint != '-' else 'OTEL_EXPORTER_OTLP_ENDPOINT'}")
    return done


def register(subparsers: Any) -> None:
    """Add ``supreme events`` and its ``export`` sub-command."""
    p = subparsers.add_parser("events", help="work with a written event log (export as OpenTelemetry spans)",
                              description=__doc__)
    sub = p.add_subparsers(dest="events_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    ex = sub.add_parser("export", help="export an event log (.parquet or .csv) as OTLP spans",
                        description=__doc__)
    ex.add_argument("log", type=Path, help="event log file: .parquet or .csv in the event-log schema")
    add_otlp(ex)
    ex.set_defaults(func=_export)


def _read(path: Path) -> Any:
    """The event log file as a DataFrame (an unknown suffix is an error naming the two known)."""
    import pandas as pd

    if not path.exists():
        raise FileNotFoundError(f"no such event log: {path}")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        frame = pd.read_csv(path, dtype={"request_id": "string", "key": "string", "tier": "string",
                                         "detail": "string"})
        return frame.astype(object).where(frame.notna(), None).astype(
            {"time": "float64", "latency": "float64", "bytes": "int64"})
    raise ValueError(f"{path}: an event log is .parquet or .csv, not {path.suffix or 'no suffix'!r}")


def _export(args: argparse.Namespace) -> int:
    if args.otlp is None and args.otlp_endpoint is None:
        raise ValueError("nothing to do: give --otlp FILE and/or --otlp-endpoint URL")
    log = _read(args.log)
    print(f"{args.log}: {len(log)} events, {log['request_id'].nunique()} requests")
    for line in export_otlp(args, log):
        print(line)
    return 0
