"""Latency SLA Validation (seed diagram): 1000 requests through the trading-signal model, judged.

The Test_Harness sends ``requests`` open-loop requests through :mod:`sim.models.trading_signal`
(the API_Server and its Cache_System are that model's real components on sim time), the
Metrics_Collector is the event log, and the Validator is the real
:func:`supreme.api.sla.validate` working on the log's ``API_Gateway.request`` rows (nearest-rank
P50/P95/P99 per endpoint, failed requests against ``sla.error_budget``) — the same
:func:`supreme.api.sla.judge` as ``supreme sla``.  Failures come from the trading-signal model's fault
schedule, e.g. ``faults.exchange.error_at = 0`` with ``faults.exchange.error_rate = 0.05`` (a failed
exchange fetch is a 503)::

    Test_Harness.Send test requests -> API_Server.Process requests (the trading_signal rows)
    Metrics_Collector.Record latencies -> Validator.Get latency data
    Validator.Calculate P95, P99 latencies -> Validator.Check against SLAs
    Test_Harness.SLA validation passed | failed (+ Validator.Provide detailed analysis)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from sim.models import trading_signal as ts
from sim.scenario import load_defaults, make_scenario

__all__ = ["DEFAULTS", "FLOW", "NAME", "run", "summarize"]

NAME = "sla_validation"
FLOW = "sla_validation"

DEFAULTS: dict[str, Any] = {**ts.DEFAULTS, **load_defaults(NAME)}


def run(scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Run the load, validate P95/P99 with supreme.api.sla, record the verdict; returns the event log."""
    from supreme.api.sla import SlaConfig, SlaThresholds, analyse, validate

    sc = make_scenario(DEFAULTS, scenario)
    ctx, svc = ts.build(sc)
    log = ctx.log
    n = int(sc["requests"])
    log.record(
        svc.clock.now(),
        FLOW,
        "API_Server",
        "Send test requests",
        detail=json.dumps({"from": "Test_Harness", "n": n}),
    )
    ctx.env.process(ts.clients(ctx, svc, sc))
    ctx.env.run()
    end = svc.clock.now()
    log.record(
        end, FLOW, "Metrics_Collector", "Record latencies", detail=json.dumps({"n": len(svc.latencies)})
    )
    log.record(end, FLOW, "Validator", "Get latency data", detail=json.dumps({"from": "Test_Harness"}))
    frame = log.to_frame()
    limits = SlaThresholds(
        p50=float(sc["sla.p50"]) or None, p95=float(sc["sla.p95"]) or None, p99=float(sc["sla.p99"]) or None,
        error_budget=float(sc["sla.error_budget"]),
    )
    report = validate(frame, SlaConfig(default=limits))
    row = report.table.iloc[0].to_dict() if len(report.table) else {}
    figures = {k: row.get(k) for k in ("n", "errors", "timeouts", "error_rate", "p50", "p95", "p99")}
    log.record(
        end, FLOW, "Validator", "Calculate P95, P99 latencies", detail=json.dumps(figures, default=float)
    )
    verdict = "passed" if report.passed else "failed"
    log.record(
        end,
        FLOW,
        "Validator",
        "Check against SLAs",
        "ok" if report.passed else "error",
        detail=row.get("violations") or None,
    )
    log.record(end, FLOW, "Test_Harness", f"SLA validation {verdict}", "ok" if report.passed else "error")
    if not report.passed:
        worst = analyse(report, frame)
        log.record(
            end,
            FLOW,
            "Test_Harness",
            "Provide detailed analysis",
            "error",
            detail=json.dumps(worst.to_dict("records"), default=str),
        )
    df = ctx.frame()
    df.attrs["sla"] = {"passed": report.passed, **{k: float(v) for k, v in figures.items() if v is not None}}
    return df


def summarize(log: pd.DataFrame) -> dict[str, Any]:
    """Verdict and the percentiles it was based on."""
    return dict(log.attrs.get("sla", {}))
