"""Scenarios: flat dicts with dotted keys, one seed, defaults merged, validated.

Borrowed from desmod's habit on plain SimPy: a model declares its defaults
(``pool.max_size: 10`` ... in ``sim/models/defaults/<model>.yaml``, read by
:func:`load_defaults`), a scenario overrides some of them, and every result
carries the full merged scenario so any number can be reproduced from its row.
Rules:

* keys are the model's defaults, :data:`COMMON_DEFAULTS`, or fault keys
  ``faults.<target>.<field>`` (see :mod:`supreme.resilience.fault_schedule`); anything else is an
  error naming the key and its nearest known keys;
* values keep the type of their default (an int is accepted for a float; a
  ``None`` default accepts any JSON scalar); strings from the command line are
  parsed as JSON first (``--set pool.max_size=4`` gives ``4``);
* nested dicts in a scenario file are flattened (``{"pool": {"max_size": 4}}``).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sim.errors import SimError
from supreme.resilience.fault_schedule import FAULT_FIELDS

__all__ = [
    "COMMON_DEFAULTS", "Scenario", "ScenarioError", "flatten", "load_defaults", "load_scenario_file",
    "make_scenario", "parse_assignment", "parse_value",
]

Scenario = dict[str, Any]

_DEFAULTS_DIR = resources.files("sim.models").joinpath("defaults")

#: Keys every model accepts.
COMMON_DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "latency.book": None,   # path of a calibrated latency file overlaying the defaults
    "log.enabled": True,
}


class ScenarioError(SimError, ValueError):
    """Unknown key, wrong value type or unreadable scenario file."""


def load_defaults(model: str) -> dict[str, Any]:
    """The defaults of ``model`` from ``sim/models/defaults/<model>.yaml``: flat dotted keys, scalars."""
    doc = yaml.safe_load(_DEFAULTS_DIR.joinpath(f"{model}.yaml").read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise ScenarioError(f"defaults of {model!r} must map dotted keys, got {type(doc).__name__}")
    for key, value in doc.items():
        if not isinstance(key, str) or not isinstance(value, (str, int, float, bool, type(None))):
            raise ScenarioError(f"defaults of {model!r}: {key!r} must be a string mapped to a scalar")
        if isinstance(value, str) and type(parse_value(value)) in (int, float):
            # PyYAML reads 1e-3 (no dot, or no exponent sign) as a string: the default would take strings
            raise ScenarioError(f"defaults of {model!r}: {key!r} is the string {value!r}; write 1.0e-3 style")
    return doc


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if not isinstance(key, str):
            raise ScenarioError(f"scenario keys must be strings, got {key!r}")
        full = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{full}."))
        else:
            flat[full] = value
    return flat


def parse_value(text: str) -> Any:
    """A command-line value: JSON if it parses (numbers, true/false/null, lists), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"key=value"`` to ``(key, parsed value)``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ScenarioError(f"expected key=value, got {text!r}")
    return key.strip(), parse_value(value.strip())


def _is_fault_key(key: str) -> bool:
    parts = key.split(".")
    return len(parts) == 3 and parts[0] == "faults" and bool(parts[1]) and parts[2] in FAULT_FIELDS


def _check_type(key: str, value: Any, default: Any) -> Any:
    if default is None or value is None:
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise ScenarioError(f"scenario key {key!r} takes a scalar, got {value!r}")
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ScenarioError(f"scenario key {key!r} takes true/false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ScenarioError(f"scenario key {key!r} takes an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ScenarioError(f"scenario key {key!r} takes a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ScenarioError(f"scenario key {key!r} takes a string, got {value!r}")
        return value
    return value


def make_scenario(defaults: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Merge ``overrides`` (flattened) over ``COMMON_DEFAULTS`` and ``defaults``; validate every key."""
    known = {**COMMON_DEFAULTS, **defaults}
    scenario: Scenario = dict(known)
    for key, value in flatten(overrides or {}).items():
        if key in known:
            scenario[key] = _check_type(key, value, known[key])
        elif _is_fault_key(key):
            scenario[key] = _check_type(key, value, FAULT_FIELDS[key.split(".")[2]])
        else:
            near = difflib.get_close_matches(key, list(known), n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise ScenarioError(
                f"unknown scenario key {key!r}{hint} (faults use faults.<target>.<field>, "
                f"fields {sorted(FAULT_FIELDS)})"
            )
    seed = scenario["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ScenarioError(f"scenario key 'seed' must be an integer >= 0, got {seed!r}")
    return dict(sorted(scenario.items()))


def load_scenario_file(path: str | Path) -> dict[str, Any]:
    """A JSON scenario file as a flat dict (not yet merged with defaults)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"scenario file {path} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ScenarioError(f"scenario file {path} must hold a JSON object, got {type(doc).__name__}")
    return flatten(doc)
