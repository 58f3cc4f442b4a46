"""Latency SLA validation (seed: "Latency SLA Validation"): percentiles from event logs, judged on thresholds.

The validator works on event-log DataFrames (:data:`supreme.events.COLUMNS`), so the same code judges
a real run and a SimPy run:

* per-request latency = the ``latency`` of rows with ``component`` (default ``API_Gateway``) and
  ``operation`` (default ``request``) — the gateway's total step; grouped by ``key`` (the endpoint);
  a log without such rows falls back to each request id's span (first step start to last step end);
* percentiles are **nearest-rank** (``numpy.percentile(method="inverted_cdf")``): P95 is the smallest
  observed latency with at least 95 % of requests at or below it, so it is always a latency that
  happened and exact on a known sample (1..1000 ms gives P95 = 950 ms, P99 = 990 ms);
* a request that failed (outcome ``error`` — a 5xx or no answer — or ``timeout``) counts against the
  endpoint's **error budget** (default 0.1 %): the verdict fails when ``failed / n`` exceeds it,
  whatever the percentiles say (fast failures would otherwise *improve* them).  A refusal
  (``rejected``, a 4xx) is the client's fault and is counted but not charged.  The latency
  percentiles cover every request, failed or not;
* :func:`judge` is the one verdict — :func:`validate`, ``supreme sla`` and the SimPy model
  :mod:`sim.models.sla_validation` all reach it;
* a violation is analysed by joining the slowest requests with every step of the same request id,
  showing where they spent their time; failed requests are summarised by kind (endpoint, outcome,
  detail) with a count each, so a dead back-end reads as one line, not one per request.

The load that produces a real log comes from :mod:`supreme.api.harness` (the Test_Harness).
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from supreme.config import ConfigError
from supreme.events import COLUMNS

__all__ = [
    "DEFAULT_ERROR_BUDGET", "FAILED_OUTCOMES", "SlaConfig", "SlaReport", "SlaThresholds", "Verdict",
    "analyse", "failure_kinds", "format_report", "judge", "load_event_log", "load_sla_config", "percentile",
    "request_latencies", "validate",
]

#: Request outcomes charged to the error budget.
FAILED_OUTCOMES = ("error", "timeout")
#: Fraction of requests that may fail (0.1 %).
DEFAULT_ERROR_BUDGET = 0.001


@dataclass(frozen=True)
class SlaThresholds:
    """Upper bounds in seconds (None: not checked) and the error budget (fraction of requests, 0 <= b < 1)."""

    p50: float | None = None
    p95: float | None = 0.050
    p99: float | None = 0.100
    error_budget: float = DEFAULT_ERROR_BUDGET

    def __post_init__(self) -> None:
        for name in ("p50", "p95", "p99"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ConfigError(f"SLA threshold {name} must be a positive number of seconds, got {v!r}")
        _check_budget(self.error_budget)

    @classmethod
    def from_ms(cls, p50: float | None, p95: float | None, p99: float | None,
                error_budget_pct: float = DEFAULT_ERROR_BUDGET * 100) -> SlaThresholds:
        """Thresholds given in milliseconds (None: not checked), the error budget in percent."""
        def seconds(ms: float | None) -> float | None:
            return None if ms is None else ms / 1e3

        return cls(p50=seconds(p50), p95=seconds(p95), p99=seconds(p99), error_budget=error_budget_pct / 100)


def _check_budget(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(f"SLA error budget must be a fraction in [0, 1) (0.001 = 0.1 %), got {value!r}")
    return float(value)


@dataclass(frozen=True)
class SlaConfig:
    """Default thresholds plus per-endpoint overrides (endpoint = ``"METHOD /path"``)."""

    default: SlaThresholds = field(default_factory=SlaThresholds)
    endpoints: Mapping[str, SlaThresholds] = field(default_factory=dict)

    def for_endpoint(self, endpoint: str) -> SlaThresholds:
        """The thresholds that apply to ``endpoint``."""
        return self.endpoints.get(endpoint, self.default)


def _thresholds(raw: Mapping[str, Any], where: str, base: SlaThresholds | None = None) -> SlaThresholds:
    known = {"p50_ms", "p95_ms", "p99_ms", "error_budget_pct"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"SLA config {where}: unknown setting(s) {unknown}; use {sorted(known)}")
    base = base if base is not None else SlaThresholds()
    vals: dict[str, float | None] = {}
    for name in ("p50", "p95", "p99"):
        if f"{name}_ms" in raw:
            v = raw[f"{name}_ms"]
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise ConfigError(f"SLA config {where}: {name}_ms must be a number, got {v!r}")
            vals[name] = float(v) / 1000.0
        else:
            vals[name] = getattr(base, name)
    budget = base.error_budget
    if "error_budget_pct" in raw:
        v = raw["error_budget_pct"]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v < 100:
            raise ConfigError(f"SLA config {where}: error_budget_pct must be a number in [0, 100), got {v!r}")
        budget = float(v) / 100.0
    return SlaThresholds(p50=vals["p50"], p95=vals["p95"], p99=vals["p99"], error_budget=budget)


def load_sla_config(path: str | Path) -> SlaConfig:
    """Read ``[default]`` and ``[endpoints."POST /api/v1/trading/signal"]`` tables (TOML or JSON): limits in
    ms (``p95_ms = 50``), the error budget in percent (``error_budget_pct = 0.1``)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        raw = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    except FileNotFoundError:
        raise
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"SLA config {p} is not valid {'JSON' if p.suffix == '.json' else 'TOML'}: {exc}") \
            from exc
    default = _thresholds(raw.get("default", {}), f"{p} [default]")
    endpoints = {str(k): _thresholds(v, f"{p} [endpoints.{k!r}]", default)
                 for k, v in raw.get("endpoints", {}).items()}
    return SlaConfig(default, endpoints)


def load_event_log(path: str | Path) -> pd.DataFrame:
    """An event log saved as Parquet or CSV; checks the shared schema's columns."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such event log: {p}")
    frame = pd.read_parquet(p) if p.suffix in (".parquet", ".pq") else pd.read_csv(p)
    needed = ("request_id", "component", "operation", "key", "latency", "time")
    missing = [c for c in needed if c not in frame]
    if missing:
        raise ConfigError(f"{p} is not an event log: missing columns {missing} (schema: {list(COLUMNS)})")
    return frame


def percentile(values: Sequence[float] | np.ndarray, q: float) -> float:
    """Nearest-rank percentile ``q`` (0-100) of ``values`` (NaN when empty)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return float("nan")
    return float(np.percentile(arr, q, method="inverted_cdf"))


def request_latencies(frame: pd.DataFrame, component: str = "API_Gateway",
                      operation: str = "request") -> pd.DataFrame:
    """One row per request: ``request_id``, ``endpoint``, ``time``, ``latency``, ``outcome``, ``detail``."""
    cols = ["request_id", "endpoint", "time", "latency", "outcome", "detail"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    rows = frame[(frame["component"] == component) & (frame["operation"] == operation)]
    if not rows.empty:
        out = rows[["request_id", "key", "time", "latency", "outcome"]].rename(columns={"key": "endpoint"})
        out["detail"] = rows["detail"].astype("string").fillna("").astype(str) if "detail" in rows else ""
        return out.reset_index(drop=True)
    # no total step: the span of each request's steps
    steps = frame.dropna(subset=["request_id"]).copy()
    if steps.empty:
        return pd.DataFrame(columns=cols)
    steps["start"] = steps["time"] - steps["latency"]
    g = steps.groupby("request_id")
    spans = pd.DataFrame({
        "endpoint": g["flow"].first() if "flow" in steps else "request",
        "time": g["time"].max(),
        "latency": g["time"].max() - g["start"].min(),
        "outcome": g["outcome"].agg(_span_outcome),
        "detail": "",
    }).reset_index()
    return spans[cols]


def _span_outcome(outcomes: pd.Series) -> str:
    # the worst step decides: a timeout anywhere makes the request a timeout, then an error
    for worst in ("timeout", "error"):
        if (outcomes == worst).any():
            return worst
    return "ok"


@dataclass(frozen=True)
class Verdict:
    """The SLA verdict on one endpoint: passed, the failed fraction, and why it failed."""

    passed: bool
    error_rate: float
    violations: tuple[str, ...]


def judge(n: int, failed: int, percentiles: Mapping[str, float], limits: SlaThresholds) -> Verdict:
    """The one SLA verdict: ``n`` > 0, each percentile (``p50``/``p95``/``p99``, seconds) strictly below its
    limit, and ``failed / n`` (errors and timeouts) within the error budget."""
    if n < 0 or not 0 <= failed <= max(n, 0):
        raise ValueError(f"need 0 <= failed <= n, got failed={failed}, n={n}")
    if n == 0:
        return Verdict(False, float("nan"), ("no requests",))
    rate = failed / n
    why: list[str] = []
    if rate > limits.error_budget:
        why.append(f"failed {failed}/{n} = {rate * 100:.3f} % > budget {limits.error_budget * 100:.3f} %")
    for name in ("p50", "p95", "p99"):
        limit = getattr(limits, name)
        value = percentiles.get(name, float("nan"))
        if limit is not None and not value < limit:
            why.append(f"{name} {value * 1e3:.3f} ms >= {limit * 1e3:.3f} ms")
    return Verdict(not why, rate, tuple(why))


@dataclass
class SlaReport:
    """Per-endpoint percentiles and failure counts against thresholds and error budgets."""

    table: pd.DataFrame
    latencies: pd.DataFrame

    @property
    def passed(self) -> bool:
        """True when every endpoint meets its thresholds and its error budget."""
        return bool(len(self.table)) and bool(self.table["passed"].all())

    @property
    def violations(self) -> pd.DataFrame:
        """Rows of endpoints that failed."""
        return self.table[~self.table["passed"]]


_TABLE_COLUMNS = [
    "endpoint", "n", "errors", "timeouts", "rejected", "error_rate", "error_budget", "p50", "p50_limit",
    "p95", "p95_limit", "p99", "p99_limit", "max", "passed", "violations"]


def validate(frame: pd.DataFrame, config: SlaConfig | None = None, *, component: str = "API_Gateway",
             operation: str = "request", error_budget: float | None = None) -> SlaReport:
    """Compute P50/P95/P99 and the failed fraction per endpoint and judge them against ``config``
    (``error_budget``, a fraction, overrides every endpoint's budget when given)."""
    config = config or SlaConfig()
    budget = None if error_budget is None else _check_budget(error_budget)
    lat = request_latencies(frame, component, operation)
    rows: list[dict[str, Any]] = []
    for endpoint, grp in lat.groupby("endpoint", sort=True):
        values = grp["latency"].to_numpy(dtype=np.float64)
        th = config.for_endpoint(str(endpoint))
        if budget is not None:
            th = replace(th, error_budget=budget)
        outcome = grp["outcome"]
        row: dict[str, Any] = {"endpoint": endpoint, "n": int(values.size),
                               "errors": int((outcome == "error").sum()),
                               "timeouts": int((outcome == "timeout").sum()),
                               "rejected": int((outcome == "rejected").sum()),
                               "error_budget": th.error_budget}
        pct = {name: percentile(values, q) for name, q in (("p50", 50.0), ("p95", 95.0), ("p99", 99.0))}
        for name, value in pct.items():
            row[name] = value
            row[f"{name}_limit"] = getattr(th, name)
        verdict = judge(row["n"], row["errors"] + row["timeouts"], pct, th)
        row["error_rate"] = verdict.error_rate
        row["max"] = float(values.max()) if values.size else float("nan")
        row["passed"] = verdict.passed
        row["violations"] = "; ".join(verdict.violations)
        rows.append(row)
    table = pd.DataFrame.from_records(rows, columns=_TABLE_COLUMNS)
    return SlaReport(table=table, latencies=lat)


def failure_kinds(report: SlaReport) -> pd.DataFrame:
    """Failed requests (errors, timeouts) grouped by endpoint, outcome and detail, most frequent first."""
    lat = report.latencies
    bad = lat[lat["outcome"].isin(FAILED_OUTCOMES)]
    cols = ["endpoint", "outcome", "detail", "count"]
    if bad.empty:
        return pd.DataFrame(columns=cols)
    counts = bad.groupby(["endpoint", "outcome", "detail"], sort=False).size().rename("count").reset_index()
    return counts.sort_values(["count", "endpoint"], ascending=[False, True], kind="stable")[cols] \
        .reset_index(drop=True)


def analyse(report: SlaReport, events: pd.DataFrame | None, top: int = 5, steps: int = 4) -> pd.DataFrame:
    """The ``top`` slowest requests of each violating endpoint and the steps they spent time in."""
    out: list[dict[str, Any]] = []
    bad = set(report.violations["endpoint"])
    lat = report.latencies[report.latencies["endpoint"].isin(bad)]
    by_rid: dict[str, pd.DataFrame] = {}
    if events is not None and not events.empty and not lat.empty:
        wanted = set(lat["request_id"].dropna())
        sub = events[events["request_id"].isin(wanted)]
        by_rid = {str(k): g for k, g in sub.groupby("request_id")}
    for endpoint, grp in lat.groupby("endpoint"):
        for _, r in grp.nlargest(top, "latency").iterrows():
            g = by_rid.get(str(r["request_id"]))
            where = ""
            if g is not None:
                inner = g[~((g["component"].isin(["API_Gateway", "Test_Harness"]))
                            & (g["operation"] == "request"))]
                agg = inner.groupby(["component", "operation"])["latency"].sum().nlargest(steps)
                where = ", ".join(f"{name[0]}.{name[1]} {v * 1e3:.2f} ms"  # type: ignore[index]
                                  for name, v in agg.items())
                hit = g[(g["component"] == "API_Gateway") & (g["operation"] == "check_signal_cache")]
                if not hit.empty:
                    where = f"[signal cache {hit['outcome'].iloc[0]}] " + where
            out.append({"endpoint": endpoint, "request_id": r["request_id"], "latency": float(r["latency"]),
                        "outcome": r["outcome"], "steps": where or "(no step rows for this request)"})
    return pd.DataFrame.from_records(out, columns=["endpoint", "request_id", "latency", "outcome", "steps"])


def _ms(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{float(v) * 1e3:.3f}"


def _pct(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{float(v) * 100:.2f}%"


def format_report(report: SlaReport, analysis: pd.DataFrame | None = None, kinds: int = 5) -> str:
    """A pass/fail table (ms, error rate against budget), the ``kinds`` most frequent kinds of failure
    with their counts and, for violations, the slowest requests with their steps."""
    head = f"{'endpoint':<32} {'n':>6} {'err':>5} {'t/o':>4} {'err%':>7} {'budget':>7} {'p50':>9} " \
           f"{'p95':>9} {'/limit':>8} {'p99':>9} {'/limit':>8} {'max':>9}  result"
    lines = ["Latency SLA validation (ms, nearest-rank percentiles; errors and timeouts against the budget)",
             head, "-" * len(head)]
    for _, r in report.table.iterrows():
        lines.append(
            f"{r['endpoint']:<32} {r['n']:>6} {r['errors']:>5} {r['timeouts']:>4} {_pct(r['error_rate']):>7} "
            f"{_pct(r['error_budget']):>7} {_ms(r['p50']):>9} {_ms(r['p95']):>9} {_ms(r['p95_limit']):>8} "
            f"{_ms(r['p99']):>9} {_ms(r['p99_limit']):>8} {_ms(r['max']):>9}  "
            f"{'PASS' if r['passed'] else 'FAIL'}")
    if report.table.empty:
        lines.append("(no requests found in the event log)")
    failed = failure_kinds(report)
    if not failed.empty:
        lines.append(f"Failed requests by kind ({int(failed['count'].sum())} in {len(failed)} kind(s)):")
        for _, f in failed.head(kinds).iterrows():
            detail = f["detail"] or "(no detail)"
            lines.append(f"  {f['count']:>6} x {f['endpoint']} {f['outcome']}: {detail}")
        if len(failed) > kinds:
            rest = failed.iloc[kinds:]
            lines.append(f"  {int(rest['count'].sum()):>6} x in {len(rest)} other kind(s)")
    verdict = "PASSED" if report.passed else "FAILED"
    lines.append(f"SLA validation {verdict}")
    for _, r in report.violations.iterrows():
        lines.append(f"  {r['endpoint']}: {r['violations']}")
    if analysis is not None and not analysis.empty:
        lines.append("Slowest requests of violating endpoints:")
        for _, a in analysis.iterrows():
            lines.append(f"  {a['endpoint']} {a['request_id']} {a['latency'] * 1e3:.3f} ms "
                         f"({a['outcome']}): {a['steps']}")
    return "\n".join(lines)
