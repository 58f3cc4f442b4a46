"""Calibrate the models on this machine and validate them against the real service.

:func:`calibrate_book` runs the real code on a *calibration* workload (seed ``seed + 1000``, so the
validation below never compares a log with itself) and writes the latency book (:mod:`sim.book`):

* ``trading_signal``: one real run of the :class:`~supreme.api.pipeline.SignalPipeline`
  (:func:`sim.realsignal.run_real_signal`): tier I/O and per-request CPU, in situ;
* ``cache_hierarchy``: one real run of the cache workload (:func:`sim.realrun.run_real`), in situ;
* shared: the tight-loop figures of :func:`sim.calibrate.calibrate` (fakeredis, SQLite, L1, and the
  real servers when URLs are given).

:func:`validate` runs the real service and the model on the *same* workload (scenario and seed) and
returns, for the end-to-end request latency, P50/P95/P99 of both, their relative errors, the KS
distance, and the seed noise floor: the same figures for the model against itself with another seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sim.errors import SimError

__all__ = ["VALIDATED", "calibrate_book", "scenario_for", "validate", "verdict"]

#: Models ``supreme sim validate`` knows.
VALIDATED = ("trading_signal", "cache_hierarchy")
PERCENTILES = (50, 95, 99)


def scenario_for(model: str, overrides: Mapping[str, Any] | None = None, *, real_servers: bool = False,
                 seed: int = 0) -> dict[str, Any]:
    """The model's validated scenario: the real run's shape (one worker, one core, its back-ends)."""
    from sim.scenario import make_scenario

    backends = ({"l2.backend": "redis", "l3.backend": "postgresql"} if real_servers
                else {"l2.backend": "fakeredis", "l3.backend": "sqlite", "cpu.in_process_io": True})
    if model == "trading_signal":
        from sim.models.trading_signal import DEFAULTS

        base = {"api.workers": 1, "cpu.workers": 1, **backends}
    elif model == "cache_hierarchy":
        from sim.models.cache_hierarchy import DEFAULTS

        # validation is of the calibrated book: load it as trading_signal does by default
        base = {"cache.l1.capacity": 100, "source.key": "source.fetch", "latency.book": "default", **backends}
    else:
        raise SimError(f"no validation for model {model!r}; validated: {', '.join(VALIDATED)}")
    return make_scenario(DEFAULTS, {**base, **(overrides or {}), "seed": seed})


def _real(model: str, sc: Mapping[str, Any], redis_url: str | None, database_url: str | None) -> np.ndarray:
    """End-to-end latencies of the real run of ``sc``."""
    if model == "trading_signal":
        from sim.realsignal import run_real_signal

        return np.asarray(run_real_signal(sc, redis_url=redis_url, database_url=database_url)
                          .attrs["latencies"], dtype=float)
    from sim.realrun import run_real
    from sim.workload import keys_for

    keys = keys_for(str(sc["workload.name"]), int(sc["workload.n"]), int(sc["seed"]))
    log = run_real(keys, capacity=int(sc["cache.l1.capacity"]), rate=float(sc["workload.rate"]),
                   seed=int(sc["seed"]), redis_url=redis_url, database_url=database_url)
    return _responses(log)


def _responses(log: pd.DataFrame) -> np.ndarray:
    rows = log[((log["component"] == "Application") & (log["operation"] == "response"))
               | ((log["component"] == "API_Gateway") & (log["operation"] == "request"))]
    return rows["latency"].to_numpy(float)


def _sim(model: str, sc: Mapping[str, Any]) -> np.ndarray:
    from sim.runner import run_model

    if model == "cache_hierarchy":  # the real run's keys are seeded by the scenario's seed
        sc = {**sc, "workload.seed": int(sc["seed"])}
    log = run_model(model, dict(sc))
    return _responses(log)


def calibrate_book(out: str | Path, *, redis_url: str | None = None, database_url: str | None = None,
                   requests: int = 4000, n: int = 300, seed: int = 0,
                   overrides: Mapping[str, Any] | None = None) -> Path:
    """Measure the real code on this machine (calibration seed ``seed + 1000``); write the book."""
    from sim.book import cpu_from_log, io_from_log, step_cpu, wake_from_log, write_book
    from sim.calibrate import calibrate
    from sim.realrun import calibrate_from_log, run_real
    from sim.realsignal import backends_label, run_real_signal
    from sim.workload import keys_for

    real_servers = bool(redis_url or database_url)
    cal_seed = seed + 1000
    sc = scenario_for("trading_signal", {"requests": requests, **(overrides or {})},
                      real_servers=real_servers, seed=cal_seed)
    signal_log = run_real_signal(sc, redis_url=redis_url, database_url=database_url)
    signal = {**io_from_log(signal_log), **cpu_from_log(signal_log), **wake_from_log(signal_log)}
    hc = scenario_for("cache_hierarchy", real_servers=real_servers, seed=cal_seed)
    cache_log = run_real(keys_for(str(hc["workload.name"]), int(hc["workload.n"]), cal_seed),
                         capacity=int(hc["cache.l1.capacity"]), rate=float(hc["workload.rate"]),
                         seed=cal_seed, redis_url=redis_url, database_url=database_url)
    cache = {**{k: calibrate_from_log(cache_log)[k] for k in calibrate_from_log(cache_log)},
             **cpu_from_log(cache_log, "cache_hierarchy"), **wake_from_log(cache_log, "cache_hierarchy")}
    shared = calibrate(redis_url=redis_url, database_url=database_url, n=n)
    # the real run of the validation workload (seed), kept in the book so a notebook can compare the
    # model with a stored real measurement and stay deterministic
    val_sc = scenario_for("trading_signal", {"requests": requests, **(overrides or {})},
                          real_servers=real_servers, seed=seed)
    val_log = run_real_signal(val_sc, redis_url=redis_url, database_url=database_url)
    closing = val_log[(val_log["component"] == "API_Gateway") & (val_log["operation"] == "request")]
    validation = {"trading_signal": {
        "seed": seed, "requests": len(closing), "outcomes": val_log.attrs["outcomes"],
        "latency": [round(float(x), 9) for x in closing["latency"]],
        "detail": [str(d) for d in closing["detail"]]}}
    outcomes = signal_log.attrs["outcomes"]
    note = (f"measured by `supreme sim calibrate` on this machine: a real in-process run of the "
            f"SignalPipeline ({sum(outcomes.values())} requests of the default workload, calibration seed "
            f"{cal_seed}, outcomes {outcomes}) and a real cache-hierarchy run "
            f"({int(hc['workload.n'])} keys); per-request CPU = time in the pipeline minus its I/O rows")
    return write_book(out, {"trading_signal": signal, "cache_hierarchy": cache},
                      models={k: shared[k] for k in shared}, backends=backends_label(redis_url, database_url),
                      note=note, extra_meta={"steps": step_cpu(signal_log), "scenario": dict(sc),
                                             "validation": validation})


def _figures(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    out: dict[str, float] = {}
    for p in PERCENTILES:
        pa, pb = float(np.percentile(a, p)), float(np.percentile(b, p))
        out[f"p{p}_a"], out[f"p{p}_b"] = pa, pb
        out[f"p{p}_err"] = (pb - pa) / pa if pa > 0 else 0.0
    out["ks"] = float(stats.ks_2samp(a, b).statistic)
    return out


def validate(model: str, *, book: str | Path | None = None, redis_url: str | None = None,
             database_url: str | None = None, seed: int = 0, overrides: Mapping[str, Any] | None = None,
             real_floor: bool = False) -> pd.DataFrame:
    """One row per pair ``other vs ref`` (errors ``(other - ref) / ref``): ``sim vs real``, ``sim vs sim
    (seed+1)`` (the seed noise floor) and, with ``real_floor``, ``real vs real (rerun)`` (the real run's
    own noise), with P50/P95/P99 (s), relative errors and KS distance; ``attrs``: scenario, sizes."""
    real_servers = bool(redis_url or database_url)
    sc = scenario_for(model, {**(overrides or {}), **({"latency.book": str(book)} if book else {})},
                      real_servers=real_servers, seed=seed)
    real = _real(model, sc, redis_url, database_url)
    sim = _sim(model, sc)
    sim2 = _sim(model, {**sc, "seed": seed + 1})
    pairs = [("sim vs real", real, sim), ("sim vs sim (seed+1)", sim, sim2)]
    if real_floor:
        pairs.append(("real vs real (rerun)", real, _real(model, sc, redis_url, database_url)))
    rows = []
    for label, a, b in pairs:
        f = _figures(a, b)
        rows.append({"compare": label, **{f"p{p}_{w}": f[f"p{p}_{k}"] for p in PERCENTILES
                                          for w, k in (("ref", "a"), ("other", "b"))},
                     **{f"p{p}_err": f[f"p{p}_err"] for p in PERCENTILES}, "ks": f["ks"]})
    table = pd.DataFrame(rows)
    table.attrs.update({"model": model, "scenario": sc, "n_real": int(real.size), "n_sim": int(sim.size)})
    return table


def verdict(table: pd.DataFrame, tolerance: float = 0.10) -> dict[str, bool]:
    """The issue's targets: P50 and P99 within ``tolerance``, KS within twice the seed noise floor."""
    sim, floor = table.iloc[0], table.iloc[1]
    return {"p50": bool(abs(sim["p50_err"]) <= tolerance), "p99": bool(abs(sim["p99_err"]) <= tolerance),
            "ks": bool(sim["ks"] <= 2 * floor["ks"])}
