"""The model registry and ``run_model``.

``MODELS`` maps a name to a :class:`ModelSpec`, which is callable:
``MODELS["autoscaling"](scenario) -> DataFrame``.  ``run_model`` merges the
model's defaults, validates the scenario, runs it and returns the shared
event-log DataFrame (world ``"sim"``) with the full scenario in
``df.attrs["scenario"]``.  Same scenario (seed included) → identical log.

A new model is a module with ``NAME``, ``FLOW``, ``DEFAULTS``, ``run(scenario)``
and ``summarize(log)``; add it with :func:`register_model`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pandas as pd

from sim.errors import SimError
from sim.scenario import Scenario, make_scenario

__all__ = ["MODELS", "ModelRunOne", "ModelSpec", "UnknownModelError", "get_model", "register_model",
           "run_model"]

_BUILTIN = ("blue_green", "autoscaling", "connection_pool", "error_escalation",
            "cache_hierarchy", "trading_signal", "learning_cycle", "prefetch", "sla_validation",
            "request_pipeline",
            "circuit_breaker", "fault_injection", "api_key_auth", "session_auth", "ws_streaming",
            "ws_lifecycle")


class UnknownModelError(SimError, KeyError):
    """No model of that name is registered."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown model"


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its defaults, runner and summary."""

    name: str
    flow: str
    defaults: Mapping[str, Any]
    run: Callable[[Mapping[str, Any]], pd.DataFrame]
    summarize: Callable[[pd.DataFrame], dict[str, Any]]
    doc: str = ""

    def __call__(self, scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run with ``scenario`` merged over the defaults."""
        return run_model(self.name, scenario)

    def scenario(self, overrides: Mapping[str, Any] | None = None) -> Scenario:
        """The full validated scenario for ``overrides``."""
        return make_scenario(self.defaults, overrides)

    @classmethod
    def from_module(cls, module: ModuleType) -> ModelSpec:
        """Build from a model module's NAME/FLOW/DEFAULTS/run/summarize."""
        doc = (module.__doc__ or "").strip().splitlines()
        return cls(module.NAME, module.FLOW, dict(module.DEFAULTS), module.run, module.summarize,
                   doc[0] if doc else "")


MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec | ModuleType) -> ModelSpec:
    """Add a model (a spec or a model module) to :data:`MODELS`."""
    if isinstance(spec, ModuleType):
        spec = ModelSpec.from_module(spec)
    MODELS[spec.name] = spec
    return spec


for _name in _BUILTIN:
    register_model(importlib.import_module(f"sim.models.{_name}"))


def get_model(name: str) -> ModelSpec:
    """The registered model ``name``."""
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}") from None


def run_model(name: str, scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Run model ``name`` on ``scenario`` (merged with defaults); the event log as a DataFrame."""
    spec = get_model(name)
    full = make_scenario(spec.defaults, scenario)
    df = spec.run(full)
    df.attrs["scenario"] = full
    df.attrs["model"] = name
    return df


class ModelRunOne:
    """A picklable ``run_one(scenario) -> dict`` for sweeps: run a model and summarise its log."""

    def __init__(self, model: str) -> None:
        get_model(model)
        self.model = model

    def __call__(self, scenario: Mapping[str, Any]) -> dict[str, Any]:
        """The full scenario plus the summary figures of one run."""
        spec = get_model(self.model)
        log = run_model(self.model, scenario)
        return {"model": self.model, **log.attrs["scenario"], **spec.summarize(log)}

    def __repr__(self) -> str:
        return f"ModelRunOne({self.model!r})"
