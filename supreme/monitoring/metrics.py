"""Service metrics on prometheus_client, one private ``CollectorRegistry`` per :class:`Metrics`.

Each object owns its registry (never the process-global default), so tests, simulations and
several services in one process never collide.  The object is also the Monitoring hook of the
circuit breaker (:class:`~supreme.resilience.breaker.BreakerMonitor`) and of recovery/alerting.

Metric names (prefix ``supreme_``)::

    requests_total{endpoint,status}            counter
    request_latency_seconds{endpoint}          histogram
    cache_hits_total{tier} / cache_misses_total{tier}
    breaker_state{breaker,breaker_state}       enum (one-hot gauge)
    breaker_calls_total{breaker,outcome}       counter
    pool_connections{pool,state}               gauge, state in in_use/idle/waiting (read at scrape)
    ws_connections                             gauge (current)
    ws_connections_opened_total / ws_dropped_total / ws_messages_sent_total   counters
    errors_total{component,severity}           counter

With ``process_collectors=True`` (the API's instance) the registry also carries prometheus_client's
default collectors, as the global registry would: ``process_*`` (CPU seconds, resident memory, open
file descriptors, start time; on Linux), ``python_info`` (platform) and ``python_gc_*``.  They
are off by default because a simulation's metrics describe simulated replicas, not this process.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from supreme.resilience.pools import PoolStats

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BREAKER_STATES", "LATENCY_BUCKETS", "Metrics", "MetricsSnapshot"]

BREAKER_STATES = ["closed", "open", "half_open", "forced_open", "disabled"]
#: from 50 µs (an L1 hit through the API) to 10 s (a timed-out dependency)
LATENCY_BUCKETS = (5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                   1.0, 2.5, 5.0, 10.0)


class _PoolCollector(Collector):
    """Reads every registered pool at scrape time (pools are the libraries' state, not ours)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.sources: dict[str, Callable[[], PoolStats]] = {}
        self.errors: dict[str, str] = {}

    def collect(self) -> Iterable[GaugeMetricFamily]:
        fam = GaugeMetricFamily(f"{self.prefix}_pool_connections",
                                "Pooled connections by state (in_use, idle, waiting)",
                                labels=["pool", "state"])
        for name, source in list(self.sources.items()):
            try:
                stats = source()
            except Exception as exc:  # a closed pool must not break /metrics
                self.errors[name] = f"{type(exc).__name__}: {exc}"
                continue
            for state, value in stats.as_dict().items():
                fam.add_metric([name, state], float(value))
        yield fam


class MetricsSnapshot:
    """Current samples, queried by name and labels (what alert rules look at)."""

    def __init__(self, samples: list[tuple[str, dict[str, str], float]]) -> None:
        self.samples = samples

    def values(self, name: str, **labels: str) -> list[float]:
        """Values of samples called ``name`` whose labels include ``labels``."""
        return [v for n, lab, v in self.samples
                if n == name and all(lab.get(k) == val for k, val in labels.items())]

    def value(self, name: str, default: float = 0.0, **labels: str) -> float:
        """Sum of matching samples (``default`` if none)."""
        vals = self.values(name, **labels)
        return float(sum(vals)) if vals else default


class Metrics:
    """The service's metrics in a private registry."""

    def __init__(self, prefix: str = "supreme", registry: CollectorRegistry | None = None, *,
                 process_collectors: bool = False) -> None:
        self.prefix = prefix
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r, p = self.registry, prefix
        self.requests = Counter(f"{p}_requests", "API requests", ["endpoint", "status"], registry=r)
        self.latency = Histogram(f"{p}_request_latency_seconds", "Request latency", ["endpoint"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.cache_hits = Counter(f"{p}_cache_hits", "Cache hits per tier", ["tier"], registry=r)
        self.cache_misses = Counter(f"{p}_cache_misses", "Cache misses per tier", ["tier"], registry=r)
        self.breaker = Enum(f"{p}_breaker_state", "Circuit breaker state", ["breaker"],
                            states=BREAKER_STATES, registry=r)
        self.breaker_calls = Counter(f"{p}_breaker_calls", "Calls through a breaker by outcome",
                                     ["breaker", "outcome"], registry=r)
        self.ws_current = Gauge(f"{p}_ws_connections", "Open WebSocket connections", registry=r)
        self.ws_total = Counter(f"{p}_ws_connections_opened", "WebSocket connections accepted", registry=r)
        self.ws_dropped = Counter(f"{p}_ws_dropped", "WebSocket connections dropped", registry=r)
        self.ws_sent = Counter(f"{p}_ws_messages_sent", "WebSocket messages sent", registry=r)
        self.errors = Counter(f"{p}_errors", "Errors by component and severity",
                              ["component", "severity"], registry=r)
        self._pools = _PoolCollector(p)
        r.register(self._pools)
        if process_collectors:
            # the standard names (process_*, python_*), unprefixed, so stock dashboards find them
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)
        self._lock = threading.Lock()
        # labelled children looked up once: ``labels()`` costs more than the increment on a hot path
        self._request_children: dict[tuple[str, int | str], tuple[Any, Any]] = {}
        self._cache_children: dict[tuple[bool, str], Any] = {}

    # -- feeding -------------------------------------------------------------------------------
    def observe_request(self, endpoint: str, status: int | str, latency: float) -> None:
        """One API request finished."""
        children = self._request_children.get((endpoint, status))
        if children is None:
            children = (self.requests.labels(endpoint, str(status)), self.latency.labels(endpoint))
            self._request_children[(endpoint, status)] = children
        children[0].inc()
        children[1].observe(latency)

    def cache_hit(self, tier: str) -> None:
        """A hit in ``tier`` (L1/L2/L3)."""
        child = self._cache_children.get((True, tier))
        if child is None:
            child = self._cache_children[(True, tier)] = self.cache_hits.labels(tier)
        child.inc()

    def cache_miss(self, tier: str) -> None:
        """A miss in ``tier``."""
        child = self._cache_children.get((False, tier))
        if child is None:
            child = self._cache_children[(False, tier)] = self.cache_misses.labels(tier)
        child.inc()

    def breaker_state(self, name: str, state: str) -> None:
        """Breaker hook: the breaker ``name`` is now in ``state``."""
        self.breaker.labels(name).state(state)

    def breaker_call(self, name: str, outcome: str, latency: float) -> None:
        """Breaker hook: one call through ``name`` ended with ``outcome``."""
        self.breaker_calls.labels(name, outcome).inc()

    def ws_connected(self) -> None:
        """A WebSocket client connected."""
        self.ws_current.inc()
        self.ws_total.inc()

    def ws_disconnected(self, dropped: bool = False) -> None:
        """A WebSocket client left (``dropped``: not by its own close)."""
        self.ws_current.dec()
        if dropped:
            self.ws_dropped.inc()

    def ws_message_sent(self, n: int = 1) -> None:
        """``n`` WebSocket messages sent."""
        self.ws_sent.inc(n)

    def record_error(self, component: str, severity: str = "error") -> None:
        """An error reported by ``component``."""
        self.errors.labels(component, severity).inc()

    def add_pool(self, name: str, source: Callable[[], PoolStats]) -> None:
        """Export ``source()`` (e.g. ``lambda: pg_pool_stats(pool)``) as ``pool_connections{pool=name}``."""
        self._pools.sources[name] = source

    def remove_pool(self, name: str) -> None:
        """Stop exporting a pool."""
        self._pools.sources.pop(name, None)

    # -- reading -------------------------------------------------------------------------------
    def exposition(self) -> bytes:
        """The Prometheus text format for ``GET /metrics``."""
        return generate_latest(self.registry)

    def samples(self) -> list[tuple[str, dict[str, str], float]]:
        """Every current sample as ``(name, labels, value)``."""
        out: list[tuple[str, dict[str, str], float]] = []
        for fam in self.registry.collect():
            for s in fam.samples:
                out.append((s.name, dict(s.labels), float(s.value)))
        return out

    def snapshot(self) -> MetricsSnapshot:
        """Current samples for alert rules."""
        return MetricsSnapshot(self.samples())

    def to_frame(self) -> pd.DataFrame:
        """Current samples as a DataFrame: ``name``, ``labels`` (JSON), ``value``, one column per label."""
        import pandas as pd

        rows: list[dict[str, Any]] = []
        for name, labels, value in self.samples():
            rows.append({"name": name, "labels": json.dumps(labels, sort_keys=True), "value": value,
                         **labels})
        frame = pd.DataFrame.from_records(rows)
        if frame.empty:
            frame = pd.DataFrame(columns=["name", "labels", "value"])
        return frame
