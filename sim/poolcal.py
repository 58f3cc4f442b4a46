"""The connection-pool model calibrated on the real ``psycopg_pool`` pool of :class:`supreme.db.Database`.

* :func:`pool_config` reads a real ``psycopg_pool.ConnectionPool``'s configuration (``min_size``,
  ``max_size``, ``timeout``, ``max_idle``, ``max_lifetime``, ``max_waiting``, ``reconnect_timeout``,
  ``num_workers``); :func:`default_pool_config` is what ``Database`` builds by default, read from the
  signatures of ``Database`` and ``ConnectionPool`` (no server needed).
* :func:`run_real_burst` drives a real ``Database`` on PostgreSQL with an open-loop burst (request *i*
  due at ``i / rate``, each holding its connection for ``SELECT pg_sleep(hold)``; no table is created)
  and returns the pool's own ``get_stats()`` counters plus per-request timing: the wait inside
  ``getconn`` (the pool's queue and check; what the model simulates) and, apart, the wait from the
  due time (the load generator's thread start lag included, so a late start is not hidden).
* :func:`calibrate_from_stats` turns the counters into the model's parameters: connect time
  ``connections_ms / connections_num``, service time ``usage_ms / served`` (the shape of the measured
  holds, rescaled to that mean), check cost (the median ``getconn`` time of sequential requests
  before the burst, which find an idle connection: psycopg_pool's counters leave the check out) and
  hand-off cost (the saturated pool's cycle from the grant times, less service and check).
  psycopg_pool floors each duration to whole ms before adding it, so 0.5 ms per event is
  added back.
* The calibration is a sidecar JSON (format :data:`CAL_FORMAT`, schema :data:`CAL_SCHEMA_VERSION`,
  checked on read like the latency book's): the real config, workload, raw stats, the real figures
  (with the machine and date) and the latency specs; :func:`calibration_book` loads the specs for the
  model's ``pool.calibration`` key, :func:`scenario_from_calibration` gives the model scenario that
  replays the same burst on the same configuration.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import json
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.book import compact_json, machine_info
from sim.latency import Constant, Empirical, LatencyBook, LatencyError, model_from_spec

__all__ = [
    "CAL_FORMAT",
    "CAL_SCHEMA_VERSION",
    "CONFIG_KEYS",
    "SHIPPED_CALIBRATION",
    "VALIDATION_BURST",
    "Burst",
    "calibrate_from_stats",
    "calibrate_pool",
    "calibration_book",
    "default_pool_config",
    "pool_config",
    "read_calibration",
    "real_figures",
    "resolve_calibration",
    "run_real_burst",
    "scenario_from_calibration",
    "simulate_burst",
    "write_calibration",
]

CAL_FORMAT = "supreme.pool_calibration"
CAL_SCHEMA_VERSION = 1
SHIPPED_CALIBRATION = "connection_pool_calibration.json"  # in sim/models/defaults
CONFIG_KEYS = (
    "min_size",
    "max_size",
    "timeout",
    "max_idle",
    "max_lifetime",
    "max_waiting",
    "reconnect_timeout",
    "num_workers",
)


@dataclass(frozen=True)
class Burst:
    """An open-loop burst: ``rate`` requests/s for ``duration`` s, each holding a connection ``hold`` s,
    on a pool of ``min_size``..``max_size`` with an acquire ``timeout`` (``Database``'s keywords)."""

    rate: float = 300.0
    duration: float = 1.0
    hold: float = 0.02
    min_size: int = 1
    max_size: int = 4
    timeout: float = 0.5

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.duration <= 0 or self.hold < 0:
            raise ValueError(f"burst needs rate > 0, duration > 0, hold >= 0, got {self}")

    @property
    def n(self) -> int:
        """Requests in the burst."""
        return round(self.duration * self.rate)


def pool_config(pool: Any) -> dict[str, Any]:
    """The configuration of a real ``psycopg_pool.ConnectionPool`` (its own attributes)."""
    out = {k: getattr(pool, k) for k in CONFIG_KEYS}
    out["check"] = getattr(getattr(pool, "_check", None), "__name__", None)
    return out


def default_pool_config() -> dict[str, Any]:
    """What ``supreme.db.Database`` gives its pool by default: its own size/timeout defaults, the rest
    ``psycopg_pool.ConnectionPool``'s defaults, and its ``check_connection`` check."""
    from psycopg_pool import ConnectionPool

    from supreme.db import Database

    db = inspect.signature(Database.__init__).parameters
    cp = inspect.signature(ConnectionPool.__init__).parameters
    out = {k: (db[k] if k in db else cp[k]).default for k in CONFIG_KEYS}
    out["check"] = "check_connection"
    return out


def _redact(url: str) -> str:
    from supreme.db import _redact as redact

    return redact(url)


def run_real_burst(url: str, burst: Burst = Burst(), name: str | None = None) -> dict[str, Any]:
    """Drive a real ``Database`` pool on PostgreSQL ``url`` with ``burst``; its config, stats and timing."""
    from supreme.db import Database, DatabaseUnavailable

    if not url.startswith(("postgresql://", "postgres://")):
        raise ValueError(f"the pool run needs a PostgreSQL URL (SQLite has no pool), got {_redact(url)!r}")
    name = name or f"supreme_poolcal_{uuid.uuid4().hex[:8]}"
    db = Database(url, min_size=burst.min_size, max_size=burst.max_size, timeout=burst.timeout, name=name)
    n = burst.n
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    try:
        config = pool_config(db.pool)
        idle_acquire = []  # one request at a time: getconn finds an idle connection, so this is the check
        for _ in range(20):
            t0 = time.perf_counter()
            with db.connection() as conn:
                idle_acquire.append(time.perf_counter() - t0)
                conn.execute("SELECT pg_sleep(0)")
        stats0 = db.pool.pop_stats()  # counters from here on are the burst's (open + warm-up popped)
        base = time.perf_counter() + 0.05

        def one(i: int, due: float) -> None:
            start = time.perf_counter()
            try:
                with db.connection() as conn:
                    got = time.perf_counter()
                    conn.execute("SELECT pg_sleep(%s)", (burst.hold,))
                    done = time.perf_counter()
                rows[i] = {
                    "due": due - base,
                    "start": start - due,
                    "wait": got - due,
                    "acquire": got - start,
                    "hold": done - got,
                    "outcome": "ok",
                }
            except DatabaseUnavailable as exc:
                end = time.perf_counter()
                outcome = "timeout" if "no PostgreSQL connection" in str(exc) else "error"
                rows[i] = {
                    "due": due - base,
                    "start": start - due,
                    "wait": end - due,
                    "acquire": end - start,
                    "hold": np.nan,
                    "outcome": outcome,
                }

        threads = []
        for i in range(n):
            due = base + i / burst.rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            t = threading.Thread(target=one, args=(i, due), daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join(timeout=burst.timeout + burst.hold + 30.0)
        stats = dict(db.pool.get_stats())
    finally:
        db.close()
    return {
        "config": config,
        "burst": asdict(burst),
        "stats": stats,
        "open_stats": dict(stats0),
        "timings": pd.DataFrame(rows),
        "idle_acquire": idle_acquire,
        "backend": _redact(url),
    }


def calibrate_from_stats(
    stats: dict[str, int],
    timings: pd.DataFrame,
    open_stats: dict[str, int] | None = None,
    idle_acquire: list[float] | None = None,
    max_size: int | None = None,
) -> dict[str, Any]:
    """Model parameters from psycopg_pool's counters (and the per-request timing for shapes); the
    check cost is the median ``getconn`` time with an idle connection (``idle_acquire``), else the
    measured acquire time beyond ``requests_wait_ms`` per request.  With ``max_size``, the hand-off
    cost (how late a waiting client wakes up once given a connection; not in the counters) is the
    saturated pool's cycle -- ``max_size`` over the rate of grants to deeply queued requests -- less
    the service time and the check."""
    conns = int(stats.get("connections_num", 0)) + int((open_stats or {}).get("connections_num", 0))
    conn_ms = int(stats.get("connections_ms", 0)) + int((open_stats or {}).get("connections_ms", 0))
    errors = int(stats.get("requests_errors", 0))
    served = int(stats.get("requests_num", 0)) - errors
    if served < 1 or conns < 1:
        raise ValueError(f"pool stats have no served request or no connection to calibrate from: {stats}")
    connect = (conn_ms + 0.5 * conns) / 1000.0 / conns
    usage = (int(stats.get("usage_ms", 0)) + 0.5 * served) / 1000.0 / served
    queued = int(stats.get("requests_queued", 0))
    wait_total = (int(stats.get("requests_wait_ms", 0)) + 0.5 * queued) / 1000.0
    if idle_acquire:
        check = float(np.median(idle_acquire))
    else:
        check = max(0.0, (float(timings["acquire"].sum()) - wait_total) / max(1, len(timings)))
    handoff = 0.0
    ok = timings[timings["outcome"] == "ok"]
    if max_size and {"due", "wait"} <= set(ok.columns):
        deep = np.sort((ok["due"] + ok["wait"]).to_numpy(float)[ok["wait"].to_numpy(float) > 5 * usage])
        if deep.size >= 20 and deep[-1] > deep[0]:
            handoff = max(0.0, max_size * (deep[-1] - deep[0]) / (deep.size - 1) - usage - check)
    holds = ok["hold"].to_numpy(float)
    shape = holds / holds.mean() if holds.size and holds.mean() > 0 else np.ones(1)
    return {
        "connect_s": connect,
        "usage_s": usage,
        "check_s": check,
        "handoff_s": handoff,
        "served": served,
        "connections": conns,
        "latency": {"pool.connect": Constant(connect).spec(), "pool.usage": Empirical(shape * usage).spec()},
    }


def real_figures(run: dict[str, Any]) -> dict[str, Any]:
    """The real burst's figures: requests, served, timeouts, wait P50/P99 (s, served requests: the time
    inside ``getconn``, queue and check; the load generator's start lag is reported apart)."""
    t = run["timings"]
    ok = t.loc[t["outcome"] == "ok", "acquire"].to_numpy(float)
    due = t.loc[t["outcome"] == "ok", "wait"].to_numpy(float)
    return {
        "requests": len(t),
        "served": int(ok.size),
        "timeouts": int((t["outcome"] == "timeout").sum()),
        "errors": int((t["outcome"] == "error").sum()),
        "wait_p50": float(np.percentile(ok, 50)) if ok.size else 0.0,
        "wait_p99": float(np.percentile(ok, 99)) if ok.size else 0.0,
        "wait_from_due_p99": float(np.percentile(due, 99)) if due.size else 0.0,
        "start_lag_p50": float(np.percentile(t["start"], 50)),
        "start_lag_p99": float(np.percentile(t["start"], 99)),
        **{k: int(v) for k, v in run["stats"].items()},
    }


def write_calibration(
    path: str | Path,
    run: dict[str, Any],
    calibration: dict[str, Any],
    validation: list[dict[str, Any]] | None = None,
) -> Path:
    """Save the sidecar: provenance, the real config, burst, stats, real figures and latency specs;
    ``validation`` runs (other bursts, not calibrated on) keep their burst, stats and real figures."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "format": CAL_FORMAT,
        "schema_version": CAL_SCHEMA_VERSION,
        "meta": {
            "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": machine_info(),
            "backend": run["backend"],
            "note": "sim.poolcal.run_real_burst on supreme.db.Database (psycopg_pool); "
            "parameters from the pool's get_stats() counters",
        },
        "config": run["config"],
        "burst": run["burst"],
        "stats": run["stats"],
        "open_stats": run.get("open_stats", {}),
        "real": real_figures(run),
        "parameters": {k: v for k, v in calibration.items() if k != "latency"},
        "latency": calibration["latency"],
        "validation": [
            {"burst": v["burst"], "stats": v["stats"], "real": real_figures(v)} for v in validation or []
        ],
    }
    path.write_text(compact_json(doc))
    return path


def resolve_calibration(value: str | Path) -> Path:
    """The file a ``pool.calibration`` value names (``"shipped"``: the measured one in the repo)."""
    if str(value) == "shipped":
        return Path(str(resources.files("sim.models").joinpath("defaults", SHIPPED_CALIBRATION)))
    return Path(value).expanduser()


def read_calibration(value: str | Path = "shipped") -> dict[str, Any]:
    """A calibration document, its format and schema version checked."""
    path = resolve_calibration(value)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise LatencyError(f"pool calibration {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LatencyError(f"{path}: not a pool calibration JSON file ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != CAL_FORMAT:
        fmt = doc.get("format") if isinstance(doc, dict) else None
        raise LatencyError(f"{path}: not a pool calibration (format {fmt!r}, expected {CAL_FORMAT!r})")
    if doc.get("schema_version") != CAL_SCHEMA_VERSION:
        raise LatencyError(
            f"{path}: pool calibration schema version {doc.get('schema_version')!r} is "
            f"not the supported {CAL_SCHEMA_VERSION}; re-run sim.poolcal"
        )
    return doc


def calibration_book(value: str | Path) -> LatencyBook:
    """The calibration's latency models (``pool.connect``, ``pool.usage``) as a book."""
    doc = read_calibration(value)
    return LatencyBook({k: model_from_spec(spec) for k, spec in doc["latency"].items()})


def scenario_from_calibration(
    doc: dict[str, Any], source: str | Path = "shipped", seed: int = 0
) -> dict[str, Any]:
    """The model scenario replaying the calibration's burst on its real pool configuration."""
    cfg, burst, par = doc["config"], doc["burst"], doc["parameters"]
    return {
        "seed": seed,
        "pool.growth": "psycopg",
        "pool.calibration": str(source),
        "pool.min_size": int(cfg["min_size"]),
        "pool.max_size": int(cfg["max_size"]),
        "pool.timeout": float(cfg["timeout"]),
        "pool.max_idle": float(cfg["max_idle"]),
        "pool.max_waiting": int(cfg["max_waiting"]),
        "load.pattern": "uniform",
        "load.rate": float(burst["rate"]),
        "duration": float(burst["duration"]),
        "db.connect_key": "pool.connect",
        "query.key": "pool.usage",
        "query.scale": 1.0,
        "health.check_cost": float(par["check_s"]),
        "pool.handoff_cost": float(par.get("handoff_s", 0.0)),
        "health.fail_prob": 0.0,
    }


#: A lighter burst (no timeouts: its P99 is not pinned by the timeout) checked out of sample.
VALIDATION_BURST = Burst(rate=170.0)


def calibrate_pool(
    url: str, out: str | Path, burst: Burst = Burst(), validation: tuple[Burst, ...] = (VALIDATION_BURST,)
) -> dict[str, Any]:
    """Run ``burst`` (calibrated on) and the ``validation`` bursts on PostgreSQL; save and return the doc."""
    run = run_real_burst(url, burst)
    cal = calibrate_from_stats(
        run["stats"], run["timings"], run["open_stats"], run["idle_acquire"], int(run["config"]["max_size"])
    )
    checks = [run_real_burst(url, b) for b in validation]
    return read_calibration(write_calibration(out, run, cal, checks))


def simulate_burst(
    doc: dict[str, Any], burst: dict[str, Any] | None = None, source: str | Path = "shipped", seed: int = 0
) -> dict[str, Any]:
    """The model on ``doc``'s pool config and calibration, replaying ``burst`` (default: the calibration
    burst): its summary plus its psycopg_pool-style counters."""
    from sim.runner import get_model, run_model

    sc = scenario_from_calibration(doc, source, seed)
    if burst is not None:
        sc.update({"load.rate": float(burst["rate"]), "duration": float(burst["duration"])})
        if (burst["min_size"], burst["max_size"], burst["timeout"]) != (
            sc["pool.min_size"],
            sc["pool.max_size"],
            sc["pool.timeout"],
        ):
            sc.update(
                {
                    "pool.min_size": int(burst["min_size"]),
                    "pool.max_size": int(burst["max_size"]),
                    "pool.timeout": float(burst["timeout"]),
                }
            )
        if burst["hold"] != doc["burst"]["hold"]:
            sc["query.scale"] = (
                float(burst["hold"]) / float(doc["burst"]["hold"]) if doc["burst"]["hold"] else 1.0
            )
    log = run_model("connection_pool", sc)
    return {**get_model("connection_pool").summarize(log), **log.attrs["pool"]}
