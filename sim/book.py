"""The latency book: what ``supreme sim calibrate`` measures and the models load by default.

A book is one JSON file (schema :data:`SCHEMA_VERSION`)::

    {"format": "supreme.latency_book", "schema_version": 2,
     "meta": {"created": ISO date, "machine": {platform facts}, "backends": {redis, database (redacted)},
              "note": how it was measured, "steps": {per-step own CPU, p50/p99 in s}},
     "models": {key: spec, ...},                  # every model
     "by_model": {"trading_signal": {key: spec}, "cache_hierarchy": {key: spec}}}

The ``trading_signal`` section holds the signal flow's *in-situ* figures from one real run of the
:class:`~supreme.api.pipeline.SignalPipeline` (:func:`sim.realsignal.run_real_signal`): the I/O of each
tier operation (``L2.get.miss``, ``L3.set.ok``, ``exchange.fetch``…, the rows' latencies) and the CPU
time of each request (``cpu.signal.hit|miss|rejected``: the request's time in the pipeline minus the
I/O rows inside it -- the sum of its steps' own CPU, one measured request per draw, so the steps'
correlation is kept).  The per-step own CPU (a step's latency minus its children's) is in
``meta["steps"]``.  The ``cache_hierarchy`` section is the in-situ calibration of
:func:`sim.realrun.calibrate_from_log` on a real cache run.

Where the models find it (:func:`default_book_path`): ``$SUPREME_LATENCY_BOOK``, else
``~/.cache/supreme/latency_book.json`` when present, else the measured book shipped in
``sim/models/defaults/latency_book.json``.  A scenario's ``latency.book`` may name a file instead
(``"default"`` means this search; ``null`` the typed defaults alone).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.latency import Constant, Empirical, LatencyBook, LatencyError, LatencyModel

__all__ = [
    "BOOK_FORMAT", "SCHEMA_VERSION", "SHIPPED_BOOK", "USER_BOOK", "book_section", "cpu_from_log",
    "default_book_path", "io_from_log", "load_book", "machine_info", "read_book", "resolve_book",
    "shipped_book_path", "step_cpu",
    "wake_from_log", "write_book",
]

BOOK_FORMAT = "supreme.latency_book"
SCHEMA_VERSION = 2
USER_BOOK = Path("~/.cache/supreme/latency_book.json")
SHIPPED_BOOK = "latency_book.json"  # in sim/models/defaults

#: Models that run the signal flow read its section.
_SECTION_OF = {"sla_validation": "trading_signal", "request_pipeline": "trading_signal"}
#: Rows whose latency the signal model charges as I/O (the rest of a request's time is CPU).
_IO_COMPONENTS = ("Memory_Cache_L1", "Redis_Cache_L2", "PostgreSQL_L3", "Exchange_Connector")
_TIER = {"Memory_Cache_L1": "L1", "Redis_Cache_L2": "L2", "PostgreSQL_L3": "L3"}


def machine_info() -> dict[str, Any]:
    """Platform facts of this machine (no host name)."""
    return {"system": platform.system(), "release": platform.release(), "machine": platform.machine(),
            "processor": platform.processor(), "python": platform.python_version(),
            "cpus": os.cpu_count()}


def default_book_path() -> Path:
    """``$SUPREME_LATENCY_BOOK``, else the user's calibrated book if present, else the shipped one."""
    env = os.environ.get("SUPREME_LATENCY_BOOK")
    if env:
        path = Path(env).expanduser()
        if not path.exists():
            raise LatencyError(f"SUPREME_LATENCY_BOOK names {path}, which does not exist")
        return path
    user = USER_BOOK.expanduser()
    if user.exists():
        return user
    return shipped_book_path()


def shipped_book_path() -> Path:
    """The measured book shipped with the package (what notebooks pin, so they reproduce anywhere)."""
    return Path(str(resources.files("sim.models").joinpath("defaults", SHIPPED_BOOK)))


def resolve_book(value: Any) -> Path | None:
    """The book file a scenario's ``latency.book`` names (``"default"``: :func:`default_book_path`)."""
    if value in (None, "", "none"):
        return None
    return default_book_path() if value == "default" else Path(str(value))


def read_book(path: str | Path) -> dict[str, Any]:
    """The book file's document, its format and schema version checked."""
    path = Path(path)
    doc = _load_json(path, "latency book", "latency book")
    if not isinstance(doc, dict) or doc.get("format") != BOOK_FORMAT:
        fmt = doc.get("format") if isinstance(doc, dict) else None
        raise LatencyError(f"{path}: not a latency book (format {fmt!r}, expected {BOOK_FORMAT!r})")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise LatencyError(f"{path}: latency book schema version {version!r} is not the supported "
                           f"{SCHEMA_VERSION}; re-run `supreme sim calibrate`")
    return doc


def book_section(model: str) -> str:
    """The ``by_model`` section a model reads."""
    return _SECTION_OF.get(model, model)


def load_book(path: str | Path, model: str | None = None) -> LatencyBook:
    """A latency file as a book: a latency book's shared models plus ``model``'s section, or a plain
    ``sim.latency`` file (``supreme.latency/1`` JSON, or Parquet samples)."""
    from sim.latency import model_from_spec

    path = Path(path)
    if path.suffix == ".parquet" or _plain_json(path):
        return LatencyBook.load(path)
    doc = read_book(path)
    book = LatencyBook()
    sections = [doc.get("models", {})]
    if model is not None:
        sections.append(doc.get("by_model", {}).get(book_section(model), {}))
    for specs in sections:
        for key, spec in specs.items():
            try:
                book[key] = model_from_spec(spec)
            except LatencyError as exc:
                raise LatencyError(f"{path}: {key!r}: {exc}") from exc
    book.meta = doc.get("meta", {})  # type: ignore[attr-defined]
    return book


def _load_json(path: Path, name: str, kind: str) -> Any:
    """The JSON document at ``path``; a missing or unreadable file is a LatencyError naming it."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise LatencyError(f"{name} {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LatencyError(f"{path}: not a {kind} JSON file ({exc})") from exc


def _plain_json(path: Path) -> bool:
    head = _load_json(path, "latency file", "latency")
    return isinstance(head, dict) and head.get("format") == "supreme.latency/1"


def write_book(path: str | Path, by_model: Mapping[str, Mapping[str, LatencyModel]], *,
               backends: Mapping[str, str], note: str, models: Mapping[str, LatencyModel] | None = None,
               extra_meta: Mapping[str, Any] | None = None) -> Path:
    """Write a latency book (schema :data:`SCHEMA_VERSION`) with this machine's facts and today's date."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)

    def specs(ms: Mapping[str, LatencyModel]) -> dict[str, Any]:
        out = {k: ms[k].spec() for k in sorted(ms)}  # type: ignore[attr-defined]
        for spec in out.values():  # nanoseconds are below what a timer resolves: keep the file small
            if "samples" in spec:
                spec["samples"] = [round(x, 9) for x in spec["samples"]]
        return out

    doc = {"format": BOOK_FORMAT, "schema_version": SCHEMA_VERSION,
           "meta": {"created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "machine": machine_info(), "backends": dict(backends), "note": note,
                    **(extra_meta or {})},
           "models": specs(models or {}), "by_model": {m: specs(v) for m, v in sorted(by_model.items())}}
    path.write_text(compact_json(doc))
    return path


def compact_json(doc: Mapping[str, Any]) -> str:
    """Indented JSON with every list of numbers on one line (a book holds thousands of samples)."""
    import re

    text = json.dumps(doc, indent=1, default=_round)
    return re.sub(r"\[\s+([-0-9.eE+,\s]+?)\s+\]", lambda m: "[" + "".join(m.group(1).split()) + "]", text)


def _round(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"{obj!r} is not JSON serialisable")


def _requests(log: pd.DataFrame, flow: str = "trading_signal") -> pd.DataFrame:
    """Per request: its outcome class, time in the code (first row's start to the closing row), and the
    time of the I/O rows inside it (the rest is CPU)."""
    signal = flow == "trading_signal"
    rows = log[log["request_id"].notna()]
    first = rows.groupby("request_id", sort=False).head(1).set_index("request_id")
    start = first["time"] - first["latency"].fillna(0.0)  # service clock (engine rows: market time)
    close_op = ("API_Gateway", "request") if signal else ("Application", "response")
    closing = (rows["component"] == close_op[0]) & (rows["operation"] == close_op[1])
    req = rows[closing].set_index("request_id")
    io_comps = _IO_COMPONENTS if signal else (*_IO_COMPONENTS[:3], "External_Source")
    io = rows[rows["component"].isin(io_comps)].groupby("request_id")["latency"].sum()
    if signal:
        outcome = pd.Series("rejected", index=req.index)
        outcome[req["outcome"] == "error"] = "error"
        cls = rows[(rows["component"] == "API_Gateway") & (rows["operation"] == "check_signal_cache")]
        oc = cls.set_index("request_id")["outcome"]
    else:
        outcome = pd.Series("error", index=req.index)
        cls = rows[(rows["component"] == "Cache_Manager") & (rows["operation"] == "get")]
        oc = cls.set_index("request_id")["tier"].map(lambda t: "hit" if t in ("L1", "L2", "L3") else "miss")
    oc = oc[~oc.index.duplicated(keep="last")]
    outcome.loc[oc.index.intersection(outcome.index)] = oc
    out = pd.DataFrame({"outcome": outcome, "service": req["time"] - start.reindex(req.index),
                        "io": io.reindex(req.index).fillna(0.0)})
    out["cpu"] = (out["service"] - out["io"]).clip(lower=0.0)
    return out


def cpu_from_log(log: pd.DataFrame, flow: str = "trading_signal", min_samples: int = 5
                 ) -> dict[str, LatencyModel]:
    """``cpu.signal.<outcome>`` (or ``cpu.cache.<outcome>``): each real request's CPU time, its time in
    the code minus its I/O rows; ``<key>.busy`` apart for requests that waited for the worker (run back
    to back, warm: measured 20-30 % cheaper than one that woke an idle worker), ``<key>`` for the rest."""
    per = _requests(log, flow)
    waited = _arrivals(log, flow)["waited"]
    per["waited"] = waited.reindex(per.index).fillna(False).astype(bool)
    prefix = "cpu.signal" if flow == "trading_signal" else "cpu.cache"
    out: dict[str, LatencyModel] = {}
    for oc, g in per.groupby("outcome"):
        busy, rest = g[g["waited"]], g[~g["waited"]]
        if len(busy) >= min_samples and len(rest) >= min_samples:
            out[f"{prefix}.{oc}"] = Empirical(rest["cpu"].to_numpy(float))
            out[f"{prefix}.{oc}.busy"] = Empirical(busy["cpu"].to_numpy(float))
        elif len(g) >= min_samples:
            out[f"{prefix}.{oc}"] = Empirical(g["cpu"].to_numpy(float))
    return out


def _arrivals(log: pd.DataFrame, flow: str) -> pd.DataFrame:
    """Per request in due order: ``due``, ``start`` (its first step), ``end``, and ``waited``: the
    previous request was still running when this one was due.  Latencies run from the due time."""
    rows = log[log["request_id"].notna()]
    first = rows.groupby("request_id", sort=False).head(1).set_index("request_id")
    start = first["time"] - first["latency"].fillna(0.0)
    close_op = ("API_Gateway", "request") if flow == "trading_signal" else ("Application", "response")
    closing = rows[(rows["component"] == close_op[0]) & (rows["operation"] == close_op[1])]
    closing = closing.set_index("request_id")
    out = pd.DataFrame({"due": closing["time"] - closing["latency"], "end": closing["time"]})
    out = out.sort_values("due")
    out["start"] = start.reindex(out.index)
    end = out["end"].to_numpy(float)
    out["waited"] = np.r_[False, end[:-1] > out["due"].to_numpy(float)[1:]]
    return out


def wake_from_log(log: pd.DataFrame, flow: str = "trading_signal", min_samples: int = 5
                  ) -> dict[str, LatencyModel]:
    """``wake.lag``: how late the real worker starts a request that arrives while it is idle (its
    timer wake-up: the request's first step starts after its due time)."""
    arr = _arrivals(log, flow)
    lag = (arr["start"] - arr["due"])[~arr["waited"] & np.isfinite(arr["start"])].to_numpy(float)
    lag = lag[lag >= 0]
    return {"wake.lag": Empirical(lag)} if lag.size >= min_samples else {}


def io_from_log(log: pd.DataFrame, min_samples: int = 5) -> dict[str, LatencyModel]:
    """The tier and exchange rows' latencies, under the keys the signal model's I/O looks up; the
    auth service's key-store and nonce I/O are not logged apart, so they are inside its CPU (0 here)."""
    out: dict[str, LatencyModel] = {"api.overhead": Constant(0.0), "auth.nonce.set": Constant(0.0),
                                    "auth.keystore.select": Constant(0.0)}
    for (comp, op, oc), g in log.groupby(["component", "operation", "outcome"]):
        lat = g["latency"].to_numpy(float)
        if lat.size < min_samples:
            continue
        if comp in _TIER and op == "get" and oc in ("hit", "miss"):
            out[f"{_TIER[comp]}.get.{oc}"] = Empirical(lat)
        elif comp in _TIER and op == "set" and oc == "ok":
            out["L1.set" if comp == "Memory_Cache_L1" else f"{_TIER[comp]}.set.ok"] = Empirical(lat)
        elif comp == "Exchange_Connector" and op == "fetch" and oc == "ok":
            out["exchange.fetch"] = Empirical(lat)
    return out


def step_cpu(log: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per step of the pipeline, its own time (its latency minus the rows nested inside it): p50/p99."""
    closing = (log["component"] == "API_Gateway") & (log["operation"] == "request")
    rows = log[log["request_id"].notna() & ~closing]
    out: dict[str, list[float]] = {}
    for _, group in rows.groupby("request_id", sort=False):
        times = group["time"].to_numpy(float)
        g = group[np.abs(times - times[0]) < 60.0]  # service-clock rows (not market-time ones)
        t = g["time"].to_numpy(float)
        lat = g["latency"].fillna(0.0).to_numpy(float)
        start = t - lat
        for i in range(len(g)):
            inner = (start >= start[i] - 1e-9) & (t <= t[i] + 1e-9)
            inner[i] = False
            nested = lat[inner & _outermost(start, t, inner)].sum()
            key = f"{g['component'].iat[i]}.{g['operation'].iat[i]}"
            out.setdefault(key, []).append(max(lat[i] - nested, 0.0))
    return {k: {"n": len(v), "p50": float(np.percentile(v, 50)), "p99": float(np.percentile(v, 99))}
            for k, v in sorted(out.items())}


def _outermost(start: np.ndarray, end: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Of the rows in ``inner``, those not nested inside another of them."""
    keep = inner.copy()
    idx = np.flatnonzero(inner)
    for j in idx:
        others = idx[idx != j]
        if np.any((start[others] <= start[j] + 1e-12) & (end[others] >= end[j] - 1e-12)
                  & ((start[others] < start[j]) | (end[others] > end[j]))):
            keep[j] = False
    return keep
