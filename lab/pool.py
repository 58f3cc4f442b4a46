"""Notebook 11: the connection-pool model beside the real psycopg_pool pool on the same bursts.

The real figures come from :func:`sim.poolcal.run_real_burst` (a real ``supreme.db.Database`` pool
on PostgreSQL: ``get_stats()`` counters plus per-request timing).  SQLite -- the embedded default --
has no pool (``Database.pool`` is ``None``), so without PostgreSQL the comparison reads the measured
figures shipped in ``sim/models/defaults/connection_pool_calibration.json`` (machine and date in its
``meta``); with a URL it measures afresh.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from sim import poolcal

__all__ = ["METRICS", "describe", "pool_comparison", "provenance"]

#: (row label, key in the real/sim figures, scale)
METRICS = (
    ("requests", "requests", 1),
    ("served", "served", 1),
    ("timeouts", "timeouts", 1),
    ("queued (requests_queued)", "requests_queued", 1),
    ("connections opened (connections_num)", "connections_num", 1),
    ("wait P50 ms", "wait_p50", 1000),
    ("wait P99 ms", "wait_p99", 1000),
    ("requests_wait_ms", "requests_wait_ms", 1),
    ("usage_ms", "usage_ms", 1),
)


def _label(burst: dict[str, Any], role: str) -> str:
    return f"{role} {burst['rate']:g}/s"


def describe(burst: dict[str, Any]) -> str:
    """One line for a burst: rate, length, hold, pool sizes and timeout."""
    return (
        f"{burst['rate']:g}/s x {burst['duration']:g} s, hold {burst['hold'] * 1000:g} ms, "
        f"pool {burst['min_size']}..{burst['max_size']}, timeout {burst['timeout']:g} s"
    )


def _rows(label: str, real: dict[str, Any], sim: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, key, scale in METRICS:
        r, s = float(real[key]) * scale, float(sim[key]) * scale
        out.append(
            {
                "burst": label,
                "metric": name,
                "real": round(r, 3),
                "sim": round(s, 3),
                "sim/real": round(s / r, 3) if r else float("nan"),
            }
        )
    return out


def pool_comparison(source: str | Path = "shipped", url: str | None = None, seed: int = 0) -> pd.DataFrame:
    """Real vs simulated figures per burst (the calibration burst, then the out-of-sample ones).

    With ``url`` (PostgreSQL) the bursts are run now and calibrated into ``source`` (a path); otherwise
    ``source``'s stored measurements are compared with the model run on its calibration."""
    if url is not None:
        if str(source) == "shipped":
            raise ValueError("a live run writes a calibration: give source a file path, not 'shipped'")
        poolcal.calibrate_pool(url, source)
    doc = poolcal.read_calibration(source)
    rows = _rows(
        _label(doc["burst"], "calibration"),
        doc["real"],
        poolcal.simulate_burst(doc, source=source, seed=seed),
    )
    for v in doc.get("validation", []):
        rows += _rows(
            _label(v["burst"], "out of sample"),
            v["real"],
            poolcal.simulate_burst(doc, v["burst"], source=source, seed=seed),
        )
    return pd.DataFrame(rows).set_index(["burst", "metric"])


def provenance(source: str | Path = "shipped") -> dict[str, Any]:
    """Where and when the real figures were measured, the real pool config and the fitted parameters."""
    doc = poolcal.read_calibration(source)
    m = doc["meta"]
    return {
        "created": m["created"],
        "machine": f"{m['machine']['system']} {m['machine']['machine']}, "
        f"{m['machine']['cpus']} CPUs, Python {m['machine']['python']}",
        "backend": m["backend"],
        "bursts": {_label(b, r): describe(b) for r, b in _bursts(doc)},
        "config": doc["config"],
        "parameters": doc["parameters"],
    }


def _bursts(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("calibration", doc["burst"]),
        *(("out of sample", v["burst"]) for v in doc.get("validation", [])),
    ]
