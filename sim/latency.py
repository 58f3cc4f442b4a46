"""Latency models and the LatencyBook that maps "component.operation" to one.

A model draws one latency in seconds from a seeded ``numpy.random.Generator``
(``sample(rng)``), so a simulation is reproducible from its seed.

* :class:`Constant`, :class:`Exponential` (mean), :class:`LogNormal` (built from
  median and p99, the two figures people actually quote), :class:`TruncatedNormal`
  (redrawn below ``low``; clipped after a bounded number of draws) and
  :class:`Empirical` (resamples measured samples — what calibration produces).
* :class:`LatencyBook`: ``"L2.get" -> model``; lookups fall back from
  ``"L2.get"`` to ``"L2"``.  Saved as JSON (parametric specs and samples) or
  Parquet (samples only, long format ``key, latency``).

Defaults approximate this machine: L1 ~0.5 µs, fakeredis ~30 µs, Redis ~80 µs,
SQLite ~20 µs, PostgreSQL ~300 µs, exchange ~50 ms.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from sim.errors import SimError

__all__ = [
    "DEFAULT_LATENCIES",
    "Constant",
    "Empirical",
    "Exponential",
    "LatencyBook",
    "LatencyError",
    "LatencyModel",
    "LogNormal",
    "TruncatedNormal",
    "latency_model",
    "model_from_spec",
]

_Z99 = 2.3263478740408408  # standard normal quantile at 0.99


class LatencyError(SimError, ValueError):
    """Bad latency parameters, unknown key or unreadable latency file."""


@runtime_checkable
class LatencyModel(Protocol):
    """Anything that draws a latency (seconds) from a Generator."""

    def sample(self, rng: np.random.Generator) -> float:
        """One latency in seconds."""
        ...


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (value > 0 and math.isfinite(value)):
        raise LatencyError(f"{name} must be a finite number > 0, got {value!r}")
    return value


@dataclass(frozen=True)
class Constant:
    """Always the same latency."""

    value: float

    def __post_init__(self) -> None:
        if not (self.value >= 0 and math.isfinite(self.value)):
            raise LatencyError(f"Constant latency must be finite and >= 0, got {self.value!r}")

    def sample(self, rng: np.random.Generator) -> float:
        """The constant."""
        return self.value

    def spec(self) -> dict[str, Any]:
        """JSON-able description."""
        return {"kind": "constant", "value": self.value}


@dataclass(frozen=True)
class Exponential:
    """Exponential latency with the given mean."""

    mean: float

    def __post_init__(self) -> None:
        _positive("Exponential mean", self.mean)

    def sample(self, rng: np.random.Generator) -> float:
        """One exponential draw."""
        return float(rng.exponential(self.mean))

    def spec(self) -> dict[str, Any]:
        """JSON-able description."""
        return {"kind": "exponential", "mean": self.mean}


@dataclass(frozen=True)
class LogNormal:
    """Lognormal latency parameterised by its median and 99th percentile."""

    median: float
    p99: float
    # the underlying normal's parameters, computed once (a draw must not recompute two logs)
    _mu: float = field(init=False, repr=False, compare=False)
    _sigma: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _positive("LogNormal median", self.median)
        _positive("LogNormal p99", self.p99)
        if self.p99 < self.median:
            raise LatencyError(f"LogNormal p99 ({self.p99}) must be >= median ({self.median})")
        object.__setattr__(self, "_mu", math.log(self.median))
        object.__setattr__(self, "_sigma", (math.log(self.p99) - math.log(self.median)) / _Z99)

    @property
    def mu(self) -> float:
        """Mean of the underlying normal."""
        return self._mu

    @property
    def sigma(self) -> float:
        """Standard deviation of the underlying normal."""
        return self._sigma

    def sample(self, rng: np.random.Generator) -> float:
        """One lognormal draw."""
        return float(rng.lognormal(self._mu, self._sigma))

    def spec(self) -> dict[str, Any]:
        """JSON-able description."""
        return {"kind": "lognormal", "median": self.median, "p99": self.p99}


@dataclass(frozen=True)
class TruncatedNormal:
    """Normal latency redrawn while below ``low`` (then clipped, so it always ends)."""

    mean: float
    sd: float
    low: float = 0.0

    def __post_init__(self) -> None:
        _positive("TruncatedNormal sd", self.sd)
        if not math.isfinite(self.mean) or self.low < 0:
            raise LatencyError(f"TruncatedNormal needs a finite mean and low >= 0, got {self}")

    def sample(self, rng: np.random.Generator) -> float:
        """One draw >= low."""
        for _ in range(16):
            x = float(rng.normal(self.mean, self.sd))
            if x >= self.low:
                return x
        return self.low  # mean far below low: clip rather than loop for ever

    def spec(self) -> dict[str, Any]:
        """JSON-able description."""
        return {"kind": "truncnormal", "mean": self.mean, "sd": self.sd, "low": self.low}


class Empirical:
    """Resamples measured latencies (bootstrap) with the caller's Generator."""

    __slots__ = ("samples",)

    def __init__(self, samples: Iterable[float]) -> None:
        arr = np.asarray(list(samples) if not isinstance(samples, np.ndarray) else samples, dtype=float)
        if arr.ndim != 1 or arr.size == 0:
            raise LatencyError("Empirical latency needs a non-empty 1-D array of samples")
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise LatencyError("Empirical latency samples must be finite and >= 0")
        self.samples = arr

    def sample(self, rng: np.random.Generator) -> float:
        """One sample drawn uniformly from the measurements."""
        return float(self.samples[rng.integers(self.samples.size)])

    def spec(self) -> dict[str, Any]:
        """JSON-able description."""
        return {"kind": "empirical", "samples": self.samples.tolist()}

    def __repr__(self) -> str:
        return f"Empirical(n={self.samples.size}, median={float(np.median(self.samples)):.3g})"


def model_from_spec(spec: Mapping[str, Any]) -> LatencyModel:
    """Build a model from its ``spec()`` dict (``{"kind": ..., ...}``)."""
    params = {k: v for k, v in spec.items() if k != "kind"}
    kind = spec.get("kind")
    builders: dict[str, Any] = {
        "constant": Constant,
        "exponential": Exponential,
        "lognormal": LogNormal,
        "truncnormal": TruncatedNormal,
        "empirical": Empirical,
    }
    if kind not in builders:
        raise LatencyError(f"unknown latency model kind {kind!r}; known: {sorted(builders)}")
    try:
        model: LatencyModel = builders[kind](**params)
    except TypeError as exc:
        raise LatencyError(f"bad parameters for latency model {kind!r}: {params}") from exc
    return model


#: Defaults approximating this machine (seconds).
DEFAULT_LATENCIES: dict[str, LatencyModel] = {
    "L1.get": LogNormal(0.5e-6, 2e-6),
    "L1.set": LogNormal(0.8e-6, 3e-6),
    "fakeredis.get": LogNormal(30e-6, 90e-6),
    "fakeredis.set": LogNormal(35e-6, 100e-6),
    "redis.get": LogNormal(80e-6, 300e-6),
    "redis.set": LogNormal(90e-6, 320e-6),
    "L2.get": LogNormal(80e-6, 300e-6),
    "L2.set": LogNormal(90e-6, 320e-6),
    "L2.delete": LogNormal(80e-6, 300e-6),
    "sqlite.select": LogNormal(20e-6, 80e-6),
    "postgresql.select": LogNormal(300e-6, 1.2e-3),
    "postgresql.connect": LogNormal(3e-3, 12e-3),
    "L3.get": LogNormal(300e-6, 1.2e-3),
    "L3.set": LogNormal(500e-6, 2e-3),
    "L3.delete": LogNormal(400e-6, 1.6e-3),
    "exchange.fetch": LogNormal(50e-3, 250e-3),
}


class LatencyBook:
    """Registry ``"component.operation" -> LatencyModel`` with file round-trips."""

    def __init__(self, models: Mapping[str, LatencyModel] | None = None) -> None:
        self._models: dict[str, LatencyModel] = {}
        for key, model in (models or {}).items():
            self[key] = model

    @classmethod
    def defaults(cls) -> LatencyBook:
        """A book holding :data:`DEFAULT_LATENCIES`."""
        return cls(DEFAULT_LATENCIES)

    def __setitem__(self, key: str, model: LatencyModel) -> None:
        if not isinstance(key, str) or not key:
            raise LatencyError(f"latency key must be a non-empty string, got {key!r}")
        if not isinstance(model, LatencyModel):
            raise LatencyError(f"{key!r}: {model!r} has no sample(rng) method")
        self._models[key] = model

    def __getitem__(self, key: str) -> LatencyModel:
        model = self._models.get(key)
        if model is None and "." in key:
            model = self._models.get(key.split(".", 1)[0])
        if model is None:
            raise LatencyError(f"no latency model for {key!r}; known: {sorted(self._models)}")
        return model

    def __contains__(self, key: object) -> bool:
        return key in self._models

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._models))

    def __len__(self) -> int:
        return len(self._models)

    def sample(self, key: str, rng: np.random.Generator) -> float:
        """One latency for ``key``."""
        return self[key].sample(rng)

    def update(self, other: LatencyBook | Mapping[str, LatencyModel]) -> LatencyBook:
        """Overlay another book's models on this one (returns self)."""
        for key in other:
            self[key] = other[key]
        return self

    # ---- files -------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write to ``.json`` (any model with ``spec()``) or ``.parquet`` (Empirical only)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".parquet":
            import pandas as pd

            parts = []
            for key in self:
                model = self._models[key]
                if not isinstance(model, Empirical):
                    raise LatencyError(f"Parquet holds samples only; {key!r} is {model!r} (use .json)")
                parts.append(pd.DataFrame({"key": key, "latency": model.samples}))
            frame = (
                pd.concat(parts, ignore_index=True)
                if parts
                else pd.DataFrame({"key": pd.Series(dtype=str), "latency": pd.Series(dtype=float)})
            )
            frame.to_parquet(path, index=False)
            return path
        specs = {}
        for key in self:
            spec = getattr(self._models[key], "spec", None)
            if spec is None:
                raise LatencyError(f"{key!r}: {self._models[key]!r} cannot be saved (no spec())")
            specs[key] = spec()
        path.write_text(json.dumps({"format": "supreme.latency/1", "models": specs}, indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> LatencyBook:
        """Read a file written by :meth:`save` (or by ``sim.calibrate``)."""
        path = Path(path)
        if not path.exists():
            raise LatencyError(f"latency file {path} does not exist")
        if path.suffix == ".parquet":
            import pandas as pd

            frame = pd.read_parquet(path)
            if not {"key", "latency"} <= set(frame.columns):
                raise LatencyError(f"{path}: Parquet latency file needs columns key, latency")
            return cls({str(k): Empirical(g["latency"].to_numpy()) for k, g in frame.groupby("key")})
        try:
            doc = json.loads(path.read_text())
            if isinstance(doc, dict) and doc.get("format") == "supreme.latency_book":
                from sim.book import load_book  # a calibrated book: its shared models

                return load_book(path)
            specs = doc["models"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise LatencyError(f"{path}: not a latency JSON file ({exc})") from exc
        book = cls()
        for key, spec in specs.items():
            try:
                book[key] = model_from_spec(spec)
            except LatencyError as exc:
                raise LatencyError(f"{path}: {key!r}: {exc}") from exc
        return book

    def __repr__(self) -> str:
        return f"LatencyBook({', '.join(self)})"


def latency_model(median: float, p99: float) -> LatencyModel:
    """Lognormal from median and p99, or a constant when p99 <= median (deterministic scenarios)."""
    return Constant(median) if p99 <= median else LogNormal(median, p99)
