"""Notebooks 10 and 11: the gateway and operations diagrams' SimPy models, summarised per step.

Each model drives the real ``supreme`` objects on simulated time (``sim.models.*``); these helpers
only run them on seeded scenarios and reduce their event logs to deterministic tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from sim.runner import get_model, run_model

__all__ = ["per_step", "run_models", "summary_table", "sweep"]


def run_models(names: Sequence[str], seed: int = 0,
               overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, pd.DataFrame]:
    """Each named model's event log on its defaults (plus ``overrides[name]``), with one seed."""
    over = overrides or {}
    return {n: run_model(n, {"seed": seed, **dict(over.get(n, {}))}) for n in names}


def _round(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        return round(float(v), 6)
    return v


def summary_table(logs: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The model's own ``summarize`` figures, one column per model (simulated values, rounded)."""
    cols = {n: {k: _round(v) for k, v in get_model(n).summarize(df).items()} for n, df in logs.items()}
    return pd.DataFrame(cols)


def per_step(log: pd.DataFrame) -> pd.DataFrame:
    """Rows, outcomes and simulated latency per diagram step (component, operation)."""
    g = log.groupby(["component", "operation"], sort=True)
    out = g.size().rename("rows").to_frame()
    lat = g["latency"].agg(lambda s: float(np.nanpercentile(s, 50)) if s.notna().any() else np.nan)
    p99 = g["latency"].agg(lambda s: float(np.nanpercentile(s, 99)) if s.notna().any() else np.nan)
    out["P50 ms"] = (lat * 1000).round(4)
    out["P99 ms"] = (p99 * 1000).round(4)
    out["not ok"] = g["outcome"].agg(lambda s: int((~s.isin(["ok", "hit", "miss", ""])).sum()))
    return out


def sweep(name: str, key: str, values: Sequence[Any], seed: int = 0,
          base: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """``name``'s summary for each value of scenario ``key`` (rows: values)."""
    rows = []
    for v in values:
        df = run_model(name, {"seed": seed, **dict(base or {}), key: v})
        rows.append({key: v, **{k: _round(x) for k, x in get_model(name).summarize(df).items()}})
    return pd.DataFrame(rows).set_index(key)
