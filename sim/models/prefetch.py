"""Predictive Prefetching (seed diagram): the real PrefetchEngine on the real CacheManager, sim time.

Same machinery as :mod:`sim.models.learning_cycle` with prefetching on::

    Cache_Manager.Data access request (from Client) -> Memory_Cache_L1.get ...
    Synaptic_Network.Record access pattern
    Synaptic_Network.Get related predictions          (confidence >= prefetch.threshold)
    Prefetch_Engine.Check if already cached           (cached | not_cached)
    Data_Source.Fetch predicted data                  (latency = drawn source fetch time)
    Cache_Manager.Store prefetched data               (L3, L2, then L1 at low priority; background I/O)
    Application.Optimized response

``summarize`` reports the engine's accuracy, coverage and timeliness.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from sim.models import learning_cycle as lc
from sim.scenario import load_defaults, make_scenario

__all__ = ["DEFAULTS", "FLOW", "NAME", "run", "summarize"]

NAME = "prefetch"
FLOW = "prefetch"

DEFAULTS: dict[str, Any] = {**lc.DEFAULTS, **load_defaults(NAME)}


def run(scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Simulate demand accesses with predictive prefetching; returns the event log."""
    return lc.run_adaptive(NAME, FLOW, make_scenario(DEFAULTS, scenario))


summarize = lc.summarize
