"""Notebook 06: P50/P95/P99 of the signal flow — the real app in process vs the simulation — and the verdict.

Real: :func:`supreme.api.harness.in_process_run` sends an open-loop load of signed ``POST
/api/v1/trading/signal`` requests through ``httpx.ASGITransport`` into the real FastAPI app over fresh
embedded back-ends; the server's event log (``API_Gateway``/``request`` rows) is judged by the real
:func:`supreme.api.sla.validate`.  Simulated: :mod:`sim.models.sla_validation` (the trading-signal model,
the same validator).  Real latencies are wall-clock and change run to run: their callers print them
marked ``(live)`` for the sanitiser; the simulated figures are exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.runner import get_model, run_model
from supreme.api.harness import harness_services, in_process_run
from supreme.api.sla import SlaConfig, SlaThresholds, request_latencies, validate

__all__ = [
    "book_info", "book_path", "calibrated_conclusion", "compare_worlds", "conclusion", "measure_real",
    "plot_latency", "run_calibrated", "run_sim", "sla_config", "stored_real", "verdicts",
]


def sla_config(p95: float = 0.050, p99: float = 0.100) -> SlaConfig:
    """The seed's SLA: P95 < 50 ms, P99 < 100 ms (seconds here)."""
    return SlaConfig(default=SlaThresholds(p50=None, p95=p95, p99=p99))


def measure_real(
    n: int = 400, rate: float = 100.0, concurrency: int = 16, warmup: int = 40
) -> dict[str, Any]:
    """The in-process app under an open-loop load after ``warmup`` unmeasured requests (imports, JIT,
    first connections); the server log, the per-request latencies, the report.

    Runs in a worker thread: ``asyncio.run`` cannot start inside a running loop (e.g. a Jupyter kernel).
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_measure_real, n, rate, concurrency, warmup).result()


def _measure_real(n: int, rate: float, concurrency: int, warmup: int) -> dict[str, Any]:
    with harness_services() as services:
        if warmup:
            in_process_run(warmup, rate=rate, concurrency=concurrency, services=services)
            services.event_log.clear()
        harness, server = in_process_run(n, rate=rate, concurrency=concurrency, services=services)
    report = validate(server, sla_config())
    return {
        "harness": harness,
        "server": server,
        "report": report,
        "latencies": request_latencies(server)["latency"].to_numpy(float),
    }


def run_sim(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The simulated SLA validation run (event log; verdict in ``attrs['sla']``)."""
    return run_model("sla_validation", {"requests": n, "seed": seed})


def plot_latency(real: np.ndarray, sim_log: pd.DataFrame, config: SlaConfig | None = None) -> Any:
    """ECDFs of per-request latency, real and simulated, with the P95/P99 limits."""
    import matplotlib.pyplot as plt

    cfg = config or sla_config()
    sim = request_latencies(sim_log)["latency"].to_numpy(float)
    fig, ax = plt.subplots(figsize=(9, 3.8))
    for name, lat in (("real", real), ("sim", sim)):
        x = np.sort(lat) * 1e3
        ax.step(x, np.arange(1, x.size + 1) / x.size, where="post", label=name)
    for name in ("p95", "p99"):
        limit = getattr(cfg.default, name)
        ax.axvline(limit * 1e3, ls=":", color="gray")
        ax.text(limit * 1e3, 0.05, f" {name.upper()} limit", rotation=90, fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("request latency (ms)")
    ax.set_ylabel("fraction of requests")
    ax.set_title("signal requests: latency distribution, real vs simulated")
    ax.legend()
    fig.tight_layout()
    return fig


def conclusion(real: dict[str, Any], sim_log: pd.DataFrame) -> str:
    """Both verdicts; the real percentiles are marked live."""
    s = get_model("sla_validation").summarize(sim_log)
    r = real["report"].table
    lines = [
        f"- sim: {int(s['n'])} requests, P50 {s['p50'] * 1e3:.3f} ms, P95 {s['p95'] * 1e3:.3f} ms, "
        f"P99 {s['p99'] * 1e3:.3f} ms — SLA passed: {s['passed']}."
    ]
    for row in r.itertuples():
        lines.append(
            f"- real {row.endpoint}: {row.n} requests, {row.errors} errors, P50 {row.p50 * 1e3:.2f} ms "
            f"(live), P95 {row.p95 * 1e3:.2f} ms (live), P99 {row.p99 * 1e3:.2f} ms (live) — "
            f"verdict (live): {'passed' if row.passed else 'failed'}."
        )
    real_p50 = float(np.median(real["latencies"]))
    lines.append(
        f"- the simulation's P50 is {real_p50 / s['p50']:.1f}x (live) below the real one: the sim model is "
        "not calibrated for the in-process HTTP path (ASGI, signing, JSON), so its absolute figures "
        "are a floor, not a prediction."
    )
    return "\n".join(lines)


# ---- sim vs real after calibration, from the committed latency book (deterministic) ------------------


def book_path(path: str | None = None) -> Any:
    """The latency book to use: ``path``; ``"default"``: the models' default (yours after ``supreme sim
    calibrate``); None: the shipped measured book, so a notebook gives the same numbers on every machine."""
    from pathlib import Path

    from sim.book import default_book_path, shipped_book_path

    if path == "default":
        return default_book_path()
    return Path(path) if path else shipped_book_path()


def book_info(path: Any) -> pd.Series:
    """Where and when the book was measured (its metadata)."""
    from sim.book import read_book

    meta = read_book(path)["meta"]
    m = meta["machine"]
    machine = f"{m['system']} {m['machine']}, {m['cpus']} CPUs"
    return pd.Series({"created": meta["created"], "machine": machine, "python": m["python"],
                      "redis": meta["backends"]["redis"],
                      "database": meta["backends"]["database"]})


def stored_real(path: Any) -> pd.DataFrame:
    """The real run of the validation workload kept in the book, as the gateway's ``API_Gateway``/``request``
    rows (what :func:`supreme.api.sla.validate` judges)."""
    from sim.book import read_book
    from supreme.events import EventLog

    val = read_book(path)["meta"]["validation"]["trading_signal"]
    log = EventLog(run_id="stored-real", world="real")
    t = 0.0
    for i, (lat, detail) in enumerate(zip(val["latency"], val["detail"], strict=True)):
        status = int(str(detail).split("=")[1])
        outcome = "ok" if status < 400 else ("rejected" if status < 500 else "error")
        t += 1.0
        log.record(t, "request_pipeline", "API_Gateway", "request", outcome, request_id=f"r{i + 1}",
                   key="POST /api/v1/trading/signal", latency=float(lat), detail=detail)
    frame = log.to_frame()
    frame.attrs["seed"] = int(val["seed"])
    return frame


def run_calibrated(path: Any, seed: int = 0) -> pd.DataFrame:
    """The trading-signal model on the validation workload (one worker, one core, fakeredis + SQLite)."""
    from sim.validate import scenario_for

    return run_model("trading_signal", scenario_for("trading_signal", {"latency.book": str(path)}, seed=seed))


def compare_worlds(real: pd.DataFrame, sim: pd.DataFrame, sim_other_seed: pd.DataFrame) -> pd.DataFrame:
    """P50/P95/P99 (ms), relative errors and KS distance: sim vs real, and sim vs sim (another seed)."""
    from scipy import stats

    def lat(frame: pd.DataFrame) -> np.ndarray:
        return request_latencies(frame)["latency"].to_numpy(float)

    rows = []
    pairs = (("sim vs real", lat(real), lat(sim)), ("sim vs sim (seed+1)", lat(sim), lat(sim_other_seed)))
    for label, a, b in pairs:
        row: dict[str, Any] = {"compare": label}
        for p in (50, 95, 99):
            pa, pb = float(np.percentile(a, p)), float(np.percentile(b, p))
            row[f"p{p}_ref_ms"], row[f"p{p}_other_ms"] = round(pa * 1e3, 3), round(pb * 1e3, 3)
            row[f"p{p}_err"] = round((pb - pa) / pa, 3)
        row["ks"] = round(float(stats.ks_2samp(a, b).statistic), 3)
        rows.append(row)
    return pd.DataFrame(rows).set_index("compare")


def verdicts(real: pd.DataFrame, sim: pd.DataFrame, config: SlaConfig | None = None) -> pd.DataFrame:
    """The real validator's verdict on both worlds (P95 < 50 ms, P99 < 100 ms), percentiles in ms."""
    cfg = config or sla_config()
    out = {}
    for name, frame in (("real (stored run)", real), ("sim", sim)):
        row = validate(frame, cfg).table.iloc[0]
        out[name] = {"n": int(row.n), "errors": int(row.errors), "p50_ms": round(row.p50 * 1e3, 3),
                     "p95_ms": round(row.p95 * 1e3, 3), "p99_ms": round(row.p99 * 1e3, 3),
                     "passed": bool(row.passed)}
    return pd.DataFrame(out).T


def calibrated_conclusion(table: pd.DataFrame, judged: pd.DataFrame, tolerance: float = 0.10) -> str:
    """The computed conclusion: which of the issue's targets hold, and whether both worlds agree."""
    s, f = table.loc["sim vs real"], table.loc["sim vs sim (seed+1)"]

    def ok(flag: bool) -> str:
        return "met" if flag else "NOT met"

    real_ok, sim_ok = bool(judged.loc["real (stored run)", "passed"]), bool(judged.loc["sim", "passed"])
    lines = [
        f"- P50: sim {s['p50_other_ms']:.3f} ms vs real {s['p50_ref_ms']:.3f} ms, error {s['p50_err']:+.1%} "
        f"(target within {tolerance:.0%}: {ok(abs(s['p50_err']) <= tolerance)}).",
        f"- P99: sim {s['p99_other_ms']:.3f} ms vs real {s['p99_ref_ms']:.3f} ms, error {s['p99_err']:+.1%} "
        f"(target: {ok(abs(s['p99_err']) <= tolerance)}; the seed noise floor alone moves P99 by "
        f"{f['p99_err']:+.1%}).",
        f"- KS distance {s['ks']:.3f} against a seed noise floor of {f['ks']:.3f} "
        f"(target within 2x: {ok(bool(s['ks'] <= 2 * f['ks']))}).",
        f"- SLA (P95 < 50 ms, P99 < 100 ms): real {'passed' if real_ok else 'failed'}, "
        f"sim {'passed' if sim_ok else 'failed'} -- the model "
        + ("gives the real verdict." if real_ok == sim_ok else "does NOT give the real verdict."),
    ]
    return "\n".join(lines)
